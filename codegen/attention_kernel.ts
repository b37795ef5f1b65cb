/**
 * The fused attention kernel: O = P'·V with P' = post(Softmax(pre(Q·Kt))) along the last axis,
 * computed without writing the scores or probabilities to memory. One workgroup takes a tile of
 * up to 16 query rows of one batch: it stages their Q rows in workgroup memory, computes the
 * tile's scores there (each thread a few rows × 4 key columns, Kt read as vec4 rows), takes each
 * row's max and sum of exp(s − max) in a segment of the workgroup (exactly ONNX Softmax:
 * exp(x − max) / Σ exp(x − max), two passes over the stored scores), then each thread accumulates
 * a few rows × 4 columns of Σ_j p_j·V[j, ·].
 *
 * When it pays (GPU time on an H200 through Vulkan against the separate MatMul, Softmax and MatMul
 * kernels, fused/unfused, same run): rows of ≤ 256 keys win — 0.62 for bert_tiny's 2 × 32 × 32,
 * 0.65 for 12 heads at sequence 128 (batch 1 and 8), 0.66 at 256, 0.67 for 16 × 12 heads at 64;
 * longer rows lose (1.15–1.4 at 352–512) since every tile re-reads all of K and V and 16 KiB of
 * workgroup memory caps a tile at 8 rows or fewer; so does a grid of few workgroups over long rows
 * (one query over 256 keys: 1.7), where the separate kernels split each row over many workgroups.
 * Those cases stay unfused (one query over 64 keys, still fused, is a tie: 1.04).
 *
 * The ONNX Attention op (`attention_op.ts`) drives the same generator through three optional
 * fields: `layout` addresses Q, K (stored as rows, not as Kᵀ), V and O by batch and head (3-D
 * inputs, grouped-query heads, a KV cache), `scoreFn` replaces the score chain by WGSL of its
 * own (scale, softcap, masks), and `chunking` makes it always emit a kernel: a row of more keys
 * than fit is taken in chunks with an online softmax — per row a running max m and sum l, the
 * output accumulated in workgroup memory and rescaled by exp(m_old − m_new) at each chunk, then
 * divided by l; a running max of −∞ (every key so far masked) counts as 0, so masked chunks add
 * nothing and a fully masked row ends as 0/0 = NaN like the single pass. Without those fields
 * the emitted WGSL is exactly the pattern's.
 *
 * Invariant: every value the kernel reads is either an input leaf of the fused subgraph or an
 * elementwise chain over such leaves evaluated at the flat index of the tensor it stands for
 * (the score transform and the post-softmax transform at S's flat index, operand prologues at
 * their operand's), so any mask, scale or NaN guard `fusion.ts` can chain works here unchanged.
 * @module
 */
import type { Tensor } from "../ir/tensor.ts";
import { sizeOf } from "../ir/tensor.ts";
import { type Chain, chainCode, chainEpilogue, helperSource, leafLoad } from "./fusion.ts";
import type { KernelSpec } from "./kernel.ts";
import type { TensorInfo } from "./lowering.ts";
import { Bindings, broadcastOffset, groupGrid, NEG_INF } from "./wgsl.ts";

/**
 * Where an operand of the Attention op lies: the matrix of score batch `bt = b·heads + h` starts
 * at `b·batch + ⌊h / group⌋·head`, its rows `row` elements apart, a row's elements contiguous.
 */
export interface HeadStrides {
  batch: number;
  head: number;
  /** query heads that share one head of this operand (grouped-query K and V; 1 for Q and O) */
  group: number;
  row: number;
}

/** The Attention op's addressing: heads per batch, head sizes, each operand's strides (K as rows [N, D]). */
export interface HeadLayout {
  heads: number;
  /** head size of Q and K */
  d: number;
  /** head size of V and O */
  dv: number;
  q: HeadStrides;
  k: HeadStrides;
  v: HeadStrides;
  out: HeadStrides;
}

/** An operand of a MatMul, read from memory or computed by an elementwise chain (its prologue). */
export interface AttentionOperand {
  info: TensorInfo;
  /** a chain whose root is `info`, evaluated at the operand's flat index instead of loading it */
  chain?: Chain;
}

