/**
 * `compile`: a planned model as a standalone ES module (`NAME.js`) and its weights
 * (`NAME.weights.bin`). The module imports nothing; it needs only WebGPU, so it runs in Deno and
 * in a browser:
 *
 * ```js ignore
 * import { load } from "./squeezenet1_1.js";
 * const model = await load();                       // fetches ./squeezenet1_1.weights.bin beside it
 * const out = await model.run({ input: { data: new Float32Array(150528), dims: [1, 3, 224, 224] } });
 * console.log(out["117"].data);
 * ```
 *
 * Invariants: the program inside is the one a `createSession` of the model runs, and so is the
 * run loop: the module carries the source of `runtime.ts`'s functions. Data follow ONNX's
 * typed-array convention: int64 as BigInt64Array (values past 32 bits are refused on the way in),
 * bool as Uint8Array, float16 as the Uint16Array of its bits.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import { type KernelPlan, planModel, type PlanOptions, unsupportedError, unsupportedNodes } from "../codegen/plan.ts";
import { gpuBytes, type ValuePlan } from "../codegen/plan.ts";
import { DataType } from "../ir/dtype.ts";
import { type MemoryPlan, planMemory } from "./memory.ts";
import { type BufferStore, type Program, RUNTIME_FUNCTIONS } from "./runtime.ts";

export type { Program } from "./runtime.ts";

/** How a planned value's buffer holds it. */
function storeOf(v: ValuePlan): BufferStore {
  return v.half === "emulated" ? "f16e" : v.elemType;
}

/** A program with its plans, its constants as chunks at their offsets in the weights file. */
export interface PlannedProgram {
  program: Program;
  plan: KernelPlan;
  memory: MemoryPlan;
  /** the weights file in pieces: the bytes at each offset (each piece padded to 16 bytes there) */
  chunks: Map<number, Uint8Array>;
}

/** Plan a model into the program a session or a compiled module runs. */
export function planProgram(model: Model, opts: PlanOptions = {}): PlannedProgram {
  const missing = unsupportedNodes(model, opts);
  if (missing.length) throw unsupportedError(missing[0]);
  const plan = planModel(model, opts);
  const memory = planMemory(plan);
  const buffers: Program["buffers"] = [];
  const bufferOf = new Map<string, number>();
  const chunks = new Map<number, Uint8Array>();
  let offset = 0;
  const addWeight = (bytes: Uint8Array): number => {
    const at = offset;
    chunks.set(at, bytes);
    offset += Math.ceil(bytes.byteLength / 16) * 16;
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
  for (const s of memory.slotBytes) buffers.push({ bytes: s });
  for (const [root, slot] of memory.slotOf) bufferOf.set(root, slotBase + slot);
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
      nodes: [...k.nodes],
      shader: s,
      entry: k.entryPoint,
      access: k.bindings.map((b) => (b.access === "read" ? "r" : "w")).join(""),
      bindings: k.bindings.map((b) => bufferOf.get(plan.values.get(b.value)!.root)!),
      dispatch: [...k.dispatch],
    });
  }
  const outputs: Program["outputs"] = plan.outputs.map((o) => {
    if (o.constant) {
      const half = o.constant.dtype === DataType.FLOAT16 ? "emulated" : undefined;
      const bytes = gpuBytes(o.constant, `output '${o.name}'`, "UNSUPPORTED_OP", half);
      return {
        name: o.name,
        dtype: o.dtype,
        dims: o.dims,
        store: half ? "f16e" : "f32",
        constant: { offset: addWeight(bytes), bytes: bytes.byteLength },
      };
    }
    const v = plan.values.get(o.name)!;
    return { name: o.name, dtype: o.dtype, dims: o.dims, buffer: bufferOf.get(o.root!)!, store: storeOf(v) };
  });
  const features = [...plan.values.values()].some((v) => v.elemType === "f16") ? ["shader-f16"] : [];
  const program: Program = {
    inputs: plan.inputs.map((v) => ({
      name: v.name,
      dtype: v.dtype,
      dims: v.dims,
      buffer: bufferOf.get(v.name)!,
      store: storeOf(v),
    })),
    outputs,
    buffers,
    shaders,
    kernels,
    weightsBytes: offset,
    features,
  };
  return { program, plan, memory, chunks };
}

/**
 * Build the program and the weights file for a model: everything a standalone module needs
 * (see `moduleSource`), serializable as JSON. Runs on the CPU.
 * @param model the model
 * @param opts as for `planModel`
 * @returns the program and the bytes of its weights file
 * @throws {SaturnError} `UNSUPPORTED_OP` for the first node the backend cannot run
 * @example
 * ```ts
 * import { buildProgram, loadOnnx } from "../mod.ts";
 * const { program, weights } = buildProgram(loadOnnx("examples/bert_tiny.onnx"));
 * if (weights.byteLength !== program.weightsBytes) throw new Error("the weights file holds every constant");
 * for (const k of program.kernels) {
 *   if (!program.shaders[k.shader].includes(`fn ${k.entry}`)) throw new Error(`${k.name}: entry point in its shader`);
 * }
 * if (JSON.parse(JSON.stringify(program)).kernels.length !== program.kernels.length) throw new Error("plain data");
 * ```
 */
