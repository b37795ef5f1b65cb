/**
 * `compile`: a planned model as a standalone ES module (`NAME.js`) and its weights
 * (`NAME.weights.bin`). The module imports nothing; it needs only WebGPU, so it runs in Deno and
 * in a browser:
 *
 * ```js
 * import { load } from "./squeezenet1_1.js";
 * const model = await load();                       // fetches ./squeezenet1_1.weights.bin beside it
 * const out = await model.run({ input: { data: new Float32Array(150528), dims: [1, 3, 224, 224] } });
 * console.log(out["117"].data);
 * ```
 *
 * Invariants: the program inside is the same kernel plan and memory plan a `createSession` of
 * the model would run (one command encoder, one read-back per inference); int64 inputs travel as
 * i32 (values past 32 bits are refused), int64 outputs come back as BigInt64Array.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import { SaturnError } from "../errors.ts";
import { planModel, type PlanOptions, unsupportedError, unsupportedNodes } from "../codegen/plan.ts";
import { gpuBytes } from "../codegen/plan.ts";
import { planMemory } from "./memory.ts";

/** The serializable program a compiled module runs. */
export interface Program {
  inputs: { name: string; dtype: number; dims: number[]; buffer: number }[];
  outputs: {
    name: string;
    dtype: number;
    dims: number[];
    buffer?: number;
    constant?: { offset: number; bytes: number };
  }[];
  /** buffers: byte size, and for weights their offset in the weights file */
  buffers: { bytes: number; weight?: number }[];
  shaders: string[];
  kernels: { name: string; shader: number; entry: string; access: string; bindings: number[]; dispatch: number[] }[];
  weightsBytes: number;
}

/** Build the program and the weights file for a model. */
export function buildProgram(model: Model, opts: PlanOptions = {}): { program: Program; weights: Uint8Array } {
  if (opts.f16) {
    throw new SaturnError("BAD_ARGUMENT", "compile does not support half-precision storage (f16) yet");
  }
  const missing = unsupportedNodes(model, opts);
  if (missing.length) throw unsupportedError(missing[0]);
  const plan = planModel(model, opts);
  const half = [...plan.values.values()].find((v) => v.half);
  if (half) {
    throw new SaturnError(
      "UNSUPPORTED_OP",
      `value '${half.name}' is float16: compile does not support half-precision storage yet`,
      half.name,
    );
  }
  const mem = planMemory(plan);
  const buffers: Program["buffers"] = [];
  const bufferOf = new Map<string, number>();
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const addWeight = (bytes: Uint8Array): number => {
    const at = offset;
    chunks.push(bytes);
    offset += bytes.byteLength;
    const pad = (16 - (offset % 16)) % 16;
    if (pad) {
      chunks.push(new Uint8Array(pad));
      offset += pad;
    }
    return at;
  };
  for (const v of plan.inputs) {
    bufferOf.set(v.name, buffers.length);
    buffers.push({ bytes: v.bytes });
  }
  for (const [name, bytes] of plan.weights) {
    bufferOf.set(name, buffers.length);
    buffers.push({ bytes: bytes.byteLength, weight: addWeight(bytes) });
  }
  const slotBase = buffers.length;
  for (const s of mem.slotBytes) buffers.push({ bytes: s });
  for (const [root, slot] of mem.slotOf) bufferOf.set(root, slotBase + slot);
  const shaders: string[] = [];
  const shaderOf = new Map<string, number>();
  const kernels: Program["kernels"] = [];
  for (const k of plan.kernels) {
    if (!k.dispatch.every((d) => d > 0)) continue;
    let s = shaderOf.get(k.wgsl);
    if (s === undefined) {
      s = shaders.length;
      shaders.push(k.wgsl);
      shaderOf.set(k.wgsl, s);
    }
    kernels.push({
      name: k.name,
      shader: s,
      entry: k.entryPoint,
      access: k.bindings.map((b) => (b.access === "read" ? "r" : "w")).join(""),
      bindings: k.bindings.map((b) => bufferOf.get(plan.values.get(b.value)!.root)!),
      dispatch: [...k.dispatch],
    });
  }
  const outputs: Program["outputs"] = plan.outputs.map((o) => {
    if (o.constant) {
      const bytes = gpuBytes(o.constant, `output '${o.name}'`);
      return {
        name: o.name,
        dtype: o.dtype,
        dims: o.dims,
        constant: { offset: addWeight(bytes), bytes: bytes.byteLength },
      };
    }
    return { name: o.name, dtype: o.dtype, dims: o.dims, buffer: bufferOf.get(o.root!)! };
  });
  const weights = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    weights.set(c, at);
    at += c.byteLength;
  }
  return {
    program: {
      inputs: plan.inputs.map((v) => ({ name: v.name, dtype: v.dtype, dims: v.dims, buffer: bufferOf.get(v.name)! })),
      outputs,
      buffers,
      shaders,
      kernels,
      weightsBytes: offset,
    },
    weights,
  };
}

