/**
 * `optimize`: the library's one entry to Saturn's optimizer, with the CLI's promises kept.
 *
 * Rules are loaded (shipped packs less `without`, plus `ruleFiles` and `rules`), passed through
 * the verification gate (`gateRules`: a refuted rule is never applied; an undecided one only with
 * `trustRules`), then applied by equality saturation and extracted (`optimizeModel`). The CLI's
 * `saturn optimize` calls this function with `OPTIMIZE_DEFAULTS` unless told otherwise, so the
 * command and the library cannot drift apart.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import type { Library, MatchEnv } from "../egraph/pattern.ts";
import type { IterationStats } from "../egraph/runner.ts";
import { extractGreedy } from "../egraph/extract_greedy.ts";
import { extractIlp } from "../egraph/extract_ilp.ts";
import type { CostModel } from "../cost/cost_model.ts";
import type { Rule } from "../rules/rule.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { type GateReport, gateRules } from "../verify/gate.ts";
import { SaturnError } from "../errors.ts";
import { withoutDuplicateContractions } from "./no_duplicates.ts";
import type { Value } from "../ir/values.ts";
import { type CostTarget, packsFor, parseTarget } from "../rules/targets.ts";
import { guardModel, type GuardReport, type ModelMeasurer, type Recovery } from "./guard.ts";
import { costModelNamed, type CostName, measureContext, measuringFirst, targetMeasurer } from "./target_cost.ts";
import { DEFAULT_LIMITS, type Extractor, optimizeModel, type OptimizeReport } from "./optimize.ts";
import { quantizeModel, type QuantOptions, type QuantReport } from "./quantize.ts";

/** How candidates are chosen from the saturated e-graph. */
export type ExtractionMethod = "ilp" | "greedy";

/** The defaults of `optimize` — and of `saturn optimize`, which reads them from here. */
export const OPTIMIZE_DEFAULTS: {
  readonly iterLimit: number;
  readonly nodeLimit: number;
  readonly timeLimitMs: number;
  readonly extract: ExtractionMethod;
  readonly trustRules: boolean;
  readonly shippedPacks: boolean;
  readonly target: CostTarget;
  readonly cost: CostName;
  readonly guardBudgetMs: number;
  readonly benchBudgetMs: number;
  readonly measureBudgetMs: number;
} = {
  ...DEFAULT_LIMITS,
  extract: "ilp",
  trustRules: false,
  shippedPacks: true,
  target: "ort",
  cost: "learned",
  guardBudgetMs: 1500,
  benchBudgetMs: 5000,
  measureBudgetMs: 60_000,
};

/** What the guard's clean-up fallback leaves out: every fusion and layout pack (the neutral clean-ups stay). */
export const CLEANUP_WITHOUT: readonly string[] = ["core/fusion", "layout", "ort", "webgpu"];

/** Progress of a long `optimize`: rules being verified, then saturation iterations. */
export type OptimizeProgress =
  | { phase: "verify"; done: number; total: number; rule: string }
  | { phase: "saturate"; iteration: IterationStats }
  | { phase: "measure"; done: number; total: number }
  | { phase: "guard" };

