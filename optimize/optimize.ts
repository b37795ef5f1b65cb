/**
 * `optimize`: a model through equality saturation and extraction.
 *
 * graph → e-graph → rules to saturation (or a limit) → extraction (greedy or ILP) → graph.
 * Input and output names, dtypes, metadata and opsets are kept; domains the rewritten graph
 * needs (`com.microsoft`) are added to the opset imports. Calls of model-local functions are
 * expanded into their bodies first (`ir/expand_functions.ts`); inputs with defaults stay inputs.
 * @module
 */
import type { Graph, Model, Node } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import { validateGraph } from "../ir/validate.ts";
import { expandFunctions } from "../ir/expand_functions.ts";
import { graphToEGraph } from "../egraph/from_graph.ts";
import { type RunnerOptions, type RunReport, runRules } from "../egraph/runner.ts";
import { dagCost, extractGreedy } from "../egraph/extract_greedy.ts";
import { extractionToGraph } from "../egraph/to_graph.ts";
import { extractIlp } from "../egraph/extract_ilp.ts";
import type { Library, MatchEnv } from "../egraph/pattern.ts";
import type { Rule } from "../rules/rule.ts";
import type { CostModel } from "../cost/cost_model.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ValueType } from "../ir/types.ts";
import { type BodyStats, graphsOf, modelNames, optimizeBodies } from "./subgraphs.ts";

/** Chooses one e-node per class (greedy or ILP). */
export type Extractor = (eg: EGraph, model: CostModel, roots: ClassId[]) => ExtractResult | Promise<ExtractResult>;

/** An extractor's answer. */
export interface ExtractResult {
  choice: Map<ClassId, ENode>;
  cost: number;
  method?: string;
  reason?: string;
}

/** The saturation limits `saturn optimize` uses unless told otherwise. */
export const DEFAULT_LIMITS = { iterLimit: 30, nodeLimit: 200_000, timeLimitMs: 10_000 } as const;

/** What `optimizeModel` needs besides the model. */
export interface OptimizeOptions extends RunnerOptions {
  rules: readonly Rule[];
  library: Library;
  defaults: MatchEnv["defaults"];
  cost: CostModel;
  /** Default: the ILP (shared sub-graphs counted once) under the time limit, greedy as its fallback. */
  extract?: Extractor;
}

/** What `optimizeModel` did. */
export interface OptimizeReport {
  /** Nodes of the input graph by op (`domain.Op` outside the ONNX domain), most frequent first. */
  nodesBefore: Record<string, number>;
  /** Nodes of the optimized graph by op, as `nodesBefore`. */
  nodesAfter: Record<string, number>;
  /** The input graph's cost under the extraction's cost model (shared values counted once). */
  costBefore: number;
  /** The chosen graph's cost under the same model; never above `costBefore` when extraction is exact. */
  costAfter: number;
  /** What saturation did: stop reason, per-iteration and per-rule figures. */
  run: RunReport;
  /** E-classes in the saturated e-graph. */
  eclasses: number;
  /** E-nodes in the saturated e-graph. */
  enodes: number;
  /** The extraction that chose the graph (`"ilp"`, `"greedy"`, or the ILP's fallback). */
  extraction: string;
  /** Why the extraction fell back, when it did. */
  extractionNote?: string;
  /** If/Loop/Scan bodies (at any depth): how many, how many were optimized, their nodes before and after. */
  subgraphs?: BodyStats;
  /** Wall-clock times in ms: e-graph build, saturation, extraction (with graph rebuild and bodies), total. */
  ms: { build: number; saturate: number; extract: number; total: number };
}

