/**
 * RotaryEmbedding (opset 23): one thread per output element. An element among the first
 * `rotary_embedding_dim` features of its head reads its pair partner (the other half, or the
 * neighbour when `interleaved`) and the cos/sin cache row of its (batch, position); the rest are
 * copied.
 *
 * Invariant: the result is the reference's (`ir/ops/attention.ts`): for pair (x₁, x₂) at cache
 * column `p`, y₁ = cos·x₁ − sin·x₂ and y₂ = sin·x₁ + cos·x₂, with the row `position_ids[b, s]`
 * (or `position_ids[s]`), else `b·S + s` of a (B, S, ·) cache. Every shape check the reference
 * makes is made here at plan time. A position id outside the cache (the reference fails at run
 * time) is clamped into it so that reads stay in bounds.
 * @module
 */
import { sizeOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";

/** Where batch, position and feature sit in a 4-D view of the input, and the sizes. */
interface RotaryLayout {
  /** the input seen as 4-D: (B, H, S, D) or, for 3-D input, (B, S, H, D) */
  view: number[];
  /** the axis of the view holding the position */
  sAxis: number;
  B: number;
  S: number;
  D: number;
}

/** The 4-D view of a 3-D (B, S, H·D) or 4-D (B, H, S, D) input, as the reference reads it. */
function layout(x: TensorInfo, numHeads: number): RotaryLayout {
  if (x.dims.length === 4) {
    const [B, H, S, D] = x.dims;
    return { view: [B, H, S, D], sAxis: 2, B, S, D };
  }
  if (x.dims.length !== 3) unsupported(`input must be 3-D or 4-D, is ${x.dims.length}-D`);
  if (!(numHeads > 0)) unsupported("3-D input needs the num_heads attribute");
  const [B, S, hidden] = x.dims;
  if (hidden % numHeads !== 0) unsupported(`hidden size ${hidden} is not a multiple of ${numHeads} heads`);
  const D = hidden / numHeads;
  return { view: [B, S, numHeads, D], sAxis: 1, B, S, D };
}

/** The cache row expression of the element at view coordinates `c`, and the checks it needs. */
function cacheRow(ctx: LowerCtx, l: RotaryLayout, cache: TensorInfo, c: string[], read: (v: TensorInfo) => string) {
  const b = c[0], s = c[l.sAxis];
  if (!ctx.hasInput(3)) {
    if (cache.dims.length !== 3 || cache.dims[0] !== l.B || cache.dims[1] !== l.S) {
      unsupported(`without position_ids, cos_cache must be (${l.B}, ${l.S}, ·), is [${cache.dims}]`);
    }
    return `(${b} * ${l.S}u + ${s})`;
  }
  const pos = ctx.input(3);
  if (cache.dims.length !== 2) unsupported("with position_ids, cos_cache must be 2-D");
  const n = sizeOf(pos.dims);
  if (n !== l.B * l.S && n !== l.S) unsupported(`position_ids shape [${pos.dims}] does not fit [${l.B},${l.S}]`);
  if (requireStorage(pos.dtype) !== "i32") unsupported("position_ids must be an integer tensor");
  const P = read(pos);
  const at = n === l.S ? s : `${b} * ${l.S}u + ${s}`;
  return `u32(clamp(${P}[${at}], 0, ${cache.dims[0] - 1}))`;
}

function lowerRotary(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), cos = ctx.input(1), sin = ctx.input(2), y = ctx.output(0);
  for (const t of [x, cos, sin]) {
    if (requireStorage(t.dtype) !== "f32") unsupported(`'${t.name}' must be a float tensor`);
  }
  const interleaved = ctx.attrs.attrInt("interleaved", 0) !== 0;
  const l = layout(x, ctx.attrs.attrInt("num_heads", 0));
  const rot = ctx.attrs.attrInt("rotary_embedding_dim", 0) || l.D;
  if (rot > l.D || rot % 2 !== 0) unsupported(`rotary_embedding_dim ${rot} must be even and ≤ head size ${l.D}`);
  const half = rot / 2;
  const width = cos.dims[cos.dims.length - 1];
  if (width < half) unsupported(`cos_cache last dim ${width} is smaller than ${half}`);
  if (sin.dims.join() !== cos.dims.join()) unsupported(`sin_cache [${sin.dims}] differs from cos_cache [${cos.dims}]`);
  if (sizeOf(x.dims) > 0 && sizeOf(cos.dims) === 0) unsupported("the caches are empty");
  const kernel = copyKernel({
    name: "RotaryEmbedding",
    nodes: [ctx.node.name],
    dims: l.view,
    out: y,
    value: (b, c) => {
      const X = b.read(x.name, "f32");
      const row = cacheRow(ctx, l, cos, c, (v) => b.read(v.name, "i32"));
      const C = b.read(cos.name, "f32"), S = b.read(sin.name, "f32");
      const f = c[3];
      // the element's pair column, whether it is the pair's first, and its partner's flat index
      const pair = interleaved
        ? `let first = (${f} & 1u) == 0u;
  let p = ${f} / 2u;
  let j = select(i - 1u, i + 1u, first);`
        : `let first = ${f} < ${half}u;
  let p = select(${f} - ${half}u, ${f}, first);
  let j = select(i - ${half}u, i + ${half}u, first);`;
      const code = `var v = ${X}[i];
  if (${f} < ${rot}u) {
  ${pair}
  let e = ${row} * ${width}u + p;
  let cs = ${C}[e];
  let sn = ${S}[e];
  let o = ${X}[j];
  v = select(sn * o + cs * v, cs * v - sn * o, first);
  }`;
      return { code, expr: "v" };
    },
  });
  return { kind: "kernels", kernels: [kernel] };
}

registerLowerings("", { RotaryEmbedding: { lower: lowerRotary } });