/** What the kernel computes: the operands, the intermediates' types and their transforms. */
export interface AttentionConfig {
  /** [..., M, D] */
  q: AttentionOperand;
  /** [..., D, N] */
  kt: AttentionOperand;
  /** [..., N, Dv] */
  v: AttentionOperand;
  /** the scores Q·Kt, [...batch, M, N] (never stored) */
  s: TensorInfo;
  /** chain from the scores to the Softmax input (root of S's shape, `s` among its leaves) */
  score?: Chain;
  /** the Softmax output (never stored) */
  p: TensorInfo;
  /** chain from the Softmax output to the second MatMul's left operand (`p` among its leaves) */
  prob?: Chain;
  /** [...batch, M, Dv], the only value written */
  out: TensorInfo;
  name: string;
  nodes: string[];
  /** the Attention op: operands addressed by head (`kt` is then K itself, rows of D), not broadcast */
  layout?: HeadLayout;
  /** WGSL defining `fn att_score(idx: u32, x: f32) -> f32` (S's flat index) and its bindings, instead of `score` */
  scoreFn?: (b: Bindings) => { source: string; helpers: string[] };
  /**
   * always emit a kernel: rows of at most `keys` keys whose tile fits `floats` f32s of workgroup
   * memory in one pass, others in chunks of at most `keys` keys with an online softmax (no `prob`)
   */
  chunking?: { keys: number; floats: number };
}

/** Workgroup memory the kernel may use, in f32s (WebGPU's guaranteed 16 KiB). */
const WORKGROUP_FLOATS = 4096;
/** Most query rows per workgroup. */
const MAX_ROWS = 16;
/** Longest score row fused: past it the tiles' re-reads of K and V cost more than S's round trip. */
const MAX_KEYS = 256;
/** Fewer workgroups than this leave the GPU idle unless rows are at most `SHORT_ROW` keys. */
const MIN_TILES = 32;
const SHORT_ROW = 64;
/** Storage buffers per shader stage WebGPU guarantees. */
const MAX_BINDINGS = 8;

const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** How the work is cut: rows per workgroup, threads, and rows per thread in the two products. */
export interface AttentionTile {
  rows: number;
  wg: number;
  /** rows of a thread's 4-column score tile */
  scoreRows: number;
  /** rows of a thread's 4-column output tile */
  outRows: number;
}

/** The most rows (1, 2 or 4) per thread that still gives every thread a tile of `cols4` column quads. */
function rowsPerThread(rows: number, cols4: number, wg: number): number {
  for (const r of [4, 2]) if (r <= rows && (rows / r) * cols4 >= wg) return r;
  return 1;
}

/** The tiling for the problem; undefined when a row is too long to fuse or its scores do not fit. */
export function attentionTile(M: number, N: number, D: number, Dv: number): AttentionTile | undefined {
  if (N > MAX_KEYS) return undefined;
  const wg = Math.max(N, Dv) <= 64 ? 64 : 128;
  const floats = (r: number) => r * (Math.ceil(N / 4) * 4 + D) + wg;
  let rows = Math.min(MAX_ROWS, pow2Ceil(M));
  while (rows > 1 && floats(rows) > WORKGROUP_FLOATS) rows /= 2;
  if (floats(rows) > WORKGROUP_FLOATS) return undefined;
  const scoreRows = rowsPerThread(rows, Math.ceil(N / 4), wg), outRows = rowsPerThread(rows, Math.ceil(Dv / 4), wg);
  return { rows, wg, scoreRows, outRows };
}

/**
 * The Attention op's tiling within `lim.floats` workgroup f32s: one pass when a row of at most
 * `lim.keys` keys fits (`keys` absent), else chunks of `keys` keys (a multiple of 4).
 */
