/**
 * The one size cap on constant folding, shared by shape inference (`ir/infer.ts`), the e-graph's
 * constant analysis (`egraph/egraph.ts`) and everything built on them (`optimize`, `inspect`, the
 * WebGPU planner's known values).
 *
 * A node whose inputs are all known is folded — run once, its result kept as a constant — only
 * when its result has at most `FOLD_FREE_ELEMENTS` elements or no more elements than its known
 * inputs together, and never more than `FOLD_MAX_ELEMENTS`. Folding thus never makes a model
 * bigger than a small allowance per node: a ConstantOfShape, Expand, Tile or Range of a few
 * scalars that would make millions of elements stays a computed node (the size a runtime would
 * allocate anyway), while folding weights together (Concat of parallel MatMuls' weights,
 * Conv+BatchNorm) still happens. The result's size is predicted from the op's shape inference
 * *before* running it: a result whose size cannot be predicted is not folded.
 *
 * In the spirit of onnxscript's constant folder, which keeps no folded output past 1M elements and
 * leaves ConstantOfShape unfolded (folding it only grows the model); the rule here is relative to
 * the inputs so that one cap serves both tiny shape computations and weight folding. The allowance
 * (4096 elements, 16 KiB of float32) keeps small embeddings folded (BERT's token-type Gather). One
 * residue is accepted: a chain that repeatedly doubles a folded value (Concat(c, c) of
 * Concat(c, c) …) grows within `FOLD_MAX_ELEMENTS` at most.
 * @module
 */
import type { ValueType } from "./types.ts";

/** A result of at most this many elements is folded whatever its inputs' size. */
export const FOLD_FREE_ELEMENTS = 4096;

/** No folded result, and no folded node's inputs together, exceed this many elements. */
export const FOLD_MAX_ELEMENTS = 1 << 22;

/**
 * Whether a node may be folded.
 * @param outputElements elements of its results together (`Infinity` when unknown)
 * @param inputElements elements of its known inputs together
 * @returns true when the fold stays within the cap
 * @example
 * ```ts
 * import { foldAllowed } from "./fold_limit.ts";
 * if (foldAllowed(1 << 24, 1)) throw new Error("ConstantOfShape([4096, 4096]) of a scalar stays computed");
 * if (!foldAllowed(64, 2)) throw new Error("a small shape computation folds");
 * ```
 */
export function foldAllowed(outputElements: number, inputElements: number): boolean {
  if (!(inputElements <= FOLD_MAX_ELEMENTS) || !(outputElements <= FOLD_MAX_ELEMENTS)) return false;
  return outputElements <= Math.max(FOLD_FREE_ELEMENTS, inputElements);
}

/**
 * Elements of a node's results together, from their inferred types; `Infinity` when any result
 * is not a tensor of static shape (its size cannot be told before running the node).
 * @param types the inferred type of each result
 * @returns the element count, or Infinity
 * @example
 * ```ts
 * import { resultElements } from "./fold_limit.ts";
 * if (resultElements([{ kind: "tensor", dtype: 1, shape: [2, 3] }]) !== 6) throw new Error("2×3");
 * if (resultElements([{ kind: "tensor", dtype: 1, shape: ["n"] }]) !== Infinity) throw new Error("unknown");
 * ```
 */
export function resultElements(types: readonly (ValueType | undefined)[]): number {
  let n = 0;
  for (const t of types) {
    if (t?.kind !== "tensor" || !t.shape) return Infinity;
    let k = 1;
    for (const d of t.shape) {
      if (typeof d !== "number" || !(d >= 0)) return Infinity;
      k *= d;
    }
    n += k;
  }
  return n;
}
