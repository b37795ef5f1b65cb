/**
 * Integer matrix products: MatMulInteger (int32 output) and QLinearMatMul (requantized int8/uint8
 * output), batched with numpy batch broadcasting and 1-D operands promoted as MatMul does.
 *
 * Invariant: results equal the reference's exactly. The kernel stages 16×16 tiles of (A − a_zp)
 * and (B − b_zp) in workgroup memory as i32 and accumulates in i32, which wraps exactly as the
 * reference's int32 store does. QLinearMatMul then rounds acc · multiplier (multiplier =
 * a_scale · b_scale / y_scale in f32, per-row and per-column scales allowed) half to even from the
 * exact 64-bit product of acc and the multiplier's significand (`mulround_`) — the reference
 * rounds the float64 product, which is exact, so an f32 product would differ at ties — then adds
 * y_zero_point and saturates. Zero points are scalars, per row of A or per column of B.
 * @module
 */
import { broadcastDims } from "../ir/ops/_broadcast.ts";
import { DataType, dtypeName, intRange } from "../ir/dtype.ts";
import { sizeOf, toNumbers } from "../ir/tensor.ts";
import { type KernelSpec, type Target, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";
import { Bindings, broadcastOffset, f32Lit, grid, i32Lit, mainHeader, MAX_GROUPS } from "./wgsl.ts";
import { FDIV } from "./fdiv.ts";

const TILE = 16;

/** 2^30: `mulround_` saturates there (every 8/16-bit code saturates well before). */
const SAT = 1 << 30;

/**
 * WGSL helpers: the 64-bit product of two u32, and roundHalfEven(a · m) for i32 `a` and f32 `m`,
 * exact, saturated to ±2^30, with i32 min standing for NaN (0 · ∞ or a NaN multiplier).
 */
export const MULROUND = `${FDIV}

fn mul64_(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn mulround_(a: i32, m: f32) -> i32 {
  let bits = bitcast<u32>(m);
  let ex = (bits >> 23u) & 0xffu;
  let neg = (a < 0) != ((bits >> 31u) == 1u);
  let ua = bitcast<u32>(select(a, -a, a < 0));
  var man = bits & 0x7fffffu;
  if (ex == 255u) {
    if (man != 0u || ua == 0u) { return i32(-2147483647 - 1); }
    return select(${SAT}, -${SAT}, neg);
  }
  var e = i32(ex) - 150;
  if (ex == 0u) { e = -149; } else { man = man | 0x800000u; }
  if (man == 0u || ua == 0u) { return 0; }
  let p = mul64_(ua, man);
  var q = 0u;
  if (e >= 0) {
    if (p.y != 0u || e >= 30 || p.x >= (${SAT}u >> u32(e))) { q = ${SAT}u; } else { q = p.x << u32(e); }
  } else if (e > -64) {
    let s = u32(-e);
    var lo = 0u; var hi = 0u; var rb = false; var sticky = false;
    if (s < 32u) {
      lo = (p.x >> s) | (p.y << (32u - s)); hi = p.y >> s;
      rb = ((p.x >> (s - 1u)) & 1u) == 1u;
      sticky = (p.x & ((1u << (s - 1u)) - 1u)) != 0u;
    } else if (s == 32u) {
      lo = p.y; rb = (p.x >> 31u) == 1u; sticky = (p.x & 0x7fffffffu) != 0u;
    } else {
      let t = s - 32u;
      lo = p.y >> t; rb = ((p.y >> (t - 1u)) & 1u) == 1u;
      sticky = p.x != 0u || (p.y & ((1u << (t - 1u)) - 1u)) != 0u;
    }
    if (hi != 0u || lo >= ${SAT}u) { q = ${SAT}u; } else { q = lo + select(0u, 1u, rb && (sticky || (lo & 1u) == 1u)); }
  }
  let r = i32(q);
  return select(r, -r, neg);
}`;

/** A zero point or scale indexed per row (`m`) or per column (`n`), or one for all. */
interface PerIndex {
  info: TensorInfo;
  /** a known one-element value (emitted as a literal) */
  value?: number;
  /** one per row / column (else one element) */
  vector: boolean;
}

function perIndex(ctx: LowerCtx, i: number, want: number, what: string, vectorOk: boolean): PerIndex | undefined {
  if (!ctx.hasInput(i)) return undefined;
  const info = ctx.input(i), size = sizeOf(info.dims);
  if (size !== 1 && (size !== want || !vectorOk || info.dims.length !== 1)) {
    unsupported(`${what} of shape [${info.dims}]: expected one element or ${want}`);
  }
  const c = ctx.constant(i);
  return { info, vector: size !== 1, value: c && size === 1 ? toNumbers(c)[0] : undefined };
}

/** The operands' layout: M×K times K×N, over a broadcast batch (folded into M for a batchless B). */
interface Problem {
  a: TensorInfo;
  b: TensorInfo;
  M: number;
  K: number;
  N: number;
  /** rows per matrix of A (M is this times A's batch when folded) */
  rows: number;
  aBatch: number[];
  bBatch: number[];
  outBatch: number[];
  /** a 1-D operand (whose zero point must be one element) */
  aVec: boolean;
  bVec: boolean;
}

function problem(ctx: LowerCtx, ia: number, ib: number): Problem {
  const a = ctx.input(ia), b = ctx.input(ib);
  for (const t of [a, b]) {
    if (t.dtype !== DataType.INT8 && t.dtype !== DataType.UINT8) unsupported(`operand type ${dtypeName(t.dtype)}`);
  }
  const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  if (aDims.length < 2 || bDims.length < 2) unsupported("operands must have rank ≥ 1");
  const rows = aDims[aDims.length - 2], K = aDims[aDims.length - 1], N = bDims[bDims.length - 1];
  if (bDims[bDims.length - 2] !== K) unsupported(`inner dims differ: [${a.dims}] × [${b.dims}]`);
  const aBatch = aDims.slice(0, -2), bBatch = bDims.slice(0, -2);
  const outBatch = broadcastDims(aBatch, bBatch) ?? unsupported("batch dims do not broadcast");
  const fold = bBatch.every((d) => d === 1);
  return {
    a,
    b,
    M: fold ? sizeOf(aBatch) * rows : rows,
    K,
    N,
    rows,
    aBatch: fold ? [] : aBatch,
    bBatch: fold ? [] : bBatch,
    outBatch: fold ? [] : outBatch,
    aVec: a.dims.length === 1,
    bVec: b.dims.length === 1,
  };
}

/** One integer GEMM: the problem, its zero points, the output and how the stored value is made. */
interface IntGemm {
  name: string;
  nodes: string[];
  p: Problem;
  zps: { a?: PerIndex; b?: PerIndex };
  out: TensorInfo;
  /** statements and the value stored from i32 `acc` at flat output index `idx` (row `mr` of its matrix, column `n`) */
  store: (b: Bindings) => { code: string; value: string };
  /** WGSL helper functions the store calls */
  helpers?: string;
}

/**
 * The integer GEMM kernel: 16×16 tiles staged in workgroup memory, or on a software adapter (whose
 * shader compiler is slow on the tiled loop) one thread per output looping over K.
 */
function intGemm(g: IntGemm, target: Target): KernelSpec {
  const { p, zps } = g;
  const { M, K, N, rows } = p;
  const batch = sizeOf(p.outBatch);
  const bind = new Bindings();
  const A = bind.read(p.a.name, "i32"), B = bind.read(p.b.name, "i32");
  const zp = (z: PerIndex | undefined, at: string) =>
    !z
      ? ""
      : z.value !== undefined
      ? ` - ${i32Lit(z.value)}`
      : ` - ${bind.read(z.info.name, "i32")}[${z.vector ? at : "0u"}]`;
  const aOff = p.outBatch.length ? `(${broadcastOffset(p.aBatch, p.outBatch, "bi")}) * ${rows * K}u` : "0u";
  const bOff = p.outBatch.length ? `(${broadcastOffset(p.bBatch, p.outBatch, "bi")}) * ${K * N}u` : "0u";
  const za = zp(zps.a, "mr"), zb = zp(zps.b, "n");
  const s = g.store(bind);
  const Y = bind.write(g.out.name, "i32");
  const prelude = `let mr = m % ${rows}u;
  let aBase = ${aOff};
  let bBase = ${bOff};
  var acc = 0i;`;
  const finish = `let idx = (bi * ${M}u + m) * ${N}u + n;
    ${s.code}
    ${Y}[idx] = ${s.value};`;
  const empty = M * N * batch === 0;
  const spec = (wgsl: string, dispatch: [number, number, number]): KernelSpec => ({
    name: g.name,
    nodes: g.nodes,
    wgsl: `${bind.decls}\n${g.helpers ?? ""}\n${wgsl}`,
    entryPoint: "main",
    bindings: bind.list,
    dispatch: empty ? [0, 1, 1] : dispatch,
  });
  if (target.software) {
    const n = M * N * batch, gr = grid(n, 64);
    return spec(
      `${mainHeader(64)} {
  let i = ${gr.index};
  if (i >= ${n}u) { return; }
  let n = i % ${N}u;
  let m = (i / ${N}u) % ${M}u;
  let bi = i / ${M * N}u;
  ${prelude}
  for (var k = 0u; k < ${K}u; k = k + 1u) {
    acc = acc + (${A}[aBase + m * ${K}u + k]${za}) * (${B}[bBase + k * ${N}u + n]${zb});
  }
  {
    ${finish}
  }
}
`,
      gr.dispatch,
    );
  }
  const gx = Math.ceil(N / TILE), gy = Math.ceil(M / TILE);
  if (gx > MAX_GROUPS || gy > MAX_GROUPS || batch > MAX_GROUPS) {
    unsupported(`${M}×${N}×${K} (batch ${batch}) is too large`);
  }
  return spec(
    `var<workgroup> As: array<i32, ${TILE * TILE}>;
var<workgroup> Bs: array<i32, ${TILE * TILE}>;

@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bi = wid.z;
  let m = wid.y * ${TILE}u + lid.y;
  let n = wid.x * ${TILE}u + lid.x;
  ${prelude}
  for (var k0 = 0u; k0 < ${K}u; k0 = k0 + ${TILE}u) {
    let ka = k0 + lid.x;
    var av = 0i;
    if (m < ${M}u && ka < ${K}u) { av = ${A}[aBase + m * ${K}u + ka]${za}; }
    As[lid.y * ${TILE}u + lid.x] = av;
    let kb = k0 + lid.y;
    var bv = 0i;
    if (kb < ${K}u && n < ${N}u) { bv = ${B}[bBase + kb * ${N}u + n]${zb}; }
    Bs[lid.y * ${TILE}u + lid.x] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE}u; kk = kk + 1u) {
      acc = acc + As[lid.y * ${TILE}u + kk] * Bs[kk * ${TILE}u + lid.x];
    }
    workgroupBarrier();
  }
  if (m < ${M}u && n < ${N}u) {
    ${finish}
  }
}
`,
    [gx, gy, Math.max(batch, 1)],
  );
}

/** Zero points of A (per row) and B (per column), of their operand's type. */
function zeroPoints(ctx: LowerCtx, p: Problem, ia: number, ib: number): { a?: PerIndex; b?: PerIndex } {
  const a = perIndex(ctx, ia, p.rows, "a_zero_point", !p.aVec);
  const b = perIndex(ctx, ib, p.N, "b_zero_point", !p.bVec);
  if (a && a.info.dtype !== p.a.dtype) unsupported("a_zero_point must have A's type");
  if (b && b.info.dtype !== p.b.dtype) unsupported("b_zero_point must have B's type");
  return { a, b };
}

function matMulInteger(ctx: LowerCtx): Lowered {
  const p = problem(ctx, 0, 1);
  const y = ctx.output(0);
  if (y.dtype !== DataType.INT32) unsupported("the output must be int32");
  const k = intGemm({
    name: "MatMulInteger",
    nodes: [ctx.node.name],
    p,
    zps: zeroPoints(ctx, p, 2, 3),
    out: y,
    store: () => ({ code: "", value: "acc" }),
  }, ctx.target);
  return { kind: "kernels", kernels: [k] };
}

function qlinearMatMul(ctx: LowerCtx): Lowered {
  const p = problem(ctx, 0, 3);
  const y = ctx.output(0);
  if (y.dtype !== DataType.INT8 && y.dtype !== DataType.UINT8) unsupported(`output type ${dtypeName(y.dtype)}`);
  // |a − a_zp|, |b − b_zp| ≤ 255: the i32 sum is exact (the reference's is never wrapped)
  if (p.K * 255 * 255 > 2147483647) unsupported(`K = ${p.K} could overflow the i32 accumulator`);
  const sa = perIndex(ctx, 1, p.rows, "a_scale", !p.aVec), sb = perIndex(ctx, 4, p.N, "b_scale", !p.bVec);
  const ys = perIndex(ctx, 6, 1, "y_scale", false), yz = perIndex(ctx, 7, 1, "y_zero_point", false);
  for (const s of [sa, sb, ys]) {
    if (s!.info.dtype !== DataType.FLOAT) unsupported(`scale '${s!.info.name}' must be float32`);
  }
  if (yz && yz.info.dtype !== y.dtype) unsupported("y_zero_point must have the output's type");
  const [lo, hi] = intRange(y.dtype);
  const store = (b: Bindings) => {
    const v = (s: PerIndex, at: string) =>
      s.value !== undefined ? f32Lit(s.value) : `${b.read(s.info.name, "f32")}[${s.vector ? at : "0u"}]`;
    const f = Math.fround;
    // the reference's multiplier: (a_scale · b_scale) / y_scale, each step rounded to f32
    const mult = sa!.value !== undefined && sb!.value !== undefined && ys!.value !== undefined
      ? f32Lit(f(f(sa!.value * sb!.value) / ys!.value))
      : `fdiv_(${v(sa!, "mr")} * ${v(sb!, "n")}, ${v(ys!, "0u")})`;
    const z = !yz ? "0i" : yz.value !== undefined ? i32Lit(yz.value) : `${b.read(yz.info.name, "i32")}[0]`;
    return {
      code: `let r = mulround_(acc, ${mult});`,
      value: `select(clamp(r + ${z}, ${i32Lit(lo)}, ${i32Lit(hi)}), 0i, r == i32(-2147483647 - 1))`,
    };
  };
  const zps = zeroPoints(ctx, p, 2, 5);
  const k = intGemm(
    { name: "QLinearMatMul", nodes: [ctx.node.name], p, zps, out: y, store, helpers: MULROUND },
    ctx.target,
  );
  return { kind: "kernels", kernels: [k] };
}

registerLowerings("", {
  MatMulInteger: { lower: matMulInteger },
  QLinearMatMul: { lower: qlinearMatMul },
});
