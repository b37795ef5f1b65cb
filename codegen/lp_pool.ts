/**
 * LpPool (1-D to 3-D; strides, dilations, pads or auto_pad, ceil_mode) and GlobalLpPool:
 * `(Σ |x|^p)^(1/p)` over each window. LpPool is one thread per output element walking its window;
 * GlobalLpPool is a reduction over the spatial dims (`reduce.ts`).
 *
 * Invariant: as in `ir/ops/pool.ts`, padding contributes nothing (only taps inside the input are
 * summed), p is a float attribute (default 2), and an empty sum gives 0. p = 1 and p = 2 take
 * `abs` and `x * x` / `sqrt`; other positive p use `pow`, with zero bases special-cased so that
 * `pow(0, ·)` never depends on the driver. Non-positive p and non-float32 inputs are unsupported.
 * @module
 */
import { planWindow, windowAttrs } from "../ir/ops/_conv_util.ts";
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { reduceKernel } from "./reduce.ts";
import { Bindings, coords, f32Lit, grid, mainHeader } from "./wgsl.ts";

/** The exponent's two WGSL pieces: each tap's term `|v|^p` and the root of the sum `s^(1/p)`. */
function lpTerms(ctx: LowerCtx): { term: (v: string) => string; root: (s: string) => string } {
  if (requireStorage(ctx.input(0).dtype) !== "f32") unsupported("input must be float32");
  const p = ctx.attrs.attrFloat("p", 2);
  if (!(p > 0) || !Number.isFinite(p)) unsupported(`p must be positive and finite, is ${p}`);
  if (p === 1) return { term: (v) => `abs(${v})`, root: (s) => s };
  if (p === 2) return { term: (v) => `${v} * ${v}`, root: (s) => `sqrt(${s})` };
  const P = f32Lit(p), invP = f32Lit(1 / p);
  return {
    term: (v) => `select(pow(abs(${v}), ${P}), 0.0, ${v} == 0.0)`,
    root: (s) => `select(pow(${s}, ${invP}), 0.0, ${s} == 0.0)`,
  };
}

function lpPool(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const { term, root } = lpTerms(ctx);
  const nsp = x.dims.length - 2;
  if (nsp < 1 || nsp > 3) unsupported(`${nsp}-D pooling is not supported`);
  const a = windowAttrs(ctx.attrs, nsp);
  const inSizes = x.dims.slice(2);
  const plan = planWindow(ctx.attrs, inSizes, a, ctx.attrs.attrInt("ceil_mode", 0) !== 0);
  const inSt = stridesOf(inSizes);
  const b = new Bindings();
  const X = b.read(x.name, "f32"), Y = b.write(y.name, "f32");
  const n = sizeOf(y.dims);
  const g = grid(n, 64);
  const off = Array.from({ length: nsp }, (_, d) => `u32(p${d}) * ${inSt[d]}u`).join(" + ");
  let body = `let v = ${X}[base + ${off}];\n    acc = acc + ${term("v")};`;
  for (let d = nsp - 1; d >= 0; d--) {
    body = `for (var k${d} = 0u; k${d} < ${a.kernel[d]}u; k${d} = k${d} + 1u) {
    let p${d} = i32(o${d + 2} * ${a.strides[d]}u + k${d} * ${a.dilations[d]}u) - ${plan.padBegin[d]};
    if (p${d} < 0 || p${d} >= ${inSizes[d]}) { continue; }
    ${body}
  }`;
  }
  const wgsl = `${b.decls}
${mainHeader(64)} {
  let i = ${g.index};
  if (i >= ${n}u) { return; }
  ${coords("i", y.dims, "o")}
  let base = (o0 * ${x.dims[1]}u + o1) * ${sizeOf(inSizes)}u;
  var acc = 0.0;
  ${body}
  ${Y}[i] = ${root("acc")};
}
`;
  return {
    kind: "kernels",
    kernels: [{
      name: "LpPool",
      nodes: [ctx.node.name],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
    }],
  };
}

function globalLpPool(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const { term, root } = lpTerms(ctx);
  if (x.dims.length < 2) unsupported("the input must have rank ≥ 2");
  const axes = x.dims.map((_, a) => a).slice(2);
  const kind = { comb: "sum" as const, map: term, final: root, floatOnly: true };
  return { kind: "kernels", kernels: reduceKernel("GlobalLpPool", [ctx.node.name], x, axes, y, kind) };
}

registerLowerings("", {
  LpPool: { lower: lpPool },
  GlobalLpPool: { lower: globalLpPool },
});
