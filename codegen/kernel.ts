/**
 * What the code generator produces: kernels (WGSL source, entry point, the values each binding
 * holds, the dispatch size) and the storage element type each ONNX dtype has on the GPU.
 *
 * Storage convention on the GPU: float32 → `f32`; float16 → `f32` for the generators (computed in
 * f32; the plan stores it as f16, or as f32 rounded to f16 values without `shader-f16`, see
 * `f16.ts`); bool → `u32` (0/1); uint32 → `u32`; int8,
 * uint8, int16, uint16, int32 and int64 → `i32` (int64 values are narrowed to 32 bits on upload
 * and fail clearly when they do not fit). Other dtypes (bfloat16, float64, uint64, strings…) have
 * no GPU storage here and make a node unsupported. With half-precision storage (`f16.ts`), float32
 * values of the graph are stored as `f16` after the kernels are generated; generators never see it.
 * @module
 */
import { DataType, dtypeName } from "../ir/dtype.ts";
import type { Tensor } from "../ir/tensor.ts";

/** A WGSL scalar type that holds one element of a tensor in a storage buffer. */
export type ElemType = "f32" | "i32" | "u32";

/** What a graph value is stored as: its `ElemType`, or `f16` for a float32 value under `--f16`. */
export type StoredType = ElemType | "f16";

/** One binding of a kernel: the value (by graph name) its buffer holds, and how it is used. */
export interface Binding {
  /** The graph value (or kernel constant or temporary) whose buffer is bound. */
  value: string;
  /** `read`: the kernel only reads it; `read_write`: the kernel writes it. */
  access: "read" | "read_write";
}

/** One compute dispatch: a pure function of shapes, so equal sources share one pipeline. */
export interface KernelSpec {
  /** what it computes, e.g. `MatMul+Add+Relu` */
  name: string;
  /** the graph nodes it covers */
  nodes: string[];
  /** The WGSL module: a pure function of the kernel's configuration (equal sources share a pipeline). */
  wgsl: string;
  /** The compute entry point in `wgsl`. */
  entryPoint: string;
  /** The buffers bound: `@group(0) @binding(i)` holds `bindings[i].value`. */
  bindings: Binding[];
  /** workgroup counts; a kernel with a zero count is skipped */
  dispatch: [number, number, number];
  /** constants the kernel brings itself (tables computed at plan time), bound like weights */
  constants?: Map<string, Tensor>;
  /**
   * kernel-private temporaries this kernel writes for the kernels after it (a split-K GEMM's partial
   * sums for its reduction): f32 values of `elements` elements, planned and reused like activations
   */
  temporaries?: { name: string; elements: number }[];
}

/** What the generator knows of the device it targets (kernel choices, never semantics). */
export interface Target {
  /** a software adapter (llvmpipe): prefer kernels that compile fast over peak speed */
  software?: boolean;
  /** the device has `shader-f16`: float16 values are stored as f16 (else as f32 rounded to f16 values) */
  shaderF16?: boolean;
  /** the adapter's `maxStorageBufferBindingSize`: larger weights are split (default 128 MiB, WebGPU's default) */
  maxStorageBindingBytes?: number;
}

/** The GPU storage type of an ONNX dtype, or undefined when the backend cannot hold it. */
export function storageType(dtype: number): ElemType | undefined {
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.FLOAT16:
      return "f32";
    case DataType.BOOL:
    case DataType.UINT32:
      return "u32";
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.INT64:
      return "i32";
    default:
      return undefined;
  }
}

/** Like `storageType`, but throws a plain Error naming the dtype (callers turn it into a SaturnError). */
export function requireStorage(dtype: number): ElemType {
  const t = storageType(dtype);
  if (!t) throw new UnsupportedError(`element type ${dtypeName(dtype)} has no WebGPU storage here`);
  return t;
}

/** Raised by lowerings for what the backend cannot do; the planner names the node and op. */
export class UnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedError";
  }
}

/** Throw an `UnsupportedError`. */
export function unsupported(message: string): never {
  throw new UnsupportedError(message);
}

/** Bytes one element takes on the GPU (every storage type is 32-bit but `f16`). */
export const ELEM_BYTES = 4;

/** Bytes a buffer of `elements` elements of `t` takes: at least 4, a multiple of 4. */
export function storedBytes(t: StoredType, elements: number): number {
  const raw = elements * (t === "f16" ? 2 : ELEM_BYTES);
  return Math.max(ELEM_BYTES, Math.ceil(raw / 4) * 4);
}
