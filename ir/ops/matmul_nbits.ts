/**
 * ONNX Runtime's `com.microsoft` MatMulNBits: Y = A · dequant(B)ᵀ (+ bias), with B block-quantized
 * along K.
 *
 * Layout (ONNX Runtime's contrib op spec, checked against onnxruntime-node in
 * tests/nbits_reference_test.ts):
 * - A: float32 or float16, [..., K]; Y: A's type, [..., N]
 * - B: uint8 [N, n_blocks, blob_size], n_blocks = ⌈K / block_size⌉, blob_size = block_size · bits / 8;
 *   the codes of row n are packed along k, low bits first (two 4-bit codes a byte, the lower nibble
 *   the even k); codes past K (the last block's padding) are ignored
 * - scales: A's type, N · n_blocks elements ([N · n_blocks] or [N, n_blocks]), row-major by n
 * - zero_points (optional): uint8 packed as B is, each row of N padded to whole bytes
 *   (N · ⌈n_blocks · bits / 8⌉ elements), or A's type unpacked (N · n_blocks); absent means
 *   2^(bits−1) (8 for 4 bits, 128 for 8 bits)
 * - g_idx (optional, int32 [K]): the block of each k (act-order); absent means ⌊k / block_size⌋.
 *   g_idx with packed uint8 zero points is refused: onnxruntime-node 1.30 ignores those zero points
 *   there (it dequantizes with 2^(bits−1), measured), so no result could agree with both it and the spec
 * - bias (optional): A's type, [N]
 * - attributes K, N, bits (default 4; 2, 4 or 8 here), block_size (a power of two ≥ 16),
 *   accuracy_level (ignored: it lets ONNX Runtime compute in lower precision — at 4 it quantizes A to
 *   int8, 2e-3 off on outputs of order 0.3 — while the reference is exact)
 *
 * Invariant: B[n, k] = (code(n, k) − zero_point(n, block(k))) · scale(n, block(k)), and
 * Y[m, n] = Σ_k A[m, k] · B[n, k] + bias[n], accumulated in float64 and rounded once to Y's type.
 * @module
 */
import { DataType, dtypeName, isFloat } from "../dtype.ts";
import { fromNumbers, sizeOf, type Tensor, toNumbers } from "../tensor.ts";
import { tensorType, type ValueType } from "../types.ts";
import type { NodeContext } from "./node_context.ts";
import type { InferContext } from "./infer_context.ts";
import type { RunContext } from "./run_context.ts";
import { type OpDef, registerOps } from "./registry.ts";

/** The attributes of a MatMulNBits node and the sizes they imply. */
export interface NBitsShape {
  K: number;
  N: number;
  bits: number;
  blockSize: number;
  /** ⌈K / block_size⌉ */
  blocks: number;
  /** bytes of one block of codes: block_size · bits / 8 */
  blob: number;
  /** bytes of one row's packed zero points: ⌈blocks · bits / 8⌉ */
  zpRow: number;
}

/** The node's attributes, checked (fails on bits other than 2, 4, 8 or a block size that is no power of two ≥ 16). */
export function nbitsShape(ctx: NodeContext): NBitsShape {
  const K = ctx.attrInt("K"), N = ctx.attrInt("N");
  const bits = ctx.attrInt("bits", 4), blockSize = ctx.attrInt("block_size");
  if (!(K >= 1) || !(N >= 1)) ctx.fail(`K and N must be positive, got K = ${K}, N = ${N}`);
  if (bits !== 2 && bits !== 4 && bits !== 8) ctx.fail(`bits = ${bits} is not supported (2, 4 or 8)`);
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    ctx.fail(`block_size = ${blockSize} must be a power of two ≥ 16`);
  }
  const blocks = Math.ceil(K / blockSize);
  return { K, N, bits, blockSize, blocks, blob: (blockSize * bits) / 8, zpRow: Math.ceil((blocks * bits) / 8) };
}

/** Code `i` (0-based) of packed bytes `bytes` starting at byte `at`: low bits first. */
export function unpackCode(bytes: ArrayLike<number>, at: number, i: number, bits: number): number {
  const per = 8 / bits;
  return (bytes[at + Math.floor(i / per)] >> ((i % per) * bits)) & ((1 << bits) - 1);
}

/**
 * Check B, scales, zero points and g_idx against the node's shape (fails with the node's error on
 * a mismatch, and on g_idx beside packed uint8 zero points); returns each k's block.
 */
