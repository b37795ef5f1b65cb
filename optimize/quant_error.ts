/**
 * How far a quantized model's outputs are from the float model's: per float output, the cosine
 * similarity of the two (flattened) and the max relative error max|a − b| / max|a| (relative to
 * the output's own scale, so values near zero do not blow it up). The error a budget is checked
 * against is 1 − cosine, the worst over outputs and seeds.
 * @module
 */
import { isFloat } from "../ir/dtype.ts";
import { Tensor, toNumbers } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

/** The error of one output. */
export interface OutputError {
  /** The output's name. */
  output: string;
  /** Cosine similarity of the approximate values to the exact ones (1: same direction). */
  cosine: number;
  /** The largest |approximate − exact| / |exact| over its elements. */
  maxRelError: number;
}

/**
 * Cosine similarity and max relative error of `b` against the exact `a`.
 * @param a the exact values
 * @param b the approximate values, as many
 * @returns cosine (1 for two zero vectors, NaN where either holds a non-finite value) and max relative error
 * @example
 * ```ts
 * import { compareValues } from "./quant_error.ts";
 * const e = compareValues([1, 2, 3], [1, 2, 3.3]);
 * if (!(e.cosine > 0.99 && Math.abs(e.maxRelError - 0.1) < 1e-9)) throw new Error("0.3 off a max of 3");
 * ```
 */
export function compareValues(a: ArrayLike<number>, b: ArrayLike<number>): { cosine: number; maxRelError: number } {
  let dot = 0, na = 0, nb = 0, amax = 0, dmax = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    dot += x * y;
    na += x * x;
    nb += y * y;
    amax = Math.max(amax, Math.abs(x));
    dmax = Math.max(dmax, Math.abs(x - y));
  }
  if (!Number.isFinite(dot + na + nb + dmax)) return { cosine: NaN, maxRelError: NaN };
  const cosine = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  return { cosine: Math.min(1, cosine), maxRelError: amax > 0 ? dmax / amax : dmax > 0 ? Infinity : 0 };
}

/**
 * Errors of every float output of `approx` against `exact`, the worst over several runs.
 * @param exact outputs of the float model, one map per seed
 * @param approx outputs of the quantized model, the same seeds
 * @returns one entry per float tensor output
 */
export function outputErrors(
  exact: readonly ReadonlyMap<string, Value | undefined>[],
  approx: readonly ReadonlyMap<string, Value | undefined>[],
): OutputError[] {
  const worst = new Map<string, OutputError>();
  exact.forEach((outs, s) => {
    for (const [name, a] of outs) {
      const b = approx[s].get(name);
      if (!(a instanceof Tensor) || !(b instanceof Tensor) || !isFloat(a.dtype)) continue;
      const e = a.size === b.size ? compareValues(toNumbers(a), toNumbers(b)) : { cosine: NaN, maxRelError: NaN };
      const w = worst.get(name);
      if (!w) worst.set(name, { output: name, ...e });
      else {
        w.cosine = Number.isNaN(e.cosine) || e.cosine < w.cosine ? e.cosine : w.cosine;
        w.maxRelError = Number.isNaN(e.maxRelError) || e.maxRelError > w.maxRelError ? e.maxRelError : w.maxRelError;
      }
    }
  });
  return [...worst.values()];
}

/** The error a budget is checked against: 1 − the worst cosine (Infinity when any is NaN). */
export function budgetError(errors: readonly OutputError[]): number {
  let e = 0;
  for (const x of errors) e = Number.isNaN(x.cosine) ? Infinity : Math.max(e, 1 - x.cosine);
  return e;
}
