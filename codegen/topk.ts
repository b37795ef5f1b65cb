/**
 * TopK: one workgroup per row along the axis. The row's (key, index) pairs are sorted in
 * workgroup memory by a bitonic sort and the first K written out (Values copied from X, Indices
 * as i32); a row longer than the sort buffer streams through it in chunks, keeping the best K in
 * the buffer's front half. When K is more than half the buffer on such a row, the kernel instead
 * selects the K pairs in K rounds (each a workgroup-wide minimum above the previous pick).
 *
 * Invariant: the order is the reference's (`ir/ops/sort_scan.ts`) exactly — largest (or smallest)
 * first, NaN greater than every number and equal to any NaN, −0 equal to +0, ties broken by the
 * lower index — because each element becomes a u32 key that is monotone in that order and the
 * pairs (key, index) are distinct, so the result is unique. Output is always sorted (the
 * reference ignores `sorted`, which ONNX allows). The buffer holds 2048 pairs (16 KiB, what
 * WebGPU guarantees); on a software adapter 256, since llvmpipe's compile time grows with the
 * square of a kernel's workgroup memory (a 2048-pair buffer takes it about a minute).
 * @module
 */
import { type ElemType, requireStorage, unsupported } from "./kernel.ts";
import { constInts, type LowerCtx, type Lowered, normAxis, registerLowerings } from "./lowering.ts";
import { axisRows } from "./rows.ts";
import { Bindings, groupGrid } from "./wgsl.ts";

/** Most (key, index) pairs the sort buffer holds: 2 × 4 bytes × 2048 = the 16 KiB WebGPU guarantees. */
export const TOPK_BUFFER = 2048;
/** The sort buffer on a software adapter (fast to compile). */
export const TOPK_BUFFER_SOFTWARE = 256;
/**
 * Most element visits (K rounds over the row) the selection kernel may make in one workgroup; past
 * it, one workgroup would run for too long. The same bound on every target, so what is supported
 * does not depend on the adapter.
 */
const MAX_SELECT_WORK = 2 ** 30;