/** Options of `optimize`; every one has a default (`OPTIMIZE_DEFAULTS`, the shipped packs, the analytical cost). */
export interface OptimizeOptions {
  /** Shipped packs (`core`, `layout`), pack files (`core/fusion`) or shipped rule names to leave out. */
  without?: readonly string[];
  /** Use the shipped packs at all (true). */
  shippedPacks?: boolean;
  /** User rule files (`.rules`) and TypeScript plugins to add; verified like `rules`. */
  ruleFiles?: readonly string[];
  /** Rules given as values (e.g. from `parseRules` or `defineRules`) to add; verified before use. */
  rules?: readonly Rule[];
  /**
   * Apply rules whose verification was inconclusive, and user rules without verifying them (false).
   * A refuted rule is never applied, whatever this says.
   */
  trustRules?: boolean;
  /** Saturation iterations at most (30). */
  iterLimit?: number;
  /** E-nodes at most (200,000). */
  nodeLimit?: number;
  /**
   * Wall-clock limit in ms (10,000) of each phase: verifying rules no cache knows (those not reached
   * are not applied this time; their verdicts are cached as they come), saturation, and the ILP extraction.
   */
  timeLimitMs?: number;
  /** Extraction: the ILP, shared sub-graphs counted once, with greedy as its fallback (`"ilp"`), or greedy. */
  extract?: ExtractionMethod;
  /**
   * The runtime the output is for (`"ort"`): `ort` leaves out Saturn's codegen fusions, `webgpu`
   * ONNX Runtime's contrib fusions (`rules/targets.ts`), and costs are those of that runtime.
   */
  target?: CostTarget;
  /**
   * The cost the extraction minimizes: a model, or a name (`optimize/target_cost.ts`): `"learned"`
   * (default: measured on this machine where cached, the target's learned model elsewhere, the
   * analytical roofline last), `"measured"` (measured where cached, else the roofline) or `"analytic"`.
   */
  cost?: CostModel | CostName;
  /**
   * Measure every candidate node of the saturated e-graph on the target first (cached per machine),
   * so the extraction prices by measurements (off); an object sets the budget (60 s per graph).
   */
  measure?: boolean | { budgetMs?: number };
  /**
   * The measured guard (`optimize/guard.ts`): time input and output on the target and never return a
   * slower output (default: on for target `ort`, about 2 s — with ONNX Runtime's default thread count,
   * half at 1 thread and half at the default, the worse of the two judged; off for `webgpu`).
   */
  guard?: boolean;
  /** Time input and output on the target with a larger budget (5 s) and report it in `guard` (off). */
  bench?: boolean;
  /** ONNX Runtime's intra-op threads for measurements and the guard (0: its default). */
  threads?: number;
  /** Sizes of symbolic dims by name, for node signatures and the guard's inputs (unlisted: 1 for inputs). */
  dims?: Record<string, number>;
  /** Values of inputs for the guard's runs (others are drawn, seeded). */
  guardInputs?: ReadonlyMap<string, Value>;
  /** Where measured costs are cached (`costs.json` in the user's cache folder). */
  costCacheFile?: string;
  /** Times two models on the target (default: `targetMeasurer`); for tests and other runtimes. */
  measurer?: ModelMeasurer;
  /** Builders, attribute functions and guards the rules may name (the shipped library). */
  library?: Library;
  /** Attribute defaults for matching unset attributes (ONNX's, opset-aware). */
  attrDefaults?: MatchEnv["defaults"];
  /** Where user-rule verdicts are cached (`$SATURN_CACHE_DIR/verdicts.json` or `~/.cache/saturn`). */
  cacheFile?: string;
  /** Called as rules are verified and as saturation proceeds. */
  onProgress?: (p: OptimizeProgress) => void;
  /**
   * Quantize weights after the rules (`optimize/quantize.ts`): int8 or int4, kept per layer only
   * within the accuracy budget measured on seeded inputs. None by default.
   */
  quant?: QuantOptions;
}

/** What `optimize` returns: the new model, what the optimizer did, and what the verification gate decided. */
export interface OptimizeResult {
  /** The optimized model (the input is not modified). */
  model: Model;
  /** Node counts, costs, rules fired, e-graph size, stop reason, times. */
  report: OptimizeReport;
  /** Which rules were applied and which refused, and why. */
  verification: GateReport;
  /** The name of the cost model that priced the extraction. */
  costName: string;
  /** The measured guard's report (input and output latency on the target, what it did), when it ran. */
  guard?: GuardReport;
  /** What quantization did per layer, with the measured errors (only with `quant`). */
  quant?: QuantReport;
}

function positive(name: string, v: number, integer = false): number {
  if (!(v > 0) || (integer && !Number.isInteger(v))) {
    throw new SaturnError("BAD_ARGUMENT", `optimize: ${name} ${v} is not a positive ${integer ? "integer" : "number"}`);
  }
  return v;
}

/**
 * Optimize `model` with verified rules: a refuted rule is never applied, an unverified one only
 * with `trustRules`. Defaults are `OPTIMIZE_DEFAULTS`, the same as `saturn optimize`'s.
 *
 * @param model a loaded model (`loadOnnx`)
 * @param options rules to add or leave out, limits, extraction, cost, progress
 * @returns the optimized model, the optimizer's report and the verification gate's decisions
 * @example
 * ```ts
 * import { loadOnnx, optimize, parseRules } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * // a wrong rule: Div is not commutative; the gate refutes it and it is never applied
 * const rules = parseRules("div-swap: (Div ?a ?b) => (Div ?b ?a)", "mine.rules", "user");
 * const { model: out, verification } = await optimize(model, { rules, cacheFile: await Deno.makeTempFile() });
 * if (verification.skipped[0]?.rule.name !== "div-swap") throw new Error("div-swap was not refused");
 * if (out.graph.nodes.length >= model.graph.nodes.length) throw new Error("nothing optimized");
 * ```
 */
