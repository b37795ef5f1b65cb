/**
 * com.microsoft MatMulNBits on WebGPU: Y = A · dequant(B)ᵀ (+ bias), the weights staying packed
 * on the GPU and dequantized in registers where they are read.
 *
 * Weights (plan-time constants, repacked by `nbitsTables`): the codes as u32 words, row n of B
 * (ONNX Runtime's [N, n_blocks, blob_size] bytes, little-endian) being RW words, so code k of row n
 * is bits (k % CPW)·bits… of word n·RW + k / CPW (CPW = 32 / bits codes a word; a word never
 * straddles a block, as block_size ≥ 16 is a multiple of CPW); and one (scale, zero point) vec2 per
 * block in f32 (packed zero points unpacked, absent ones 2^(bits−1)). A row's words are adjacent, so
 * the threads of a GEMV workgroup, walking one row along k, read adjacent words (coalesced). An
 * int4 weight costs 4 + 64 / block_size bits on the GPU (6 at block 32, 4.5 at block 128): the
 * codes as in the file, and an f32 (scale, zero point) pair per block.
 *
 * Kernels: for one row of A (M = 1, decode) a GEMV — one workgroup per output column, its threads
 * striding over the row's words, each word's codes unpacked as vec4s and reduced as
 * s · (Σ a·q − z · Σ a), then a workgroup sum; otherwise the tiled GEMM core (`gemm.ts`) with a B
 * loader that dequantizes each staged element (B read k-contiguous, as Gemm's transB). Both take
 * an elementwise epilogue (`fusion.ts`). A float16 A runs as float32 values; with half storage the
 * planner stores A and Y as f16 (`f16.ts`).
 *
 * Invariant: each product term is a · ((q − z) · s) up to f32 rounding, sums in f32; the
 * reference (`ir/ops/matmul_nbits.ts`) accumulates in float64. No invocation loops more than
 * MAX_THREAD_TRIPS times (a GEMV thread walks ⌈words / 64⌉ words; the GEMM's k loop is refused on a
 * software adapter past it).
 * @module
 */
import { DataType } from "../ir/dtype.ts";
import { checkNBits, type NBitsShape, nbitsShape } from "../ir/ops/matmul_nbits.ts";
import { fromNumbers, sizeOf, Tensor, toNumbers } from "../ir/tensor.ts";
import { helperSource } from "./fusion.ts";
import { chooseTile, gemmKernel, type GemmSource } from "./gemm.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type Epilogue, type LowerCtx, type Lowered, plainEpilogue, registerLowerings } from "./lowering.ts";
import { Bindings, groupGrid, MAX_THREAD_TRIPS, workgroupReduce } from "./wgsl.ts";

/** Threads of a GEMV workgroup. */
const GEMV_THREADS = 64;

/** The GPU tables of a MatMulNBits weight. */
export interface NBitsTables {
  /** the codes, [N, RW] u32 words */
  words: Tensor;
  /** (scale, zero point) per block, [N · n_blocks, 2] f32 */
  scaleZero: Tensor;
  /** words per row of N */
  rowWords: number;
}

/**
 * The tables of a weight, checked as the reference checks it (`checkNBits`: a malformed weight
 * makes the node unsupported with the reference's message). `zp` packed uint8 or float.
 */
export function nbitsTables(
  ctx: LowerCtx,
  s: NBitsShape,
  b: Tensor,
  scales: Tensor,
  zp?: Tensor,
  gIdx?: Tensor,
): NBitsTables {
  checkNBits(ctx.attrs, s, b, scales, zp, gIdx);
  const bytes = b.data as Uint8Array;
  const rowWords = (s.blocks * s.blob) / 4;
  const words = new Uint32Array(s.N * rowWords);
  for (let i = 0; i < words.length; i++) {
    words[i] = (bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24)) >>> 0;
  }
  const sv = toNumbers(scales), nb = s.N * s.blocks;
  const sz = new Float32Array(2 * nb);
  const mid = 1 << (s.bits - 1), per = 8 / s.bits, mask = (1 << s.bits) - 1;
  const zb = zp?.dtype === DataType.UINT8 ? zp.data as Uint8Array : undefined;
  const zf = zp && !zb ? toNumbers(zp) : undefined;
  for (let n = 0; n < s.N; n++) {
    for (let j = 0; j < s.blocks; j++) {
      const i = n * s.blocks + j;
      sz[2 * i] = sv[i];
      sz[2 * i + 1] = zb ? (zb[n * s.zpRow + Math.floor(j / per)] >> ((j % per) * s.bits)) & mask : zf ? zf[i] : mid;
    }
  }
  return {
    words: new Tensor(DataType.UINT32, [s.N, rowWords], words),
    scaleZero: new Tensor(DataType.FLOAT, [nb, 2], sz),
    rowWords,
  };
}

