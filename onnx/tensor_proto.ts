/**
 * TensorProto ⇄ Tensor. Decoding keeps `raw_data` (and external data) as views into the
 * bytes they came from; typed fields (float_data, int64_data…) are converted. Every size is
 * checked against the dims before anything is allocated.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { bitsPerElement, DataType, dtypeName, isKnownDtype } from "../ir/dtype.ts";
import { allocate, encodeRaw, sizeOf, Tensor } from "../ir/tensor.ts";
import type { Long } from "./schema.ts";

/** Largest element count Saturn accepts for one tensor (2^40): bigger is refused, never allocated. */
export const MAX_ELEMENTS: number = 2 ** 40;

/** Resolves external data: returns the bytes [offset, offset+length) of `location`. */
export type ExternalReader = (
  location: string,
  offset: number,
  length: number | undefined,
  tensor: string,
) => Uint8Array;

// deno-lint-ignore no-explicit-any
type Proto = any;

/** int64 from protobufjs (Long or number) → number. */
export function longToNumber(v: Long | number | undefined | null): number {
  if (v === undefined || v === null) return 0;
  return typeof v === "number" ? v : v.toNumber();
}

/** Checked dims of a tensor: non-negative, and a total size below MAX_ELEMENTS. */
export function checkDims(raw: readonly (Long | number)[], what: string): number[] {
  const dims = raw.map(longToNumber);
  let n = 1;
  for (const d of dims) {
    if (d < 0 || !Number.isSafeInteger(d)) {
      throw new SaturnError("BAD_TENSOR", `tensor '${what}' has an invalid dimension ${d}`, what);
    }
    n *= d;
  }
  if (n > MAX_ELEMENTS) {
    throw new SaturnError(
      "DIMENSION_TOO_LARGE",
      `tensor '${what}' has dims [${dims}] (${n.toExponential(2)} elements), beyond the supported ${
        MAX_ELEMENTS.toExponential(2)
      }`,
      what,
    );
  }
  return dims;
}

// strict: bytes that are not UTF-8 would be changed by decode → encode
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8enc = new TextEncoder();

/** Decode a TensorProto; `external` reads data stored outside the file. */
export function decodeTensor(p: Proto, external?: ExternalReader): Tensor {
  const name: string = p.name ?? "";
  const dtype = p.data_type ?? 0;
  if (!isKnownDtype(dtype)) {
    throw new SaturnError("BAD_TENSOR", `tensor '${name}' has unknown data type ${dtype}`, name);
  }
  const dims = checkDims(p.dims ?? [], name);
  const n = sizeOf(dims);
  if (p.data_location === 1) {
    if (!external) {
      throw new SaturnError("EXTERNAL_DATA", `tensor '${name}' uses external data, which needs the model's path`, name);
    }
    const info = new Map<string, string>((p.external_data ?? []).map((e: Proto) => [e.key, e.value]));
    const location = info.get("location");
    if (!location) {
      throw new SaturnError("EXTERNAL_DATA", `tensor '${name}' has external data without a location`, name);
    }
    const offset = externalInt(info.get("offset") ?? "0", "offset", name);
    const length = info.has("length") ? externalInt(info.get("length")!, "length", name) : undefined;
    const need = Math.ceil(n * bitsPerElement(dtype) / 8);
    // a length that disagrees with the dims is refused before anything is read
    if (length !== undefined) checkByteCount(length, need, name, dtype, dims);
    const bytes = external(location, offset, need, name);
    checkByteCount(bytes.byteLength, need, name, dtype, dims);
    return Tensor.fromRaw(dtype, dims, bytes);
  }
  if (p.raw_data && p.raw_data.length > 0 || dtype !== DataType.STRING && n > 0 && !hasTypedField(p)) {
    const raw: Uint8Array = p.raw_data ?? new Uint8Array(0);
    const need = Math.ceil(n * bitsPerElement(dtype) / 8);
    checkByteCount(raw.byteLength, need, name, dtype, dims);
    return Tensor.fromRaw(dtype, dims, raw);
  }
  return new Tensor(dtype, dims, fromTypedField(p, dtype, n, name));
}

