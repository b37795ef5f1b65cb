/**
 * The tiled GEMM core shared by MatMul, Gemm and Conv (implicit GEMM): C[b, m, n] = Σ_k
 * A[b, m, k]·B[b, k, n], with the operands' addressing given as WGSL snippets. Each workgroup
 * computes a BM×BN tile of C; each thread a TM×TN block held in registers (TN a multiple of 4,
 * as vec4 columns). Per step of BK along k, the workgroup stages an A tile (k-major, so a
 * thread's TM values are contiguous) and a B tile (vec4 along n) in workgroup memory, loading
 * vec4s from global memory where the caller says the layout allows. Loads past the matrix edges
 * give 0 and stores past them are skipped, so any M, N, K work.
 * @module
 */
import { type Target, unsupported } from "./kernel.ts";
import { MAX_GROUPS } from "./wgsl.ts";

/** Tile sizes: BM×BN per workgroup, BK per step, TM×TN per thread (TN a multiple of 4). */
export interface GemmTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/** A GEMM problem: sizes, and how to address the operands and store the result. */
export interface GemmSource {
  M: number;
  N: number;
  K: number;
  /** independent GEMMs (workgroup z); the index is `batch` in the snippets */
  batch: number;
  /** bindings and helper functions */
  decls: string;
  /** statements at the start of the kernel (base offsets from `batch`) */
  prelude: string;
  /** A[m, k] as an f32 expression (in bounds); `m`, `k` are u32 expressions */
  loadA: (m: string, k: string) => string;
  /** A[m, k..k+3] as a vec4 (only when K % 4 == 0 and k is contiguous in memory) */
  loadA4?: (m: string, k: string) => string;
  /** true when A's consecutive k are adjacent in memory (row-major A); false for Aᵀ */
  aRowMajor?: boolean;
  /** B[k, n] as an f32 expression */
  loadB: (k: string, n: string) => string;
  /** B[k, n..n+3] as a vec4 (only when N % 4 == 0 and n is contiguous) */
  loadB4?: (k: string, n: string) => string;
  /** true when B's consecutive n are adjacent in memory (row-major B); false for Bᵀ */
  bRowMajor?: boolean;
  /** statements storing f32 `v` at (m, n) (in bounds) */
  store: (m: string, n: string, v: string) => string;
}

/**
 * A tile that fits the problem: 64×64 tiles, narrower for few rows or columns. On a software
 * adapter (llvmpipe), whose shader compile time grows steeply with the unrolled k-step, BK is 4.
 */
export function chooseTile(M: number, N: number, target: Target = {}): GemmTile {
  const TM = M <= 16 ? 1 : M <= 32 ? 2 : 4;
  const BN = N <= 32 ? 32 : 64;
  return { BM: 16 * TM, BN, BK: target.software ? 4 : 16, TM, TN: 4 };
}

