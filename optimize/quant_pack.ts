/**
 * Weight quantization arithmetic: a matrix read as `rows` rows of `len` values, each row cut into
 * blocks of `block` values along it, one scale (and, asymmetric, one zero point) per block.
 *
 * Codes are unsigned, `bits` wide: value ≈ (code − zero_point) · scale. Symmetric quantization
 * keeps the zero point at 2^(bits−1) (8 for 4 bits, 128 for 8 bits: ONNX Runtime's default when a
 * MatMulNBits node has no zero points), so 0 is exact, and picks per block the scale, among the
 * block's peak magnitude on the end of the signed range and a few clipped ones, that codes the
 * block with the least squared error. Asymmetric quantization spreads [min(w, 0), max(w, 0)] over
 * all 2^bits codes. Values past the row's end (the last block's padding) get the zero point's code,
 * so they dequantize to exactly 0.
 *
 * Invariant: codes lie in [0, 2^bits − 1]; a value within the block's coded range is off by at most
 * scale / 2 (a clipped one by more: the clipping is chosen because the block's total error is less).
 * @module
 */
import { roundHalfEven } from "../ir/ops/quantize.ts";

/** How to quantize: 4 or 8 bits, the block length, symmetric or with zero points. */
export interface QuantFormat {
  bits: 4 | 8;
  /** values that share one scale, along the row */
  block: number;
  /** zero point fixed at 2^(bits−1) (true), or one per block (false) */
  symmetric: boolean;
}

/** A matrix of `rows` × `len` values quantized by `QuantFormat`. */
export interface QuantizedRows {
  rows: number;
  len: number;
  /** ⌈len / block⌉ */
  blocks: number;
  format: QuantFormat;
  /** unsigned codes, rows × blocks × block (the padding holds the zero point) */
  codes: Uint8Array;
  /** rows × blocks scales (float32-rounded; a block of zeros has scale 1) */
  scales: Float32Array;
  /** rows × blocks zero points (2^(bits−1) everywhere when symmetric) */
  zeroPoints: Uint8Array;
}

/**
 * Quantize a matrix given by an accessor, row by row in blocks.
 * @param get the value of row `r` at position `i` (0 ≤ i < len)
 * @param rows number of rows
 * @param len values in a row
 * @param format bits, block, symmetric
 * @returns codes, scales and zero points
 * @example
 * ```ts
 * import { dequantRows, quantizeRows } from "./quant_pack.ts";
 * const w = [0.5, -1, 0.25, 0];
 * const q = quantizeRows((_, i) => w[i], 1, 4, { bits: 4, block: 4, symmetric: true });
 * const back = dequantRows(q);
 * if (back.some((v, i) => Math.abs(v - w[i]) > q.scales[0] / 2)) throw new Error("within half a step");
 * if (back[3] !== 0) throw new Error("zero stays zero");
 * ```
 */
export function quantizeRows(
  get: (r: number, i: number) => number,
  rows: number,
  len: number,
  format: QuantFormat,
): QuantizedRows {
  const { bits, block, symmetric } = format;
  const blocks = Math.ceil(len / block);
  const top = (1 << bits) - 1, mid = 1 << (bits - 1);
  const codes = new Uint8Array(rows * blocks * block);
  const scales = new Float32Array(rows * blocks);
  const zeroPoints = new Uint8Array(rows * blocks).fill(mid);
  const buf = new Float64Array(block);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const n = Math.min(block, len - b * block);
      let lo = 0, hi = 0;
      for (let i = 0; i < n; i++) {
        const v = get(r, b * block + i);
        buf[i] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const at = r * blocks + b;
      const [scale, zp] = symmetric ? symmetricScale(buf, n, bits) : asymmetricScale(lo, hi, bits);
      scales[at] = scale;
      zeroPoints[at] = zp;
      const base = at * block;
      for (let i = 0; i < block; i++) {
        codes[base + i] = i < n ? Math.min(top, Math.max(0, roundHalfEven(buf[i] / scale) + zp)) : zp;
      }
    }
  }
  return { rows, len, blocks, format, codes, scales, zeroPoints };
}

