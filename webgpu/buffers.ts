/**
 * Tensors to and from the GPU's storage convention (`codegen/kernel.ts`): f32 as is; int64 and
 * the 8/16/32-bit integers as i32 (int64 values must fit, else a `SaturnError` naming the
 * input); bool as u32 0/1; float32 as f16 for values the plan stores in half precision; and back
 * to each output's own dtype after the read-back.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { DataType, dtypeName } from "../ir/dtype.ts";
import { allocate, fromNumbers, Tensor } from "../ir/tensor.ts";
import { gpuBytes } from "../codegen/plan.ts";
import type { TensorInfo } from "../codegen/lowering.ts";
import type { StoredType } from "../codegen/kernel.ts";
import type { HalfMode } from "../codegen/f16.ts";

/** The bytes to upload for a graph input; checks dtype and shape against the plan. */
export function inputBytes(t: Tensor, want: TensorInfo & { half?: HalfMode }): Uint8Array {
  if (t.dtype !== want.dtype) {
    throw new SaturnError(
      "BAD_INPUT",
      `input '${want.name}' is ${dtypeName(t.dtype)}, the model expects ${dtypeName(want.dtype)}`,
      want.name,
    );
  }
  if (t.dims.length !== want.dims.length || t.dims.some((d, i) => d !== want.dims[i])) {
    throw new SaturnError(
      "BAD_INPUT",
      `input '${want.name}' has shape [${t.dims}], the session was planned for [${want.dims}] (plan with other dims)`,
      want.name,
    );
  }
  return gpuBytes(t, `input '${want.name}'`, "BAD_INPUT", want.half);
}

/** A tensor of `info`'s dtype and shape from GPU elements (4 bytes each, 2 for `f16`). */
export function tensorFromGpu(
  info: TensorInfo & { elemType?: StoredType },
  bytes: ArrayBuffer,
  offset: number,
): Tensor {
  const n = info.dims.reduce((a, d) => a * d, 1);
  const dims = [...info.dims];
  if (info.dtype === DataType.FLOAT16) {
    if (info.elemType === "f16") {
      return new Tensor(info.dtype, dims, new Uint16Array(bytes.slice(offset, offset + 2 * n)));
    }
    return fromNumbers(info.dtype, dims, new Float32Array(bytes, offset, n));
  }
  if (info.elemType === "f16") {
    return new Tensor(info.dtype, dims, Float32Array.from(new Float16Array(bytes.slice(offset, offset + 2 * n))));
  }
  switch (info.dtype) {
    case DataType.FLOAT:
      return new Tensor(info.dtype, dims, new Float32Array(bytes.slice(offset, offset + 4 * n)));
    case DataType.INT32:
      return new Tensor(info.dtype, dims, new Int32Array(bytes.slice(offset, offset + 4 * n)));
    case DataType.UINT32:
      return new Tensor(info.dtype, dims, new Uint32Array(bytes.slice(offset, offset + 4 * n)));
  }
  const src = info.dtype === DataType.BOOL ? new Uint32Array(bytes, offset, n) : new Int32Array(bytes, offset, n);
  const out = allocate(info.dtype, n);
  if (out instanceof BigInt64Array) { for (let i = 0; i < n; i++) out[i] = BigInt(src[i]); }
  else (out as Int32Array).set(src);
  return new Tensor(info.dtype, dims, out);
}