export function buildProgram(model: Model, opts: PlanOptions = {}): { program: Program; weights: Uint8Array } {
  const { program, chunks } = planProgram(model, opts);
  const weights = new Uint8Array(program.weightsBytes);
  for (const [at, bytes] of chunks) weights.set(bytes, at);
  return { program, weights };
}

/**
 * What a compiled module adds to the shared runtime: `load`, which picks an adapter, requests its
 * limits and the features the shaders need, reads the weights file beside the module and
 * prepares the program. `PROGRAM` and `WEIGHTS_FILE` are spliced in by `moduleSource`.
 */
const LOADER = String.raw`
async function readWeights(url) {
  if (url.protocol === "file:" && typeof Deno !== "undefined") return await Deno.readFile(url);
  const res = await fetch(url);
  if (!res.ok) throw new Error("cannot fetch " + url + ": " + res.status);
  return new Uint8Array(await res.arrayBuffer());
}

/** Load the model: a device, its buffers, the weights and the pipelines. */
export async function load(options = {}) {
  const gpu = options.gpu ?? globalThis.navigator?.gpu;
  if (!gpu) throw new Error("WebGPU is not available here");
  const adapter = options.adapter ?? await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("no WebGPU adapter");
  for (const f of PROGRAM.features) {
    if (!adapter.features.has(f)) throw new Error("this model needs the adapter feature " + f + ", which it lacks");
  }
  const limits = {};
  for (const k of ["maxBufferSize", "maxStorageBufferBindingSize", "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupSizeZ", "maxComputeWorkgroupsPerDimension", "maxStorageBuffersPerShaderStage"]) {
    if (adapter.limits[k] !== undefined) limits[k] = adapter.limits[k];
  }
  const device = options.device ??
    await adapter.requestDevice({ requiredLimits: limits, requiredFeatures: PROGRAM.features });
  const weights = options.weights ?? await readWeights(new URL(WEIGHTS_FILE, import.meta.url));
  if (weights.byteLength !== PROGRAM.weightsBytes) {
    throw new Error("the weights file has " + weights.byteLength + " bytes, expected " + PROGRAM.weightsBytes);
  }
  const runner = await prepareProgram(device, PROGRAM, weights, {});
  return {
    inputs: PROGRAM.inputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims })),
    outputs: PROGRAM.outputs.map((o) => ({ name: o.name, dtype: o.dtype, dims: o.dims })),
    /** Run one inference: inputs by name as { data, dims }; outputs by name as { data, dims, dtype }. */
    run: (inputs) => runner.run(inputs),
    destroy: () => runner.destroy(),
  };
}
`;

/**
 * The text of the standalone module for a program whose weights file is `weightsFile` (relative).
 * The module imports nothing: it needs WebGPU only, in Deno or a browser. It exports
 * `load(options?)`, which resolves to `{ inputs, outputs, run, destroy }`.
 * @param program the program (`buildProgram`)
 * @param weightsFile the weights file's path relative to the module
 * @param title the first line's name for the model
 * @returns JavaScript source
 * @example
 * ```ts
 * import { buildProgram, type Model, moduleSource } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     outputs: [{ name: "y", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     nodes: [{ name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const { program, weights } = buildProgram(model);
 * const source = moduleSource(program, "relu.weights", "relu");
 * if (/^\s*import\b/m.test(source)) throw new Error("standalone: imports nothing");
 * if (navigator.gpu && await navigator.gpu.requestAdapter()) {
 *   const dir = Deno.makeTempDirSync();
 *   Deno.writeTextFileSync(`${dir}/relu.js`, source);
 *   Deno.writeFileSync(`${dir}/relu.weights`, weights);
 *   const compiled = await import(`file://${dir}/relu.js`);
 *   const m = await compiled.load();
 *   const { y } = await m.run({ x: { data: new Float32Array([-1, 0, 2]), dims: [3] } });
 *   m.destroy();
 *   if (Array.from(y.data).join() !== "0,0,2") throw new Error("the module runs the model");
 *   Deno.removeSync(dir, { recursive: true });
 * }
 * ```
 */
export function moduleSource(program: Program, weightsFile: string, title: string): string {
  return `// ${title}: compiled by Saturn. Standalone: needs WebGPU only (Deno or a browser).
// Weights: ${weightsFile} beside this file (${program.weightsBytes} bytes). ${program.kernels.length} kernels.
const PROGRAM = ${JSON.stringify(program)};
const WEIGHTS_FILE = ${JSON.stringify(weightsFile)};
${RUNTIME_FUNCTIONS.map((f) => f.toString()).join("\n\n")}
${LOADER}`;
}
