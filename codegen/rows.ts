/**
 * Row kernels: one workgroup per row of a tensor, its threads striding along the row and
 * combining partial results in workgroup memory (Softmax, LayerNormalization, RMSNorm, large
 * reductions). A row is either the trailing dims from an axis on (flattened) or one axis with
 * the dims after it as the row stride.
 * @module
 */
import { sizeOf } from "../ir/tensor.ts";
import type { KernelSpec } from "./kernel.ts";
import { type Bindings, f32Lit, groupGrid, workgroupReduce } from "./wgsl.ts";

/** Rows of a tensor: how many, how long, where row `r` starts and the stride along it. */
export interface RowLayout {
  rows: number;
  len: number;
  /** WGSL u32 expression of the first element of row `r` */
  base(r: string): string;
  stride: number;
}

/** Rows made of the dims from `axis` on (flattened, contiguous). */
export function trailingRows(dims: readonly number[], axis: number): RowLayout {
  const len = sizeOf(dims.slice(axis));
  return { rows: sizeOf(dims.slice(0, axis)), len, base: (r) => `${r} * ${len}u`, stride: 1 };
}

/** Rows along one axis: the other dims index the rows; the dims after `axis` are the stride. */
export function axisRows(dims: readonly number[], axis: number): RowLayout {
  const inner = sizeOf(dims.slice(axis + 1)), len = dims[axis];
  if (inner === 1) return trailingRows(dims, axis);
  return {
    rows: sizeOf(dims.slice(0, axis)) * inner,
    len,
    base: (r) => `(${r} / ${inner}u) * ${len * inner}u + ${r} % ${inner}u`,
    stride: inner,
  };
}

/** Workgroup size for rows of `len`: 64, or 32 / 128 / 256 to fit the row. */
export function rowWorkgroup(len: number): number {
  return len <= 32 ? 32 : len <= 64 ? 64 : len <= 2048 ? 128 : 256;
}

/**
 * A kernel with one workgroup of `wg` threads per row. `body` sees `row` (u32), `base` (its
 * first element), `lid`, and the workgroup array `red: array<f32, wg>`.
 */
export function rowKernel(opts: {
  name: string;
  nodes: string[];
  layout: RowLayout;
  wg: number;
  b: Bindings;
  helpers?: string;
  body: string;
}): KernelSpec {
  const g = groupGrid(opts.layout.rows);
  const wgsl = `${opts.b.decls}
${opts.helpers ?? ""}
var<workgroup> red: array<f32, ${opts.wg}>;

@compute @workgroup_size(${opts.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = ${g.index};
  if (row >= ${opts.layout.rows}u) { return; }
  let base = ${opts.layout.base("row")};
  ${opts.body}
}
`;
  return {
    name: opts.name,
    nodes: opts.nodes,
    wgsl,
    entryPoint: "main",
    bindings: opts.b.list,
    dispatch: opts.layout.rows === 0 || opts.layout.len === 0 ? [0, 1, 1] : g.dispatch,
  };
}

/** `for` over a row's elements owned by this thread; `j` is the element index, `at` its offset. */
export function rowLoop(layout: RowLayout, wg: number, body: string): string {
  const at = layout.stride === 1 ? "base + j" : `base + j * ${layout.stride}u`;
  return `for (var j = lid.x; j < ${layout.len}u; j = j + ${wg}u) {
    let at = ${at};
    ${body}
  }`;
}

/**
 * Statements leaving a row's two-pass statistics in scope: `mean`, and `qq`, the sum of squared
 * deviations from it (variance = qq / n). `loop` wraps a body in the loop over the row's `n`
 * elements (offset `at`, e.g. `rowLoop`); `X` is the binding read.
 */
export function rowMeanVar(loop: (body: string) => string, X: string, n: number, wg: number): string {
  return `var s = 0.0;
  ${loop(`s = s + ${X}[at];`)}
  ${workgroupReduce("sum", "s", "total", wg)}
  let mean = total / ${f32Lit(n)};
  var q = 0.0;
  ${loop(`let t = ${X}[at] - mean; q = q + t * t;`)}
  ${workgroupReduce("sum", "q", "qq", wg)}`;
}
