/**
 * Test helpers for tiny ONNX models built in code: attributes, nodes and models, seeded inputs,
 * and the check that the WebGPU backend computes what the reference interpreter computes (plus a
 * one-shader runner for kernel-level checks).
 *
 * Defaults follow what most tests want (opset 17, IR version 8, float32 inputs, tolerance `TOL`);
 * each option restores what a test needs instead.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import type { Attribute, Model, Node, OpsetImport } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import type { Dim } from "../ir/types.ts";
import { float32Tensor, Tensor } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { rng } from "../verify/inputs.ts";
import { compareTensors, type Tolerance } from "../conformance/compare.ts";
import { unsupportedNodes } from "../codegen/plan.ts";
import type { Target } from "../codegen/kernel.ts";
import { createSession, type SessionOptions } from "../webgpu/session.ts";

// ---------------------------------------------------------------------------------------------
// tolerances

/** The usual tolerance of a WebGPU output against the reference: `{ atol: 1e-4, rtol: 1e-3 }`. */
export const TOL: Tolerance = { atol: 1e-4, rtol: 1e-3 };
/** A tighter tolerance, `{ atol: 1e-5, rtol: 1e-4 }`. */
export const TIGHT_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };
/** Bit for bit (integer codes, exact float results). */
export const EXACT: Tolerance = { atol: 0, rtol: 0 };

// ---------------------------------------------------------------------------------------------
// building models

/** An attribute: a string, a list of ints, an int (an integer number) or a float. */
export function attr(name: string, value: number | number[] | string): Attribute {
  if (typeof value === "string") return { name, type: "string", value };
  if (Array.isArray(value)) return { name, type: "ints", value };
  return Number.isInteger(value) ? { name, type: "int", value } : { name, type: "float", value };
}

/** A node named `<opType>_<first output>`, in `domain` (default: the ONNX domain). */
export function node(opType: string, inputs: string[], outputs: string[], attrs: Attribute[] = [], domain = ""): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain, inputs, outputs, attributes: attrs };
}

/** A graph input of `graphModel`: its dims (of `ModelOptions.inputDtype`), or a dtype and dims. */
export type InputSpec = Dim[] | [DataType, Dim[]];

/** How `graphModel` and `nodesModel` build the model around the graph. */
export interface ModelOptions {
  /** The ONNX domain's opset version (17). */
  opset?: number;
  /** Opset imports of other domains, after the ONNX domain's (none), e.g. com.microsoft 1. */
  domains?: OpsetImport[];
  /** The dtype of inputs given by their dims alone (float32). */
  inputDtype?: DataType;
  /** The model's IR version (8). */
  irVersion?: number;
}

/** A model of `nodes` over `inputs` (by their dims, possibly symbolic), with `outputs` and initializers. */
export function graphModel(
  nodes: Node[],
  inputs: Record<string, InputSpec>,
  outputs: string[],
  inits: Record<string, Tensor> = {},
  options: ModelOptions = {},
): Model {
  const { opset = 17, domains = [], inputDtype = DataType.FLOAT, irVersion = 8 } = options;
  return {
    irVersion,
    opsetImports: [{ domain: "", version: opset }, ...domains],
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name: "g",
      nodes,
      inputs: Object.entries(inputs).map(([name, s]) => {
        const [dtype, shape] = Array.isArray(s[1]) ? s as [DataType, Dim[]] : [inputDtype, s as Dim[]];
        return { name, type: { kind: "tensor", dtype, shape } };
      }),
      outputs: outputs.map((name) => ({ name })),
      initializers: new Map(Object.entries(inits)),
      sparseInitializers: [],
      valueInfo: [],
    },
  };
}

/**
 * A model of `nodes` (one, or a chain whose last node gives the outputs; unnamed outputs left out)
 * over fed `inputs`, typed as their tensors are, with initializers `inits`, at ONNX opset `opset`.
 */
export function nodesModel(
  nodes: Node | Node[],
  inputs: Record<string, Tensor>,
  inits: Record<string, Tensor> = {},
  opset = 17,
): Model {
  const list = Array.isArray(nodes) ? nodes : [nodes];
  const specs = Object.fromEntries(
    Object.entries(inputs).map(([name, t]): [string, InputSpec] => [name, [t.dtype, [...t.dims]]]),
  );
  const outputs = list[list.length - 1].outputs.filter((o) => o !== "");
  return graphModel(list, specs, outputs, inits, { opset });
}

// ---------------------------------------------------------------------------------------------
// seeded values

/** How `randValues` and `rand` draw values. */
export interface RandOptions {
  /** Uniform values in [lo, hi): lo (−1). */
  lo?: number;
  /** hi (1). */
  hi?: number;
  /** Snap each value to a multiple of `step` (0: no snapping). */
  step?: number;
  /** Instead, `levels` distinct values `k − levels / 2` (k = 0 … levels − 1), to make ties. */
  levels?: number;
}

/** `dims`' count of seeded values (by `rng(seed)`), uniform in [−1, 1) unless `options` say otherwise. */
export function randValues(dims: readonly number[], seed: number, options: RandOptions = {}): number[] {
  const { lo = -1, hi = 1, step = 0, levels } = options;
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => {
    if (levels) return Math.floor(r() * levels) - levels / 2;
    const x = lo + r() * (hi - lo);
    return step ? Math.round(x / step) * step : x;
  });
}

