/**
 * Inputs to the GPU's storage convention (`codegen/kernel.ts`), checked against the plan: f32 as
 * is; int64 and the 8/16/32-bit integers as i32 (int64 values must fit, else a `SaturnError`
 * naming the input); bool as u32 0/1; float values held at half precision as f16 (or f32 rounded
 * to f16 values). Outputs come back through `runtime.ts`'s `decodeOutput`.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { dtypeName } from "../ir/dtype.ts";
import type { Tensor } from "../ir/tensor.ts";
import { gpuBytes } from "../codegen/plan.ts";
import type { TensorInfo } from "../codegen/lowering.ts";
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
