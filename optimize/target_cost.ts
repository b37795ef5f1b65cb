/**
 * What `optimize` prices and measures on its target: the cost model a name stands for, TASO-style
 * measurement of every candidate before extraction (`measure`), and the measurer the guard and
 * `bench` time input and output with.
 *
 * | `cost` | a node is priced by |
 * | --- | --- |
 * | `learned` (default) | its measurement where cached for this machine, else the learned model of the target (the user's calibrated one, else the shipped one), else the analytical roofline |
 * | `measured` | its measurement where cached, else the analytical roofline |
 * | `analytic` | the analytical roofline alone |
 *
 * For target `ort` the first two also know what ONNX Runtime fuses itself (`cost/measured.ts`).
 * @module
 */
import type { CostModel } from "../cost/cost_model.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { CostCache } from "../cost/cost_cache.ts";
import { machineFingerprint } from "../cost/fingerprint.ts";
import { defaultCostModel, LearnedCost } from "../cost/learned.ts";
import { foldedIntoConv, MeasuredCost } from "../cost/measured.ts";
import { measureModelOrt, measureOrt } from "../cost/measure_ort.ts";
import { measureModelWebgpu, measureWebgpu } from "../cost/measure_webgpu.ts";
import { type NodeSignature, signatureKey, signatureOf } from "../cost/signature.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId } from "../egraph/enode.ts";
import type { Model } from "../ir/graph.ts";
import type { Value } from "../ir/values.ts";
import { encodeModel } from "../onnx/encode.ts";
import type { CostTarget } from "../rules/targets.ts";
import { SaturnError } from "../errors.ts";
import { randomInputs } from "../verify/inputs.ts";
import { acquireDevice } from "../webgpu/device.ts";
import type { ModelMeasurer } from "./guard.ts";
import type { Extractor } from "./optimize.ts";

/** The cost models `optimize` names. */
export type CostName = "learned" | "measured" | "analytic";

/** The names, the default first. */
export const COST_NAMES: readonly CostName[] = ["learned", "measured", "analytic"];

/** Where measurements live and what they are valid for. */
export interface MeasureContext {
  target: CostTarget;
  /** ONNX Runtime's intra-op threads (0: its default). */
  threads: number;
  /** Sizes of symbolic dims by name. */
  dims: Readonly<Record<string, number>>;
  cache: CostCache;
  fingerprint: string;
}

/**
 * The measurement context of `target` on this machine.
 * @param target the target
 * @param opts threads, dims, the cache file (default: the user's)
 * @returns the context (the webgpu fingerprint of no adapter when there is none)
 */
export async function measureContext(
  target: CostTarget,
  opts: { threads?: number; dims?: Readonly<Record<string, number>>; cacheFile?: string } = {},
): Promise<MeasureContext> {
  const threads = opts.threads ?? 0;
  const cache = new CostCache(opts.cacheFile);
  let fingerprint: string;
  if (target === "ort") fingerprint = await machineFingerprint("ort", { threads });
  else {
    try {
      fingerprint = await machineFingerprint("webgpu", { adapter: (await acquireDevice()).adapter.info });
    } catch {
      fingerprint = "webgpu-no-adapter";
    }
  }
  return { target, threads, dims: opts.dims ?? {}, cache, fingerprint };
}

/**
 * The cost model a name stands for on `ctx`'s target.
 * @param name `learned`, `measured` or `analytic`
 * @param ctx the measurement context
 * @returns the cost model
 * @throws {SaturnError} `BAD_ARGUMENT` (option `cost`) for another name
 */
export function costModelNamed(name: string, ctx: MeasureContext): CostModel {
  const analytic = new AnalyticalCost();
  if (name === "analytic") return analytic;
  const { target, fingerprint, cache, dims } = ctx;
  if (name === "measured") return new MeasuredCost({ target, fingerprint, cache, prior: analytic, dims });
  if (name === "learned") {
    const learned = defaultCostModel(target, fingerprint);
    // the model sees the cache too, to rescale itself to this machine's measurements (LearnedCost.calibration)
    const measured = (key: string) => cache.get(target, fingerprint, key)?.medianUs;
    const prior = learned ? new LearnedCost({ model: learned.model.gbt, prior: analytic, dims, measured }) : analytic;
    return new MeasuredCost({ target, fingerprint, cache, prior, dims, name: "learned" });
  }
  throw new SaturnError(
    "BAD_ARGUMENT",
    `unknown cost '${name}' (costs: ${COST_NAMES.join(", ")})`,
    name,
    "cost",
  );
}