/** The GEMV kernel (M = 1): one workgroup per output column. */
function gemv(
  ctx: LowerCtx,
  s: NBitsShape,
  t: NBitsTables,
  epi: Epilogue,
  names: { qw: string; sz: string; g?: string },
): KernelSpec {
  const { K, N, bits, blockSize } = s;
  const a = ctx.input(0), bias = ctx.hasInput(5) ? ctx.input(5) : undefined;
  const cpw = 32 / bits, mask = (1 << bits) - 1;
  const used = Math.ceil(K / cpw); // words of a row holding codes below K
  if (Math.ceil(used / GEMV_THREADS) > MAX_THREAD_TRIPS) unsupported(`K = ${K} is too long for one workgroup`);
  const vec = K % 4 === 0;
  const b = new Bindings();
  const A = b.read(a.name, vec ? "vec4<f32>" : "f32");
  const QW = b.read(names.qw, "u32");
  const SZ = b.read(names.sz, "vec2<f32>");
  const G = names.g ? b.read(names.g, "i32") : undefined;
  const C = bias ? b.read(bias.name, "f32") : undefined;
  const partial = K % cpw !== 0; // the last word holds codes past K
  const body: string[] = [];
  if (!G) body.push(`let sz = ${SZ}[n * ${s.blocks}u + (k0 / ${blockSize}u)];`, "var dq = 0.0;", "var sa = 0.0;");
  for (let g = 0; g < cpw / 4; g++) {
    const shifts = [0, 1, 2, 3].map((i) => `${(4 * g + i) * bits}u`).join(", ");
    body.push(`{`);
    body.push(`  let q = vec4<f32>((vec4<u32>(word) >> vec4<u32>(${shifts})) & vec4<u32>(${mask}u));`);
    const kk = `k0 + ${4 * g}u`;
    const load = vec
      ? `${A}[(${kk}) / 4u]`
      : `vec4<f32>(${[0, 1, 2, 3].map((i) => `${A}[min(${kk} + ${i}u, ${K - 1}u)]`).join(", ")})`;
    body.push(`  var av = ${partial || !vec ? "vec4<f32>(0.0)" : load};`);
    if (partial || !vec) {
      // codes past K (the last block's padding) meet a zero of A
      const live = [0, 1, 2, 3].map((i) => `${kk} + ${i}u < ${K}u`);
      body.push(
        vec
          ? `  if (${live[0]}) { av = ${load}; }`
          : `  av = select(vec4<f32>(0.0), ${load}, vec4<bool>(${live.join(", ")}));`,
      );
    }
    if (G) {
      // act-order: each k its own block
      for (let i = 0; i < 4; i++) {
        const c = "xyzw"[i];
        body.push(
          `  if (${kk} + ${i}u < ${K}u) { let z = ${SZ}[n * ${s.blocks}u + u32(${G}[${kk} + ${i}u])]; acc += av.${c} * ((q.${c} - z.y) * z.x); }`,
        );
      }
    } else {
      body.push(`  dq += dot(av, q);`, `  sa += av.x + av.y + av.z + av.w;`);
    }
    body.push(`}`);
  }
  if (!G) body.push(`acc += sz.x * (dq - sz.y * sa);`);
  const gr = groupGrid(N);
  const e = epi.emit(b, "idx", C ? `(total + ${C}[n])` : "total");
  const out = b.write(epi.out.name, "f32");
  const wgsl = `${b.decls}
${helperSource(e.helpers)}
var<workgroup> red: array<f32, ${GEMV_THREADS}>;

@compute @workgroup_size(${GEMV_THREADS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = ${gr.index};
  var acc = 0.0;
  if (n < ${N}u) {
    for (var w = lid.x; w < ${used}u; w += ${GEMV_THREADS}u) {
      let word = ${QW}[n * ${t.rowWords}u + w];
      let k0 = w * ${cpw}u;
      ${body.join("\n      ")}
    }
  }
  ${workgroupReduce("sum", "acc", "total", GEMV_THREADS)}
  if (lid.x == 0u && n < ${N}u) {
    let idx = n;
    ${e.code}
    ${out}[idx] = ${e.result};
  }
}
`;
  return {
    name: ["MatMulNBits", ...epi.ops].join("+"),
    nodes: [ctx.node.name, ...epi.nodes],
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: gr.dispatch,
  };
}

