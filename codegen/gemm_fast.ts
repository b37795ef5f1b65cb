/**
 * A fast GEMM for WebGPU: out[b, m, n] = act(alpha · Σ_k A[b, m, k]·B[b, k, n] + beta · bias), as WGSL
 * specialized to the shapes (every size, stride and guard is a constant in the source).
 *
 * Each workgroup computes a BM×BN tile of the output; each thread a TM×TN block held in registers as
 * vec4 accumulators (TM, TN multiples of 4). Per step of BK along k, the workgroup stages an A tile
 * (k-major: As[k][m]) and a B tile (Bs[k][n]) in workgroup memory; the inner product reads both as
 * vec4s, so a thread does TM·TN FMAs per TM/4 + TN/4 vec4 reads of workgroup memory. A thread's rows
 * and columns are interleaved with the other threads' in groups of 4 (rows `(r·WY + ty)·4 + i`,
 * columns `(c·WX + tx)·4 + j`), so that neighbouring threads read neighbouring vec4s (no bank
 * conflicts) and store neighbouring vec4s (coalesced). With `doubleBuffer`, two stages of workgroup
 * memory let the global loads of step t+1 (held in registers) overlap the FMAs of step t, with one
 * barrier per step. Global loads are vec4 where the contiguous dimension is a multiple of 4; loads
 * past the edges give 0 and stores past them are skipped (guards are emitted only where a dimension
 * is not a multiple of its tile), so any M, N, K and batch work. With `splitK`, each workgroup
 * covers one chunk of k and a second kernel (`reduce`) sums the chunks and applies the epilogue.
 * With a general `epilogue` (WGSL the caller brings: bindings after the kernel's own and the body of
 * a per-element `store_`), the output is stored through it instead (codegen/gemm_spec.ts uses it for
 * the elementwise chains fused into MatMul, Gemm and Conv).
 *
 * Measured on an NVIDIA H100 through Deno 2.9.6's WebGPU (Vulkan, no subgroups, f32 FMAs only):
 * 36.3 TFLOP/s at 4096³ and 37.5 at 8192³ with the chosen 64×128×16 tile (the f32 FMA peak is
 * about 67); see bench/gpu_kernels.ts.
 *
 * Layout: A is row-major [batch, M, K] ([batch, K, M] with transA), B [batch, K, N] ([batch, N, K]
 * with transB), out [batch, M, N]; bias is [N] ("row", broadcast over rows) or [M, N] ("full"), the
 * same for every batch unless `batchStrideBias` says otherwise. With `f16`, A, B, bias and out hold
 * f16 (needs the `shader-f16` feature); the products are still accumulated in f32.
 * @module
 */

/** The problem a GEMM kernel is specialized to. */
export interface GemmParams {
  M: number;
  N: number;
  K: number;
  /** independent products (workgroup z); default 1 */
  batch?: number;
  /** A is stored [K, M] (ONNX Gemm's transA) */
  transA?: boolean;
  /** B is stored [N, K] (ONNX Gemm's transB) */
  transB?: boolean;
  /** scales the product; default 1 */
  alpha?: number;
  /** scales the bias; default 1 */
  beta?: number;
  /** "row": a [N] vector added to every row; "full": an [M, N] matrix; default "none" */
  bias?: "none" | "row" | "full";
  activation?: "none" | "relu";
  /** f16 storage for A, B, bias and out (f32 accumulation) */
  f16?: boolean;
  /** elements between consecutive batches of A (default M·K; 0 broadcasts one A to every batch) */
  batchStrideA?: number;
  /** elements between consecutive batches of B (default K·N; 0 broadcasts) */
  batchStrideB?: number;
  /** elements between consecutive batches of the bias (default 0: one bias for all batches) */
  batchStrideBias?: number;
  /**
   * split K into this many chunks (default 1), for products with too few output tiles to fill the
   * GPU: the kernel writes f32 partial products to a scratch buffer ("partial", [batch·S, M, N]) and
   * a second kernel (`reduce`) sums them and applies alpha, bias and the activation
   */
  splitK?: number;
  /**
   * a general epilogue applied per output element after alpha, bias and the activation, in place of
   * the store to "out" (which is then not bound): called once, with the first binding number free in
   * the kernel that stores the output (`reduce` with split-K), for its declarations and the store
   */
  epilogue?: (firstBinding: number) => GemmEpilogue;
}

/**
 * What a general epilogue adds to the kernel that stores the output: its declarations (bindings
 * numbered from the binding it was given, helper functions) and the body of
 * `fn store_(bz: u32, m: u32, n: u32, v: f32)`, which stores `v` (alpha, bias and the activation
 * applied) at out[bz, m, n], always in bounds. The body must not redeclare `bz`, `m`, `n` or `v`.
 */
