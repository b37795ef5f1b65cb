/**
 * The WebGPU runtime as the library meets it: a session plans a model once (`planProgram`: kernels,
 * buffers, constants) and prepares it on a device with the shared run loop (`runtime.ts`: one
 * command encoder, one compute pass and one read-back per inference; one pass per kernel with
 * timestamp queries when profiling). Inputs are checked here and fail as `SaturnError`s.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import type { DataType } from "../ir/dtype.ts";
import { Tensor, type TensorData } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import type { KernelPlan, PlanOptions } from "../codegen/plan.ts";
import { acquireDevice, type GpuContext } from "./device.ts";
import type { MemoryPlan } from "./memory.ts";
import { pipelineFor } from "./pipelines.ts";
import { inputBytes } from "./buffers.ts";
import { planProgram } from "./compile.ts";
import { prepareProgram } from "./runtime.ts";

/** Options for `createSession`: the plan's (static dims, `f16`) and, optionally, a device. */
export interface SessionOptions extends PlanOptions {
  /** The device to run on (default: the process's, from `acquireDevice`). */
  gpu?: GpuContext;
  /**
   * Time each kernel with timestamp queries (when the adapter has `timestamp-query`): one
   * compute pass per kernel, read back with the outputs. See `Session.lastProfile`.
   */
  profile?: boolean;
}

/** GPU time of one kernel in the last profiled run. */
export interface KernelTime {
  /** The kernel's name, e.g. `MatMul+Add+Relu`. */
  kernel: string;
  /** The graph nodes it covers. */
  nodes: string[];
  /** Its GPU time, in milliseconds. */
  ms: number;
}

/** A model ready to run on the GPU. */
export interface Session {
  /** Run on named inputs; outputs by name. Runs are serialized. */
  run(inputs: ReadonlyMap<string, Value>): Promise<Map<string, Tensor>>;
  /** GPU bytes the session holds: activations (after reuse), inputs, constants and the staging buffer */
  readonly peakBytes: number;
  /** number of kernels one inference dispatches */
  readonly kernels: number;
  /** How activations share buffers. */
  readonly memory: MemoryPlan;
  /** The kernel plan the session runs. */
  readonly plan: KernelPlan;
  /** the adapter's description */
  readonly device: string;
  /** per-kernel GPU times of the last run (with `profile`, on an adapter with timestamp queries) */
  readonly lastProfile: KernelTime[] | undefined;
  /** Free every buffer; the session cannot run afterwards. */
  destroy(): void;
}

/**
 * Plan `model` and prepare it on the GPU. Unsupported ops fail here, before any GPU work.
 * @param model the model
 * @param opts plan options (static dims, `f16`), a device, profiling
 * @returns a session; call `destroy` when done with it
 * @throws {SaturnError} `UNSUPPORTED_OP` for the first node the backend cannot run; `NO_GPU` without an adapter
 * @example
 * ```ts
 * import { createSession, float32Tensor, type Model } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     outputs: [{ name: "y", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     nodes: [{ name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * if (navigator.gpu && await navigator.gpu.requestAdapter()) {
 *   const session = await createSession(model);
 *   try {
 *     const y = (await session.run(new Map([["x", float32Tensor([3], [-1, 0, 2])]]))).get("y")!;
 *     if (Array.from(y.data as Float32Array).join() !== "0,0,2") throw new Error("Relu on the GPU");
 *     if (session.kernels !== 1) throw new Error("one kernel");
 *   } finally {
 *     session.destroy();
 *   }
 * }
 * ```
 */
export async function createSession(model: Model, opts: SessionOptions = {}): Promise<Session> {
  const gpu = opts.gpu ?? await acquireDevice();
  if (opts.f16 === true && !gpu.features.has("shader-f16")) {
    throw new SaturnError(
      "BAD_ARGUMENT",
      `half-precision storage (f16) needs the adapter's shader-f16 feature, which ${gpu.description} lacks`,
      undefined,
      "f16",
    );
  }
  const target = opts.target ?? {
    software: gpu.software,
    shaderF16: gpu.features.has("shader-f16"),
    maxStorageBindingBytes: gpu.limits.maxStorageBufferBindingSize,
  };
  // every node is checked (in planProgram) before the device is given any work
  const { program, plan, memory, chunks } = planProgram(model, { ...opts, target });
  const { device } = gpu;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize ?? 134217728;
  const maxBindings = gpu.limits.maxStorageBuffersPerShaderStage ?? 8;
  for (const v of plan.values.values()) {
    if (v.bytes > maxBinding) {
      throw new SaturnError(
        "DIMENSION_TOO_LARGE",
        `value '${v.name}' takes ${v.bytes} bytes, past this adapter's ${maxBinding}-byte storage binding limit`,
        v.name,
      );
    }
  }
  for (const k of plan.kernels) {
    if (k.bindings.length > maxBindings) {
      throw new SaturnError(
        "UNSUPPORTED_OP",
        `kernel ${k.name} binds ${k.bindings.length} buffers, this adapter allows ${maxBindings}`,
        k.nodes[0],
      );
    }
  }
  // no weights file is assembled: each constant is uploaded from its own chunk
  const runner = await prepareProgram(device, program, (offset) => chunks.get(offset)!, {
    profile: opts.profile,
    pipeline: (k, code) =>
      pipelineFor(device, { name: k.name, nodes: k.nodes, wgsl: code, entry: k.entry, access: k.access }),
  });
  const peakBytes = memory.activationBytes + memory.inputBytes + memory.weightBytes + Math.max(16, runner.stagingBytes);
  let destroyed = false;
  const inputNames = new Set(plan.inputs.map((i) => i.name));
  return {
    async run(inputs) {
      if (destroyed) throw new SaturnError("BAD_ARGUMENT", "the session was destroyed");
      for (const name of inputs.keys()) {
        if (!inputNames.has(name)) {
          throw new SaturnError("BAD_INPUT", `the model has no input named '${name}'`, name);
        }
      }
      const feeds: Record<string, Uint8Array> = {};
      for (const v of plan.inputs) {
        const t = inputs.get(v.name);
        if (!(t instanceof Tensor)) {
          throw new SaturnError("BAD_INPUT", `input '${v.name}' was not given a tensor`, v.name);
        }
        feeds[v.name] = inputBytes(t, v);
      }
      const got = await runner.run(feeds);
      return new Map(
        program.outputs.map((
          o,
        ) => [o.name, new Tensor(o.dtype as DataType, [...o.dims], got[o.name].data as TensorData)]),
      );
    },
    peakBytes,
    kernels: runner.kernels,
    memory,
    plan,
    device: gpu.description,
    get lastProfile() {
      return runner.lastProfile();
    },
    destroy() {
      destroyed = true;
      runner.destroy();
    },
  };
}
