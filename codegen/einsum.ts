/**
 * Einsum: one thread per output element, looping over every combination of the contracted
 * labels and summing the product of the operands' elements there.
 *
 * Invariant: the equation is parsed by the reference's own parser (`ir/ops/einsum.ts`), and each
 * operand is read through per-label strides built as the reference builds them — a size-1 dim
 * contributes stride 0 (broadcast), a label repeated within an operand sums its strides (a
 * diagonal) — so every equation the reference accepts (implicit output, ellipsis, diagonals,
 * broadcasting, any number of operands) reads the same elements. Float32 accumulates in f32;
 * 8- to 64-bit integers in i32 (wrapped to narrow types like the reference's typed arrays).
 * @module
 */
import { labelSizes, parseEquation } from "../ir/ops/einsum.ts";
import { sizeOf } from "../ir/tensor.ts";
import { wrapInt } from "./expr.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { Bindings, coords, dot, grid, mainHeader } from "./wgsl.ts";

function einsum(ctx: LowerCtx): Lowered {
  const n = ctx.node.inputs.length;
  if (n === 0) unsupported("Einsum needs at least one input");
  const ins = Array.from({ length: n }, (_, i) => ctx.input(i));
  const y = ctx.output(0);
  const t = requireStorage(ins[0].dtype);
  if (t === "u32") unsupported("unsigned and bool inputs are not supported");
  if (ins.some((x) => x.dtype !== ins[0].dtype)) unsupported("inputs have different types");
  const eq = parseEquation(ctx.attrs, ctx.attrs.attrString("equation"), ins.map((x) => x.dims.length));
  const sizes = labelSizes(ctx.attrs, eq, ins.map((x) => x.dims));
  const outDims = eq.output.map((l) => sizes[l]);
  if (outDims.length !== y.dims.length || outDims.some((d, i) => d !== y.dims[i])) {
    unsupported(`output shape [${y.dims}] differs from the equation's [${outDims}]`);
  }
  const reduced: number[] = [];
  for (let l = 0; l < eq.count; l++) if (!eq.output.includes(l)) reduced.push(l);
  const redDims = reduced.map((l) => sizes[l]);
  // per operand: the stride of each label (summed over repeated axes; 0 where broadcast)
  const labelStrides = ins.map((x, i) => {
    const s = new Array<number>(eq.count).fill(0);
    let acc = 1;
    for (let ax = x.dims.length - 1; ax >= 0; ax--) {
      if (x.dims[ax] !== 1) s[eq.inputs[i][ax]] += acc;
      acc *= x.dims[ax];
    }
    return s;
  });
  const O = sizeOf(outDims), R = sizeOf(redDims);
  const b = new Bindings();
  const X = ins.map((x) => b.read(x.name, t));
  const Y = b.write(y.name, t);
  const oc = eq.output.map((_, k) => `o${k}`), rc = reduced.map((_, k) => `r${k}`);
  const bases = X.map((_, i) => `let base${i} = ${dot(oc, eq.output.map((l) => labelStrides[i][l]))};`);
  const prod = X.map((name, i) => `${name}[base${i} + ${dot(rc, reduced.map((l) => labelStrides[i][l]))}]`)
    .join(" * ");
  const wg = 64;
  const g = grid(O, wg);
  const wgsl = `${b.decls}
${mainHeader(wg)} {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", outDims, "o")}
  ${bases.join("\n  ")}
  var acc = ${t === "f32" ? "0.0" : "0"};
  for (var r = 0u; r < ${R}u; r = r + 1u) {
    ${coords("r", redDims, "r")}
    acc = acc + ${prod};
  }
  ${Y}[o] = ${t === "f32" ? "acc" : wrapInt(y.dtype, "acc")};
}
`;
  return {
    kind: "kernels",
    kernels: [{
      name: "Einsum",
      nodes: [ctx.node.name],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: O === 0 ? [0, 1, 1] : g.dispatch,
    }],
  };
}

registerLowerings("", { Einsum: { lower: einsum } });
