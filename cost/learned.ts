/**
 * The learned cost model: a node's latency on a target predicted from its signature's features
 * (`features.ts`) by boosted trees (`gbt.ts`) fit on log2 of measured microseconds.
 *
 * Two kinds of model (`CostModelFile.baseline`):
 * - residual (`baseline: "analytical"`, what `trainCostModel` fits by default): the trees learn
 *   r = log2(measured µs) − `log_analytical_us`, the roofline's log2 µs as `features()` computes it
 *   (the one definition of the baseline: the model's offset column, `GbtModel.offset`), and
 *   `predictUs` = 2^(r̂ + log_analytical_us). Past the sizes it was trained on, r̂ stays at its last
 *   leaf, so the prediction keeps growing with the roofline's work instead of levelling off;
 * - absolute (no `baseline`; models trained before residuals, such as `webgpu-h100.json`): the
 *   trees learn log2 µs itself; they load and predict exactly as before.
 * A file's `baseline` and its trees' offset column always agree (`costModelFromJson` checks).
 *
 * `LearnedCost` prices an e-node by, in order:
 * 1. its measurement, where one is cached for this target and machine (`measured`);
 * 2. the learned model's prediction, where a model is given and the node has a signature;
 * 3. the prior (the analytical roofline), where neither applies — the cold start.
 *
 * A saved model (`CostModelFile`) states its target, the feature columns it was fit on and its
 * provenance (data, date, machine, commit, held-out metrics). Shipped defaults live in
 * `cost/models/<target>-<machine kind>.json`; `saturn calibrate` writes the user's own to the
 * cache folder (`userModelPath`), which `defaultCostModel` prefers.
 *
 * Invariants (those of `CostModel`): leaves cost 0; every other node costs more than 0 and is
 * finite; the same node in the same e-graph always costs the same (memoized by signature).
 * @module
 */
import * as path from "node:path";
import type { CostModel } from "./cost_model.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import { AnalyticalCost } from "./analytical.ts";
import { FEATURE_NAMES, features, featureSchema } from "./features.ts";
import { fitGbt, gbtFromJson, type GbtModel, type GbtParams, predictGbt } from "./gbt.ts";
import { type NodeSignature, plainTwin, signatureKey, signatureOf } from "./signature.ts";
import { HELD_OUT_MODELS, heldOutGroup, type Metrics, metrics, type Sample, splitSamples } from "./training.ts";
import { saturnCacheDir } from "../verify/cache.ts";

/** Where a model came from and how good it is. */
export interface Provenance {
  /** When it was trained (ISO 8601). */
  date: string;
  /** The machine it was measured on, in words (CPU model and cores, or the adapter). */
  machine: string;
  /** The measurement fingerprint (`cost/fingerprint.ts`), when known. */
  fingerprint?: string;
  /** The git commit of Saturn that trained it, when known. */
  commit?: string;
  /** What it was trained and judged on. */
  data: {
    /** Training samples (distinct signatures). */
    train: number;
    /** Held-out samples. */
    test: number;
    /** Real models whose candidates were measured. */
    models: string[];
    /** How the held-out side was chosen, in words. */
    split: string;
  };
  /** Quality on the training and the held-out side. */
  metrics: { train: Metrics; heldOut: Metrics };
  /** Boosting parameters used. */
  params: GbtParams;
}

/** A saved learned cost model. */
export interface CostModelFile {
  format: "saturn-cost-model";
  version: 1;
  /** The target it prices (`"ort"`, `"webgpu"`). */
  target: string;
  /** `featureSchema()` of the code that fit it. */
  featureSchema: string;
  /**
   * What the trees are relative to: `"analytical"` — they predict log2 µs less `log_analytical_us`
   * (the trees' offset column is that feature); absent — they predict log2 µs itself.
   */
  baseline?: "analytical";
  provenance: Provenance;
  /** The trees, over log2 µs (with the baseline column as their offset, where there is one). */
  gbt: GbtModel;
}

/** The feature column a residual model's trees are relative to: the roofline's log2 µs. */
export const BASELINE_COLUMN: number = FEATURE_NAMES.indexOf("log_analytical_us");

/** What a model's trees predict: log2 µs less the roofline's (`"analytical"`), or log2 µs itself. */
export type CostBaseline = "analytical" | "absolute";

