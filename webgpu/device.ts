/**
 * Device acquisition: one adapter (high-performance preference) and one device per process,
 * requested with the adapter's own limits (the defaults are far smaller: 128 MiB bindings, 16 KiB
 * of workgroup memory) and with `shader-f16` and `timestamp-query` when the adapter has them.
 * @module
 */
import { SaturnError, type SaturnErrorCode } from "../errors.ts";

/** The error code when WebGPU has no adapter (to be listed in `errors.ts`'s `SaturnErrorCode`). */
export const NO_GPU: SaturnErrorCode = "NO_GPU";

/** The limits Saturn asks the adapter for (the adapter's maximum of each). */
export const REQUESTED_LIMITS: readonly string[] = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxBindingsPerBindGroup",
  "maxUniformBufferBindingSize",
];

/** The optional features Saturn uses when present. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ["shader-f16", "timestamp-query"];

/** A device with what was learned about its adapter. */
export interface GpuContext {
  /** The device, requested with the adapter's own limits and the optional features it has. */
  device: GPUDevice;
  /** The adapter the device came from. */
  adapter: GPUAdapter;
  /** the adapter's description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or the GPU's name */
  description: string;
  /** The device's features (`shader-f16`, `timestamp-query` when the adapter has them). */
  features: Set<string>;
  /** The device's values of `REQUESTED_LIMITS`: what kernels and buffers may use. */
  limits: Record<string, number>;
  /** a software adapter (llvmpipe, SwiftShader, WARP): correct but slow, slow to compile too */
  software: boolean;
}

let shared: Promise<GpuContext> | undefined;

/**
 * The process's WebGPU device (created on first use; later calls share it; a lost device is
 * replaced on the next call). Throws a `SaturnError` with code `NO_GPU` when WebGPU has no adapter.
 * @returns the device and what is known of its adapter
 * @throws {SaturnError} `NO_GPU` without WebGPU or an adapter
 * @example
 * ```ts
 * import { acquireDevice, NO_GPU, SaturnError } from "../mod.ts";
 * if (navigator.gpu && await navigator.gpu.requestAdapter()) {
 *   const gpu = await acquireDevice();
 *   if (await acquireDevice() !== gpu) throw new Error("one device per process");
 *   if (!(gpu.limits.maxStorageBufferBindingSize > 0)) throw new Error("the adapter's limits are known");
 * } else {
 *   const e = await acquireDevice().catch((e) => e);
 *   if (!(e instanceof SaturnError) || e.code !== NO_GPU) throw new Error("no adapter: a NO_GPU error");
 * }
 * ```
 */
export function acquireDevice(): Promise<GpuContext> {
  shared ??= requestContext().catch((e) => {
    shared = undefined;
    throw e;
  });
  return shared;
}

async function requestContext(): Promise<GpuContext> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new SaturnError(
      NO_GPU,
      "WebGPU is not available in this runtime (navigator.gpu is missing)",
      undefined,
      "backend",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new SaturnError(
      NO_GPU,
      "WebGPU found no adapter: no GPU driver (on Linux without a GPU, install Mesa's llvmpipe: mesa-vulkan-drivers)",
      undefined,
      "backend",
    );
  }
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const k of REQUESTED_LIMITS) if (typeof al[k] === "number") requiredLimits[k] = al[k];
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const description = info.description || [info.vendor, info.architecture, info.device].filter((s) => s).join(" ");
  const dl = device.limits as unknown as Record<string, number>;
  const limits: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) if (typeof dl[k] === "number") limits[k] = dl[k];
  device.lost.then(() => {
    shared = undefined;
  });
  const software = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|warp/i.test(description);
  const features = new Set(device.features as unknown as Iterable<string>);
  return { device, adapter, description, features, limits, software };
}