/** An external_data offset or length: decimal digits only, a safe integer. */
function externalInt(text: string, key: string, name: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(v)) {
    throw new SaturnError(
      "EXTERNAL_DATA",
      `tensor '${name}' has an invalid external data ${key} '${text.slice(0, 40)}'`,
      name,
    );
  }
  return v;
}

function hasTypedField(p: Proto): boolean {
  return (p.float_data?.length ?? 0) + (p.int32_data?.length ?? 0) + (p.string_data?.length ?? 0) +
      (p.int64_data?.length ?? 0) + (p.double_data?.length ?? 0) + (p.uint64_data?.length ?? 0) > 0;
}

function checkByteCount(have: number, need: number, name: string, dtype: number, dims: number[]): void {
  if (have !== need) {
    throw new SaturnError(
      "BAD_TENSOR",
      `tensor '${name}' (${dtypeName(dtype)}[${dims}]) holds ${have} bytes of data, ${need} expected`,
      name,
    );
  }
}

function fromTypedField(p: Proto, dtype: number, n: number, name: string) {
  const count = (have: number, per = 1) => {
    if (have !== n * per) {
      throw new SaturnError("BAD_TENSOR", `tensor '${name}' has ${have / per} values for ${n} elements`, name);
    }
  };
  const out = allocate(dtype, n);
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      count(p.float_data.length, dtype === DataType.COMPLEX64 ? 2 : 1);
      (out as Float32Array).set(p.float_data);
      return out;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      count(p.double_data.length, dtype === DataType.COMPLEX128 ? 2 : 1);
      (out as Float64Array).set(p.double_data);
      return out;
    case DataType.INT64: {
      count(p.int64_data.length);
      const o = out as BigInt64Array;
      for (let i = 0; i < n; i++) o[i] = BigInt(p.int64_data[i].toString());
      return out;
    }
    case DataType.UINT64: {
      count(p.uint64_data.length);
      const o = out as BigUint64Array;
      for (let i = 0; i < n; i++) o[i] = BigInt.asUintN(64, BigInt(p.uint64_data[i].toString()));
      return out;
    }
    case DataType.UINT32: {
      count(p.uint64_data.length);
      const o = out as Uint32Array;
      for (let i = 0; i < n; i++) o[i] = longToNumber(p.uint64_data[i]);
      return out;
    }
    case DataType.STRING: {
      count(p.string_data.length);
      const o = out as string[];
      try {
        for (let i = 0; i < n; i++) o[i] = utf8.decode(p.string_data[i]);
      } catch {
        throw new SaturnError("BAD_TENSOR", `tensor '${name}' holds a string that is not valid UTF-8`, name);
      }
      return out;
    }
    default: {
      const bits = bitsPerElement(dtype);
      if (bits < 8) {
        // int32_data holds the packed bytes, one byte per int32
        const packed = new Uint8Array(p.int32_data.length);
        packed.set(p.int32_data.map((v: number) => v & 0xff));
        return Tensor.fromRaw(dtype as DataType, [n], packed).data;
      }
      count(p.int32_data.length);
      const o = out as Int32Array;
      for (let i = 0; i < n; i++) o[i] = p.int32_data[i];
      return out;
    }
  }
}

/** Encode a tensor as a TensorProto object (raw_data for all but strings). */
export function encodeTensor(t: Tensor, name?: string): Proto {
  const p: Proto = { dims: [...t.dims], data_type: t.dtype };
  if (name !== undefined && name !== "") p.name = name;
  if (t.dtype === DataType.STRING) p.string_data = (t.data as string[]).map((s) => utf8enc.encode(s));
  else p.raw_data = encodeRaw(t);
  return p;
}