/** Squared error of `n` values coded with `scale` and `zp` into [0, top]. */
function codingError(buf: Float64Array, n: number, scale: number, zp: number, top: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) {
    const c = Math.min(top, Math.max(0, roundHalfEven(buf[i] / scale) + zp));
    const d = buf[i] - (c - zp) * scale;
    e += d * d;
  }
  return e;
}

/** Clipping ratios tried for a symmetric block's scale (1 = max|w| on the largest code used). */
const CLIP_RATIOS = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7];

/**
 * A symmetric block's scale: codes −2^(bits−1) … 2^(bits−1) − 1 around the zero point 2^(bits−1);
 * the scale that puts the largest magnitude on the end of the range it falls on (−8 for a negative
 * one: the full 16 codes), or on a code past it clipped (`CLIP_RATIOS`), whichever codes the
 * block with the least squared error.
 */
function symmetricScale(buf: Float64Array, n: number, bits: number): [number, number] {
  const mid = 1 << (bits - 1), top = (1 << bits) - 1;
  let peak = 0;
  for (let i = 0; i < n; i++) if (Math.abs(buf[i]) > Math.abs(peak)) peak = buf[i];
  if (peak === 0) return [1, mid];
  const base = Math.abs(peak) / (peak < 0 ? mid : mid - 1);
  let best = Math.fround(base), bestErr = Infinity;
  for (const r of CLIP_RATIOS) {
    const s = Math.fround(base * r);
    if (!(s > 0)) continue;
    const e = codingError(buf, n, s, mid, top);
    if (e < bestErr) [best, bestErr] = [s, e];
  }
  return [best, mid];
}

/** An asymmetric block's scale and zero point: [min(w, 0), max(w, 0)] over all the codes. */
function asymmetricScale(lo: number, hi: number, bits: number): [number, number] {
  const top = (1 << bits) - 1;
  const scale = Math.fround(hi > lo ? (hi - lo) / top : 1);
  return [scale, Math.min(top, Math.max(0, roundHalfEven(-lo / scale)))];
}

/**
 * The values the codes stand for, rows × len, as float32 would hold them.
 * @param q quantized rows
 * @returns the dequantized matrix, row-major
 */
export function dequantRows(q: QuantizedRows): Float32Array {
  const { rows, len, blocks } = q, block = q.format.block;
  const out = new Float32Array(rows * len);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < len; i++) {
      const at = r * blocks + Math.floor(i / block);
      out[r * len + i] = (q.codes[at * block + (i % block)] - q.zeroPoints[at]) * q.scales[at];
    }
  }
  return out;
}

/**
 * Pack codes of `bits` (4 or 8) low bits first: two 4-bit codes a byte, the even position in the
 * lower nibble (ONNX's INT4/UINT4 and ONNX Runtime's MatMulNBits order).
 * @param codes unsigned codes, an even count for 4 bits
 * @param bits 4 or 8
 * @returns the packed bytes
 * @example
 * ```ts
 * import { packCodes } from "./quant_pack.ts";
 * if (packCodes(new Uint8Array([1, 2]), 4)[0] !== 0x21) throw new Error("low nibble first");
 * ```
 */
export function packCodes(codes: Uint8Array, bits: 4 | 8): Uint8Array {
  if (bits === 8) return codes.slice();
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) out[i >> 1] |= (codes[i] & 15) << ((i & 1) * 4);
  return out;
}

/**
 * Zero points packed per row as ONNX Runtime's MatMulNBits reads them: each row's `blocks`
 * codes packed low bits first and padded to whole bytes.
 * @param q quantized rows
 * @returns rows × ⌈blocks · bits / 8⌉ bytes
 */
export function packZeroPoints(q: QuantizedRows): Uint8Array {
  const { bits } = q.format;
  if (bits === 8) return q.zeroPoints.slice();
  const row = Math.ceil(q.blocks / 2);
  const out = new Uint8Array(q.rows * row);
  for (let r = 0; r < q.rows; r++) {
    for (let b = 0; b < q.blocks; b++) out[r * row + (b >> 1)] |= q.zeroPoints[r * q.blocks + b] << ((b & 1) * 4);
  }
  return out;
}