export async function optimize(model: Model, options: OptimizeOptions = {}): Promise<OptimizeResult> {
  if (options.quant) {
    // quantization is asked for size: after the float graph is chosen (and guarded), never undone by
    // a latency guard, so the model returned is the one its report describes
    const float = await optimize(model, { ...options, quant: undefined });
    const q = quantizeModel(float.model, options.quant);
    return { ...float, model: q.model, quant: q.report };
  }
  const d = OPTIMIZE_DEFAULTS;
  const target = parseTarget(options.target ?? d.target);
  const guardOn = options.guard ?? target === "ort";
  const { onProgress } = options;
  const ctx = await measureContext(target, {
    threads: options.threads,
    dims: options.dims,
    cacheFile: options.costCacheFile,
  });
  const measureBudget = typeof options.measure === "object" ? options.measure.budgetMs : undefined;
  const measuring = (e: Extractor) =>
    measuringFirst(e, ctx, {
      budgetMs: measureBudget ?? d.measureBudgetMs,
      onProgress: onProgress && ((done, total) => onProgress({ phase: "measure", done, total })),
    });
  const cost = typeof options.cost === "object" ? options.cost : costModelNamed(options.cost ?? d.cost, ctx);
  const first = await optimizeOnce(model, options, target, cost, options.measure ? measuring : (e) => e);
  if (!guardOn && !options.bench) return first;
  onProgress?.({ phase: "guard" });
  const measurer = options.measurer ??
    targetMeasurer(ctx, model, {
      inputs: options.guardInputs,
      budgetMs: options.bench ? d.benchBudgetMs : d.guardBudgetMs,
      bothThreadCounts: !options.bench,
    });
  const made = new Map<Model, OptimizeResult>();
  const keep = (r: OptimizeResult) => (made.set(r.model, r), r.model);
  const recoveries: Recovery[] = guardOn
    ? [
      ...(options.measure && options.cost === "measured" ? [] : [{
        action: "re-extracted" as const,
        make: async () => keep(await optimizeOnce(model, options, target, costModelNamed("measured", ctx), measuring)),
      }]),
      {
        action: "clean-up",
        make: async () =>
          keep(
            await optimizeOnce(
              model,
              { ...options, without: [...(options.without ?? []), ...CLEANUP_WITHOUT], ruleFiles: [], rules: [] },
              target,
              costModelNamed("analytic", ctx),
              (e) => e,
            ),
          ),
      },
      { action: "input", make: () => Promise.resolve(model) },
    ]
    : [];
  const g = await guardModel(model, first.model, measurer, recoveries);
  if (g.model === first.model) return { ...first, guard: g.report };
  if (g.model === model) {
    const report = { ...first.report, nodesAfter: first.report.nodesBefore, costAfter: first.report.costBefore };
    return { ...first, model, report, guard: g.report };
  }
  return { ...made.get(g.model)!, guard: g.report };
}

/** One optimization: rules, gate, saturation, extraction by `cost` (the extractor wrapped by `wrap`). */
async function optimizeOnce(
  model: Model,
  options: OptimizeOptions,
  target: CostTarget,
  cost: CostModel,
  wrap: (e: Extractor) => Extractor,
): Promise<OptimizeResult> {
  const d = OPTIMIZE_DEFAULTS;
  const iterLimit = positive("iterLimit", options.iterLimit ?? d.iterLimit, true);
  const nodeLimit = positive("nodeLimit", options.nodeLimit ?? d.nodeLimit, true);
  const timeLimitMs = positive("timeLimitMs", options.timeLimitMs ?? d.timeLimitMs);
  const method = options.extract ?? d.extract;
  if (method !== "ilp" && method !== "greedy") {
    throw new SaturnError("BAD_ARGUMENT", `optimize: extract '${method}' is not 'ilp' or 'greedy'`);
  }
  const loaded = await loadRulePacks({
    without: [...(options.without ?? []), ...packsFor(target).without],
    files: options.ruleFiles ?? [],
    noShipped: !(options.shippedPacks ?? d.shippedPacks),
  });
  const seen = new Set(loaded.map((r) => r.name));
  for (const r of options.rules ?? []) {
    if (seen.has(r.name)) {
      throw new SaturnError("RULE_ERROR", `${r.file ?? r.pack}:${r.line ?? 1}: rule ${r.name} is already defined`);
    }
    seen.add(r.name);
    loaded.push(r);
  }
  const { onProgress } = options;
  const verification = await gateRules(loaded, {
    trustRules: options.trustRules ?? d.trustRules,
    cacheFile: options.cacheFile,
    // verification of rules no cache knows gets the same budget as saturation
    timeLimitMs,
    onProgress: onProgress && ((done, total, rule) => onProgress({ phase: "verify", done, total, rule })),
  });
  // never a contraction computed twice from one input and weights, whatever the cost says
  const extract: Extractor = wrap(withoutDuplicateContractions(
    method === "ilp" ? (eg, m, roots) => extractIlp(eg, m, roots, { timeLimitMs }) : extractGreedy,
  ));
  const { model: out, report } = await optimizeModel(model, {
    rules: verification.applied,
    library: options.library ?? ruleLibrary,
    defaults: options.attrDefaults ?? attrDefaults,
    cost,
    iterLimit,
    nodeLimit,
    timeLimitMs,
    extract,
    onIteration: onProgress && ((iteration) => onProgress({ phase: "saturate", iteration })),
  });
  return { model: out, report, verification, costName: cost.name };
}
