/**
 * ONNX tensor element types. The numeric codes are ONNX's `TensorProto.DataType`
 * values, so a `DataType` can be written to a model file as it is.
 *
 * Storage convention (what `Tensor.data` holds for each type):
 * - FLOAT → Float32Array, DOUBLE → Float64Array, INT8/UINT8/INT16/UINT16/INT32/UINT32 → their typed array
 * - INT64 → BigInt64Array, UINT64 → BigUint64Array, BOOL → Uint8Array of 0/1
 * - FLOAT16, BFLOAT16 → Uint16Array of the raw bits
 * - FLOAT8* and FLOAT4E2M1, FLOAT8E8M0 → Uint8Array of the raw bits, one element per byte
 * - INT4/INT2 → Int8Array, UINT4/UINT2 → Uint8Array, one element per byte (unpacked)
 * - COMPLEX64 → Float32Array, COMPLEX128 → Float64Array, interleaved (re, im), length 2·size
 * - STRING → string[]
 * @module
 */

/** ONNX `TensorProto.DataType` codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

/** One ONNX element type code. */
export type DataType = typeof DataType[keyof typeof DataType];

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(DataType)) NAMES[v] = k.toLowerCase();
NAMES[DataType.FLOAT] = "float32";
NAMES[DataType.DOUBLE] = "float64";

/**
 * Lower-case name of a type, `float32` for FLOAT and `float64` for DOUBLE; an unknown code
 * reads `dtype(<code>)` rather than throwing, so error messages can always name the type.
 * @param t an ONNX element type code
 * @returns the name, e.g. `"int64"`
 * @example
 * ```ts
 * import { DataType, dtypeName } from "./dtype.ts";
 * if (dtypeName(DataType.FLOAT) !== "float32") throw new Error("FLOAT is float32");
 * if (dtypeName(DataType.INT64) !== "int64") throw new Error("INT64 is int64");
 * if (dtypeName(99) !== "dtype(99)") throw new Error("unknown codes are named by number");
 * ```
 */
export function dtypeName(t: number): string {
  return NAMES[t] ?? `dtype(${t})`;
}

/**
 * The type for a name as `dtypeName` writes it (also accepts ONNX's upper-case names and
 * `float`/`double`); the inverse of `dtypeName` on every known type.
 * @param name a type name, any case
 * @returns the type code, or undefined for a name no type has
 * @example
 * ```ts
 * import { DataType, dtypeFromName, dtypeName } from "./dtype.ts";
 * if (dtypeFromName("float32") !== DataType.FLOAT) throw new Error("float32");
 * if (dtypeFromName("FLOAT16") !== DataType.FLOAT16) throw new Error("upper case");
 * if (dtypeFromName(dtypeName(DataType.BFLOAT16)) !== DataType.BFLOAT16) throw new Error("round trip");
 * if (dtypeFromName("float31") !== undefined) throw new Error("unknown name");
 * ```
 */
export function dtypeFromName(name: string): DataType | undefined {
  const n = name.toLowerCase();
  if (n === "float32" || n === "float") return DataType.FLOAT;
  if (n === "float64" || n === "double") return DataType.DOUBLE;
  const code = (DataType as Record<string, number>)[name.toUpperCase()];
  return code === undefined ? undefined : code as DataType;
}

/** True for every type ONNX defines (UNDEFINED excluded). */
export function isKnownDtype(t: number): t is DataType {
  return t > 0 && t <= 26;
}

/** Types whose elements are real floating-point numbers (all widths, float8/float4 included). */
export function isFloat(t: number): boolean {
  return t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 ||
    t === DataType.BFLOAT16 || isFloat8(t) || t === DataType.FLOAT4E2M1 || t === DataType.FLOAT8E8M0;
}

/** The float8 variants (E8M0 excluded). */
export function isFloat8(t: number): boolean {
  return t >= DataType.FLOAT8E4M3FN && t <= DataType.FLOAT8E5M2FNUZ;
}

/** Signed and unsigned integer types of every width, BOOL excluded. */
export function isInteger(t: number): boolean {
  return isSignedInt(t) || isUnsignedInt(t);
}

/** INT2, INT4, INT8 … INT64. */
export function isSignedInt(t: number): boolean {
  return t === DataType.INT8 || t === DataType.INT16 || t === DataType.INT32 || t === DataType.INT64 ||
    t === DataType.INT4 || t === DataType.INT2;
}

/** UINT2, UINT4, UINT8 … UINT64. */
export function isUnsignedInt(t: number): boolean {
  return t === DataType.UINT8 || t === DataType.UINT16 || t === DataType.UINT32 || t === DataType.UINT64 ||
    t === DataType.UINT4 || t === DataType.UINT2;
}

/** INT64 and UINT64: stored as BigInt arrays. */
export function isBigInt(t: number): boolean {
  return t === DataType.INT64 || t === DataType.UINT64;
}

/** COMPLEX64 and COMPLEX128. */
export function isComplex(t: number): boolean {
  return t === DataType.COMPLEX64 || t === DataType.COMPLEX128;
}

/** Bits one element takes in a file's raw_data (4 and 2-bit types are packed there). */
export function bitsPerElement(t: number): number {
  switch (t) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.INT16:
    case DataType.UINT16:
      return 16;
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2:
    case DataType.INT2:
      return 2;
    case DataType.STRING:
      return 0;
    default:
      return 8;
  }
}

/** Integer range [min, max] of an integer type (as numbers; INT64/UINT64 as the nearest doubles). */
export function intRange(t: number): [number, number] {
  switch (t) {
    case DataType.INT8:
      return [-128, 127];
    case DataType.UINT8:
      return [0, 255];
    case DataType.INT16:
      return [-32768, 32767];
    case DataType.UINT16:
      return [0, 65535];
    case DataType.INT32:
      return [-2147483648, 2147483647];
    case DataType.UINT32:
      return [0, 4294967295];
    case DataType.INT64:
      return [-9223372036854775808, 9223372036854775807];
    case DataType.UINT64:
      return [0, 18446744073709551615];
    case DataType.INT4:
      return [-8, 7];
    case DataType.UINT4:
      return [0, 15];
    case DataType.INT2:
      return [-2, 1];
    case DataType.UINT2:
      return [0, 3];
    case DataType.BOOL:
      return [0, 1];
    default:
      throw new Error(`not an integer type: ${dtypeName(t)}`);
  }
}
