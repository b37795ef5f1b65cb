/**
 * The quantization pass behind `optimize --quant int8|int4`: weight-only quantization of MatMul,
 * Gemm and embedding Gather nodes by the rules of `rules/quant/`, kept only where the measured
 * output error stays within an accuracy budget.
 *
 * 1. Sites: each node that a rule of the asked precision matches, whose weight is an initializer
 *    read by that node alone (a weight shared with another node, or one that is also a graph input
 *    or output, stays float).
 * 2. Per layer: the model runs in Saturn's reference interpreter on seeded inputs with that one
 *    weight replaced by its dequantized value (what the rewrite computes with, `QuantRewrite`'s
 *    invariant); a layer whose output error alone breaks the budget stays float.
 * 3. Together: all accepted layers at once; while the error breaks the budget, the layer with the
 *    largest error of its own per byte it saves goes back to float.
 * 4. The accepted rewrites are applied; where the reference can run the quantized graph, the final
 *    error is measured on that graph itself.
 *
 * The budget is on 1 − cosine similarity of each float output (default 0.01: cosine ≥ 0.99); the
 * report gives per layer the bytes before and after, the cosine and the max relative error.
 * A quantization choice depends on a measurement, not on a cost, so this is a pass after the
 * e-graph rather than rules inside it (`rules/quant/quant_rule.ts`).
 * @module
 */
import { SaturnError } from "../errors.ts";
import { bitsPerElement } from "../ir/dtype.ts";
import { type Graph, type Model, type Node, opsetVersion } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { findUnsupported, runModel } from "../ir/interpreter.ts";
import { validateGraph } from "../ir/validate.ts";
import { randomInputs } from "../verify/inputs.ts";
import type { DimSizes } from "../verify/input_dims.ts";
import { CONSTANT_RULES } from "../rules/quant/constants.ts";
import { QUANT_RULES, type QuantContext, type QuantRewrite, type QuantRule } from "../rules/quant/mod.ts";
import { budgetError, type OutputError, outputErrors } from "./quant_error.ts";

/** What to quantize to and how much error to accept. */
export interface QuantOptions {
  /** `int8` (per output channel / row) or `int4` (blocks along K / the row). */
  precision: "int8" | "int4";
  /** Values sharing one scale in int4 blocks: 16, 32, 64, 128 or 256 (32). */
  block?: number;
  /** Largest accepted 1 − cosine similarity of any float output (0.01). */
  accuracyBudget?: number;
  /** int4 with a zero point per block instead of symmetric codes (false). */
  zeroPoints?: boolean;
  /** Seeds of the inputs the error is measured on ([1, 2]). */
  seeds?: readonly number[];
  /** Sizes of symbolic input dims for those inputs. */
  dims?: DimSizes;
}

/** The defaults of `QuantOptions`. */
export const QUANT_DEFAULTS: { readonly block: number; readonly accuracyBudget: number } = {
  block: 32,
  accuracyBudget: 0.01,
};

/** What became of one quantizable weight. */
export interface QuantLayer {
  /** the weight (initializer) */
  weight: string;
  /** the node that reads it, and its op */
  node: string;
  op: string;
  /** the rule that matched */
  rule: string;
  /** bytes of the weight, and of what replaces it (what it would have been, when it stays float) */
  bytesBefore: number;
  bytesAfter: number;
  /** output error with this layer alone quantized: worst cosine and max relative error */
  cosine: number;
  maxRelError: number;
  /** quantized, or left in float and why */
  quantized: boolean;
  reason?: string;
}

/** The pass's report. */
export interface QuantReport {
  precision: "int8" | "int4";
  block: number;
  accuracyBudget: number;
  layers: QuantLayer[];
  /** bytes of all initializers before and after */
  bytesBefore: number;
  bytesAfter: number;
  /** the final model's error per float output */
  outputs: OutputError[];
  /** whether `outputs` was measured on the quantized graph or on the float graph with dequantized weights */
  measuredOn: "quantized graph" | "dequantized weights";
  seeds: number[];
  ms: number;
}

const BLOCKS = [16, 32, 64, 128, 256];

function tensorBytes(t: Tensor): number {
  return Math.ceil((t.size * bitsPerElement(t.dtype)) / 8);
}

function bytesOf(ts: Iterable<Tensor>): number {
  let n = 0;
  for (const t of ts) n += tensorBytes(t);
  return n;
}

/** Every name the graph uses (values and nodes), for minting fresh ones. */
function usedNames(g: Graph): Set<string> {
  const s = new Set<string>([...g.initializers.keys()]);
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) s.add(v.name);
  for (const n of g.nodes) {
    s.add(n.name);
    for (const x of [...n.inputs, ...n.outputs]) s.add(x);
  }
  return s;
}