/** Signatures of the e-nodes of classes reachable from `roots` that `ctx`'s cache has not measured. */
export function unmeasuredSignatures(eg: EGraph, roots: readonly ClassId[], ctx: MeasureContext): NodeSignature[] {
  const seen = new Set<ClassId>(), out = new Map<string, NodeSignature>();
  const stack = roots.map((r) => eg.find(r));
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    for (const n of eg.eclass(c).nodes) {
      for (const k of n.children) stack.push(eg.find(k));
      if (n.op.startsWith("$") || (ctx.target === "ort" && foldedIntoConv(eg, n))) continue;
      const sig = signatureOf(eg, n, c, ctx.dims);
      if (!sig) continue;
      const key = signatureKey(sig);
      if (!out.has(key) && !ctx.cache.get(ctx.target, ctx.fingerprint, key)) out.set(key, sig);
    }
  }
  return [...out.values()];
}

/** Options of `measuringFirst`. */
export interface MeasureFirstOptions {
  /** Budget of measuring, ms, per extraction (60,000). */
  budgetMs?: number;
  /** Called after each signature. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Wrap an extractor so that every candidate e-node of the saturated e-graph not yet in the cache
 * is measured on the target first (and cached): the extraction then prices by measurements.
 * @param extract the extractor
 * @param ctx the measurement context (its cache is updated and saved)
 * @param opts budget and progress
 * @returns the wrapped extractor
 */
export function measuringFirst(extract: Extractor, ctx: MeasureContext, opts: MeasureFirstOptions = {}): Extractor {
  return async (eg, model, roots) => {
    const sigs = unmeasuredSignatures(eg, roots, ctx);
    if (sigs.length) {
      const budgetMs = opts.budgetMs ?? 60_000;
      if (ctx.target === "ort") {
        const r = await measureOrt(sigs, { threads: ctx.threads, budgetMs, onProgress: opts.onProgress });
        for (const [key, m] of r.measured) ctx.cache.set("ort", ctx.fingerprint, key, m);
        ctx.cache.save();
      } else {
        // measureWebgpu reads and writes the cache itself
        await measureWebgpu(sigs, { cache: ctx.cache, budgetMs, onProgress: opts.onProgress });
      }
    }
    return await extract(eg, model, roots);
  };
}

/** Options of `targetMeasurer`. */
export interface MeasurerOptions {
  /** Values for the inputs (others are drawn, seeded, sized by `dims`). */
  inputs?: ReadonlyMap<string, Value>;
  /** Wall-clock budget of the timed runs of one comparison, ms. */
  budgetMs: number;
  /**
   * With ONNX Runtime's default thread count, time at 1 thread and at the default (half the budget
   * each) and answer with the pair whose second model fares worse (the guard: a user runs either).
   */
  bothThreadCounts?: boolean;
}

/**
 * How the guard and `bench` time two models on `ctx`'s target: ONNX Runtime sessions as a user
 * opens them (level "all", `ctx.threads`; with `bothThreadCounts` and the default thread count, at 1
 * thread and at the default, the worse of the two for the second model), or Saturn's WebGPU kernels in this process.
 * @param ctx the measurement context
 * @param input the model inputs are drawn for
 * @param opts given inputs and the budget
 * @returns the measurer
 */
export function targetMeasurer(ctx: MeasureContext, input: Model, opts: MeasurerOptions): ModelMeasurer {
  let feeds: Map<string, Value> | undefined;
  return async (a, b) => {
    if (ctx.target === "webgpu") {
      const r = await measureModelWebgpu(a, b, { dims: { ...ctx.dims } });
      return { a: r.a, b: r.b };
    }
    feeds ??= randomInputs(input, { seed: 1, dims: { ...ctx.dims }, given: opts.inputs });
    const bytes = (m: Model) => {
      const e = encodeModel(m);
      if (e.external) throw new SaturnError("BAD_INPUT", "a model over 2 GiB is not timed in memory");
      return e.bytes;
    };
    const [ba, bb] = [bytes(a), bytes(b)];
    if (ctx.threads !== 0 || !opts.bothThreadCounts) return await measureModelOrt(ba, bb, { inputs: feeds, threads: ctx.threads, budgetMs: opts.budgetMs });
    // ONNX Runtime's default thread count: time at 1 thread and at the default, half the budget each, and
    // answer with the pair whose output fares worse — a user runs either, and the default's runs are the
    // noisier (threads contend), where a slower output hides most easily
    const half = opts.budgetMs / 2;
    const one = await measureModelOrt(ba, bb, { inputs: feeds, threads: 1, budgetMs: half });
    const dflt = await measureModelOrt(ba, bb, { inputs: feeds, threads: 0, budgetMs: half });
    return one.b.medianUs / one.a.medianUs >= dflt.b.medianUs / dflt.a.medianUs ? one : dflt;
  };
}