/**
 * The runtime a compiled module carries (plain JavaScript, no imports). `PROGRAM` and
 * `WEIGHTS_FILE` are spliced in by `moduleSource`.
 */
const RUNTIME = String.raw`
const I64 = 7, BOOL = 9, F32 = 1, I32 = 6, U32 = 12;
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

async function readWeights(url) {
  if (url.protocol === "file:" && typeof Deno !== "undefined") return await Deno.readFile(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error("cannot fetch " + url + ": " + res.status);
  return new Uint8Array(await res.arrayBuffer());
}

function toGpu(name, want, given) {
  const n = want.dims.reduce((a, b) => a * b, 1);
  if (!given || !given.data) throw new Error("input '" + name + "' was not given");
  if (given.dims && given.dims.join() !== want.dims.join()) {
    throw new Error("input '" + name + "' has shape [" + given.dims + "], the module was compiled for [" + want.dims + "]");
  }
  const d = given.data;
  if (d.length !== n) throw new Error("input '" + name + "' has " + d.length + " elements, expected " + n);
  if (want.dtype === F32) return new Float32Array(d);
  if (want.dtype === BOOL || want.dtype === U32) return Uint32Array.from(d, (x) => (x ? 1 : 0));
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = typeof d[i] === "bigint" ? d[i] : BigInt(d[i]);
    if (v > 2147483647n || v < -2147483648n) throw new Error("input '" + name + "' holds " + v + ", past 32 bits");
    out[i] = Number(v);
  }
  return out;
}

function fromGpu(o, bytes, offset) {
  const n = o.dims.reduce((a, b) => a * b, 1);
  const raw = bytes.slice(offset, offset + 4 * n);
  let data;
  if (o.dtype === F32) data = new Float32Array(raw);
  else if (o.dtype === U32) data = new Uint32Array(raw);
  else if (o.dtype === I64) data = BigInt64Array.from(new Int32Array(raw), (x) => BigInt(x));
  else if (o.dtype === BOOL) data = Uint8Array.from(new Uint32Array(raw));
  else data = new Int32Array(raw);
  return { data, dims: o.dims.slice(), dtype: o.dtype };
}

/** Load the model: a device, its buffers, the weights and the pipelines. */
export async function load(options = {}) {
  const gpu = options.gpu ?? globalThis.navigator?.gpu;
  if (!gpu) throw new Error("WebGPU is not available here");
  const adapter = options.adapter ?? await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no WebGPU adapter");
  const limits = {};
  for (const k of ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupSizeZ", "maxComputeWorkgroupsPerDimension", "maxStorageBuffersPerShaderStage"]) {
    if (adapter.limits[k] !== undefined) limits[k] = adapter.limits[k];
  }
  const device = options.device ?? await adapter.requestDevice({ requiredLimits: limits });
  const weights = options.weights ?? await readWeights(new URL(WEIGHTS_FILE, import.meta.url));
  if (weights.byteLength !== PROGRAM.weightsBytes) {
    throw new Error("the weights file has " + weights.byteLength + " bytes, expected " + PROGRAM.weightsBytes);
  }
  const bufs = PROGRAM.buffers.map((b, i) => {
    const buf = device.createBuffer({ size: Math.max(16, Math.ceil(b.bytes / 4) * 4), usage: USAGE, label: "b" + i });
    if (b.weight !== undefined && b.bytes) device.queue.writeBuffer(buf, 0, weights, b.weight, b.bytes);
    return buf;
  });
  const modules = PROGRAM.shaders.map((code) => device.createShaderModule({ code }));
  const steps = PROGRAM.kernels.map((k) => {
    const layout = device.createBindGroupLayout({
      entries: k.bindings.map((_, j) => ({
        binding: j,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: k.access[j] === "r" ? "read-only-storage" : "storage" },
      })),
    });
    const pipeline = device.createComputePipeline({
      label: k.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: modules[k.shader], entryPoint: k.entry },
    });
    const group = device.createBindGroup({ layout, entries: k.bindings.map((b, j) => ({ binding: j, resource: { buffer: bufs[b] } })) });
    return { pipeline, group, dispatch: k.dispatch };
  });
  let stagingBytes = 0;
  const copies = [];
  for (const o of PROGRAM.outputs) {
    if (o.buffer === undefined) continue;
    const bytes = 4 * o.dims.reduce((a, b) => a * b, 1);
    copies.push({ o, offset: stagingBytes, bytes });
    stagingBytes += bytes;
  }
  const staging = device.createBuffer({ size: Math.max(16, stagingBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let queue = Promise.resolve();
  async function runOnce(inputs) {
    for (const i of PROGRAM.inputs) {
      const data = toGpu(i.name, i, inputs[i.name]);
      if (data.byteLength) device.queue.writeBuffer(bufs[i.buffer], 0, data);
    }
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const s of steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.group);
      pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
    }
    pass.end();
    for (const c of copies) if (c.bytes) enc.copyBufferToBuffer(bufs[c.o.buffer], 0, staging, c.offset, c.bytes);
    device.queue.submit([enc.finish()]);
    let bytes = new ArrayBuffer(0);
    if (stagingBytes) {
      await staging.mapAsync(GPUMapMode.READ, 0, stagingBytes);
      bytes = staging.getMappedRange(0, stagingBytes).slice(0);
      staging.unmap();
    }
    const out = {};
    for (const c of copies) out[c.o.name] = fromGpu(c.o, bytes, c.offset);
    for (const o of PROGRAM.outputs) {
      if (o.constant) out[o.name] = fromGpu(o, weights.buffer.slice(weights.byteOffset + o.constant.offset, weights.byteOffset + o.constant.offset + o.constant.bytes), 0);
    }
    return out;
  }
  return {
    inputs: PROGRAM.inputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims })),
    outputs: PROGRAM.outputs.map((o) => ({ name: o.name, dtype: o.dtype, dims: o.dims })),
    /** Run one inference: inputs by name as { data, dims }; outputs by name as { data, dims, dtype }. */
    run(inputs) {
      const r = queue.then(() => runOnce(inputs));
      queue = r.catch(() => undefined);
      return r;
    },
    destroy() {
      for (const b of bufs) b.destroy();
      staging.destroy();
    },
  };
}
`;

/** The text of the standalone module for a program whose weights file is `weightsFile` (relative). */
export function moduleSource(program: Program, weightsFile: string, title: string): string {
  return `// ${title}: compiled by Saturn. Standalone: needs WebGPU only (Deno or a browser).
// Weights: ${weightsFile} beside this file (${program.weightsBytes} bytes). ${program.kernels.length} kernels.
const PROGRAM = ${JSON.stringify(program)};
const WEIGHTS_FILE = ${JSON.stringify(weightsFile)};
${RUNTIME}`;
}