/** WGSL `fn key(v) -> u32`: ascending in the reference's order of values of storage type `t`. */
function keyFn(t: ElemType): string {
  if (t === "u32") return "fn key(v: u32) -> u32 { return v; }";
  if (t === "i32") return "fn key(v: i32) -> u32 { return bitcast<u32>(v) ^ 0x80000000u; }";
  return `fn key(v: f32) -> u32 {
  let u = bitcast<u32>(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN: after every number
  if (u == 0x80000000u) { return 0x80000000u; } // -0 sorts with +0
  return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
}`;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** What both kernels share: the row, its length, K, and the WGSL of keys, loads and stores. */
interface RowTopK {
  d: number;
  k: number;
  /** WGSL preamble: bindings, `key`, `before` and `sortKey(e, base)` (the order key of element e) */
  decls: string;
  /** statements storing element `e` (u32) as output `q` (u32) of the row at `obase` */
  stores: string;
  /** statements setting `row`, `base` and `obase` (after returning from idle workgroups) */
  prologue: string;
}

/** Bitonic sort of up to `P` pairs; rows longer than `P` stream through it (then K ≤ P / 2). */
function sortKernel(r: RowTopK, P: number): string {
  const wg = Math.min(256, Math.max(32, P / 2));
  return `${r.decls}
var<workgroup> sk: array<u32, ${P}>;
var<workgroup> si: array<u32, ${P}>;

fn load(slot: u32, e: u32, base: u32) {
  if (e < ${r.d}u) {
    sk[slot] = sortKey(e, base);
    si[slot] = e;
  } else {
    sk[slot] = 0xffffffffu;
    si[slot] = 0xffffffffu;
  }
}

// bitonic sort of the ${P} pairs, ascending by (key, index): one loop over the stages (w, j)
fn sortPairs(lid: u32) {
  var w = 2u;
  var j = 1u;
  loop {
    workgroupBarrier();
    for (var p = lid; p < ${P / 2}u; p = p + ${wg}u) {
      let i = ((p & ~(j - 1u)) << 1u) | (p & (j - 1u));
      let l = i | j;
      let ka = sk[i]; let ia = si[i]; let kb = sk[l]; let ib = si[l];
      let swap = select(before(ka, ia, kb, ib), before(kb, ib, ka, ia), (i & w) == 0u);
      if (swap) { sk[i] = kb; si[i] = ib; sk[l] = ka; si[l] = ia; }
    }
    if (j > 1u) {
      j = j >> 1u;
    } else {
      w = w << 1u;
      j = w >> 1u;
    }
    if (w > ${P}u) { break; }
  }
  workgroupBarrier();
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${r.prologue}
  // the first chunk fills the buffer; each later one (rows longer than it) refills the slots after the best K
  var first = 0u;
  var start = 0u;
  loop {
    for (var s = first + lid.x; s < ${P}u; s = s + ${wg}u) { load(s, start + s - first, base); }
    sortPairs(lid.x);
    start = start + ${P}u - first;
    first = ${r.k}u;
    if (start >= ${r.d}u) { break; }
  }
  for (var q = lid.x; q < ${r.k}u; q = q + ${wg}u) {
    let e = si[q];
    ${r.stores}
  }
}
`;
}

/** K rounds, each picking the least pair after the previous pick (workgroup-wide minimum). */
function selectKernel(r: RowTopK, wg: number): string {
  return `${r.decls}
var<workgroup> rk: array<u32, ${wg}>;
var<workgroup> ri: array<u32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${r.prologue}
  var lk = 0u;
  var li = 0u;
  for (var q = 0u; q < ${r.k}u; q = q + 1u) {
    var bk = 0xffffffffu;
    var bi = 0xffffffffu;
    for (var e = lid.x; e < ${r.d}u; e = e + ${wg}u) {
      let ke = sortKey(e, base);
      if ((q == 0u || before(lk, li, ke, e)) && before(ke, e, bk, bi)) { bk = ke; bi = e; }
    }
    rk[lid.x] = bk;
    ri[lid.x] = bi;
    workgroupBarrier();
    for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
      if (lid.x < s && before(rk[lid.x + s], ri[lid.x + s], rk[lid.x], ri[lid.x])) {
        rk[lid.x] = rk[lid.x + s];
        ri[lid.x] = ri[lid.x + s];
      }
      workgroupBarrier();
    }
    lk = rk[0];
    li = ri[0];
    if (lid.x == 0u) {
      let e = li;
      ${r.stores}
    }
    workgroupBarrier();
  }
}
`;
}

function topK(ctx: LowerCtx): Lowered {
  const x = ctx.input(0);
  const t = requireStorage(x.dtype);
  const rank = x.dims.length;
  if (rank === 0) unsupported("a scalar input is not supported");
  const axis = normAxis(ctx.attrs.attrInt("axis", -1), rank);
  const k = ctx.opset < 10 ? ctx.attrs.attrInt("k") : constInts(ctx, 1, "K")[0];
  const d = x.dims[axis];
  if (!(k >= 0 && k <= d)) unsupported(`K = ${k} is out of range for an axis of size ${d}`);
  if (d > TOPK_BUFFER && k > TOPK_BUFFER / 2 && k * d > MAX_SELECT_WORK) {
    unsupported(`K = ${k} of a row of ${d} is too much work for one workgroup`);
  }
  const largest = ctx.attrs.attrInt("largest", 1) !== 0;
  const outDims = x.dims.slice();
  outDims[axis] = k;
  const inRows = axisRows(x.dims, axis), outRows = axisRows(outDims, axis);
  const b = new Bindings();
  const X = b.read(x.name, t);
  const V = ctx.hasOutput(0) ? b.write(ctx.output(0).name, t) : undefined;
  const I = ctx.hasOutput(1) ? b.write(ctx.output(1).name, "i32") : undefined;
  const g = groupGrid(inRows.rows);
  const at = inRows.stride === 1 ? "base + e" : `base + e * ${inRows.stride}u`;
  const oat = outRows.stride === 1 ? "obase + q" : `obase + q * ${outRows.stride}u`;
  const row: RowTopK = {
    d,
    k,
    decls: `${b.decls}

${keyFn(t)}

fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool { return ka < kb || (ka == kb && ia < ib); }

fn sortKey(e: u32, base: u32) -> u32 { return ${largest ? "~" : ""}key(${X}[${at}]); }`,
    stores: [V ? `${V}[${oat}] = ${X}[${at}];` : "", I ? `${I}[${oat}] = i32(e);` : ""].join(" "),
    prologue: `let row = ${g.index};
  if (row >= ${inRows.rows}u) { return; }
  let base = ${inRows.base("row")};
  let obase = ${outRows.base("row")};`,
  };
  const P = Math.max(2, Math.min(nextPow2(d), ctx.target.software ? TOPK_BUFFER_SOFTWARE : TOPK_BUFFER));
  const wgsl = d <= P || k <= P / 2 ? sortKernel(row, P) : selectKernel(row, ctx.target.software ? 64 : 256);
  return {
    kind: "kernels",
    kernels: [{
      name: "TopK",
      nodes: [ctx.node.name],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: inRows.rows === 0 || k === 0 ? [0, 1, 1] : g.dispatch,
    }],
  };
}

registerLowerings("", { TopK: { lower: topK, constInputs: [1] } });