/** The tiled GEMM with a dequantizing B loader (B read as Bᵀ: k-contiguous rows of N). */
function gemm(
  ctx: LowerCtx,
  s: NBitsShape,
  t: NBitsTables,
  epi: Epilogue,
  M: number,
  names: { qw: string; sz: string; g?: string },
): KernelSpec {
  const { K, N, bits, blockSize } = s;
  const a = ctx.input(0), bias = ctx.hasInput(5) ? ctx.input(5) : undefined;
  const tile = chooseTile(M, N, ctx.target);
  if (ctx.target.software && Math.ceil(K / tile.BK) * (tile.BK + 1) > MAX_THREAD_TRIPS) {
    unsupported(`K = ${K} is too long for the software adapter's loop limit`);
  }
  const cpw = 32 / bits, mask = (1 << bits) - 1;
  const b = new Bindings();
  const A = b.read(a.name, K % 4 === 0 ? "vec4<f32>" : "f32");
  const QW = b.read(names.qw, "u32");
  const SZ = b.read(names.sz, "vec2<f32>");
  const G = names.g ? b.read(names.g, "i32") : undefined;
  const C = bias ? b.read(bias.name, "f32") : undefined;
  const helpers: string[] = [];
  const store = (m: string, n: string, v: string) => {
    const e = epi.emit(b, "idx", C ? `(${v} + ${C}[${n}])` : v);
    helpers.push(...e.helpers);
    const out = b.write(epi.out.name, "f32");
    return `let idx = ${m} * ${N}u + ${n};
        ${e.code}
        ${out}[idx] = ${e.result};`;
  };
  const block = G ? `u32(${G}[k])` : `k / ${blockSize}u`;
  const deq = `fn deq_(k: u32, n: u32) -> f32 {
  let word = ${QW}[n * ${t.rowWords}u + k / ${cpw}u];
  let q = f32((word >> ((k % ${cpw}u) * ${bits}u)) & ${mask}u);
  let z = ${SZ}[n * ${s.blocks}u + ${block}];
  return (q - z.y) * z.x;
}`;
  const src: GemmSource = {
    M,
    N,
    K,
    batch: 1,
    decls: deq,
    prelude: "",
    loadA: (m, k) => (K % 4 === 0 ? `${A}[(${m} * ${K}u + ${k}) / 4u][(${k}) % 4u]` : `${A}[${m} * ${K}u + ${k}]`),
    loadA4: K % 4 === 0 ? (m, k) => `${A}[(${m} * ${K}u + ${k}) / 4u]` : undefined,
    loadB: (k, n) => `deq_(${k}, ${n})`,
    bRowMajor: false,
    store,
  };
  const g = gemmKernel(src, tile);
  return {
    name: ["MatMulNBits", ...epi.ops].join("+"),
    nodes: [ctx.node.name, ...epi.nodes],
    wgsl: `${b.decls}\n${helperSource(helpers)}\n${g.wgsl}`,
    entryPoint: "main",
    bindings: b.list,
    dispatch: M === 0 ? [0, 1, 1] : g.dispatch,
  };
}

function lowerMatMulNBits(ctx: LowerCtx): Lowered {
  const s = nbitsShape(ctx.attrs);
  const a = ctx.input(0), y = ctx.output(0);
  if (requireStorage(a.dtype) !== "f32") unsupported("A must be float32 or float16");
  if (a.dims.length < 1 || a.dims[a.dims.length - 1] !== s.K) unsupported(`A [${a.dims}] has no last dim K = ${s.K}`);
  if (ctx.hasInput(5)) {
    const c = ctx.input(5);
    if (requireStorage(c.dtype) !== "f32" || sizeOf(c.dims) !== s.N) unsupported(`bias must be [${s.N}] floats`);
  }
  const gIdx = ctx.hasInput(4) ? ctx.constant(4) : undefined;
  const t = nbitsTables(
    ctx,
    s,
    ctx.constant(1)!,
    ctx.constant(2)!,
    ctx.hasInput(3) ? ctx.constant(3) : undefined,
    gIdx,
  );
  const base = `${ctx.node.name}::nbits`;
  const names = { qw: `${base}.words`, sz: `${base}.scaleZero`, g: gIdx ? `${base}.g_idx` : undefined };
  const constants = new Map<string, Tensor>([[names.qw, t.words], [names.sz, t.scaleZero]]);
  if (gIdx) constants.set(names.g!, fromNumbers(DataType.INT32, [s.K], toNumbers(gIdx)));
  const M = sizeOf(a.dims) / s.K;
  const build = (e: Epilogue | undefined): KernelSpec => {
    const epi = e ?? plainEpilogue(y);
    const k = M === 1 ? gemv(ctx, s, t, epi, names) : gemm(ctx, s, t, epi, M, names);
    return { ...k, constants, dispatch: M === 0 ? [0, 1, 1] : k.dispatch };
  };
  return { kind: "gemm", build };
}

registerLowerings("com.microsoft", { MatMulNBits: { lower: lowerMatMulNBits, constInputs: [1, 2, 3, 4] } });
