/**
 * The measured guard: `optimize` never returns a model that runs measurably slower than its input
 * on the target.
 *
 * After extraction, input and output are timed on the target interleaved (ONNX Runtime:
 * `measureModelOrt`, A B A B …, the same inputs; medians and MADs). The output is *slower* when
 *
 * ```
 * ratio = outputMedian / inputMedian > 1 + max(MIN_SLOWDOWN, 2 · noise)
 * noise = √(seIn² + seOut²) / inputMedian,   se = 1.858 · MAD / √samples
 * ```
 *
 * (1.858 = 1.4826 · 1.2533: the MAD as a standard deviation, then the standard error of a median).
 * A slower output is recovered by the candidates the caller gives, in order — `optimize` gives:
 * re-extract with measured costs (every candidate node measured on this machine), then the
 * clean-up rules only (no fusions, no layout changes), then the input itself — each timed against
 * the input the same way; the first that is not slower is returned, and the report says which
 * (`action`). Measuring costs seconds: the budget is small by default, and `optimize`'s `guard:
 * false` skips it.
 *
 * Invariant: the model returned is the output, one of the candidates, or the input — never a
 * model that was timed slower than the input by the rule above.
 * @module
 */
import type { Model } from "../ir/graph.ts";

/** A slowdown below this fraction is never acted on (machines jitter by about that much). */
export const MIN_SLOWDOWN = 0.01;

/** Timing of two models: medians and noise (µs) and samples of each. */
export interface PairTiming {
  /** The first model's median latency, its noise (µs) and how many runs were timed. */
  a: { medianUs: number; noiseUs: number; samples: number };
  /** The second model's, as `a`. */
  b: { medianUs: number; noiseUs: number; samples: number };
}

/** Times model `a` against model `b` on the target, interleaved. */
export type ModelMeasurer = (a: Model, b: Model) => Promise<PairTiming>;

/** What the guard did. */
export type GuardAction =
  /** the output is not slower: kept */
  | "kept"
  /** re-extracted with measured costs: that one is not slower */
  | "re-extracted"
  /** the clean-up rules only: that one is not slower */
  | "clean-up"
  /** everything was slower: the input is returned as it is */
  | "input"
  /** not measured (a model ONNX Runtime cannot load or run, inputs that cannot be drawn, …) */
  | "skipped";

/** The guard's report (in `OptimizeResult.guard`). */
export interface GuardReport {
  /** Median latency of the input on the target, µs (NaN when skipped). */
  inputUs: number;
  /** Median latency of the model returned, µs (NaN when skipped). */
  outputUs: number;
  /** `outputUs / inputUs`. */
  ratio: number;
  /** The relative noise the decision allowed for (`2 · noise` above, at least `MIN_SLOWDOWN`). */
  tolerance: number;
  /** What happened. */
  action: GuardAction;
  /** The first output's ratio when it was replaced. */
  firstRatio?: number;
  /** Why it was skipped, or what each rejected candidate measured. */
  note?: string;
}

/** One way to recover: a name for the report and how to make the model. */
export interface Recovery {
  action: "re-extracted" | "clean-up" | "input";
  make: () => Promise<Model>;
}

/** Decision on one timing: the ratio, the tolerance, and whether `b` is slower than `a`. */
export function judge(t: PairTiming): { ratio: number; tolerance: number; slower: boolean } {
  const se = (x: PairTiming["a"]) => 1.858 * x.noiseUs / Math.sqrt(Math.max(1, x.samples));
  const noise = Math.hypot(se(t.a), se(t.b)) / t.a.medianUs;
  const tolerance = Math.max(MIN_SLOWDOWN, 2 * noise);
  const ratio = t.b.medianUs / t.a.medianUs;
  return { ratio, tolerance, slower: ratio > 1 + tolerance };
}

/**
 * Time `output` against `input`; if it is slower, try the recoveries in order.
 * @param input the model given to `optimize`
 * @param output the extraction's model
 * @param measure times two models on the target, interleaved
 * @param recoveries what to try when the output is slower (the last is usually the input itself)
 * @returns the model to return and the report
 * @example
 * ```ts
 * import { guardModel } from "./guard.ts";
 * import type { Model } from "../ir/graph.ts";
 * const input = { graph: { nodes: [1] } } as unknown as Model, output = { graph: { nodes: [] } } as unknown as Model;
 * // a fake measurer: the output takes twice as long
 * const measure = (a: Model, b: Model) => Promise.resolve({
 *   a: { medianUs: 100, noiseUs: 1, samples: 20 },
 *   b: { medianUs: b === input ? 100 : 200, noiseUs: 1, samples: 20 },
 * });
 * const r = await guardModel(input, output, measure, [{ action: "input", make: () => Promise.resolve(input) }]);
 * if (r.model !== input || r.report.action !== "input") throw new Error("a slower output is never returned");
 * ```
 */
export async function guardModel(
  input: Model,
  output: Model,
  measure: ModelMeasurer,
  recoveries: readonly Recovery[],
): Promise<{ model: Model; report: GuardReport }> {
  let first: PairTiming;
  try {
    first = await measure(input, output);
  } catch (e) {
    const note = `not measured: ${(e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 200)}`;
    return {
      model: output,
      report: { inputUs: NaN, outputUs: NaN, ratio: NaN, tolerance: NaN, action: "skipped", note },
    };
  }
  const j = judge(first);
  const report = (t: PairTiming, action: GuardAction, tolerance: number, note?: string): GuardReport => ({
    inputUs: t.a.medianUs,
    outputUs: t.b.medianUs,
    ratio: t.b.medianUs / t.a.medianUs,
    tolerance,
    action,
    ...(action === "kept" ? {} : { firstRatio: j.ratio }),
    ...(note ? { note } : {}),
  });
  if (!j.slower) return { model: output, report: report(first, "kept", j.tolerance) };
  const tried: string[] = [`output ×${j.ratio.toFixed(3)}`];
  for (const r of recoveries) {
    let model: Model;
    try {
      model = await r.make();
    } catch (e) {
      tried.push(`${r.action} failed: ${(e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 120)}`);
      continue;
    }
    if (model === input) {
      // nothing to time: the input is the input
      return {
        model,
        report: { ...report(first, "input", j.tolerance, tried.join("; ")), outputUs: first.a.medianUs, ratio: 1 },
      };
    }
    let t: PairTiming;
    try {
      t = await measure(input, model);
    } catch {
      continue;
    }
    const k = judge(t);
    if (!k.slower) return { model, report: report(t, r.action, k.tolerance, tried.join("; ")) };
    tried.push(`${r.action} ×${k.ratio.toFixed(3)}`);
  }
  // no recovery given, or every one was slower: the output stays (the caller gave no input fallback)
  return { model: output, report: report(first, "kept", j.tolerance, `slower, not recovered: ${tried.join("; ")}`) };
}