/** Latencies are floored at this many µs before their log is taken (measurers report ≥ 0.05). */
export const MIN_US = 0.01;

/** The boosting parameters `trainCostModel` uses unless told otherwise. */
export const TRAIN_DEFAULTS: Required<GbtParams> = {
  trees: 300,
  depth: 6,
  learningRate: 0.08,
  minLeaf: 10,
  subsample: 0.8,
  lambda: 1,
  seed: 1,
};

/**
 * Fit boosted trees to samples (log2 of their measured µs).
 * @param samples training samples
 * @param params boosting parameters (`TRAIN_DEFAULTS`)
 * @param baseline `"analytical"` (default): the trees fit the residual over `log_analytical_us`;
 *   `"absolute"`: log2 µs itself (see the module doc)
 * @returns the trees
 */
export function fitCostTrees(
  samples: readonly Sample[],
  params: GbtParams = {},
  baseline: CostBaseline = "analytical",
): GbtModel {
  const p = { ...TRAIN_DEFAULTS, ...params };
  const y = samples.map((s) => Math.log2(Math.max(s.us, MIN_US)));
  return fitGbt(samples.map((s) => features(s.sig)), y, p, baseline === "analytical" ? BASELINE_COLUMN : undefined);
}

/** What `trainCostModel` records besides the data. */
export interface TrainInfo {
  /** The target the samples were measured on. */
  target: string;
  /** The machine, in words. */
  machine: string;
  fingerprint?: string;
  commit?: string;
  /** Boosting parameters (`TRAIN_DEFAULTS`). */
  params?: GbtParams;
  /** Which groups are held out (`heldOutGroup`). */
  heldOut?: (group: string) => boolean;
  /** What the trees predict (`"analytical"`: the residual over the roofline; see the module doc). */
  baseline?: CostBaseline;
}

/** How `heldOutGroup` splits, in words (recorded in a model's provenance). */
export const SPLIT_DESCRIPTION: string = `held out: whole models (${HELD_OUT_MODELS.join(", ")}) and the synthetic ` +
  "shape family whose dims are 3·2^k and 5·2^k (training draws only powers of two); " +
  "a held-out signature also seen in training is dropped";

/**
 * Split samples (held-out groups apart), fit on the training side, judge on both.
 * @param samples measured samples
 * @param info target, machine, parameters, split
 * @returns the saved-model value, with its provenance and metrics
 * @throws {RangeError} with fewer than 10 training samples
 */
export function trainCostModel(samples: readonly Sample[], info: TrainInfo): CostModelFile {
  const { train, test } = splitSamples(samples, info.heldOut ?? heldOutGroup);
  if (train.length < 10) throw new RangeError(`${train.length} training samples: too few to learn from`);
  const params = { ...TRAIN_DEFAULTS, ...info.params };
  const baseline = info.baseline ?? "analytical";
  const gbt = fitCostTrees(train, params, baseline);
  const judge = (xs: Sample[]) => metrics(xs.map((x) => predictUs(gbt, x.sig)), xs);
  const models = [...new Set(samples.filter((x) => x.group.startsWith("model:")).map((x) => x.group.slice(6)))];
  return {
    format: "saturn-cost-model",
    version: 1,
    target: info.target,
    featureSchema: featureSchema(),
    ...(baseline === "analytical" ? { baseline } : {}),
    provenance: {
      date: new Date().toISOString(),
      machine: info.machine,
      fingerprint: info.fingerprint,
      commit: info.commit,
      data: { train: train.length, test: test.length, models: models.sort(), split: SPLIT_DESCRIPTION },
      metrics: { train: judge(train), heldOut: judge(test) },
      params,
    },
    gbt,
  };
}

/**
 * Save a model atomically (temp file + rename): an interrupted save leaves the previous model.
 * @param file where
 * @param m the model
 */
export function saveCostModel(file: string, m: CostModelFile): void {
  Deno.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${Deno.pid}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, JSON.stringify(m) + "\n");
    Deno.renameSync(tmp, file);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never written */ }
    throw e;
  }
}

/**
 * A model's prediction for a signature, in µs (> 0): 2^(trees + `log_analytical_us`) for a
 * residual model (the trees' offset column), 2^trees for an absolute one.
 * @param m the model
 * @param sig the signature
 * @returns predicted latency
 */
export function predictUs(m: GbtModel, sig: NodeSignature): number {
  return 2 ** predictGbt(m, features(sig));
}

