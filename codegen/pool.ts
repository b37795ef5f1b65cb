/**
 * MaxPool and AveragePool (1-D to 3-D; strides, dilations, pads or auto_pad, ceil_mode,
 * count_include_pad): one thread per output element walking its window. The Indices output of
 * MaxPool is not supported.
 * @module
 */
import { planWindow, windowAttrs } from "../ir/ops/_conv_util.ts";
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { Bindings, coords, grid, literal, mainHeader, NEG_INF } from "./wgsl.ts";

function pool(kind: "max" | "avg") {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    if (ctx.hasOutput(1)) unsupported("the Indices output is not supported");
    const t = requireStorage(x.dtype);
    if (t !== "f32" && !(kind === "max" && t === "i32")) unsupported("input must be float32");
    const nsp = x.dims.length - 2;
    if (nsp < 1 || nsp > 3) unsupported(`${nsp}-D pooling is not supported`);
    const a = windowAttrs(ctx.attrs, nsp);
    const inSizes = x.dims.slice(2);
    const plan = planWindow(ctx.attrs, inSizes, a, ctx.attrs.attrInt("ceil_mode", 0) !== 0);
    const includePad = ctx.attrs.attrInt("count_include_pad", 0) !== 0;
    const inSt = stridesOf(inSizes);
    const b = new Bindings();
    const X = b.read(x.name, t), Y = b.write(y.name, t);
    const n = sizeOf(y.dims);
    const g = grid(n, 64);
    const open: string[] = [];
    const pos = (d: number) =>
      `let p${d} = i32(o${d + 2} * ${a.strides[d]}u + k${d} * ${a.dilations[d]}u) - ${plan.padBegin[d]};`;
    const loop = (d: number, body: string) =>
      `for (var k${d} = 0u; k${d} < ${a.kernel[d]}u; k${d} = k${d} + 1u) {
    ${pos(d)}
    ${body}
  }`;
    for (let d = 0; d < nsp; d++) open.push(`if (p${d} < 0 || p${d} >= ${inSizes[d]}) { continue; }`);
    const off = Array.from({ length: nsp }, (_, d) => `u32(p${d}) * ${inSt[d]}u`).join(" + ");
    let body = kind === "max"
      ? `acc = max(acc, ${X}[base + ${off}]);`
      : `acc = acc + ${X}[base + ${off}]; cnt = cnt + 1.0;`;
    for (let d = nsp - 1; d >= 0; d--) body = loop(d, `${open[d]}\n    ${body}`);
    // count_include_pad divides by the taps inside the padded input, counted axis by axis
    const padCounts = includePad
      ? Array.from({ length: nsp }, (_, d) =>
        `var padded${d} = 0.0;
  ${
          loop(
            d,
            `if (p${d} >= -${plan.padBegin[d]} && p${d} < ${
              inSizes[d] + plan.padEnd[d]
            }) { padded${d} = padded${d} + 1.0; }`,
          )
        }`).join("\n  ")
      : "";
    const divisor = includePad ? `(${Array.from({ length: nsp }, (_, d) => `padded${d}`).join(" * ")})` : "cnt";
    const result = kind === "max" ? "acc" : `select(acc / ${divisor}, 0.0, ${divisor} == 0.0)`;
    const init = kind === "max" ? (t === "f32" ? NEG_INF : literal("i32", -2147483647)) : "0.0";
    const wgsl = `${b.decls}
${mainHeader(64)} {
  let i = ${g.index};
  if (i >= ${n}u) { return; }
  ${coords("i", y.dims, "o")}
  let base = (o0 * ${x.dims[1]}u + o1) * ${sizeOf(inSizes)}u;
  var acc = ${init};
  var cnt = 0.0;
  ${padCounts}
  ${body}
  ${Y}[i] = ${result};
}
`;
    return {
      kind: "kernels",
      kernels: [{
        name: ctx.node.opType,
        nodes: [ctx.node.name],
        wgsl,
        entryPoint: "main",
        bindings: b.list,
        dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
      }],
    };
  };
}

registerLowerings("", {
  MaxPool: { lower: pool("max") },
  AveragePool: { lower: pool("avg") },
});
