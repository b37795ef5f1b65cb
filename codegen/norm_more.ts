/**
 * More normalizations: GroupNormalization (one workgroup per (n, group) block of channels),
 * MeanVarianceNormalization (one workgroup per statistics group, any set of axes) and LRN (one
 * thread per element summing squares over its channel window). LpNormalization lives in `norm.ts`.
 *
 * Invariant: each matches `ir/ops/normalization.ts` — two-pass statistics (mean, then centered
 * variance) over the same elements, GroupNormalization's scale and bias per group under opset 18
 * (when they have `num_groups` elements) and per channel otherwise, MVN's `(x − mean) /
 * (sqrt(var) + 1e-9)`, and LRN's window `[c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]` clipped to the
 * channels. Inputs are float32; anything else is unsupported.
 * @module
 */
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { copyKernel } from "./layout.ts";
import { rowKernel, rowLoop, rowMeanVar, rowWorkgroup, trailingRows } from "./rows.ts";
import { Bindings, coords, dot, f32Lit, groupGrid } from "./wgsl.ts";

function requireF32(t: TensorInfo): void {
  if (requireStorage(t.dtype) !== "f32") unsupported(`'${t.name}' must be float32`);
}

function groupNorm(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  if (x.dims.length < 2) unsupported("the input must have rank ≥ 2");
  const [N, C] = x.dims;
  const G = ctx.attrs.attrInt("num_groups");
  if (G <= 0 || C % G !== 0) unsupported(`num_groups ${G} does not divide the ${C} channels`);
  const sc = ctx.input(1), bi = ctx.input(2);
  requireF32(sc);
  requireF32(bi);
  const ns = sizeOf(sc.dims);
  const perGroup = ctx.opset < 21 && ns === G && G !== C;
  const want = perGroup ? G : C;
  if (ns !== want || sizeOf(bi.dims) !== want) unsupported(`scale and bias must have ${want} elements`);
  const eps = ctx.attrs.attrFloat("epsilon", 1e-5);
  const inner = sizeOf(x.dims.slice(2)), cpg = C / G;
  const layout = trailingRows([N * G, cpg * inner], 1);
  const wg = rowWorkgroup(layout.len);
  const b = new Bindings();
  const X = b.read(x.name, "f32"), S = b.read(sc.name, "f32"), B = b.read(bi.name, "f32");
  const Y = b.write(y.name, "f32");
  const loop = (body: string) => rowLoop(layout, wg, body);
  const ch = perGroup ? "g" : inner === 1 ? `g * ${cpg}u + j` : `g * ${cpg}u + j / ${inner}u`;
  const body = `${rowMeanVar(loop, X, layout.len, wg)}
  let inv = inverseSqrt(qq / ${f32Lit(layout.len)} + ${f32Lit(eps)});
  let g = row % ${G}u;
  ${loop(`let k = ${ch}; ${Y}[at] = (${X}[at] - mean) * inv * ${S}[k] + ${B}[k];`)}`;
  return {
    kind: "kernels",
    kernels: [rowKernel({ name: "GroupNormalization", nodes: [ctx.node.name], layout, wg, b, body })],
  };
}

function meanVarianceNorm(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  const r = x.dims.length;
  const axes = [...new Set(ctx.attrs.attrInts("axes", [0, 2, 3]).map((a) => normAxis(a, r)))].sort((p, q) => p - q);
  const kept = x.dims.map((_, a) => a).filter((a) => !axes.includes(a));
  const st = stridesOf(x.dims);
  const keptDims = kept.map((a) => x.dims[a]), redDims = axes.map((a) => x.dims[a]);
  const O = sizeOf(keptDims), R = sizeOf(redDims);
  const wg = rowWorkgroup(R);
  const g = groupGrid(O);
  const b = new Bindings();
  const X = b.read(x.name, "f32"), Y = b.write(y.name, "f32");
  const loop = (body: string) =>
    `for (var r = lid.x; r < ${R}u; r = r + ${wg}u) {
    ${coords("r", redDims, "r")}
    let at = base + ${dot(axes.map((_, k) => `r${k}`), axes.map((a) => st[a]))};
    ${body}
  }`;
  const wgsl = `${b.decls}
var<workgroup> red: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kept.map((_, k) => `k${k}`), kept.map((a) => st[a]))};
  ${rowMeanVar(loop, X, R, wg)}
  let den = sqrt(qq / ${f32Lit(R)}) + ${f32Lit(1e-9)};
  ${loop(`${Y}[at] = (${X}[at] - mean) / den;`)}
}
`;
  return {
    kind: "kernels",
    kernels: [{
      name: "MeanVarianceNormalization",
      nodes: [ctx.node.name],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: O === 0 || R === 0 ? [0, 1, 1] : g.dispatch,
    }],
  };
}

function lrn(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  if (x.dims.length < 2) unsupported("the input must have rank ≥ 2");
  const size = ctx.attrs.attrInt("size");
  if (size <= 0) unsupported(`size must be positive, is ${size}`);
  const alpha = ctx.attrs.attrFloat("alpha", 1e-4), beta = ctx.attrs.attrFloat("beta", 0.75);
  const bias = ctx.attrs.attrFloat("bias", 1);
  const C = x.dims[1], inner = sizeOf(x.dims.slice(2));
  const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "LRN",
      nodes: [ctx.node.name],
      dims: x.dims,
      out: y,
      value: (b, c) => {
        const X = b.read(x.name, "f32");
        return {
          code: `let ch = i32(${c[1]});
  let cfirst = max(ch - ${lo}, 0);
  let clast = min(ch + ${hi}, ${C - 1});
  let first = i - ${c[1]} * ${inner}u;
  var s = 0.0;
  for (var k = cfirst; k <= clast; k = k + 1) { let v = ${X}[first + u32(k) * ${inner}u]; s = s + v * v; }`,
          expr: `${X}[i] / pow(${f32Lit(bias)} + ${f32Lit(alpha / size)} * s, ${f32Lit(beta)})`,
        };
      },
    })],
  };
}

registerLowerings("", {
  GroupNormalization: { lower: groupNorm },
  MeanVarianceNormalization: { lower: meanVarianceNorm },
  LRN: { lower: lrn },
});
