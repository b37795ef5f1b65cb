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
import { AnalyticalCost } from "../cost/analytical.ts";
import type { Rule } from "../rules/rule.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { type GateReport, gateRules } from "../verify/gate.ts";
import { SaturnError } from "../errors.ts";
import { withoutDuplicateContractions } from "./no_duplicates.ts";
import { DEFAULT_LIMITS, type Extractor, optimizeModel, type OptimizeReport } from "./optimize.ts";
import { type QuantOptions, type QuantReport, quantizeModel } from "./quantize.ts";

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
} = { ...DEFAULT_LIMITS, extract: "ilp", trustRules: false, shippedPacks: true };

/** Progress of a long `optimize`: rules being verified, then saturation iterations. */
export type OptimizeProgress =
  | { phase: "verify"; done: number; total: number; rule: string }
  | { phase: "saturate"; iteration: IterationStats };

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
  /** The cost the extraction minimizes (the analytical roofline). */
  cost?: CostModel;
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
  const d = OPTIMIZE_DEFAULTS;
  const iterLimit = positive("iterLimit", options.iterLimit ?? d.iterLimit, true);
  const nodeLimit = positive("nodeLimit", options.nodeLimit ?? d.nodeLimit, true);
  const timeLimitMs = positive("timeLimitMs", options.timeLimitMs ?? d.timeLimitMs);
  const method = options.extract ?? d.extract;
  if (method !== "ilp" && method !== "greedy") {
    throw new SaturnError("BAD_ARGUMENT", `optimize: extract '${method}' is not 'ilp' or 'greedy'`);
  }
  const loaded = await loadRulePacks({
    without: options.without ?? [],
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
  const cost = options.cost ?? new AnalyticalCost();
  // never a contraction computed twice from one input and weights, whatever the cost says
  const extract: Extractor = withoutDuplicateContractions(
    method === "ilp" ? (eg, m, roots) => extractIlp(eg, m, roots, { timeLimitMs }) : extractGreedy,
  );
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
  if (!options.quant) return { model: out, report, verification, costName: cost.name };
  const q = quantizeModel(out, options.quant);
  return { model: q.model, report, verification, costName: cost.name, quant: q.report };
}