export function checkNBits(
  ctx: NodeContext,
  s: NBitsShape,
  b: Tensor,
  scales: Tensor,
  zp?: Tensor,
  gIdx?: Tensor,
): (k: number) => number {
  const { K, N, blockSize, blocks, blob, zpRow } = s;
  if (b.dtype !== DataType.UINT8) ctx.fail(`B must be uint8, got ${dtypeName(b.dtype)}`);
  if (b.dims.length !== 3 || b.dims[0] !== N || b.dims[1] !== blocks || b.dims[2] !== blob) {
    ctx.fail(`B of shape [${b.dims}] does not match [N, n_blocks, blob_size] = [${N}, ${blocks}, ${blob}]`);
  }
  if (scales.size !== N * blocks) ctx.fail(`scales has ${scales.size} elements, expected N · n_blocks = ${N * blocks}`);
  if (!isFloat(scales.dtype)) ctx.fail(`scales must be floats, got ${dtypeName(scales.dtype)}`);
  const packedZp = zp !== undefined && zp.dtype === DataType.UINT8;
  if (zp && !packedZp && zp.dtype !== scales.dtype) {
    ctx.fail(`zero_points must be uint8 or the scales' type, got ${dtypeName(zp.dtype)}`);
  }
  if (zp && zp.size !== (packedZp ? N * zpRow : N * blocks)) {
    ctx.fail(`zero_points has ${zp.size} elements, expected ${packedZp ? N * zpRow : N * blocks}`);
  }
  if (!gIdx) return (k) => Math.floor(k / blockSize);
  if (packedZp) {
    ctx.fail("g_idx with packed uint8 zero_points is not supported (ONNX Runtime ignores those zero points)");
  }
  if (gIdx.size !== K) ctx.fail(`g_idx has ${gIdx.size} elements, expected K = ${K}`);
  const g = toNumbers(gIdx);
  for (let k = 0; k < K; k++) {
    if (!(g[k] >= 0 && g[k] < blocks)) ctx.fail(`g_idx[${k}] = ${g[k]} is not a block in [0, ${blocks})`);
  }
  return (k) => g[k];
}

/**
 * The dequantized weight of a MatMulNBits node as [N, K] in float64, from its B, scales, optional
 * zero points and g_idx (checked by `checkNBits`).
 */
export function dequantizeNBits(
  ctx: NodeContext,
  s: NBitsShape,
  b: Tensor,
  scales: Tensor,
  zp?: Tensor,
  gIdx?: Tensor,
): Float64Array {
  const { K, N, bits, blocks, blob, zpRow } = s;
  const blockOf = checkNBits(ctx, s, b, scales, zp, gIdx);
  const packedZp = zp !== undefined && zp.dtype === DataType.UINT8;
  const bv = b.data as Uint8Array, sv = toNumbers(scales);
  const zv = zp ? (packedZp ? (zp.data as Uint8Array) : toNumbers(zp)) : undefined;
  const mid = 1 << (bits - 1);
  const w = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const blk = blockOf(k);
      const code = unpackCode(bv, n * blocks * blob, k, bits);
      const z = !zv ? mid : packedZp ? unpackCode(zv, n * zpRow, blk, bits) : zv[n * blocks + blk];
      w[n * K + k] = (code - z) * sv[n * blocks + blk];
    }
  }
  return w;
}

function run(ctx: RunContext): Tensor[] {
  const s = nbitsShape(ctx);
  const a = ctx.input(0);
  if (a.dtype !== DataType.FLOAT && a.dtype !== DataType.FLOAT16) {
    ctx.fail(`A must be float32 or float16, got ${dtypeName(a.dtype)}`);
  }
  if (a.dims.length < 1 || a.dims[a.dims.length - 1] !== s.K) {
    ctx.fail(`A of shape [${a.dims}] has no last dim K = ${s.K}`);
  }
  const scales = ctx.input(2);
  if (scales.dtype !== a.dtype) ctx.fail(`scales must have A's type ${dtypeName(a.dtype)}`);
  const w = dequantizeNBits(ctx, s, ctx.input(1), scales, ctx.optionalInput(3), ctx.optionalInput(4));
  const bias = ctx.optionalInput(5);
  if (bias && (bias.dtype !== a.dtype || bias.size !== s.N)) ctx.fail(`bias must be [${s.N}] of A's type`);
  const { K, N } = s;
  const M = sizeOf(a.dims) / K;
  const av = toNumbers(a), cv = bias ? toNumbers(bias) : undefined;
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = cv ? cv[n] : 0;
      for (let k = 0; k < K; k++) acc += av[m * K + k] * w[n * K + k];
      y[m * N + n] = acc;
    }
  }
  return [fromNumbers(a.dtype, [...a.dims.slice(0, -1), N], y)];
}

function infer(ctx: InferContext): (ValueType | undefined)[] {
  const n = ctx.attrInt("N", 0);
  const dt = ctx.dtype(0), shape = ctx.shape(0);
  if (dt !== undefined && !isFloat(dt)) ctx.fail(`A must be float32 or float16, got ${dtypeName(dt)}`);
  if (dt === undefined || n < 1) return [undefined];
  return [tensorType(dt, shape && shape.length >= 1 ? [...shape.slice(0, -1), n] : undefined)];
}

/** The op definition of this file (domain com.microsoft). */
export const matMulNBits: OpDef = { opType: "MatMulNBits", domain: "com.microsoft", run, infer };

registerOps([matMulNBits]);