interface Site {
  index: number;
  node: Node;
  rule: QuantRule;
  weight: string;
  rewrite: QuantRewrite;
}

function findSites(model: Model, rules: readonly QuantRule[], block: number): { sites: Site[]; shared: Site[] } {
  const g = model.graph;
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const x of new Set(n.inputs)) readers.set(x, (readers.get(x) ?? 0) + 1);
  const inputs = new Set(g.inputs.map((i) => i.name)), outputs = new Set(g.outputs.map((o) => o.name));
  const used = usedNames(g);
  const ctx: QuantContext = {
    block,
    opset: opsetVersion(model.opsetImports, "") ?? 1,
    constant: (name) => (inputs.has(name) ? undefined : g.initializers.get(name)),
    fresh(base) {
      let name = base;
      for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
      used.add(name);
      return name;
    },
  };
  const sites: Site[] = [], shared: Site[] = [];
  g.nodes.forEach((node, index) => {
    for (const rule of rules) {
      const at = rule.match(node, ctx);
      if (at === undefined) continue;
      const weight = node.inputs[at];
      const site = { index, node, rule, weight, rewrite: rule.rewrite(node, ctx) };
      if (readers.get(weight) !== 1 || outputs.has(weight)) shared.push(site);
      else sites.push(site);
      return;
    }
  });
  return { sites, shared };
}

function withWeights(model: Model, replaced: ReadonlyMap<string, Tensor>): Model {
  const initializers = new Map(model.graph.initializers);
  for (const [k, v] of replaced) initializers.set(k, v);
  return { ...model, graph: { ...model.graph, initializers } };
}

function run(model: Model, inputs: readonly Map<string, Value>[]): Map<string, Value | undefined>[] {
  try {
    return inputs.map((i) => runModel(model, i));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SaturnError(
      "UNSUPPORTED_OP",
      `quantization measures errors with the reference interpreter, which failed: ${why}`,
    );
  }
}

function applySites(model: Model, sites: readonly Site[]): Model {
  const g = model.graph;
  const bySite = new Map(sites.map((s) => [s.index, s]));
  const nodes: Node[] = [];
  g.nodes.forEach((n, i) => {
    const s = bySite.get(i);
    if (s) nodes.push(...s.rewrite.nodes);
    else nodes.push(n);
  });
  const gone = new Set(sites.map((s) => s.weight));
  const initializers = new Map([...g.initializers].filter(([k]) => !gone.has(k)));
  for (const s of sites) for (const [k, v] of s.rewrite.initializers) initializers.set(k, v);
  const initializerMeta = g.initializerMeta && new Map([...g.initializerMeta].filter(([k]) => !gone.has(k)));
  const graph: Graph = {
    ...g,
    nodes,
    initializers,
    initializerMeta,
    valueInfo: g.valueInfo.filter((v) => !gone.has(v.name)),
  };
  validateGraph(graph);
  const opsetImports = [...model.opsetImports];
  if (nodes.some((n) => n.domain === "com.microsoft") && !opsetImports.some((o) => o.domain === "com.microsoft")) {
    opsetImports.push({ domain: "com.microsoft", version: 1 });
  }
  return { ...model, opsetImports, graph };
}

/**
 * Quantize `model`'s weights within an accuracy budget.
 * @param model a float model (Saturn's reference interpreter must run it)
 * @param options precision, block, budget, seeds
 * @returns the quantized model and what was done to each layer
 * @throws {SaturnError} `BAD_ARGUMENT` for a block or budget out of range; `UNSUPPORTED` when the
 * reference interpreter cannot run the model to measure the error
 * @example
 * ```ts
 * import { loadOnnx } from "../mod.ts";
 * import { quantizeModel } from "./quantize.ts";
 * const { model, report } = quantizeModel(loadOnnx("examples/bert_tiny.onnx"), { precision: "int8" });
 * if (report.bytesAfter * 3.5 > report.bytesBefore) throw new Error("int8 weights are ≥ 3.5× smaller");
 * if (report.outputs.some((o) => o.cosine < 0.99)) throw new Error("within the default budget");
 * if (model.graph.nodes.length <= 0) throw new Error("a graph");
 * ```
 */