function histogram(nodes: readonly Node[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of nodes) {
    const k = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    h[k] = (h[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(h).sort((a, b) => b[1] - a[1]));
}

/**
 * Initializers that are also graph inputs: from IR 4 on, defaults a caller may override (as ONNX
 * Runtime reads them), so they are optimized as inputs — never folded through — and written back
 * as the inputs' defaults. Before IR 4 every initializer had to be listed as an input, and they
 * are weights (ONNX Runtime folds them too).
 */
function inputDefaults(model: Model): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  if (model.irVersion < 4) return out;
  for (const i of model.graph.inputs) {
    const t = model.graph.initializers.get(i.name);
    if (t) out.set(i.name, t);
  }
  return out;
}

function withoutInitializers(g: Graph, names: ReadonlyMap<string, unknown>): Graph {
  if (!names.size) return g;
  return { ...g, initializers: new Map([...g.initializers].filter(([n]) => !names.has(n))) };
}

/** One graph through the e-graph, and what the model-level report needs of it. */
interface GraphPass {
  graph: Graph;
  /** The type of each of the input graph's names (its inputs, initializers and values), where known. */
  types: Map<string, ValueType>;
  costBefore: number;
  costAfter: number;
  run: RunReport;
  eclasses: number;
  enodes: number;
  ex: ExtractResult;
  ms: { build: number; saturate: number; extract: number };
}

/**
 * `source` → e-graph → rules → extraction → graph. Names in `avoid` (used elsewhere in the model)
 * are never minted; the source's own names are kept where their classes survive.
 */
async function optimizeGraph(
  source: Graph,
  opsets: Model["opsetImports"],
  opts: OptimizeOptions,
  avoid?: ReadonlySet<string>,
): Promise<GraphPass> {
  const t0 = performance.now();
  const { eg, classOf, roots } = graphToEGraph(source, opsets);
  const env: MatchEnv = { eg, defaults: opts.defaults };
  // the original graph's own choice: the node that produced each value
  const original = extractGreedy(eg, opts.cost, roots);
  const t1 = performance.now();
  const run = runRules(env, opts.library, opts.rules, opts);
  const t2 = performance.now();
  const canonRoots = roots.map((r) => eg.find(r));
  const extract: Extractor = opts.extract ??
    ((g, m, r) => extractIlp(g, m, r, { timeLimitMs: Math.max(1000, opts.timeLimitMs ?? 10_000) }));
  const ex: ExtractResult = await extract(eg, opts.cost, canonRoots);
  const costAfter = dagCost(eg, opts.cost, ex.choice, canonRoots);
  const graph = extractionToGraph(eg, ex.choice, canonRoots, { original: source, classOf, avoid });
  const types = new Map<string, ValueType>();
  for (const [name, c] of classOf) {
    const t = eg.typeOf(c);
    if (t) types.set(name, t);
  }
  const t3 = performance.now();
  return {
    graph,
    types,
    costBefore: original.cost,
    costAfter,
    run,
    eclasses: eg.classCount,
    enodes: eg.nodeCount,
    ex,
    ms: { build: t1 - t0, saturate: t2 - t1, extract: t3 - t2 },
  };
}

/**
 * Optimize a model; returns the new model and a report. The input model is not modified. An
 * input with a default (IR ≥ 4) stays an input, its default beside it. The bodies of If, Loop
 * and Scan nodes are optimized after the graph that holds them (`optimize/subgraphs.ts`), within
 * one more `timeLimitMs` of saturation for all of them.
 */
export async function optimizeModel(
  model: Model,
  opts: OptimizeOptions,
): Promise<{ model: Model; report: OptimizeReport }> {
  const t0 = performance.now();
  // local functions become plain nodes first, so that rules see inside them
  const plain = expandFunctions(model);
  const defaults = inputDefaults(plain);
  const source = withoutInitializers(plain.graph, defaults);
  const avoid = modelNames(plain.graph);
  const main = await optimizeGraph(source, plain.opsetImports, opts, avoid);
  // the defaults go back beside their inputs (the extraction never names a constant after an input)
  const extracted = defaults.size
    ? { ...main.graph, initializers: new Map([...defaults, ...main.graph.initializers]) }
    : main.graph;
  const deadline = performance.now() + (opts.timeLimitMs ?? DEFAULT_LIMITS.timeLimitMs);
  const bodies = await optimizeBodies(extracted, main.types, avoid, async (body) => {
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    const pass = await optimizeGraph(
      body,
      plain.opsetImports,
      { ...opts, timeLimitMs: left, onIteration: undefined },
      avoid,
    );
    return { graph: pass.graph, types: pass.types };
  });
  const graph = bodies.graph;
  validateGraph(graph);
  const t3 = performance.now();
  const domains = new Set<string>();
  for (const g of graphsOf(graph)) for (const n of g.nodes) if (n.domain !== "") domains.add(n.domain);
  const opsetImports = [...plain.opsetImports];
  for (const d of domains) if (!opsetImports.some((o) => o.domain === d)) opsetImports.push({ domain: d, version: 1 });
  const out: Model = { ...plain, opsetImports, graph };
  return {
    model: out,
    report: {
      nodesBefore: histogram(model.graph.nodes),
      nodesAfter: histogram(graph.nodes),
      costBefore: main.costBefore,
      costAfter: main.costAfter,
      run: main.run,
      eclasses: main.eclasses,
      enodes: main.enodes,
      extraction: main.ex.method ?? "greedy",
      extractionNote: main.ex.reason,
      subgraphs: bodies.stats.bodies ? bodies.stats : undefined,
      ms: {
        build: main.ms.build,
        saturate: main.ms.saturate,
        extract: t3 - t0 - main.ms.build - main.ms.saturate,
        total: t3 - t0,
      },
    },
  };
}