export interface GemmEpilogue {
  decls: string;
  store: string;
}

/** A tile configuration. */
export interface GemmTile {
  /** output rows per workgroup (a multiple of TM) */
  BM: number;
  /** output columns per workgroup (a multiple of TN) */
  BN: number;
  /** k per step of workgroup memory (a multiple of 4) */
  BK: number;
  /** output rows per thread (a multiple of 4) */
  TM: number;
  /** output columns per thread (a multiple of 4) */
  TN: number;
  /** two stages of workgroup memory, global loads of the next step overlapping this step's FMAs (default true) */
  doubleBuffer?: boolean;
  /** unroll the k-step in the source (default true) */
  unroll?: boolean;
  /**
   * visit output tiles in bands of this many tile rows (consecutive workgroups share A and B
   * panels in L2); 0 or absent: row by row
   */
  swizzle?: number;
  /**
   * workgroup-memory layout of A: "km" (As[k][m], default; row-major A is transposed on its way
   * in) or "mk" (As[m][k], only without transA: global vec4s stored as loaded, rows read along k).
   * On the H100, "mk" measured 10% slower at 4096³ and half as fast at 1024³.
   */
  aLayout?: "mk" | "km";
  /**
   * how an operand contiguous along k (A without transA, B with transB) is transposed into its
   * k-major stage: true, 4×4 blocks transposed in registers and stored as vec4s; false, scalar
   * stores. Default: scalar for A, blocks for B (each measured a few % faster on the H100).
   */
  transpose4?: boolean;
}

/** A generated kernel: WGSL, its entry point and workgroup size, the dispatch, and the bindings in order. */
export interface GemmKernel {
  code: string;
  entryPoint: string;
  workgroupSize: [number, number, number];
  dispatch: [number, number, number];
  /**
   * storage buffers in binding order: "a", "b", ["c" (the bias)], "out" ("out" absent with a general
   * epilogue, whose bindings follow); with split-K "a", "b", "partial"
   */
  bindings: string[];
  /** with split-K: the chunks of K (the z dispatch is batch × splitK) */
  splitK: number;
  /** with split-K: bytes of the f32 scratch buffer "partial" */
  scratchBytes: number;
  /** with split-K: the kernel that sums the partial products (run after this one), with the epilogue */
  reduce?: {
    code: string;
    entryPoint: string;
    workgroupSize: [number, number, number];
    dispatch: [number, number, number];
    /** "partial", ["c"], "out" ("out" absent with a general epilogue) */
    bindings: string[];
  };
  /** the tile it was generated with */
  tile: GemmTile;
  /** workgroup memory in bytes */
  workgroupBytes: number;
}

