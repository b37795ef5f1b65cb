/**
 * GatherND (with batch_dims) as one thread per output element: the element's flat index splits
 * into an index tuple `t` and an offset `e` within the gathered slice; the tuple's `k` indices
 * (negative ones counted from the end) address the slice in the data of the tuple's batch.
 *
 * Invariant: every read stays inside the data buffer. An index the reference rejects as out of
 * range (the model is invalid) is clamped to its axis instead of failing at run time.
 * @module
 */
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";
import { i32Lit } from "./wgsl.ts";

/**
 * An i32 index expression counted from the end when negative, for an axis of size `d` (i32;
 * out-of-range values stay out of range).
 * @param expr an i32 WGSL expression (evaluated twice: pass a name or a load)
 * @param d the axis size
 * @returns an i32 WGSL expression
 */
export function fromEnd(expr: string, d: number): string {
  return `select(${expr}, ${expr} + ${i32Lit(d)}, ${expr} < 0)`;
}

/** Fail at plan time unless `t` holds integer indices (int32/int64, stored as i32). */
export function requireIndices(t: TensorInfo): void {
  if (requireStorage(t.dtype) !== "i32") unsupported(`indices '${t.name}' must be int32 or int64`);
}

function gatherND(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), ind = ctx.input(1), y = ctx.output(0);
  requireIndices(ind);
  const b = ctx.attrs.attrInt("batch_dims", 0);
  const r = x.dims.length, q = ind.dims.length;
  if (q < 1) unsupported("indices must have rank ≥ 1");
  const k = ind.dims[q - 1];
  if (b < 0 || b >= Math.min(r, q) || k > r - b) unsupported(`batch_dims ${b} / index depth ${k} for ranks ${r}, ${q}`);
  for (let a = 0; a < b; a++) if (x.dims[a] !== ind.dims[a]) unsupported("batch dims of data and indices differ");
  // (at least 1: an empty output has no threads, but its divisions must still compile)
  const slice = Math.max(sizeOf(x.dims.slice(b + k)), 1);
  const perBatch = Math.max(sizeOf(ind.dims.slice(b, q - 1)), 1);
  const batchStride = sizeOf(x.dims.slice(b));
  const ds = stridesOf(x.dims);
  const t = requireStorage(x.dtype);
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "GatherND",
      nodes: [ctx.node.name],
      dims: [sizeOf(y.dims)],
      out: y,
      value: (bind) => {
        const I = bind.read(ind.name, "i32");
        const lines = [`let t = i / ${slice}u;`, `var off = i % ${slice}u;`];
        if (b > 0) lines.push(`off = off + (t / ${perBatch}u) * ${batchStride}u;`);
        for (let j = 0; j < k; j++) {
          const d = x.dims[b + j];
          lines.push(`let j${j} = ${I}[t * ${k}u + ${j}u];`);
          lines.push(`off = off + u32(clamp(${fromEnd(`j${j}`, d)}, 0, ${Math.max(d - 1, 0)})) * ${ds[b + j]}u;`);
        }
        return { code: lines.join("\n  "), expr: `${bind.read(x.name, t)}[off]` };
      },
    })],
  };
}

registerLowerings("", { GatherND: { lower: gatherND } });