/**
 * Read a saved model, checked: a file of another format, version, or feature schema is refused.
 * @param v parsed JSON
 * @param target the target it must price (any when absent)
 * @returns the model
 * @throws {RangeError} when it is not a usable model
 */
export function costModelFromJson(v: unknown, target?: string): CostModelFile {
  const m = v as CostModelFile;
  if (!m || typeof m !== "object" || m.format !== "saturn-cost-model" || m.version !== 1) {
    throw new RangeError("not a Saturn cost model");
  }
  if (target !== undefined && m.target !== target) {
    throw new RangeError(`a cost model for '${m.target}', not '${target}'`);
  }
  if (m.featureSchema !== featureSchema()) throw new RangeError("a cost model fit on other features (retrain it)");
  gbtFromJson(m.gbt);
  if (m.baseline !== undefined && m.baseline !== "analytical") {
    throw new RangeError(`a cost model over an unknown baseline '${m.baseline}'`);
  }
  if (m.gbt.offset !== (m.baseline === "analytical" ? BASELINE_COLUMN : undefined)) {
    throw new RangeError("a cost model whose trees disagree with its baseline");
  }
  return m;
}

/** Shipped default models by target: the file under `cost/models/`. */
export const SHIPPED_MODELS: Record<string, string> = {
  ort: "ort-cpu.json",
  webgpu: "webgpu-llvmpipe.json",
};

/**
 * Shipped models trained on particular machines, by target: one whose provenance fingerprint is
 * the current machine's is preferred over the target's default (the H100's for that adapter).
 */
export const SHIPPED_MACHINE_MODELS: Record<string, readonly string[]> = {
  webgpu: ["webgpu-h100.json"],
};

/**
 * Where `saturn calibrate` saves the user's model for a target.
 * @param target the target
 * @returns `<cache dir>/cost-model-<target>.json`
 */
export function userModelPath(target: string): string {
  return path.join(saturnCacheDir(), `cost-model-${target}.json`);
}

function readModel(url: URL | string, target: string): CostModelFile | undefined {
  try {
    return costModelFromJson(JSON.parse(Deno.readTextFileSync(url)), target);
  } catch {
    return undefined;
  }
}

/**
 * The model a target is priced by: the user's calibrated one when it is there and usable, else
 * the shipped default, else none (the analytical prior alone).
 * @param target the target
 * @param fingerprint the current machine's measurement fingerprint, to pick a shipped model
 *   trained on this kind of machine (`SHIPPED_MACHINE_MODELS`)
 * @returns the model and where it came from, or undefined
 */
export function defaultCostModel(
  target: string,
  fingerprint?: string,
): { model: CostModelFile; source: string } | undefined {
  const user = userModelPath(target);
  const mine = readModel(user, target);
  if (mine) return { model: mine, source: user };
  const shippedModel = (file: string) => {
    const url = new URL(`./models/${file}`, import.meta.url);
    return url.protocol === "file:" ? readModel(url, target) : undefined;
  };
  if (fingerprint) {
    for (const file of SHIPPED_MACHINE_MODELS[target] ?? []) {
      const m = shippedModel(file);
      if (m?.provenance.fingerprint === fingerprint) return { model: m, source: `shipped ${file}` };
    }
  }
  const file = SHIPPED_MODELS[target];
  if (!file) return undefined;
  const shipped = shippedModel(file);
  return shipped ? { model: shipped, source: `shipped ${file}` } : undefined;
}

/** Options of `LearnedCost`. */
export interface LearnedCostOptions {
  /** The learned model (none: measured, else the prior). */
  model?: GbtModel;
  /** A measured latency in µs by signature key, where one is cached. */
  measured?: (key: string) => number | undefined;
  /** The cost where nothing else applies (the analytical roofline). */
  prior?: CostModel;
  /** Sizes of symbolic dims, for signatures. */
  dims?: Readonly<Record<string, number>>;
}

const LEAVES = new Set(["$in", "$const", "$none", "$out"]);

/** Nodes with both a measurement and a prediction needed before `LearnedCost` rescales its model. */
export const CALIBRATION_MIN = 3;

