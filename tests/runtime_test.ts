/**
 * The one encoder of the GPU storage convention (`webgpu/runtime.ts` encodeInput), used by sessions,
 * by compiled modules and, through `gpuBytes`, for constants: per dtype and store, without a GPU.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { encodeInput } from "../webgpu/runtime.ts";
import { gpuBytes } from "../codegen/plan.ts";
import { SaturnError } from "../errors.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, Tensor } from "../ir/tensor.ts";

const want = (dtype: number, store: "f32" | "i32" | "u32" | "f16" | "f16e", n: number) => ({
  name: "x",
  dtype,
  dims: [n],
  store,
});

Deno.test("encodeInput: uint32 keeps its values, bool becomes 0/1, int64 narrows to i32", () => {
  const u = encodeInput(want(DataType.UINT32, "u32", 3), { data: new Uint32Array([7, 0, 4000000000]), dims: [3] });
  assertEquals([...new Uint32Array(u.buffer, u.byteOffset, 3)], [7, 0, 4000000000]);
  const b = encodeInput(want(DataType.BOOL, "u32", 3), { data: new Uint8Array([1, 0, 2]), dims: [3] });
  assertEquals([...new Uint32Array(b.buffer, b.byteOffset, 3)], [1, 0, 1]);
  const i = encodeInput(want(DataType.INT64, "i32", 2), { data: new BigInt64Array([-5n, 2147483647n]), dims: [2] });
  assertEquals([...new Int32Array(i.buffer, i.byteOffset, 2)], [-5, 2147483647]);
  let err = "";
  try {
    encodeInput(want(DataType.INT64, "i32", 1), { data: new BigInt64Array([2n ** 40n]), dims: [1] });
  } catch (e) {
    err = (e as Error).message;
  }
  assert(/int64 value 1099511627776/.test(err), err);
});

Deno.test("encodeInput: f32 data already in GPU form is a view, not a copy; f16 saturates", () => {
  const f = new Float32Array([1, 2, 3]);
  const v = encodeInput(want(DataType.FLOAT, "f32", 3), { data: f, dims: [3] });
  assert(v.buffer === f.buffer, "a view of the same buffer");
  const h = encodeInput(want(DataType.FLOAT, "f16", 3), { data: new Float32Array([1e6, -1e6, 0.5]), dims: [3] });
  assertEquals([...new Float16Array(h.buffer, 0, 3)], [65504, -65504, 0.5]);
  const e = encodeInput(want(DataType.FLOAT, "f16e", 1), { data: new Float32Array([1 / 3]), dims: [1] });
  assertEquals([...new Float32Array(e.buffer, 0, 1)], [new Float16Array([1 / 3])[0]]);
});

Deno.test("gpuBytes: constants through the same encoder, errors as SaturnErrors naming the constant", () => {
  const t = new Tensor(DataType.UINT32, [2], new Uint32Array([9, 1]));
  assertEquals([...new Uint32Array(gpuBytes(t, "constant 'c'").buffer, 0, 2)], [9, 1]);
  const half = gpuBytes(fromNumbers(DataType.FLOAT16, [2], [1.5, -2]), "constant 'h'", "UNSUPPORTED_OP", "emulated");
  assertEquals([...new Float32Array(half.buffer, half.byteOffset, 2)], [1.5, -2]);
  let err: unknown;
  try {
    gpuBytes(new Tensor(DataType.INT64, [1], new BigInt64Array([2n ** 33n])), "constant 'big'");
  } catch (e) {
    err = e;
  }
  assert(err instanceof SaturnError && err.code === "UNSUPPORTED_OP" && err.message.includes("constant 'big'"));
});