/** The WGSL and dispatch of a GEMM. */
export function gemmKernel(src: GemmSource, tile: GemmTile): {
  wgsl: string;
  dispatch: [number, number, number];
} {
  const { BM, BN, BK, TM, TN } = tile;
  const { M, N, K } = src;
  if (TN % 4 !== 0 || BN % TN !== 0 || BM % TM !== 0) throw new Error(`bad GEMM tile ${JSON.stringify(tile)}`);
  const WX = BN / TN, WY = BM / TM, NT = WX * WY, TN4 = TN / 4, BN4 = BN / 4;
  const gx = Math.ceil(N / BN), gy = Math.ceil(M / BM);
  if (gx > MAX_GROUPS || gy > MAX_GROUPS || src.batch > MAX_GROUPS) unsupported(`GEMM ${M}×${N}×${K} is too large`);
  const loops = (total: number, body: (e: string) => string) => {
    const its = Math.ceil(total / NT);
    const lines: string[] = [];
    for (let it = 0; it < its; it++) {
      const e = it === 0 ? "tid" : `(tid + ${it * NT}u)`;
      const guard = (it + 1) * NT > total;
      lines.push(guard ? `if (${e} < ${total}u) {\n      ${body(e)}\n    }` : `{\n      ${body(e)}\n    }`);
    }
    return lines.join("\n    ");
  };
  const aRow = src.aRowMajor !== false, bRow = src.bRowMajor !== false;
  let loadA: string;
  if (src.loadA4) {
    const BK4 = BK / 4;
    loadA = loops(
      BM * BK4,
      (e) =>
        `let m = ${e} / ${BK4}u; let kq = ${e} % ${BK4}u; let gm = row0 + m; let gk = k0 + kq * 4u;
      var v = vec4<f32>(0.0);
      if (gm < ${M}u && gk < ${K}u) { v = ${src.loadA4!("gm", "gk")}; }
      As[(kq * 4u) * ${BM}u + m] = v.x; As[(kq * 4u + 1u) * ${BM}u + m] = v.y;
      As[(kq * 4u + 2u) * ${BM}u + m] = v.z; As[(kq * 4u + 3u) * ${BM}u + m] = v.w;`,
    );
  } else {
    const mk = aRow
      ? `let m = ${"$e"} / ${BK}u; let k = ${"$e"} % ${BK}u;`
      : `let k = ${"$e"} / ${BM}u; let m = ${"$e"} % ${BM}u;`;
    loadA = loops(BM * BK, (e) =>
      `${mk.replaceAll("$e", e)} let gm = row0 + m; let gk = k0 + k;
      var v = 0.0;
      if (gm < ${M}u && gk < ${K}u) { v = ${src.loadA("gm", "gk")}; }
      As[k * ${BM}u + m] = v;`);
  }
  let loadB: string;
  if (src.loadB4) {
    loadB = loops(
      BK * BN4,
      (e) =>
        `let k = ${e} / ${BN4}u; let nq = ${e} % ${BN4}u; let gk = k0 + k; let gn = col0 + nq * 4u;
      var v = vec4<f32>(0.0);
      if (gk < ${K}u && gn < ${N}u) { v = ${src.loadB4!("gk", "gn")}; }
      Bs[k * ${BN4}u + nq] = v;`,
    );
  } else {
    const kn = bRow
      ? `let k = ${"$e"} / ${BN}u; let n = ${"$e"} % ${BN}u;`
      : `let n = ${"$e"} / ${BK}u; let k = ${"$e"} % ${BK}u;`;
    loadB = loops(BK * BN, (e) =>
      `${kn.replaceAll("$e", e)} let gk = k0 + k; let gn = col0 + n;
      var v = 0.0;
      if (gk < ${K}u && gn < ${N}u) { v = ${src.loadB("gk", "gn")}; }
      Bs[k * ${BN4}u + n / 4u][n % 4u] = v;`);
  }
  const fma: string[] = [];
  for (let q = 0; q < TN4; q++) fma.push(`let b${q} = Bs[kk * ${BN4}u + lid.x * ${TN4}u + ${q}u];`);
  for (let i = 0; i < TM; i++) {
    fma.push(`let a${i} = vec4<f32>(As[kk * ${BM}u + lid.y * ${TM}u + ${i}u]);`);
    for (let q = 0; q < TN4; q++) fma.push(`acc${i}_${q} = fma(a${i}, b${q}, acc${i}_${q});`);
  }
  const accs: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let q = 0; q < TN4; q++) accs.push(`var acc${i}_${q} = vec4<f32>(0.0);`);
    const cols: string[] = [];
    for (let j = 0; j < TN; j++) {
      const comp = "xyzw"[j % 4];
      cols.push(`if (n0 + ${j}u < ${N}u) { store_(batch, m, n0 + ${j}u, acc${i}_${Math.floor(j / 4)}.${comp}); }`);
    }
    stores.push(`{
    let m = row0 + lid.y * ${TM}u + ${i}u;
    if (m < ${M}u) {
      ${cols.join("\n      ")}
    }
  }`);
  }
  const wgsl = `${src.decls}
var<workgroup> As: array<f32, ${BK * BM}>;
var<workgroup> Bs: array<vec4<f32>, ${BK * BN4}>;

fn store_(batch: u32, m: u32, n: u32, v: f32) {
  ${src.store("m", "n", "v")}
}

@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let batch = wid.z;
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let n0 = col0 + lid.x * ${TN}u;
  let tid = lid.y * ${WX}u + lid.x;
  ${src.prelude}
  ${accs.join("\n  ")}
  for (var k0 = 0u; k0 < ${K}u; k0 = k0 + ${BK}u) {
    ${loadA}
    ${loadB}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk = kk + 1u) {
      ${fma.join("\n      ")}
    }
    workgroupBarrier();
  }
  ${stores.join("\n  ")}
}
`;
  return { wgsl, dispatch: [gx, gy, src.batch] };
}