export function quantizeModel(model: Model, options: QuantOptions): { model: Model; report: QuantReport } {
  const t0 = performance.now();
  const precision = options.precision;
  if (precision !== "int8" && precision !== "int4") {
    throw new SaturnError("BAD_ARGUMENT", `quantization precision '${precision}' is not int8 or int4`);
  }
  const block = options.block ?? QUANT_DEFAULTS.block;
  if (!BLOCKS.includes(block)) {
    throw new SaturnError("BAD_ARGUMENT", `quantization block ${block} is not one of ${BLOCKS.join(", ")}`);
  }
  const budget = options.accuracyBudget ?? QUANT_DEFAULTS.accuracyBudget;
  if (!(budget >= 0 && budget < 1)) {
    throw new SaturnError("BAD_ARGUMENT", `accuracy budget ${budget} is not in [0, 1): it bounds 1 − cosine`);
  }
  const bits = precision === "int4" ? 4 : 8;
  const symmetric = !options.zeroPoints;
  // a zero-point rule where one exists for the op, else the symmetric one; other constants int8 always
  const rules = QUANT_RULES.filter((r) => r.bits === bits && (r.symmetric === symmetric || bits === 8))
    .concat(symmetric ? [] : QUANT_RULES.filter((r) => r.bits === bits && r.symmetric))
    .concat(bits === 4 ? CONSTANT_RULES : []);
  const { sites, shared } = findSites(model, rules, block);
  const seeds = [...(options.seeds ?? [1, 2])];
  // integer inputs drawn from a wide range (kept below known index bounds): embeddings get exercised
  const inputs = seeds.map((seed) => randomInputs(model, { seed, dims: options.dims, intHigh: 1 << 30 }));
  const exact = run(model, inputs);
  const layer = (s: Site, e: OutputError[]): QuantLayer => ({
    weight: s.weight,
    node: s.node.name,
    op: s.node.opType,
    rule: s.rule.name,
    bytesBefore: tensorBytes(model.graph.initializers.get(s.weight)!),
    bytesAfter: bytesOf(s.rewrite.initializers.values()),
    cosine: Math.min(1, ...e.map((x) => x.cosine)),
    maxRelError: Math.max(0, ...e.map((x) => x.maxRelError)),
    quantized: false,
  });
  const saved = (s: Site) =>
    tensorBytes(model.graph.initializers.get(s.weight)!) - bytesOf(s.rewrite.initializers.values());
  const layers: QuantLayer[] = [];
  const measured = new Map<Site, number>();
  const floatOutputs = outputErrors(exact, exact).length > 0;
  for (const s of sites) {
    const errs = floatOutputs
      ? outputErrors(exact, run(withWeights(model, new Map([[s.weight, s.rewrite.dequantized]])), inputs))
      : [];
    const l = layer(s, errs);
    layers.push(l);
    const err = budgetError(errs);
    if (!floatOutputs) l.reason = "no float output to measure the error on";
    else if (err > budget) l.reason = `alone it breaks the budget (1 − cosine ${err.toExponential(2)} > ${budget})`;
    else measured.set(s, err);
  }
  for (const s of shared) {
    layers.push({
      ...layer(s, []),
      cosine: NaN,
      maxRelError: NaN,
      reason: "weight shared with another node or an output",
    });
  }
  // together: drop the worst until the budget holds
  let accepted = sites.filter((s) => measured.has(s));
  let final: OutputError[] = [];
  while (accepted.length) {
    const fake = new Map(accepted.map((s) => [s.weight, s.rewrite.dequantized]));
    final = outputErrors(exact, run(withWeights(model, fake), inputs));
    if (budgetError(final) <= budget) break;
    // back to float: the layer with the most error for the bytes it saves
    const cost = (s: Site) => measured.get(s)! / Math.max(1, saved(s));
    const worst = accepted.reduce((a, b) => (cost(b) > cost(a) ? b : a));
    layers[sites.indexOf(worst)].reason = "with the other layers quantized the outputs broke the budget";
    accepted = accepted.filter((s) => s !== worst);
    final = [];
  }
  for (const s of accepted) layers[sites.indexOf(s)].quantized = true;
  const out = accepted.length ? applySites(model, accepted) : model;
  let measuredOn: QuantReport["measuredOn"] = "dequantized weights";
  if (accepted.length && !findUnsupported(out)) {
    final = outputErrors(exact, run(out, inputs));
    measuredOn = "quantized graph";
  }
  if (!accepted.length) final = outputErrors(exact, exact);
  return {
    model: out,
    report: {
      precision,
      block,
      accuracyBudget: budget,
      layers,
      bytesBefore: bytesOf(model.graph.initializers.values()),
      bytesAfter: bytesOf(out.graph.initializers.values()),
      outputs: final,
      measuredOn,
      seeds,
      ms: performance.now() - t0,
    },
  };
}