function opTile(
  M: number,
  N: number,
  D: number,
  Dv: number,
  lim: { keys: number; floats: number },
): (AttentionTile & { keys?: number }) | undefined {
  const fit = (width: number, perRow: number, keys?: number): (AttentionTile & { keys?: number }) | undefined => {
    const wg = Math.max(width, Dv) <= 64 ? 64 : 128;
    for (let rows = Math.min(MAX_ROWS, pow2Ceil(M)); rows >= 1; rows /= 2) {
      if (rows * perRow + wg > lim.floats) continue;
      const scoreRows = rowsPerThread(rows, Math.ceil(width / 4), wg),
        outRows = rowsPerThread(rows, Math.ceil(Dv / 4), wg);
      return { rows, wg, scoreRows, outRows, keys };
    }
  };
  const one = N <= lim.keys ? fit(N, Math.ceil(N / 4) * 4 + D) : undefined;
  if (one) return one;
  for (let keys = Math.ceil(Math.min(lim.keys, N) / 4) * 4; keys >= 4; keys = Math.floor(keys / 8) * 4) {
    const t = fit(keys, keys + D + Math.ceil(Dv / 4) * 4 + 1, keys);
    if (t) return t;
  }
}

/** `fn name(idx: u32[, x: f32]) -> f32` returning a chain's value. */
function chainFn(name: string, param: string, code: { code: string; result: string }): string {
  return `fn ${name}(idx: u32${param}) -> f32 {
  ${code.code}
  return ${code.result};
}`;
}

/** `f(0) … f(n − 1)` joined by newlines (code unrolled over a thread's rows or a vector's lanes). */
const unroll = (n: number, f: (i: number) => string, sep = "\n    ") =>
  Array.from({ length: n }, (_, i) => f(i)).join(sep);
const LANES = ["x", "y", "z", "w"];
/** Whether every matrix and row of an operand starts at a multiple of 4 elements. */
const aligned4 = (s: HeadStrides | undefined) => !s || [s.batch, s.head, s.row].every((x) => x % 4 === 0);
/** `x` is −∞ (by its bits: a compiler may assume no infinities in comparisons). */
const isNegInf = (x: string) => `bitcast<u32>(${x}) == 0xff800000u`;

/**
 * The fused kernel, or undefined when it does not fit (scores of a row past workgroup memory,
 * more bindings than WebGPU guarantees, a grid past one dispatch).
 */
