/**
 * Dense tensors: an element type, dims, and element storage as `ir/dtype.ts` describes.
 *
 * A tensor read from a model keeps its bytes as a view into the file (`Tensor.fromRaw`) and
 * decodes them only when `data` is first read: loading a model copies no weights.
 * @module
 */
import { bitsPerElement, DataType, dtypeName, isBigInt, isComplex, isFloat8, isSignedInt } from "./dtype.ts";
import {
  bf16ToNumber,
  f16ToNumber,
  minifloatToNumber,
  numberToBf16,
  numberToF16,
  numberToMinifloat,
} from "./floatbits.ts";

/** What `Tensor.data` can be; which one follows from the dtype (see `ir/dtype.ts`). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/**
 * Number of elements of a shape (1 for a scalar, 0 when any dimension is 0).
 * @param dims the dimensions
 * @returns their product
 * @example
 * ```ts
 * import { sizeOf } from "./tensor.ts";
 * if (sizeOf([2, 3, 4]) !== 24) throw new Error("product of dims");
 * if (sizeOf([]) !== 1) throw new Error("a scalar has one element");
 * if (sizeOf([5, 0]) !== 0) throw new Error("a zero dim empties the tensor");
 * ```
 */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A zero-filled storage array of `n` elements of `dtype`. */
export function allocate(dtype: number, n: number): TensorData {
  switch (dtype) {
    case DataType.FLOAT:
      return new Float32Array(n);
    case DataType.DOUBLE:
      return new Float64Array(n);
    case DataType.INT8:
    case DataType.INT4:
    case DataType.INT2:
      return new Int8Array(n);
    case DataType.INT16:
      return new Int16Array(n);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return new Uint16Array(n);
    case DataType.INT32:
      return new Int32Array(n);
    case DataType.UINT32:
      return new Uint32Array(n);
    case DataType.INT64:
      return new BigInt64Array(n);
    case DataType.UINT64:
      return new BigUint64Array(n);
    case DataType.COMPLEX64:
      return new Float32Array(2 * n);
    case DataType.COMPLEX128:
      return new Float64Array(2 * n);
    case DataType.STRING:
      return new Array<string>(n).fill("");
    default:
      return new Uint8Array(n); // uint8, bool, float8*, float4, uint4, uint2
  }
}

/**
 * An immutable-by-convention dense tensor: `dtype`, `dims`, and `data` whose array kind
 * follows from the dtype (see `ir/dtype.ts`). A tensor made by `Tensor.fromRaw` holds raw
 * bytes until `data` is first read, so loading a model copies no weights.
 * @example
 * ```ts
 * import { DataType, Tensor } from "../mod.ts";
 * const t = new Tensor(DataType.FLOAT, [2, 2], new Float32Array([1, 2, 3, 4]));
 * if (t.size !== 4 || t.byteLength !== 16) throw new Error("4 float32 elements, 16 bytes");
 * const raw = Tensor.fromRaw(DataType.INT32, [2], new Uint8Array([7, 0, 0, 0, 9, 0, 0, 0]));
 * if (raw.raw === undefined) throw new Error("raw bytes are kept until data is read");
 * if ((raw.data as Int32Array)[1] !== 9) throw new Error("little-endian decode");
 * ```
 */
export class Tensor {
  /** Element type (ONNX code). */
  readonly dtype: DataType;
  /** Dimensions; `[]` is a scalar. */
  readonly dims: readonly number[];
  #data: TensorData | undefined;
  #raw: Uint8Array | undefined;

  /**
   * Wrap existing storage (not copied) as a tensor.
   * @param dtype element type
   * @param dims dimensions
   * @param data storage of the right kind and length (see `ir/dtype.ts`)
   * @example
   * ```ts
   * import { Tensor } from "./tensor.ts";
   * const t = new Tensor(1, [2], new Float32Array([1, 2]));
   * if (t.size !== 2) throw new Error();
   * ```
   */
  constructor(dtype: DataType, dims: readonly number[], data: TensorData) {
    this.dtype = dtype;
    this.dims = dims;
    this.#data = data;
  }

