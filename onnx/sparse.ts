/**
 * Sparse tensors on load: every SparseTensorProto is checked (values one-dimensional, indices
 * `[NNZ]` flat or `[NNZ, rank]` coordinates, each in range), and sparse *initializers* are made
 * dense, as ONNX Runtime does on load, so that every later stage (the optimizer's e-graph
 * included) sees one kind of constant. A sparse initializer whose dense form would pass the
 * model's budget (`DENSIFY_BUDGET` elements in all) stays sparse: a 100-byte file cannot make
 * the loader allocate gigabytes.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { DataType } from "../ir/dtype.ts";
import type { SparseTensor } from "../ir/graph.ts";
import { sparseToDense } from "../ir/sparse.ts";
import { sizeOf, type Tensor, toInts } from "../ir/tensor.ts";

/** Dense elements that sparse initializers of one model may become on load, in all (2^26). */
export const DENSIFY_BUDGET: number = 2 ** 26;

/** Throw BAD_TENSOR unless `s` is a well-formed COO sparse tensor (see the module doc). */
export function checkSparse(s: SparseTensor): void {
  const name = s.name ?? "";
  const bad = (why: string): never => {
    throw new SaturnError("BAD_TENSOR", `sparse tensor '${name}' ${why}`, name);
  };
  const { values, indices, dims } = s;
  if (values.dims.length !== 1) bad(`has values of shape [${values.dims}], not one-dimensional`);
  const nnz = values.dims[0];
  const rank = dims.length;
  const flat = indices.dims.length === 1 && indices.dims[0] === nnz;
  const coords = indices.dims.length === 2 && indices.dims[0] === nnz && indices.dims[1] === rank;
  if (!flat && !coords) {
    bad(`has indices of shape [${indices.dims}] for ${nnz} values of a rank-${rank} tensor`);
  }
  if (indices.dtype !== DataType.INT64 && indices.dtype !== DataType.INT32) bad("has indices that are not int64");
  if (nnz === 0) return;
  const size = sizeOf(dims);
  const idx = toInts(indices);
  for (let k = 0; k < nnz; k++) {
    if (flat) {
      if (!(idx[k] >= 0 && idx[k] < size)) bad(`has index ${idx[k]} outside its ${size} elements`);
      continue;
    }
    for (let a = 0; a < rank; a++) {
      const i = idx[k * rank + a];
      if (!(i >= 0 && i < dims[a])) bad(`has index ${i} outside dimension ${a} of size ${dims[a]}`);
    }
  }
}

/**
 * Move the sparse initializers that fit the budget into `initializers`, dense; return those
 * that stay sparse. A name already taken by a dense initializer is refused.
 * @param sparse the graph's sparse initializers (checked by `checkSparse`)
 * @param initializers the graph's dense initializers; receives the densified ones
 * @param budget dense elements still allowed for this model; returns what is left of it
 */
export function densifyInitializers(
  sparse: SparseTensor[],
  initializers: Map<string, Tensor>,
  budget: { left: number },
): SparseTensor[] {
  const kept: SparseTensor[] = [];
  for (const s of sparse) {
    const name = s.name ?? "";
    if (name !== "" && initializers.has(name)) {
      throw new SaturnError("DUPLICATE_VALUE", `initializer '${name}' is defined twice`, name);
    }
    const n = sizeOf(s.dims);
    if (name === "" || n > budget.left || s.values.dtype === DataType.STRING) {
      kept.push(s);
      continue;
    }
    budget.left -= n;
    initializers.set(name, sparseToDense(s));
  }
  return kept;
}