/**
 * Cost by measurement, else by the learned model, else by the prior (see the module doc).
 * @example
 * ```ts
 * import { LearnedCost } from "./learned.ts";
 * import { EGraph } from "../egraph/egraph.ts";
 * import { makeENode } from "../egraph/enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" },
 *   { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape: [4, 4] } } as never]));
 * const relu = makeENode("Relu", [x]);
 * const cost = new LearnedCost({ measured: () => 7 });
 * if (cost.nodeCost(eg, relu, eg.add(relu)) !== 7) throw new Error("a measurement first");
 * ```
 */
export class LearnedCost implements CostModel {
  /** `"learned"`. */
  readonly name: string = "learned";
  /** How many distinct nodes each source priced. */
  readonly sources: { measured: number; learned: number; prior: number } = { measured: 0, learned: 0, prior: 0 };
  readonly #opts: LearnedCostOptions;
  readonly #prior: CostModel;
  readonly #memo = new Map<string, number>();
  /** The e-graph the calibration was taken on, and the factor (see `calibration`). */
  #calibratedOn?: EGraph;
  #scale = 1;

  /** @param opts the model, the measurements and the prior */
  constructor(opts: LearnedCostOptions = {}) {
    this.#opts = opts;
    this.#prior = opts.prior ?? new AnalyticalCost();
  }

  /**
   * Cost of one e-node in µs.
   * @param eg the e-graph
   * @param node the e-node
   * @param classId its class
   * @returns 0 for leaves, else a finite cost > 0
   */
  nodeCost(eg: EGraph, node: ENode, classId: ClassId): number {
    if (LEAVES.has(node.op)) return 0;
    if (this.#calibratedOn !== eg) this.#calibrate(eg);
    const own = signatureOf(eg, node, classId, this.#opts.dims);
    const sig = own && (plainTwin(eg, own) ?? own);
    if (!sig) {
      this.sources.prior++;
      return this.#prior.nodeCost(eg, node, classId);
    }
    const key = signatureKey(sig);
    const hit = this.#memo.get(key);
    if (hit !== undefined) return hit;
    let cost = this.#opts.measured?.(key);
    if (cost !== undefined && Number.isFinite(cost) && cost >= 0) {
      this.sources.measured++;
      cost = Math.max(cost, 1e-3); // a view measured at 0 still costs something: fewer nodes win
    } else if (this.#opts.model) {
      this.sources.learned++;
      cost = predictUs(this.#opts.model, sig) * this.#scale;
    } else {
      this.sources.prior++;
      cost = this.#prior.nodeCost(eg, node, classId);
    }
    if (!Number.isFinite(cost) || cost <= 0) cost = this.#prior.nodeCost(eg, node, classId);
    this.#memo.set(key, cost);
    return cost;
  }

  /**
   * The factor learned predictions are scaled by on `eg`: the median of measured / predicted over
   * the e-graph's nodes that have both (1 with fewer than `CALIBRATION_MIN` such nodes), within
   * [1/16, 16]. Measurements and the model's predictions are mixed in one sum, so a model that
   * reads this machine as uniformly slower or faster than its measurements would otherwise make
   * every unmeasured candidate (a fused op no one timed yet) look worse or better than the
   * measured nodes it replaces, whatever the two really cost.
   */
  get calibration(): number {
    return this.#scale;
  }

  #calibrate(eg: EGraph): void {
    this.#calibratedOn = eg;
    this.#scale = 1;
    this.#memo.clear();
    const { model, measured, dims } = this.#opts;
    if (!model || !measured) return;
    const logs: number[] = [];
    const seen = new Set<string>();
    for (const cls of eg.classes()) {
      for (const n of cls.nodes) {
        if (LEAVES.has(n.op)) continue;
        const sig = signatureOf(eg, n, cls.id, dims);
        if (!sig) continue;
        const key = signatureKey(sig);
        if (seen.has(key)) continue;
        seen.add(key);
        const m = measured(key);
        if (m === undefined || !(m > 0) || !Number.isFinite(m)) continue;
        const p = predictUs(model, sig);
        if (p > 0 && Number.isFinite(p)) logs.push(Math.log2(m / p));
      }
    }
    if (logs.length < CALIBRATION_MIN) return;
    logs.sort((a, b) => a - b);
    const mid = logs.length >> 1;
    const med = logs.length % 2 ? logs[mid] : (logs[mid - 1] + logs[mid]) / 2;
    this.#scale = 2 ** Math.max(-4, Math.min(4, med));
  }
}