  /** A tensor whose elements are the little-endian `raw` bytes (ONNX raw_data); decoded lazily. */
  static fromRaw(dtype: DataType, dims: readonly number[], raw: Uint8Array): Tensor {
    const t = new Tensor(dtype, dims, undefined as unknown as TensorData);
    t.#data = undefined;
    t.#raw = raw;
    return t;
  }

  /** Element count. */
  get size(): number {
    return sizeOf(this.dims);
  }

  /** The raw bytes this tensor was read from, while they have not been decoded; else undefined. */
  get raw(): Uint8Array | undefined {
    return this.#raw;
  }

  /** Element storage; decodes raw bytes on first access (zero-copy when aligned). */
  get data(): TensorData {
    if (this.#data === undefined) {
      this.#data = decodeRaw(this.dtype, this.size, this.#raw ?? new Uint8Array(0));
      this.#raw = undefined;
    }
    return this.#data;
  }

  /** Bytes of the elements as stored in a file (packed for 4- and 2-bit types). */
  get byteLength(): number {
    if (this.#raw) return this.#raw.byteLength;
    if (this.dtype === DataType.STRING) {
      let n = 0;
      for (const s of this.data as string[]) n += s.length;
      return n;
    }
    return Math.ceil(this.size * bitsPerElement(this.dtype) / 8);
  }

  /** A short description, e.g. `float32[1,3,224,224]`. */
  toString(): string {
    return `${dtypeName(this.dtype)}[${this.dims.join(",")}]`;
  }
}

function decodeRaw(dtype: number, n: number, raw: Uint8Array): TensorData {
  const bits = bitsPerElement(dtype);
  if (bits < 8) {
    const perByte = 8 / bits;
    const need = Math.ceil(n / perByte);
    if (raw.byteLength < need) throw new RangeError(`raw data holds ${raw.byteLength} bytes, ${need} needed`);
    const out = allocate(dtype, n) as Int8Array | Uint8Array;
    const mask = (1 << bits) - 1;
    const signed = isSignedInt(dtype);
    for (let i = 0; i < n; i++) {
      let v = (raw[Math.floor(i / perByte)] >> ((i % perByte) * bits)) & mask;
      if (signed && v >> (bits - 1)) v -= 1 << bits;
      out[i] = v;
    }
    return out;
  }
  const bytes = n * bits / 8;
  if (raw.byteLength < bytes) throw new RangeError(`raw data holds ${raw.byteLength} bytes, ${bytes} needed`);
  const elemBytes = isComplex(dtype) ? bits / 16 : bits / 8;
  // copy only when misaligned (Uint8Array.prototype.slice: a Node Buffer's slice would be a view)
  const aligned = raw.byteOffset % elemBytes === 0 ? raw : Uint8Array.prototype.slice.call(raw, 0, bytes);
  const buf = aligned.buffer as ArrayBuffer;
  const off = aligned.byteOffset;
  switch (dtype) {
    case DataType.FLOAT:
      return new Float32Array(buf, off, n);
    case DataType.DOUBLE:
      return new Float64Array(buf, off, n);
    case DataType.INT8:
      return new Int8Array(buf, off, n);
    case DataType.INT16:
      return new Int16Array(buf, off, n);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return new Uint16Array(buf, off, n);
    case DataType.INT32:
      return new Int32Array(buf, off, n);
    case DataType.UINT32:
      return new Uint32Array(buf, off, n);
    case DataType.INT64:
      return new BigInt64Array(buf, off, n);
    case DataType.UINT64:
      return new BigUint64Array(buf, off, n);
    case DataType.COMPLEX64:
      return new Float32Array(buf, off, 2 * n);
    case DataType.COMPLEX128:
      return new Float64Array(buf, off, 2 * n);
    case DataType.STRING:
      throw new RangeError("string tensors have no raw data");
    default:
      return new Uint8Array(buf, off, n);
  }
}

/** Little-endian raw bytes of a tensor as ONNX raw_data stores them (4/2-bit types packed). */
export function encodeRaw(t: Tensor): Uint8Array {
  if (t.raw) return t.raw;
  const data = t.data;
  if (Array.isArray(data)) throw new RangeError("string tensors have no raw data");
  const bits = bitsPerElement(t.dtype);
  if (bits < 8) {
    const perByte = 8 / bits;
    const out = new Uint8Array(Math.ceil(t.size / perByte));
    const mask = (1 << bits) - 1;
    for (let i = 0; i < t.size; i++) {
      out[Math.floor(i / perByte)] |= ((data[i] as number) & mask) << ((i % perByte) * bits);
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Element values as doubles: floats of every width decoded, bool as 0/1, int64 rounded to the
 * nearest double. Complex and string tensors are refused.
 * @param t the tensor
 * @returns a new array of `t.size` doubles, row-major
 * @throws {TypeError} for complex and string tensors
 * @example
 * ```ts
 * import { DataType, fromNumbers, toNumbers } from "../mod.ts";
 * const half = fromNumbers(DataType.FLOAT16, [3], [0.5, -2, 65504]);
 * const back = toNumbers(half);
 * if (back.join() !== "0.5,-2,65504") throw new Error("float16 values decode exactly");
 * ```
 */
export function toNumbers(t: Tensor): Float64Array {
  const d = t.data;
  if (Array.isArray(d)) throw new TypeError("string tensor has no numeric value");
  if (isComplex(t.dtype)) throw new TypeError("complex tensor has no real value");
  const n = t.size;
  const out = new Float64Array(n);
  switch (t.dtype) {
    case DataType.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = f16ToNumber(d[i] as number);
      return out;
    case DataType.BFLOAT16:
      for (let i = 0; i < n; i++) out[i] = bf16ToNumber(d[i] as number);
      return out;
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
    case DataType.FLOAT4E2M1:
      for (let i = 0; i < n; i++) out[i] = minifloatToNumber(t.dtype, d[i] as number);
      return out;
    default:
      if (isBigInt(t.dtype)) {
        for (let i = 0; i < n; i++) out[i] = Number(d[i] as bigint);
      } else {
        for (let i = 0; i < n; i++) out[i] = d[i] as number;
      }
      return out;
  }
}

/** Integer values (indices, shapes, axes) as plain numbers; floats are truncated. */
export function toInts(t: Tensor): number[] {
  const d = t.data;
  if (Array.isArray(d)) throw new TypeError("string tensor has no numeric value");
  const out = new Array<number>(t.size);
  if (isBigInt(t.dtype)) { for (let i = 0; i < out.length; i++) out[i] = Number(d[i] as bigint); }
  else if (
    t.dtype === DataType.INT32 || t.dtype === DataType.INT8 || t.dtype === DataType.UINT8 ||
    t.dtype === DataType.INT16 || t.dtype === DataType.UINT16 || t.dtype === DataType.UINT32 ||
    t.dtype === DataType.BOOL
  ) { for (let i = 0; i < out.length; i++) out[i] = d[i] as number; } else {
    const f = toNumbers(t);
    for (let i = 0; i < out.length; i++) out[i] = Math.trunc(f[i]);
  }
  return out;
}

/**
 * A tensor of `dtype` from double values, rounded as a cast would: floats to nearest even
 * (float8 saturating), integers truncated toward zero then wrapped to the type's width, bool
 * as value ≠ 0. For exact int64 arithmetic build a BigInt64Array instead.
 * @param dtype element type of the result
 * @param dims dimensions; their product must equal `values.length`
 * @param values the elements, row-major
 * @returns a new tensor
 * @example
 * ```ts
 * import { DataType, fromNumbers, toNumbers } from "../mod.ts";
 * const t = fromNumbers(DataType.INT8, [3], [1.9, -1.9, 130]);
 * if (toNumbers(t).join() !== "1,-1,-126") throw new Error("truncate toward zero, then wrap to 8 bits");
 * const b = fromNumbers(DataType.BOOL, [2], [0, 0.5]);
 * if (toNumbers(b).join() !== "0,1") throw new Error("bool is value != 0");
 * ```
 */
export function fromNumbers(dtype: DataType, dims: readonly number[], values: ArrayLike<number>): Tensor {
  const n = sizeOf(dims);
  if (values.length !== n) throw new RangeError(`${values.length} values for shape [${dims}]`);
  const out = allocate(dtype, n);
  switch (dtype) {
    case DataType.FLOAT16:
      for (let i = 0; i < n; i++) (out as Uint16Array)[i] = numberToF16(values[i]);
      break;
    case DataType.BFLOAT16:
      for (let i = 0; i < n; i++) (out as Uint16Array)[i] = numberToBf16(values[i]);
      break;
    case DataType.BOOL:
      for (let i = 0; i < n; i++) (out as Uint8Array)[i] = values[i] !== 0 ? 1 : 0;
      break;
    case DataType.INT64:
      for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = BigInt.asIntN(64, toBigInt(values[i]));
      break;
    case DataType.UINT64:
      for (let i = 0; i < n; i++) (out as BigUint64Array)[i] = BigInt.asUintN(64, toBigInt(values[i]));
      break;
    case DataType.INT4:
    case DataType.UINT4:
    case DataType.INT2:
    case DataType.UINT2: {
      const bits = bitsPerElement(dtype);
      for (let i = 0; i < n; i++) {
        let v = Math.trunc(values[i]) & ((1 << bits) - 1);
        if (isSignedInt(dtype) && v >> (bits - 1)) v -= 1 << bits;
        (out as Int8Array)[i] = v;
      }
      break;
    }
    case DataType.STRING:
      for (let i = 0; i < n; i++) (out as string[])[i] = String(values[i]);
      break;
    default:
      if (isFloat8(dtype) || dtype === DataType.FLOAT4E2M1 || dtype === DataType.FLOAT8E8M0) {
        for (let i = 0; i < n; i++) (out as Uint8Array)[i] = numberToMinifloat(dtype, values[i]);
      } else if (dtype === DataType.FLOAT || dtype === DataType.DOUBLE) {
        (out as Float32Array).set(values);
      } else {
        // 8/16/32-bit integers: the typed array store wraps modulo 2^bits after truncation
        for (let i = 0; i < n; i++) {
          const v = values[i];
          (out as Int32Array)[i] = Number.isFinite(v) ? (v >= 0 ? Math.floor(v) : Math.ceil(v)) : 0;
        }
      }
  }
  return new Tensor(dtype, dims, out);
}

function toBigInt(v: number): bigint {
  if (!Number.isFinite(v)) return v > 0 ? 2n ** 63n - 1n : v < 0 ? -(2n ** 63n) : 0n;
  return BigInt(Math.trunc(v));
}

/**
 * An INT64 tensor from integer numbers (shapes, axes, indices); each must be a safe integer.
 * @param dims dimensions; their product must equal `values.length`
 * @param values the elements, row-major
 * @returns a tensor whose `data` is a BigInt64Array
 * @example
 * ```ts
 * import { DataType, int64Tensor } from "../mod.ts";
 * const shape = int64Tensor([2], [1, -1]);
 * if (shape.dtype !== DataType.INT64) throw new Error("int64");
 * if ((shape.data as BigInt64Array)[1] !== -1n) throw new Error("stored as bigint");
 * ```
 */
export function int64Tensor(dims: readonly number[], values: readonly number[]): Tensor {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return new Tensor(DataType.INT64, dims, out);
}

/**
 * A FLOAT tensor from numbers, each rounded to float32.
 * @param dims dimensions; their product must equal `values.length`
 * @param values the elements, row-major
 * @returns a tensor whose `data` is a Float32Array
 * @example
 * ```ts
 * import { float32Tensor } from "../mod.ts";
 * const t = float32Tensor([2, 2], [1, 2, 3, 0.1]);
 * if (t.dims.join() !== "2,2") throw new Error("dims kept");
 * if (t.data[3] !== Math.fround(0.1)) throw new Error("rounded to float32");
 * ```
 */
export function float32Tensor(dims: readonly number[], values: ArrayLike<number>): Tensor {
  return new Tensor(DataType.FLOAT, dims, Float32Array.from(values as ArrayLike<number>));
}

/** Row-major strides of a shape. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}