export function attentionKernel(
  cfg: AttentionConfig,
  constant: (name: string) => Tensor | undefined,
): KernelSpec | undefined {
  const sDims = cfg.s.dims, rank = sDims.length;
  const [M, N] = [sDims[rank - 2], sDims[rank - 1]];
  const L = cfg.layout;
  const D = L ? L.d : cfg.q.info.dims[cfg.q.info.dims.length - 1], Dv = L ? L.dv : cfg.out.dims[rank - 1];
  const sBatch = sDims.slice(0, -2), batch = sizeOf(sBatch);
  const tile: (AttentionTile & { keys?: number }) | undefined = cfg.chunking
    ? opTile(M, N, D, Dv, cfg.chunking)
    : attentionTile(M, N, D, Dv);
  if (!tile || M * N * D * Dv * batch === 0) return undefined;
  const { rows: R, wg, scoreRows: TR, outRows: TO } = tile;
  const C = tile.keys; // keys per chunk (chunked: an online softmax)
  if (C !== undefined && cfg.prob) return undefined;
  const tiles = batch * Math.ceil(M / R);
  if (Math.ceil(tiles / 65535) > 65535 || (!cfg.chunking && tiles < MIN_TILES && N > SHORT_ROW)) return undefined;
  const NV = Math.ceil(N / 4), DT = Math.ceil(Dv / 4); // column quads of a score row and of an output row
  const CV = C === undefined ? NV : C / 4; // score quads a workgroup holds per row
  // row strides of Q, K (the op: rows of D), V and O
  const [qRow, kRow, vRow, oRow] = L ? [L.q.row, L.k.row, L.v.row, L.out.row] : [D, N, Dv, Dv];
  const b = new Bindings();
  const helpers: string[] = [];
  const fns: string[] = [];
  // operand loads: the buffer itself, or its prologue chain at the operand's flat index
  const made = new Set<string>();
  const scalar = (o: AttentionOperand, fn: string): (i: string) => string => {
    if (!o.chain) {
      const buf = b.read(o.info.name, "f32");
      return (i) => `${buf}[${i}]`;
    }
    if (!made.has(fn)) {
      made.add(fn);
      const c = chainCode(o.chain, (leaf) => leafLoad(b, leaf, o.info.dims, "idx", constant));
      helpers.push(...c.helpers);
      fns.push(chainFn(fn, "", c));
    }
    return (i) => `${fn}(${i})`;
  };
  /** four consecutive elements from `at` (aligned), the last valid column being `last` of `col` */
  const quad = (o: AttentionOperand, fn: string, width: number, aligned = true) => {
    if (!o.chain && width % 4 === 0 && aligned) {
      const buf = b.read(o.info.name, "vec4<f32>");
      return (at: string) => `${buf}[(${at}) / 4u]`;
    }
    const ld = scalar(o, fn);
    return (at: string, col: string) =>
      `vec4<f32>(${unroll(4, (k) => ld(`${at} + min(${col} + ${k}u, ${width - 1}u) - ${col}`), ", ")})`;
  };
  const q4 = D % 4 === 0 ? quad(cfg.q, "att_q", D, aligned4(L?.q)) : undefined;
  const q1 = D % 4 === 0 ? undefined : scalar(cfg.q, "att_q");
  // the op's K rows: a vec4 along D (transposed in registers), or scalars
  const k4 = L ? D % 4 === 0 ? quad(cfg.kt, "att_k", D, aligned4(L.k)) : undefined : quad(cfg.kt, "att_k", N);
  const k1 = L && D % 4 !== 0 ? scalar(cfg.kt, "att_k") : undefined;
  const v4 = quad(cfg.v, "att_v", Dv, aligned4(L?.v));
  const transform = (chain: Chain | undefined, leaf: string, fn: string): boolean => {
    if (!chain) return false;
    const e = chainEpilogue(chain, leaf, constant).emit(b, "idx", "x");
    helpers.push(...e.helpers);
    fns.push(chainFn(fn, ", x: f32", e));
    return true;
  };
  let hasScore = transform(cfg.score, cfg.s.name, "att_score");
  if (!hasScore && cfg.scoreFn) {
    const f = cfg.scoreFn(b);
    helpers.push(...f.helpers);
    fns.push(f.source);
    hasScore = true;
  }
  const hasProb = transform(cfg.prob, cfg.p.name, "att_prob");
  const vecOut = Dv % 4 === 0 && aligned4(L?.out);
  const out = b.write(cfg.out.name, vecOut ? "vec4<f32>" : "f32");
  if (b.list.length > MAX_BINDINGS) return undefined;
  const base = (o: AttentionOperand, size: number) => {
    const off = broadcastOffset(o.info.dims.slice(0, -2), sBatch, "bt");
    return off === "0u" ? "0u" : `(${off}) * ${size}u`;
  };
  const headBase = (s: HeadStrides) => `bh * ${s.batch}u + ${s.group === 1 ? "hh" : `(hh / ${s.group}u)`} * ${s.head}u`;
  const bases = L
    ? `let bh = bt / ${L.heads}u;
  let hh = bt % ${L.heads}u;
  let qb = ${headBase(L.q)};
  let kb = ${headBase(L.k)};
  let vb = ${headBase(L.v)};
  let sb = bt * ${M * N}u;
  let ob = ${headBase(L.out)};`
    : `let qb = ${base(cfg.q, M * D)};
  let kb = ${base(cfg.kt, D * N)};
  let vb = ${base(cfg.v, N * Dv)};
  let sb = bt * ${M * N}u;
  let ob = bt * ${M * Dv}u;`;
  const T = wg / R; // threads per row in the softmax
  const g = groupGrid(tiles);
  const segReduce = (op: "max" | "sum", v: string, res: string) => {
    const comb = op === "max" ? "max(red[lid.x], red[lid.x + s])" : "red[lid.x] + red[lid.x + s]";
    return `red[lid.x] = ${v};
  workgroupBarrier();
  for (var s = ${T / 2}u; s > 0u; s = s >> 1u) {
    if (tt < s) { red[lid.x] = ${comb}; }
    workgroupBarrier();
  }
  let ${res} = red[rr * ${T}u];
  workgroupBarrier();`;
  };
  // lanes of quad `c` past N (only when N is not a multiple of 4); `from`: the chunk's first key
  const valid = (c: string, from = "") =>
    N % 4 === 0 ? "" : `vec4<u32>(${from}${c} * 4u) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(${N}u)`;
  const masked = (v: string, c: string, fill: string, from = "") =>
    N % 4 === 0 ? v : `select(${fill}, ${v}, ${valid(c, from)})`;
  // the tile's Q rows: vec4 rows when D is a multiple of 4
  const qTile = D % 4 === 0
    ? `for (var t = lid.x; t < ${(R * D) / 4}u; t = t + ${wg}u) {
    let m = m0 + t / ${D / 4}u;
    var q = vec4<f32>();
    if (m < ${M}u) { q = ${q4!(`qb + m * ${qRow}u + (t % ${D / 4}u) * 4u`, "0u")}; }
    qs[t] = q;
  }`
    : `for (var t = lid.x; t < ${R * D}u; t = t + ${wg}u) {
    let m = m0 + t / ${D}u;
    var q = 0.0;
    if (m < ${M}u) { q = ${q1!(`qb + m * ${qRow}u + t % ${D}u`)}; }
    qs[t] = q;
  }`;
  // key j0 + c of a thread's quad (the last key past N)
  const key = (c: number) => N % 4 === 0 ? `(j0 + ${c}u)` : `min(j0 + ${c}u, ${N - 1}u)`;
  const kLoads = () =>
    !L
      ? unroll(4, (k) => `let k${k} = ${k4!(`kb + (d + ${k}u) * ${kRow}u + j0`, "j0")};`, "\n      ")
      : `${unroll(4, (c) => `let kr${c} = ${k4!(`kb + ${key(c)} * ${kRow}u + d`, "d")};`, "\n      ")}
      ${unroll(4, (k) => `let k${k} = vec4<f32>(${unroll(4, (c) => `kr${c}.${LANES[k]}`, ", ")});`, "\n      ")}`;
  const kQuad = () =>
    L
      ? `vec4<f32>(${unroll(4, (c) => k1!(`kb + ${key(c)} * ${kRow}u + d`), ", ")})`
      : k4!(`kb + (d) * ${N}u + j0`, "j0");
  const dLoop = D % 4 === 0
    ? `for (var d = 0u; d < ${D}u; d = d + 4u) {
      ${kLoads()}
      ${
      unroll(
        TR,
        (r) =>
          `{ let q = qs[(r0 + ${r}u) * ${
            D / 4
          }u + d / 4u]; a${r} = a${r} + q.x * k0 + q.y * k1 + q.z * k2 + q.w * k3; }`,
        "\n      ",
      )
    }
    }`
    : `for (var d = 0u; d < ${D}u; d = d + 1u) {
      let k = ${kQuad()};
      ${unroll(TR, (r) => `a${r} = a${r} + qs[(r0 + ${r}u) * ${D}u + d] * k;`, "\n      ")}
    }`;
  // a thread's score tile into `sc` at quad column `col`, transformed at S's flat index
  const scoreStore = (col: string) => (r: number) =>
    hasScore
      ? `{
      let m = m0 + r0 + ${r}u;
      var x = a${r};
      if (m < ${M}u) {
        for (var k = 0u; k < 4u; k = k + 1u) {
          if (j0 + k < ${N}u) { x[k] = att_score(sb + m * ${N}u + j0 + k, x[k]); }
        }
      }
      sc[(r0 + ${r}u) * ${CV}u + ${col}] = x;
    }`
      : `sc[(r0 + ${r}u) * ${CV}u + ${col}] = a${r};`;
  const vLoad = (j: string) => v4(`vb + (${j}) * ${vRow}u + d0`, "d0");
  // Σ p_j·V[j] over `n` keys from `from` into o0…, p from `sc`
  const jLoop = (n: string, from = "") =>
    N % 4 === 0
      ? `for (var j = 0u; j < ${n}; j = j + 4u) {
      ${unroll(4, (k) => `let v${k} = ${vLoad(`${from}j + ${k}u`)};`, "\n      ")}
      ${
        unroll(
          TO,
          (r) =>
            `{ let p = sc[(r0 + ${r}u) * ${CV}u + j / 4u]; o${r} = o${r} + p.x * v0 + p.y * v1 + p.z * v2 + p.w * v3; }`,
          "\n      ",
        )
      }
    }`
      : `for (var j = 0u; j < ${n}; j = j + 1u) {
      let v = ${vLoad(`${from}j`)};
      ${unroll(TO, (r) => `o${r} = o${r} + sc[(r0 + ${r}u) * ${CV}u + j / 4u][j % 4u] * v;`, "\n      ")}
    }`;
  const outStore = (r: number) =>
    vecOut
      ? `if (m0 + r0 + ${r}u < ${M}u) { ${out}[(ob + (m0 + r0 + ${r}u) * ${oRow}u + d0) / 4u] = o${r}; }`
      : `if (m0 + r0 + ${r}u < ${M}u) {
      ${
        unroll(
          4,
          (k) =>
            `if (d0 + ${k}u < ${Dv}u) { ${out}[ob + (m0 + r0 + ${r}u) * ${oRow}u + d0 + ${k}u] = o${r}.${LANES[k]}; }`,
          "\n      ",
        )
      }
    }`;
  const head = `${b.decls}
${helperSource(helpers)}
${fns.join("\n")}
var<workgroup> qs: array<${D % 4 === 0 ? "vec4<f32>" : "f32"}, ${D % 4 === 0 ? (R * D) / 4 : R * D}>;
var<workgroup> sc: array<vec4<f32>, ${R * CV}>;
var<workgroup> red: array<f32, ${wg}>;
`;
  const start = `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = ${g.index};
  if (tile >= ${tiles}u) { return; }
  let bt = tile / ${Math.ceil(M / R)}u;
  let m0 = (tile % ${Math.ceil(M / R)}u) * ${R}u;
  ${bases}
  // the tile's ${R} Q rows (zero past M)
  ${qTile}
  workgroupBarrier();`;
  const spec = (wgsl: string): KernelSpec => ({
    name: cfg.name,
    nodes: cfg.nodes,
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: g.dispatch,
  });
  if (C !== undefined) return spec(chunked());
  const wgsl = `${head}
${start}
  // scores: each thread a ${TR}-row × 4-column tile, transformed at S's flat index
  for (var t = lid.x; t < ${NV * (R / TR)}u; t = t + ${wg}u) {
    let j0 = (t % ${NV}u) * 4u;
    let r0 = (t / ${NV}u) * ${TR}u;
    ${unroll(TR, (r) => `var a${r} = vec4<f32>();`)}
    ${dLoop}
    ${unroll(TR, scoreStore("j0 / 4u"))}
  }
  workgroupBarrier();
  // softmax of each row: ${T} threads per row reduce max and sum in their segment of red
  let rr = lid.x / ${T}u;
  let tt = lid.x % ${T}u;
  var mx = ${NEG_INF};
  for (var c = tt; c < ${NV}u; c = c + ${T}u) {
    let x = ${masked(`sc[rr * ${NV}u + c]`, "c", `vec4<f32>(${NEG_INF})`)};
    mx = max(mx, max(max(x.x, x.y), max(x.z, x.w)));
  }
  ${segReduce("max", "mx", "rowMax")}
  var sm = 0.0;
  for (var c = tt; c < ${NV}u; c = c + ${T}u) {
    let e = ${masked(`exp(sc[rr * ${NV}u + c] - rowMax)`, "c", "vec4<f32>()")};
    sm = sm + (e.x + e.y) + (e.z + e.w);
  }
  ${segReduce("sum", "sm", "rowSum")}
  let mr = m0 + rr;
  for (var c = tt; c < ${NV}u; c = c + ${T}u) {
    let at = rr * ${NV}u + c;
    var p = exp(sc[at] - rowMax) / rowSum;${
    hasProb
      ? `
    if (mr < ${M}u) {
      for (var k = 0u; k < 4u; k = k + 1u) {
        if (c * 4u + k < ${N}u) { p[k] = att_prob(sb + mr * ${N}u + c * 4u + k, p[k]); }
      }
    }`
      : ""
  }
    sc[at] = ${masked("p", "c", "vec4<f32>()")};
  }
  workgroupBarrier();
  // O = P V: each thread a ${TO}-row × 4-column tile
  for (var t = lid.x; t < ${DT * (R / TO)}u; t = t + ${wg}u) {
    let d0 = (t % ${DT}u) * 4u;
    let r0 = (t / ${DT}u) * ${TO}u;
    ${unroll(TO, (r) => `var o${r} = vec4<f32>();`)}
    ${jLoop(`${N}u`)}
    ${unroll(TO, outStore)}
  }
}
`;
  return spec(wgsl);

  /** Keys in chunks of C: scores, an online softmax step and the rescaled P·V per chunk. */
  function chunked(): string {
    const outTiles = (body: string) =>
      `for (var t = lid.x; t < ${DT * (R / TO)}u; t = t + ${wg}u) {
    let d0 = (t % ${DT}u) * 4u;
    let r0 = (t / ${DT}u) * ${TO}u;
    ${body}
  }`;
    const acc = (r: number) => `acc[(r0 + ${r}u) * ${DT}u + t % ${DT}u]`;
    return `${head}var<workgroup> acc: array<vec4<f32>, ${R * DT}>;
var<workgroup> al: array<f32, ${R}>;

${start}
  ${outTiles(unroll(TO, (r) => `${acc(r)} = vec4<f32>();`))}
  let rr = lid.x / ${T}u;
  let tt = lid.x % ${T}u;
  var runMax = ${NEG_INF};
  var runSum = 0.0;
  for (var c0 = 0u; c0 < ${N}u; c0 = c0 + ${C}u) {
    let nq = min(${CV}u, (${N}u - c0 + 3u) / 4u);
    // scores of keys c0…: each thread a ${TR}-row × 4-column tile, transformed at S's flat index
    for (var t = lid.x; t < nq * ${R / TR}u; t = t + ${wg}u) {
      let cq = t % nq;
      let j0 = c0 + cq * 4u;
      let r0 = (t / nq) * ${TR}u;
      ${unroll(TR, (r) => `var a${r} = vec4<f32>();`, "\n      ")}
      ${dLoop}
      ${unroll(TR, scoreStore("cq"), "\n      ")}
    }
    workgroupBarrier();
    // online softmax: the chunk's max and Σ exp(s − max') with max' the running max (−∞ counts as 0)
    var mx = ${NEG_INF};
    for (var c = tt; c < nq; c = c + ${T}u) {
      let x = ${masked(`sc[rr * ${CV}u + c]`, "c", `vec4<f32>(${NEG_INF})`, "c0 + ")};
      mx = max(mx, max(max(x.x, x.y), max(x.z, x.w)));
    }
    ${segReduce("max", "mx", "chunkMax")}
    let newMax = max(runMax, chunkMax);
    let m1 = select(newMax, 0.0, ${isNegInf("newMax")});
    let alpha = select(exp(runMax - m1), 1.0, ${isNegInf("runMax")});
    var sm = 0.0;
    for (var c = tt; c < nq; c = c + ${T}u) {
      let at = rr * ${CV}u + c;
      let e = ${masked("exp(sc[at] - m1)", "c", "vec4<f32>()", "c0 + ")};
      sc[at] = e;
      sm = sm + (e.x + e.y) + (e.z + e.w);
    }
    ${segReduce("sum", "sm", "chunkSum")}
    runSum = runSum * alpha + chunkSum;
    runMax = newMax;
    if (tt == 0u) { al[rr] = alpha; }
    workgroupBarrier();
    // acc = acc · alpha + P V over the chunk: each thread a ${TO}-row × 4-column tile
    ${
      outTiles(`${unroll(TO, (r) => `var o${r} = ${acc(r)} * al[r0 + ${r}u];`)}
    ${jLoop(`min(${C}u, ${N}u - c0)`, "c0 + ")}
    ${unroll(TO, (r) => `${acc(r)} = o${r};`)}`)
    }
    workgroupBarrier();
  }
  if (tt == 0u) { al[rr] = runSum; }
  workgroupBarrier();
  // O = acc / Σ (0/0 = NaN for a row with every key masked)
  ${
      outTiles(`${unroll(TO, (r) => `let o${r} = ${acc(r)} / al[r0 + ${r}u];`)}
    ${unroll(TO, outStore)}`)
    }
}
`;
  }
}