/** A float32 tensor of seeded values (`randValues`): uniform in [−1, 1) by default. */
export function rand(dims: number[], seed: number, options: RandOptions = {}): Tensor {
  return float32Tensor(dims, randValues(dims, seed, options));
}

/** `dims`' count of seeded integers, uniform in [lo, hi] (both included). */
export function randInts(dims: readonly number[], seed: number, lo: number, hi: number): number[] {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

// ---------------------------------------------------------------------------------------------
// checking the WebGPU backend against the reference interpreter

let adapterAsked: Promise<GPUAdapter | null> | undefined;

/** This machine's WebGPU adapter, or null where WebGPU has none (asked once). */
export function gpuAdapter(): Promise<GPUAdapter | null> {
  adapterAsked ??= navigator.gpu?.requestAdapter().catch(() => null) ?? Promise.resolve(null);
  return adapterAsked;
}

/** How `matchesReference` runs and compares. */
export interface MatchOptions {
  /** Tolerance of each output (`TOL`). */
  tol?: Tolerance;
  /** The device kernels are generated for (default: the adapter's). */
  target?: Target;
  /** Exact input shapes, for models with symbolic dims (for planning and the session). */
  inputShapes?: Record<string, readonly number[]>;
  /** First assert that the backend supports every node (with the same plan options). */
  supported?: boolean;
  /** What failure messages start with. */
  label?: string;
}

/**
 * Assert every output of `want` is a tensor in `got` that matches it within `tol`; `label`
 * starts the failure messages.
 */
export function assertOutputsMatch(
  got: ReadonlyMap<string, unknown>,
  want: ReadonlyMap<string, unknown>,
  tol: Tolerance = TOL,
  label?: string,
): void {
  const at = label ? `${label}: ` : "";
  for (const [name, t] of want) {
    const g = got.get(name);
    assert(g instanceof Tensor, `${at}output '${name}' is missing`);
    const why = compareTensors(g, t as Tensor, tol);
    assert(!why, `${at}output '${name}': ${why}`);
  }
}

/**
 * Run `model` on WebGPU and in the reference interpreter on `inputs`; assert every output matches
 * within `options.tol`. Where WebGPU has no adapter only the `supported` check is made (tests that
 * also check planning run everywhere).
 */
export async function matchesReference(
  model: Model,
  inputs: ReadonlyMap<string, Tensor> | Record<string, Tensor>,
  options: MatchOptions = {},
): Promise<void> {
  const { tol = TOL, target, inputShapes, supported = false, label } = options;
  const feeds: ReadonlyMap<string, Tensor> = inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
  const plan: SessionOptions = {};
  if (target) plan.target = target;
  if (inputShapes) plan.inputShapes = inputShapes;
  if (supported) assertEquals(unsupportedNodes(model, plan).map((u) => `${u.op}: ${u.reason}`), []);
  if ((await gpuAdapter()) === null) return;
  const session = await createSession(model, plan);
  try {
    const got = await session.run(feeds);
    assertOutputsMatch(got, runModel(model, feeds), tol, label);
  } finally {
    session.destroy();
  }
}

/**
 * `matchesReference` for the model `nodesModel` builds of `nodes` (at ONNX opset `opset`) over fed
 * `inputs`; failure messages name the ops and the last node's attributes.
 */
export function matchesNodes(
  nodes: Node | Node[],
  inputs: Record<string, Tensor>,
  inits: Record<string, Tensor> = {},
  opset = 17,
  options: MatchOptions = {},
): Promise<void> {
  const list = Array.isArray(nodes) ? nodes : [nodes];
  const attrs = JSON.stringify(list[list.length - 1].attributes, (_k, v) => typeof v === "bigint" ? `${v}n` : v);
  const label = `${list.map((n) => n.opType).join("+")} ${attrs}`;
  return matchesReference(nodesModel(list, inputs, inits, opset), inputs, { label, ...options });
}

/** A `matchesNodes` with a file's defaults, as `nodeMatcher` makes it. */
export type NodeMatcher = (
  nodes: Node | Node[],
  inputs: Record<string, Tensor>,
  inits?: Record<string, Tensor>,
  opset?: number,
  software?: boolean,
) => Promise<void>;

/**
 * `matchesNodes` with ONNX opset `defaultOpset` and `options` by default:
 * `matches(nodes, inputs, inits = {}, opset = defaultOpset, software?)`, where `software: false`
 * takes the kernels generated for hardware GPUs (the default follows the adapter).
 */
export function nodeMatcher(defaultOpset: number, options: MatchOptions = {}): NodeMatcher {
  return (nodes, inputs, inits = {}, opset = defaultOpset, software) =>
    matchesNodes(nodes, inputs, inits, opset, software === undefined ? options : { ...options, target: { software } });
}

// ---------------------------------------------------------------------------------------------
// one shader

/**
 * Run compute shader `code` (entry point `main`) once on `device`: `buffers` bound at bindings
 * 0, 1, … of group 0, `workgroups` workgroups; return a copy of the first `bytes` bytes of the
 * last buffer (it needs COPY_SRC usage).
 */
export async function runShader(
  device: GPUDevice,
  code: string,
  buffers: GPUBuffer[],
  workgroups: number,
  bytes: number,
): Promise<ArrayBuffer> {
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(
    0,
    device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    }),
  );
  pass.dispatchWorkgroups(workgroups);
  pass.end();
  enc.copyBufferToBuffer(buffers[buffers.length - 1], 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  return read.getMappedRange().slice(0);
}
