/**
 * The WebGPU runtime: a session plans a model once (kernels, buffers, constant uploads, pipelines,
 * bind groups) and then runs it per inference with one command encoder, one compute pass and one
 * read-back (every output copied into one staging buffer, one `mapAsync`). With `profile`, each
 * kernel gets its own pass with timestamp queries, resolved into the same read-back.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { type KernelPlan, planModel, type PlanOptions, unsupportedError, unsupportedNodes } from "../codegen/plan.ts";
import { acquireDevice, type GpuContext } from "./device.ts";
import { type MemoryPlan, planMemory } from "./memory.ts";
import { pipelineFor } from "./pipelines.ts";
import { inputBytes, tensorFromGpu } from "./buffers.ts";
import { storedBytes } from "../codegen/kernel.ts";

/** Options for `createSession`: the plan's (static dims) and, optionally, a device. */
export interface SessionOptions extends PlanOptions {
  gpu?: GpuContext;
  /**
   * Time each kernel with timestamp queries (when the adapter has `timestamp-query`): one
   * compute pass per kernel, read back with the outputs. See `Session.lastProfile`.
   */
  profile?: boolean;
}

/** GPU time of one kernel in the last profiled run. */
export interface KernelTime {
  kernel: string;
  nodes: string[];
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
  readonly memory: MemoryPlan;
  readonly plan: KernelPlan;
  /** the adapter's description */
  readonly device: string;
  /** per-kernel GPU times of the last run (with `profile`, on an adapter with timestamp queries) */
  readonly lastProfile: KernelTime[] | undefined;
  /** Free every buffer; the session cannot run afterwards. */
  destroy(): void;
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * Plan `model` and prepare it on the GPU. Unsupported ops fail here, before any GPU work.
 * @example
 * ```ts ignore
 * const s = await createSession(loadOnnx("bert_tiny.onnx"));
 * const out = await s.run(randomInputs(model, { seed: 0 }));
 * s.destroy();
 * ```
 */
export async function createSession(model: Model, opts: SessionOptions = {}): Promise<Session> {
  // every node is checked before the device is touched
  const missing = unsupportedNodes(model, opts);
  if (missing.length) throw unsupportedError(missing[0]);
  const gpu = opts.gpu ?? await acquireDevice();
  if (opts.f16 === true && !gpu.features.has("shader-f16")) {
    throw new SaturnError(
      "BAD_ARGUMENT",
      `--f16 needs the adapter's shader-f16 feature, which ${gpu.description} lacks (run without --f16)`,
    );
  }
  const target = opts.target ?? { software: gpu.software, shaderF16: gpu.features.has("shader-f16") };
  const plan = planModel(model, { ...opts, target });
  const mem = planMemory(plan);
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
  const owned: GPUBuffer[] = [];
  const make = (size: number, label: string, usage = USAGE) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage, label });
    owned.push(b);
    return b;
  };
  const byRoot = new Map<string, GPUBuffer>();
  for (const v of plan.inputs) byRoot.set(v.name, make(v.bytes, `input ${v.name}`));
  for (const [name, bytes] of plan.weights) {
    const b = make(bytes.byteLength, `weight ${name}`);
    if (bytes.byteLength) {
      device.queue.writeBuffer(b, 0, bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
    }
    byRoot.set(name, b);
  }
  const slots = mem.slotBytes.map((s, i) => make(s, `slot ${i}`));
  for (const [root, slot] of mem.slotOf) byRoot.set(root, slots[slot]);
  // outputs: offsets in one staging buffer
  const copies: { buf: GPUBuffer; offset: number; bytes: number }[] = [];
  let stagingBytes = 0;
  for (const o of plan.outputs) {
    if (!o.root) continue;
    const elements = o.dims.reduce((a, d) => a * d, 1);
    const bytes = elements ? storedBytes(o.elemType ?? "f32", elements) : 0;
    copies.push({ buf: byRoot.get(o.root)!, offset: stagingBytes, bytes });
    stagingBytes += bytes;
  }
  const profiling = opts.profile === true && gpu.features.has("timestamp-query") && plan.kernels.length > 0;
  const profileOffset = Math.ceil(stagingBytes / 8) * 8;
  const readBytes = profiling ? profileOffset + 16 * plan.kernels.length : stagingBytes;
  const staging = make(readBytes, "staging", GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const pipes = await Promise.all(plan.kernels.map((k) => pipelineFor(device, k)));
  const steps = plan.kernels.map((k, i) => ({
    pipeline: pipes[i].pipeline,
    dispatch: k.dispatch,
    group: device.createBindGroup({
      label: k.name,
      layout: pipes[i].layout,
      entries: k.bindings.map((b, j) => {
        const buf = byRoot.get(plan.values.get(b.value)!.root);
        if (!buf) throw new Error(`kernel ${k.name}: value '${b.value}' has no buffer`);
        return { binding: j, resource: { buffer: buf } };
      }),
    }),
    kernel: k,
  })).filter((s) => s.dispatch.every((d) => d > 0));
  const querySet = profiling ? device.createQuerySet({ type: "timestamp", count: 2 * steps.length }) : undefined;
  const resolved = querySet
    ? make(16 * steps.length, "timestamps", GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC)
    : undefined;
  let lastProfile: KernelTime[] | undefined;
  const peakBytes = mem.activationBytes + mem.inputBytes + mem.weightBytes + Math.max(16, readBytes);
  let queue: Promise<unknown> = Promise.resolve();
  let destroyed = false;

  const runOnce = async (inputs: ReadonlyMap<string, Value>): Promise<Map<string, Tensor>> => {
    if (destroyed) throw new SaturnError("BAD_ARGUMENT", "the session was destroyed");
    for (const name of inputs.keys()) {
      if (!plan.inputs.some((i) => i.name === name)) {
        throw new SaturnError("BAD_INPUT", `the model has no input named '${name}'`, name);
      }
    }
    for (const v of plan.inputs) {
      const t = inputs.get(v.name);
      if (!(t instanceof Tensor)) {
        throw new SaturnError("BAD_INPUT", `input '${v.name}' was not given a tensor`, v.name);
      }
      const bytes = inputBytes(t, v);
      if (bytes.byteLength) {
        device.queue.writeBuffer(
          byRoot.get(v.name)!,
          0,
          bytes.buffer as ArrayBuffer,
          bytes.byteOffset,
          bytes.byteLength,
        );
      }
    }
    device.pushErrorScope("validation");
    const enc = device.createCommandEncoder();
    if (querySet) {
      steps.forEach((s, i) => {
        const pass = enc.beginComputePass({
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
        pass.end();
      });
      enc.resolveQuerySet(querySet, 0, 2 * steps.length, resolved!, 0);
      enc.copyBufferToBuffer(resolved!, 0, staging, profileOffset, 16 * steps.length);
    } else if (steps.length) {
      const pass = enc.beginComputePass();
      for (const s of steps) {
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
      }
      pass.end();
    }
    for (const c of copies) if (c.bytes) enc.copyBufferToBuffer(c.buf, 0, staging, c.offset, c.bytes);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`WebGPU rejected the inference: ${err.message}`);
    const out = new Map<string, Tensor>();
    let data = new ArrayBuffer(0);
    if (readBytes > 0) {
      await staging.mapAsync(GPUMapMode.READ, 0, readBytes);
      data = staging.getMappedRange(0, readBytes).slice(0);
      staging.unmap();
    }
    if (querySet) {
      const ts = new BigUint64Array(data, profileOffset, 2 * steps.length);
      lastProfile = steps.map((s, i) => ({
        kernel: s.kernel.name,
        nodes: s.kernel.nodes,
        ms: Number(ts[2 * i + 1] - ts[2 * i]) / 1e6,
      }));
    }
    let k = 0;
    for (const o of plan.outputs) if (o.root) out.set(o.name, tensorFromGpu(o, data, copies[k++].offset));
    for (const o of plan.outputs) if (o.constant) out.set(o.name, o.constant);
    return new Map(plan.outputs.map((o) => [o.name, out.get(o.name)!]));
  };

  return {
    run(inputs) {
      const r = queue.then(() => runOnce(inputs));
      queue = r.catch(() => undefined);
      return r;
    },
    peakBytes,
    kernels: steps.length,
    memory: mem,
    plan,
    device: gpu.description,
    get lastProfile() {
      return lastProfile;
    },
    destroy() {
      destroyed = true;
      for (const b of owned) b.destroy();
      querySet?.destroy();
    },
  };
}
