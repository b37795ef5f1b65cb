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
 *    invariant); a layer whose output error alone breaks the budget stays float — with int4, it
 *    falls back to int8 first, where int8 keeps within the budget.
 * 3. Together: all accepted layers at once; while the error breaks the budget, the layer with the
 *    largest error of its own per byte it saves steps down (int4 → int8 → float).
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
// the contrib ops the rules write (MatMulNBits), for the reference interpreter
import "../rules/contrib_ops.ts";
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
  /** the node that reads it */
  node: string;
  /** that node's op */
  op: string;
  /** the rule that matched */
  rule: string;
  /** bytes of the weight */
  bytesBefore: number;
  /** bytes of what replaces it (what it would have been, when it stays float) */
  bytesAfter: number;
  /** output error with this layer alone quantized: the worst cosine similarity */
  cosine: number;
  /** and the largest relative error */
  maxRelError: number;
  /** quantized (by `rule`), or left in float */
  quantized: boolean;
  /** why it stays float, or why it took a fallback rule (int8 where int4 broke the budget) */
  reason?: string;
}

/** The pass's report. */
export interface QuantReport {
  /** The precision asked for (layers may have stayed int8 or float: see `layers`). */
  precision: "int8" | "int4";
  /** The int4 block size along K. */
  block: number;
  /** The largest 1 − cosine allowed per output. */
  accuracyBudget: number;
  /** Per quantizable layer: what it became, bytes and measured error. */
  layers: QuantLayer[];
  /** bytes of all initializers before quantization */
  bytesBefore: number;
  /** bytes of all initializers after quantization */
  bytesAfter: number;
  /** the final model's error per float output */
  outputs: OutputError[];
  /** whether every output's 1 − cosine in `outputs` is within the budget */
  withinBudget: boolean;
  /** whether `outputs` was measured on the quantized graph or on the float graph with dequantized weights */
  measuredOn: "quantized graph" | "dequantized weights";
  /** The input seeds the error was measured on. */
  seeds: number[];
  /** Wall time of the pass, ms. */
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

/** One way to quantize a site's weight, with its error measured alone. */
interface Choice {
  rule: QuantRule;
  rewrite: QuantRewrite;
  errors: OutputError[];
  /** 1 − worst cosine */
  err: number;
  /** bytes it saves */
  saved: number;
}

interface Site {
  index: number;
  node: Node;
  weight: string;
  /** the rules that match, in preference order (int4, then int8 as the fallback) */
  candidates: { rule: QuantRule; rewrite: QuantRewrite }[];
  /** those whose error alone is within the budget, in the same order */
  choices: Choice[];
  /** the choice in use; `choices.length` means float */
  level: number;
}

function findSites(
  model: Model,
  ruleSets: readonly (readonly QuantRule[])[],
  block: number,
): { sites: Site[]; shared: Site[] } {
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
    let weight: string | undefined;
    const candidates: Site["candidates"] = [];
    for (const rules of ruleSets) {
      for (const rule of rules) {
        const at = rule.match(node, ctx);
        if (at === undefined || (weight !== undefined && node.inputs[at] !== weight)) continue;
        weight = node.inputs[at];
        candidates.push({ rule, rewrite: rule.rewrite(node, ctx) });
        break;
      }
    }
    if (weight === undefined) return;
    const site: Site = { index, node, weight, candidates, choices: [], level: 0 };
    if (readers.get(weight) !== 1 || outputs.has(weight)) shared.push(site);
    else sites.push(site);
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

function applySites(model: Model, sites: readonly { index: number; weight: string; rewrite: QuantRewrite }[]): Model {
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
  // int4 layers that break the budget fall back to int8 before float
  const fallback = bits === 4 ? QUANT_RULES.filter((r) => r.bits === 8) : [];
  const { sites, shared } = findSites(model, [rules, fallback], block);
  const seeds = [...(options.seeds ?? [1, 2])];
  // integer inputs drawn from a wide range (kept below known index bounds): embeddings get exercised
  const inputs = seeds.map((seed) => randomInputs(model, { seed, dims: options.dims, intHigh: 1 << 30 }));
  const exact = run(model, inputs);
  const weightBytes = (s: Site) => tensorBytes(model.graph.initializers.get(s.weight)!);
  const floatOutputs = outputErrors(exact, exact).length > 0;
  const notes = new Map<Site, string>();
  for (const s of sites) {
    if (!floatOutputs) {
      notes.set(s, "no float output to measure the error on");
      continue;
    }
    const over: string[] = [];
    for (const { rule, rewrite } of s.candidates) {
      const errors = outputErrors(exact, run(withWeights(model, new Map([[s.weight, rewrite.dequantized]])), inputs));
      const err = budgetError(errors);
      const saved = weightBytes(s) - bytesOf(rewrite.initializers.values());
      if (err <= budget && saved > 0) s.choices.push({ rule, rewrite, errors, err, saved });
      else over.push(`${rule.name}: ${saved > 0 ? `1 − cosine ${err.toExponential(2)}` : "saves nothing"}`);
    }
    if (over.length) notes.set(s, `alone over the budget ${budget} (${over.join("; ")})`);
  }
  // together: while the budget breaks, the layer with the most error per byte saved steps down
  // (int4 → int8 → float)
  const live = () => sites.filter((s) => s.level < s.choices.length);
  let final: OutputError[] = [];
  while (live().length) {
    const fake = new Map(live().map((s) => [s.weight, s.choices[s.level].rewrite.dequantized]));
    final = outputErrors(exact, run(withWeights(model, fake), inputs));
    if (budgetError(final) <= budget) break;
    const cost = (s: Site) => s.choices[s.level].err / s.choices[s.level].saved;
    const worst = live().reduce((a, b) => (cost(b) > cost(a) ? b : a));
    notes.set(worst, `${worst.choices[worst.level].rule.name} broke the budget with the other layers quantized`);
    worst.level++;
    final = [];
  }
  const layer = (s: Site): QuantLayer => {
    const c = s.choices[s.level];
    const errors = c?.errors ?? s.choices[0]?.errors ?? [];
    const note = notes.get(s);
    return {
      weight: s.weight,
      node: s.node.name,
      op: s.node.opType,
      rule: (c ?? s.candidates[0]).rule.name,
      bytesBefore: weightBytes(s),
      bytesAfter: bytesOf((c ?? s.candidates[0]).rewrite.initializers.values()),
      cosine: errors.length ? Math.min(1, ...errors.map((x) => x.cosine)) : NaN,
      maxRelError: errors.length ? Math.max(0, ...errors.map((x) => x.maxRelError)) : NaN,
      quantized: c !== undefined,
      ...(note ? { reason: note } : {}),
    };
  };
  const layers = sites.map(layer);
  for (const s of shared) layers.push({ ...layer(s), reason: "weight shared with another node or an output" });
  const accepted = sites.filter((s) => s.level < s.choices.length);
  const out = accepted.length
    ? applySites(
      model,
      accepted.map((s) => ({ index: s.index, weight: s.weight, rewrite: s.choices[s.level].rewrite })),
    )
    : model;
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
      withinBudget: budgetError(final) <= budget,
      measuredOn,
      seeds,
      ms: performance.now() - t0,
    },
  };
}
