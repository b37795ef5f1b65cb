/**
 * A random valid ONNX graph from a seed: an opset in 13–21, one or two small inputs, then nodes
 * chosen among the templates valid at that opset (`ops_*.ts`) and kept only when shape inference
 * types them (`GraphBuilder.emit`); the graph's outputs are its sinks. Feeds come from the same seed.
 *
 * Invariant: `generateGraph(seed)` gives the same model and feeds on every machine.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import type { DataType } from "../ir/dtype.ts";
import { fromNumbers, sizeOf, type Tensor } from "../ir/tensor.ts";
import { findOp } from "../ir/ops/registry.ts";
import { BOOL, FLOAT, GraphBuilder, INT32, INT64, randomValue, type Template, type Val } from "./builder.ts";
import { Rand } from "./random.ts";
import { BINARY, UNARY } from "./ops_elementwise.ts";
import { SHAPE } from "./ops_shape.ts";
import { NN } from "./ops_nn.ts";

/** Every template, across the op families. */
export const TEMPLATES: readonly Template[] = [...UNARY, ...BINARY, ...SHAPE, ...NN];

/** Options of `generateGraph`. */
export interface GenerateOptions {
  /** Most nodes a graph gets (10); each graph draws its own count up to this. */
  maxNodes?: number;
  /** Only these ops (all the templates' when absent). */
  ops?: readonly string[];
}

/** A generated graph with the feeds to run it on. */
export interface Generated {
  model: Model;
  feeds: Map<string, Tensor>;
}

/** Random dims: rank 0–4, each dim 1–4, at most 64 elements. */
export function randomDims(r: Rand): number[] {
  const rank = r.pick([0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4]);
  const dims = Array.from({ length: rank }, () => r.int(1, 4));
  while (sizeOf(dims) > 64) dims[dims.indexOf(Math.max(...dims))]--;
  return dims;
}

/** Seeded feeds for `inputs` (see `randomValue`), from `seed`. */
export function feedsFor(inputs: readonly Val[], seed: number): Map<string, Tensor> {
  const r = new Rand(seed ^ 0x5bd1e995);
  return new Map(inputs.map((v) => [v.name, randomTensor(r, v.dtype, v.dims)]));
}

/** A tensor of `dtype` and `dims` with `randomValue`s. */
export function randomTensor(r: Rand, dtype: DataType, dims: readonly number[]): Tensor {
  return fromNumbers(dtype, dims, Array.from({ length: sizeOf(dims) }, () => randomValue(r, dtype)));
}

/**
 * A random valid graph (see the module doc).
 * @param seed the graph's seed (`graphSeed(runSeed, index)`)
 * @param options the node budget and the ops to draw from
 * @returns the model and its feeds
 */
export function generateGraph(seed: number, options: GenerateOptions = {}): Generated {
  const r = new Rand(seed);
  const opset = r.int(13, 21);
  const b = new GraphBuilder(r, opset);
  const dtypes: Record<string, number> = { [FLOAT]: 8, [INT64]: 1, [INT32]: 1, [BOOL]: 1 };
  for (let i = r.int(1, 2); i > 0; i--) b.addInput(Number(r.weighted(dtypes)) as DataType, randomDims(r));
  const templates = TEMPLATES.filter((t) =>
    (t.minOpset ?? 13) <= opset && opset <= (t.maxOpset ?? 21) && findOp("", t.op) !== undefined &&
    (!options.ops || options.ops.includes(t.op))
  );
  const weights = Object.fromEntries(templates.map((t, i) => [String(i), t.weight ?? 1]));
  const target = r.int(1, options.maxNodes ?? 10);
  for (let tries = 0; b.nodes.length < target && tries < target * 10; tries++) {
    const t = templates[Number(r.weighted(weights))];
    b.begin();
    let ok = false;
    try {
      ok = t.build(b);
    } catch {
      ok = false; // a template that cannot fit its operands; the graph goes on without it
    }
    if (ok) b.commit();
    else b.rollback();
  }
  const read = new Set(b.nodes.flatMap((n) => n.inputs));
  const made = b.nodes.flatMap((n) => n.outputs);
  const sinks = made.filter((o) => !read.has(o));
  const extra = made.filter((o) => read.has(o) && r.chance(0.15));
  const outputs = [...sinks.slice(-3), ...extra.slice(0, 1)];
  if (!outputs.length) outputs.push(b.inputs[0].name);
  const model = pruneInputs(b.model(outputs));
  const feeds = feedsFor(b.inputs.filter((v) => model.graph.inputs.some((i) => i.name === v.name)), seed);
  return { model, feeds };
}

/** `model` without the graph inputs no node reads and no output names. */
export function pruneInputs(model: Model): Model {
  const used = new Set([...model.graph.nodes.flatMap((n) => n.inputs), ...model.graph.outputs.map((o) => o.name)]);
  return { ...model, graph: { ...model.graph, inputs: model.graph.inputs.filter((i) => used.has(i.name)) } };
}