/** The tile configurations the chooser considers, largest first. */
export const GEMM_TILES: Record<string, GemmTile> = {
  "128x128x8_8x8": { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 },
  "128x128x16_8x8": { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
  "128x128x8_8x16": { BM: 128, BN: 128, BK: 8, TM: 8, TN: 16 },
  "128x64x16_8x8": { BM: 128, BN: 64, BK: 16, TM: 8, TN: 8 },
  "64x128x16_8x8": { BM: 64, BN: 128, BK: 16, TM: 8, TN: 8 },
  "64x64x16_8x8": { BM: 64, BN: 64, BK: 16, TM: 8, TN: 8 },
  "64x64x16_4x4": { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  "32x64x16_4x4": { BM: 32, BN: 64, BK: 16, TM: 4, TN: 4 },
  "32x32x16_4x4": { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 },
  "16x64x16_4x4": { BM: 16, BN: 64, BK: 16, TM: 4, TN: 4 },
  "16x32x8_4x4": { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4 },
};

/** Largest workgroup count per dispatch dimension WebGPU guarantees. */
const MAX_GROUPS = 65535;
/** Workgroups that fill a large GPU (the H100 has 132 multiprocessors): below this, smaller tiles or split-K. */
const FILL = 120;

/**
 * The tile for a problem, from measurements on the H100 (bench/gpu_kernels.ts): 64×128×16 tiles
 * with 8×8 per thread where they make at least FILL workgroups (36–37 TFLOP/s at 4096³–8192³);
 * else 64×64×16; else 32×32×16 with 4×4 per thread (16×64 for fewer than 32 rows), which were the
 * fastest for the thin products of BERT and ResNet at batch 1; tiny products get the tile that
 * wastes least (a 7×13 output gets one 16×32 workgroup, not a 128×128 one).
 */
export function chooseGemmTile(p: GemmParams): GemmTile {
  const batch = p.batch ?? 1;
  const groups = (t: GemmTile) => Math.ceil(p.M / t.BM) * Math.ceil(p.N / t.BN) * batch;
  const waste = (t: GemmTile) => (Math.ceil(p.M / t.BM) * t.BM * Math.ceil(p.N / t.BN) * t.BN) / (p.M * p.N);
  for (const name of ["64x128x16_8x8", "64x64x16_8x8"]) {
    const t = GEMM_TILES[name];
    if (groups(t) >= FILL && waste(t) < 1.3) return { ...t };
  }
  if (p.M * p.N < 32 * 32) {
    let best = GEMM_TILES["16x32x8_4x4"];
    for (const name of ["32x32x16_4x4", "16x64x16_4x4"]) {
      if (waste(GEMM_TILES[name]) < waste(best) - 1e-9) best = GEMM_TILES[name];
    }
    return { ...best };
  }
  return { ...GEMM_TILES[p.M < 32 ? "16x64x16_4x4" : "32x32x16_4x4"] };
}

/**
 * How many chunks to split K into (`GemmParams.splitK`): enough for about 4·FILL workgroups, each
 * chunk at least 64 long; 1 where the tiles alone make that many. On the H100 this took BERT-base's
 * 128×768×3072 from 111 to 42 µs and ResNet-50's 49×512×4608 from 163 to 27 µs.
 */
export function chooseSplitK(p: GemmParams, tile: GemmTile = chooseGemmTile(p)): number {
  const groups = Math.ceil(p.M / tile.BM) * Math.ceil(p.N / tile.BN) * (p.batch ?? 1);
  // large tiles that fill the GPU once already run well (1024³: 27.2 TFLOP/s whole, 26.2 split in 4)
  if (groups >= 4 * FILL || (groups >= FILL && tile.BM * tile.BN >= 64 * 64)) return 1;
  const s = Math.min(Math.ceil((4 * FILL) / groups), Math.floor(p.K / 64));
  return s >= 2 ? s : 1;
}

/** The WGSL of a GEMM specialized to `p`, with `tile` (default: `chooseGemmTile(p)`). */
export function gemmKernel(p: GemmParams, tile: GemmTile = chooseGemmTile(p)): GemmKernel {
  const { M, N, K } = p;
  const batch = p.batch ?? 1;
  const { BM, BN, BK, TM, TN } = tile;
  const db = tile.doubleBuffer !== false, unroll = tile.unroll !== false;
  for (const [k, v] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`gemmKernel: ${k} must be a positive integer, got ${v}`);
  }
  if (TM % 4 || TN % 4 || BM % TM || BN % TN || BK % 4 || BK < 4) {
    throw new Error(`gemmKernel: bad tile ${JSON.stringify(tile)} (TM, TN, BK multiples of 4; BM % TM = BN % TN = 0)`);
  }
  const WX = BN / TN, WY = BM / TM, NT = WX * WY;
  const TM4 = TM / 4, TN4 = TN / 4, BM4 = BM / 4, BN4 = BN / 4;
  const gx = Math.ceil(N / BN), gy = Math.ceil(M / BM);
  if (gx > MAX_GROUPS || gy > MAX_GROUPS || batch > MAX_GROUPS) {
    throw new Error(
      `gemmKernel: ${batch}×${M}×${N} needs ${gx}×${gy}×${batch} workgroups (at most ${MAX_GROUPS} each)`,
    );
  }
  const transA = !!p.transA, transB = !!p.transB;
  const alpha = p.alpha ?? 1, beta = p.beta ?? 1;
  const bias = p.bias ?? "none";
  const relu = (p.activation ?? "none") === "relu";
  const sA = p.batchStrideA ?? M * K, sB = p.batchStrideB ?? K * N, sC = p.batchStrideBias ?? 0;
  const T = p.f16 ? "f16" : "f32";
  const u = (x: number) => `${x}u`;
  const f = (x: number) => {
    const s = Number.isInteger(x) ? x.toFixed(1) : String(Math.fround(x));
    return s.includes("e") || s.includes(".") ? s : `${s}.0`;
  };

  // vec4 global access where the contiguous dimension (and every batch offset) is a multiple of 4
  const aContig = transA ? M : K, bContig = transB ? K : N;
  const a4 = aContig % 4 === 0 && sA % 4 === 0;
  const b4 = bContig % 4 === 0 && sB % 4 === 0;
  const o4 = N % 4 === 0;
  const c4 = bias === "row" ? N % 4 === 0 : N % 4 === 0 && sC % 4 === 0;
  const guardM = M % BM !== 0, guardN = N % BN !== 0, guardK = K % BK !== 0;
  // split-K: chunks of Kc (a multiple of BK) along k, S of them; the step count is per chunk
  const Kc = Math.ceil(Math.ceil(K / Math.max(1, Math.floor(p.splitK ?? 1))) / BK) * BK;
  const S = Math.ceil(K / Kc);
  if (batch * S > MAX_GROUPS) {
    throw new Error(`gemmKernel: batch ${batch} × splitK ${S} exceeds ${MAX_GROUPS} workgroups`);
  }
  const nT = S > 1 ? "nT" : u(Math.ceil(K / BK));
  const raw = S > 1; // the kernel stores raw f32 partial sums; `reduce` does the epilogue

  const lines: string[] = [];
  const emit = (s: string) => lines.push(s);
  // a general epilogue: its declarations and `store_`
  const hookDecls = (first: number): string => {
    const e = p.epilogue!(first);
    return `${e.decls}\nfn store_(bz: u32, m: u32, n: u32, v: f32) {\n  ${e.store}\n}`;
  };
  const hook = p.epilogue !== undefined;

  // Workgroup-memory layouts. B: Bs[k][n] (vec4 along n). A: "mk" As[m][k] (vec4 along k, rows
  // padded by one vec4 against bank conflicts) when A is row-major, so a global vec4 of A is stored
  // as it is; "km" As[k][m] (vec4 along m) otherwise.
  const aMK = !transA && tile.aLayout === "mk";
  const x4A = tile.transpose4 ?? false, x4B = tile.transpose4 ?? true;
  const AK4 = BK / 4 + 1; // vec4s per row of As in the "mk" layout
  const stageA = aMK ? BM * AK4 : (BK * BM) / 4, stageB = (BK * BN) / 4; // vec4s per stage

  // Staging one operand's tile into workgroup memory: loads (global → registers) for the step at
  // k0, split over the threads, and the stores of those registers into a stage of workgroup memory.
  interface Stage {
    regs: string[]; // var declarations (function scope)
    load: string[]; // global → registers for the step at k0
    store: (buf: string) => string[]; // registers → workgroup memory stage at offset `buf`
  }
  const stageOf = (op: "A" | "B"): Stage => {
    const isA = op === "A";
    const w = (isA ? a4 : b4) ? 4 : 1;
    // the tile's two dims: the "outer" (m for A, n for B) with size BO and guard, and k
    const BO = isA ? BM : BN, BO4 = BO / 4;
    const DO = isA ? M : N, gO = isA ? guardM : guardN;
    const origin = isA ? "row0" : "col0";
    const buf = isA ? "As" : "Bs";
    const base = isA ? "aBase" : "bBase";
    const src = isA ? "A" : "B";
    // contiguous along k in global memory: A without transA, B with transB
    const kContig = isA ? !transA : transB;
    const mk = isA && aMK;
    // kContig into a k-major stage: each unit a 4×4 block (4 outer × 4 k) transposed in registers
    const block = kContig && !mk && w === 4 && (isA ? x4A : x4B);
    const per = block ? 4 : w; // elements of k (kContig) or of outer per load
    const units = block ? (BO / 4) * (BK / 4) : (BO * BK) / w;
    const its = Math.ceil(units / NT);
    const st: Stage = { regs: [], load: [], store: () => [] };
    const stores: ((b: string) => string)[] = [];
    const vT = w === 4 ? "vec4<f32>" : "f32";
    const zero = w === 4 ? "vec4<f32>(0.0)" : "0.0";
    const loadAt = (o: string, k: string) => {
      const go = `${origin} + ${o}`, gk = `k0 + ${k}`;
      const idx = kContig ? `${base} + (${go}) * ${u(K)} + ${gk}` : `${base} + (${gk}) * ${u(DO)} + ${go}`;
      return w === 4 ? `vec4<f32>(${src}[(${idx}) / 4u])` : `f32(${src}[${idx}])`;
    };
    for (let it = 0; it < its; it++) {
      const e = it === 0 ? "tid" : `(tid + ${u(it * NT)})`;
      const live = (it + 1) * NT > units ? `${e} < ${u(units)}` : "";
      const r = `${op.toLowerCase()}r${it}`;
      // (o, k) of this unit within the tile; neighbouring threads walk the contiguous dimension
      let o: string, k: string;
      if (kContig) {
        const n = BK / per;
        o = block ? `((${e} / ${u(n)}) * 4u)` : `(${e} / ${u(n)})`;
        k = per === 4 ? `((${e} % ${u(n)}) * 4u)` : `(${e} % ${u(n)})`;
      } else {
        const n = BO / w;
        k = `(${e} / ${u(n)})`;
        o = w === 4 ? `((${e} % ${u(n)}) * 4u)` : `(${e} % ${u(n)})`;
      }
      const rows = block ? 4 : 1;
      for (let i = 0; i < rows; i++) {
        const ri = block ? `${r}_${i}` : r;
        const oi = block ? `${o} + ${u(i)}` : o;
        st.regs.push(`var ${ri}: ${vT};`);
        const conds: string[] = [];
        if (live) conds.push(live);
        if (gO) conds.push(`${origin} + ${oi} < ${u(DO)}`);
        if (guardK) conds.push(`k0 + ${k} < ${u(K)}`);
        const val = loadAt(oi, k);
        if (conds.length) st.load.push(`${ri} = ${zero};`, `if (${conds.join(" && ")}) { ${ri} = ${val}; }`);
        else st.load.push(`${ri} = ${val};`);
      }
      stores.push((b) => {
        const off = b === "0u" ? "" : `${b} + `;
        let s: string;
        if (mk) {
          // As[m][k]: the loaded vec4 (or scalar) as it is
          s = w === 4
            ? `${buf}[${off}${o} * ${u(AK4)} + ${k} / 4u] = ${r};`
            : `{ let kk = ${k}; ${buf}[${off}${o} * ${u(AK4)} + kk / 4u][kk % 4u] = ${r}; }`;
        } else if (!kContig && w === 4) {
          s = `${buf}[${off}${k} * ${u(BO4)} + ${o} / 4u] = ${r};`;
        } else if (block) {
          // rows o..o+3 at k..k+3: column j of the 4×4 block is row k+j of the stage
          s = [0, 1, 2, 3].map((j) => {
            const c = "xyzw"[j];
            return `${buf}[${off}(${k} + ${u(j)}) * ${
              u(BO4)
            } + ${o} / 4u] = vec4<f32>(${r}_0.${c}, ${r}_1.${c}, ${r}_2.${c}, ${r}_3.${c});`;
          }).join(" ");
        } else {
          // scalar stores (word address k·BO + o)
          const parts = Array.from({ length: w }, (_, j) => {
            const v = w === 4 ? `${r}.${"xyzw"[j]}` : r;
            const kj = kContig && w === 4 ? `(${k} + ${u(j)})` : k;
            const oj = !kContig && w === 4 ? `(${o} + ${u(j)})` : o;
            return `{ let wd = ${kj} * ${u(BO)} + ${oj}; ${buf}[${off}wd / 4u][wd % 4u] = ${v}; }`;
          });
          s = parts.join(" ");
        }
        return live ? `if (${live}) { ${s} }` : s;
      });
    }
    st.store = (b) => stores.map((s) => s(b));
    return st;
  };
  const sa = stageOf("A"), sb = stageOf("B");

  // accumulator q (0..TM-1) holds output row rowOf(q) of the tile, columns (c·WX + tx)·4 + 0..3
  const rowOf = (q: number) => aMK ? `${u(q * WY)} + ty` : `${u(Math.floor(q / 4) * WY * 4 + (q % 4))} + ty * 4u`;

  // the inner product over the stage at `cur` (kk a constant or a loop variable)
  const bLoads = (kk: string, curB: string) =>
    Array.from({ length: TN4 }, (_, c) => `let b${c} = Bs[${curB}${kk} * ${u(BN4)} + ${u(c * WX)} + tx];`);
  const fmas = (a: (q: number) => string) => {
    const out: string[] = [];
    for (let q = 0; q < TM; q++) {
      for (let c = 0; c < TN4; c++) out.push(`acc${q}_${c} = fma(vec4<f32>(${a(q)}), b${c}, acc${q}_${c});`);
    }
    return out;
  };
  const indent = (xs: string[]) => xs.map((x) => "  " + x);
  const inner = (cur: string): string[] => {
    const curA = cur === "0u" ? "" : `${cur}A + `;
    const curB = cur === "0u" ? "" : `${cur}B + `;
    if (aMK) {
      // per 4 k: TM vec4s of A (one per row, along k), then 4 × (TN/4 vec4s of B, TM·TN FMAs)
      const step = (kq: string) => {
        const out: string[] = [];
        for (let q = 0; q < TM; q++) out.push(`let a${q} = As[${curA}(${rowOf(q)}) * ${u(AK4)} + ${kq}];`);
        for (let j = 0; j < 4; j++) {
          const kk = /^\d+u$/.test(kq) ? u(parseInt(kq) * 4 + j) : `(${kq} * 4u + ${u(j)})`;
          out.push("{", ...indent([...bLoads(kk, curB), ...fmas((q) => `a${q}.${"xyzw"[j]}`)]), "}");
        }
        return out;
      };
      if (unroll) {
        const out: string[] = [];
        for (let kq = 0; kq < BK / 4; kq++) out.push("{", ...indent(step(u(kq))), "}");
        return out;
      }
      return [`for (var kq = 0u; kq < ${u(BK / 4)}; kq++) {`, ...indent(step("kq")), "}"];
    }
    // k-major A: per k, TM/4 vec4s of A (along m) and TN/4 of B
    const step = (kk: string) => {
      const out: string[] = [];
      for (let r = 0; r < TM4; r++) out.push(`let a${r} = As[${curA}${kk} * ${u(BM4)} + ${u(r * WY)} + ty];`);
      out.push(...bLoads(kk, curB));
      out.push(...fmas((q) => `a${Math.floor(q / 4)}.${"xyzw"[q % 4]}`));
      return out;
    };
    if (unroll) {
      const out: string[] = [];
      for (let kk = 0; kk < BK; kk++) out.push("{", ...indent(step(u(kk))), "}");
      return out;
    }
    return [`for (var kk = 0u; kk < ${u(BK)}; kk++) {`, ...indent(step("kk")), "}"];
  };

  // act(alpha · v + beta · bias) for a vec4 (columns n..n+3 of row m) or a scalar (column n);
  // reads `m`, `n` and `cBase` from the scope it is used in
  const epilogue = (v: string, vec: boolean): string => {
    let e = alpha === 1 ? v : `${v} * ${f(alpha)}`;
    if (bias !== "none") {
      const cidx = (nn: string) => bias === "row" ? `cBase + ${nn}` : `cBase + m * ${u(N)} + ${nn}`;
      let cv: string;
      if (!vec) cv = `f32(C[${cidx("n")}])`;
      else if (c4) cv = `vec4<f32>(C[(${cidx("n")}) / 4u])`;
      else {
        // scalar bias reads: clamp the column so a partial vec4 at the right edge reads in bounds
        const comp = [0, 1, 2, 3].map((j) => `f32(C[${cidx(`min(n + ${u(j)}, ${u(N - 1)})`)}])`);
        cv = `vec4<f32>(${comp.join(", ")})`;
      }
      e = `${e} + ${beta === 1 ? cv : `${cv} * ${f(beta)}`}`;
    }
    if (relu) e = vec ? `max(${e}, vec4<f32>(0.0))` : `max(${e}, 0.0)`;
    return e;
  };

  // ---- the source ----
  if (p.f16) emit("enable f16;");
  const aT = a4 ? `vec4<${T}>` : T, bT = b4 ? `vec4<${T}>` : T, oT = o4 ? `vec4<${T}>` : T;
  const cT = c4 ? `vec4<${T}>` : T;
  const pT = o4 ? "vec4<f32>" : "f32";
  const bindings = ["a", "b"];
  emit(`@group(0) @binding(0) var<storage, read> A: array<${aT}>;`);
  emit(`@group(0) @binding(1) var<storage, read> B: array<${bT}>;`);
  if (bias !== "none" && !raw) {
    emit(`@group(0) @binding(2) var<storage, read> C: array<${cT}>;`);
    bindings.push("c");
  }
  if (hook && !raw) emit(hookDecls(bindings.length));
  else {
    emit(`@group(0) @binding(${bindings.length}) var<storage, read_write> O: array<${raw ? pT : oT}>;`);
    bindings.push(raw ? "partial" : "out");
  }
  const stages = db ? 2 : 1;
  emit(`var<workgroup> As: array<vec4<f32>, ${stages * stageA}>;`);
  emit(`var<workgroup> Bs: array<vec4<f32>, ${stages * stageB}>;`);
  emit("");
  emit(
    `// ${batch}×${M}×${N}×${K} transA=${transA} transB=${transB} tile ${BM}×${BN}×${BK} thread ${TM}×${TN}${
      raw ? ` split-K ${S}×${Kc}` : ""
    }`,
  );
  emit(`@compute @workgroup_size(${NT})`);
  emit(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {`);
  const body: string[] = [];
  const b = (...s: string[]) => body.push(...s);
  b(`let tx = tid % ${u(WX)};`);
  b(`let ty = tid / ${u(WX)};`);
  const G = Math.min(tile.swizzle ?? 0, gy);
  if (G > 1) {
    // Triton's grouped order: workgroup i of a band of G tile rows walks down the band first
    b(`let pid = wid.y * ${u(gx)} + wid.x;`);
    b(`let band = pid / ${u(G * gx)};`);
    b(`let first = band * ${u(G)};`);
    b(`let rows = min(${u(gy)} - first, ${u(G)});`);
    b(`let inBand = pid % ${u(G * gx)};`);
    b(`let row0 = (first + inBand % rows) * ${u(BM)};`);
    b(`let col0 = (inBand / rows) * ${u(BN)};`);
  } else {
    b(`let col0 = wid.x * ${u(BN)};`);
    b(`let row0 = wid.y * ${u(BM)};`);
  }
  if (raw) {
    b(`let bz = wid.z / ${u(S)};`);
    b(`let kBeg = (wid.z % ${u(S)}) * ${u(Kc)};`);
    b(`let nT = (min(kBeg + ${u(Kc)}, ${u(K)}) - kBeg + ${u(BK - 1)}) / ${u(BK)};`);
  } else {
    b(`let bz = wid.z;`);
  }
  const kBeg = raw ? "kBeg + " : "";
  b(`let aBase = bz * ${u(sA)};`);
  b(`let bBase = bz * ${u(sB)};`);
  for (let q = 0; q < TM; q++) for (let c = 0; c < TN4; c++) b(`var acc${q}_${c} = vec4<f32>(0.0);`);
  b(...sa.regs, ...sb.regs);
  if (db) {
    b(`var k0 = ${raw ? "kBeg" : "0u"};`);
    b(...sa.load, ...sb.load);
    b(...sa.store("0u"), ...sb.store("0u"));
    b(`workgroupBarrier();`);
    b(`for (var t = 0u; t < ${nT}; t++) {`);
    const inL: string[] = [];
    inL.push(`let curA = (t & 1u) * ${u(stageA)};`);
    inL.push(`let curB = (t & 1u) * ${u(stageB)};`);
    inL.push(`let nxtA = ${u(stageA)} - curA;`);
    inL.push(`let nxtB = ${u(stageB)} - curB;`);
    inL.push(`let more = t + 1u < ${nT};`);
    inL.push(
      `if (more) {`,
      `  k0 = ${kBeg}(t + 1u) * ${u(BK)};`,
      ...[...sa.load, ...sb.load].map((s) => "  " + s),
      `}`,
    );
    inL.push(...inner("cur"));
    inL.push(`if (more) {`);
    // stores into the other stage (its offset is nxtA / nxtB)
    inL.push(...sa.store("nxtA").map((s) => "  " + s));
    inL.push(...sb.store("nxtB").map((s) => "  " + s));
    inL.push(`}`);
    inL.push(`workgroupBarrier();`);
    b(...inL.map((s) => "  " + s));
    b(`}`);
  } else {
    b(`for (var t = 0u; t < ${nT}; t++) {`);
    const inL: string[] = [];
    inL.push(`let k0 = ${kBeg}t * ${u(BK)};`);
    inL.push(...sa.load, ...sb.load, ...sa.store("0u"), ...sb.store("0u"));
    inL.push(`workgroupBarrier();`);
    inL.push(...inner("0u"));
    inL.push(`workgroupBarrier();`);
    b(...inL.map((s) => "  " + s));
    b(`}`);
  }

  // ---- epilogue: alpha, bias, activation, store (raw partial sums with split-K) ----
  if (!hook || raw) b(`let oBase = ${raw ? "wid.z" : "bz"} * ${u(M * N)};`);
  if (bias !== "none" && !raw) b(`let cBase = bz * ${u(sC)};`);
  for (let q = 0; q < TM; q++) {
    const blk: string[] = [];
    for (let c = 0; c < TN4; c++) {
      const acc = `acc${q}_${c}`;
      const v = raw ? acc : epilogue(acc, true);
      const st = [`let n = col0 + ${u(c * WX * 4)} + tx * 4u;`];
      if (hook && !raw) {
        const sj = [0, 1, 2, 3].map((j) => `store_(bz, m, n + ${u(j)}, v.${"xyzw"[j]});`);
        if (o4) {
          const all = `let v = ${v}; ${sj.join(" ")}`;
          st.push(guardN ? `if (n < ${u(N)}) { ${all} }` : all);
        } else {
          st.push(`let v = ${v};`, ...sj.map((x, j) => `if (n + ${u(j)} < ${u(N)}) { ${x} }`));
        }
      } else if (o4) {
        const put = `O[(oBase + m * ${u(N)} + n) / 4u] = ${raw ? "v" : `${oT}(v)`};`;
        st.push(guardN ? `if (n < ${u(N)}) { let v = ${v}; ${put} }` : `let v = ${v}; ${put}`);
      } else {
        st.push(`let v = ${v};`);
        for (let j = 0; j < 4; j++) {
          const sj = `O[oBase + m * ${u(N)} + n + ${u(j)}] = ${raw ? "f32" : T}(v.${"xyzw"[j]});`;
          st.push(`if (n + ${u(j)} < ${u(N)}) { ${sj} }`);
        }
      }
      blk.push(`{ ${st.join(" ")} }`);
    }
    b(`{`);
    b(`  let m = row0 + ${rowOf(q)};`);
    b(`  ${guardM ? `if (m < ${u(M)}) ` : ""}{`);
    for (const x of blk) b(`    ${x}`);
    b(`  }`);
    b(`}`);
  }
  for (const s of body) emit("  " + s);
  emit("}");

  // ---- split-K: the reduction over the S partial products, with the epilogue ----
  let reduce: GemmKernel["reduce"];
  if (raw) {
    const w = o4 ? 4 : 1, MNw = (M * N) / w, total = batch * MNw;
    const groups = Math.ceil(total / 256), rx = Math.min(groups, 32768), ry = Math.ceil(groups / rx);
    const r: string[] = [];
    if (p.f16) r.push("enable f16;");
    const rb = ["partial"];
    r.push(`@group(0) @binding(0) var<storage, read> P: array<${pT}>;`);
    if (bias !== "none") {
      r.push(`@group(0) @binding(1) var<storage, read> C: array<${cT}>;`);
      rb.push("c");
    }
    if (hook) r.push(hookDecls(rb.length));
    else {
      r.push(`@group(0) @binding(${rb.length}) var<storage, read_write> O: array<${oT}>;`);
      rb.push("out");
    }
    r.push(`// split-K reduction: ${batch}×${M}×${N}, ${S} partial products`);
    r.push(`@compute @workgroup_size(256)`);
    r.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
    r.push(`  let i = (wid.y * ${u(rx)} + wid.x) * 256u + lid;`);
    r.push(`  if (i >= ${u(total)}) { return; }`);
    r.push(`  let bz = i / ${u(MNw)};`);
    r.push(`  let e = i % ${u(MNw)};`);
    r.push(`  let m = (e * ${u(w)}) / ${u(N)};`);
    r.push(`  let n = (e * ${u(w)}) % ${u(N)};`);
    if (bias !== "none") r.push(`  let cBase = bz * ${u(sC)};`);
    r.push(`  var v = P[bz * ${u(S * MNw)} + e];`);
    for (let k = 1; k < S; k++) r.push(`  v += P[bz * ${u(S * MNw)} + ${u(k * MNw)} + e];`);
    if (!hook) r.push(`  O[i] = ${oT}(${epilogue("v", o4)});`);
    else if (!o4) r.push(`  store_(bz, m, n, ${epilogue("v", false)});`);
    else {
      r.push(`  let r = ${epilogue("v", true)};`);
      for (let j = 0; j < 4; j++) r.push(`  store_(bz, m, n + ${u(j)}, r.${"xyzw"[j]});`);
    }
    r.push(`}`);
    reduce = {
      code: r.join("\n") + "\n",
      entryPoint: "main",
      workgroupSize: [256, 1, 1],
      dispatch: [rx, ry, 1],
      bindings: rb,
    };
  }
  return {
    code: lines.join("\n") + "\n",
    entryPoint: "main",
    workgroupSize: [NT, 1, 1],
    dispatch: [gx, gy, batch * S],
    bindings,
    splitK: S,
    scratchBytes: raw ? batch * S * M * N * 4 : 0,
    reduce,
    tile: { ...tile, doubleBuffer: db, unroll, swizzle: G > 1 ? G : 0, aLayout: aMK ? "mk" : "km" },
    workgroupBytes: stages * (stageA + stageB) * 16,
  };
}

/**
 * The same product on the CPU in float64 (for tests and spot checks). Inputs in the layouts the
 * kernel reads; returns [batch, M, N].
 */
export function gemmReference(
  p: GemmParams,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c?: ArrayLike<number>,
): Float64Array {
  const { M, N, K } = p;
  const batch = p.batch ?? 1;
  const sA = p.batchStrideA ?? M * K, sB = p.batchStrideB ?? K * N, sC = p.batchStrideBias ?? 0;
  const alpha = p.alpha ?? 1, beta = p.beta ?? 1;
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[z * sA + (p.transA ? k * M + m : m * K + k)];
          const bv = b[z * sB + (p.transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        let v = alpha * s;
        if (p.bias === "row") v += beta * c![z * sC + n];
        else if (p.bias === "full") v += beta * c![z * sC + m * N + n];
        if (p.activation === "relu") v = Math.max(v, 0);
        out[(z * M + m) * N + n] = v;
      }
    }
  }
  return out;
}
