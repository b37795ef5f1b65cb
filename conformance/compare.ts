/**
 * Comparing values the way ONNX's backend tests do: same kind, dtype and shape; numbers
 * within |a − b| ≤ atol + rtol·|b| (NaN equal to NaN, infinities equal by sign); integers,
 * booleans and strings exactly.
 * @module
 */
import { DataType, dtypeName, isComplex, isFloat } from "../ir/dtype.ts";
import { Tensor, toNumbers } from "../ir/tensor.ts";
import { MapValue, OptionalValue, SequenceValue, type Value } from "../ir/values.ts";

/** Tolerances for float comparisons. */
export interface Tolerance {
  /** Relative tolerance: scales with the expected value's magnitude. */
  rtol: number;
  /** Absolute tolerance: the floor that matters near zero. */
  atol: number;
}

/** Tolerance for float32 and float64 results (ONNX Runtime's own checkers use these). */
export const DEFAULT_TOLERANCE: Readonly<Tolerance> = Object.freeze({ atol: 1e-4, rtol: 1e-3 });

/**
 * The one table of tolerances by element type, for results computed two ways (ONNX Runtime
 * against the reference, an optimized model against the original). A narrower float rounds
 * each step further: float16 keeps 11 significant bits, bfloat16 8, float8 3 or 4. Integer,
 * bool and string results must match exactly and have no entry.
 */
const DTYPE_TOLERANCE: Record<number, Readonly<Tolerance>> = {
  [DataType.FLOAT]: DEFAULT_TOLERANCE,
  [DataType.DOUBLE]: DEFAULT_TOLERANCE,
  [DataType.FLOAT16]: { atol: 1e-2, rtol: 1e-2 },
  [DataType.BFLOAT16]: { atol: 5e-2, rtol: 5e-2 },
  [DataType.FLOAT8E4M3FN]: { atol: 0.25, rtol: 0.25 },
  [DataType.FLOAT8E4M3FNUZ]: { atol: 0.25, rtol: 0.25 },
  [DataType.FLOAT8E5M2]: { atol: 0.5, rtol: 0.5 },
  [DataType.FLOAT8E5M2FNUZ]: { atol: 0.5, rtol: 0.5 },
};

/**
 * The tolerance for results of one element type: the table's entry for it, never tighter
 * than `floor` (e.g. float16 storage of float32 tensors loosens float32 results too).
 * @param dtype the results' element type
 * @param floor the least tolerance to apply (default `DEFAULT_TOLERANCE`)
 * @returns the larger of the two, per field
 * @example
 * ```ts
 * import { DataType, toleranceFor } from "../mod.ts";
 * if (toleranceFor(DataType.FLOAT16).atol !== 1e-2) throw new Error("float16 is judged at float16 tolerance");
 * if (toleranceFor(DataType.FLOAT).rtol !== 1e-3) throw new Error("float32 at float32 tolerance");
 * ```
 */
export function toleranceFor(dtype: number, floor: Tolerance = DEFAULT_TOLERANCE): Tolerance {
  const t = DTYPE_TOLERANCE[dtype] ?? DEFAULT_TOLERANCE;
  return { atol: Math.max(t.atol, floor.atol), rtol: Math.max(t.rtol, floor.rtol) };
}

/**
 * Tolerances used, by element type name, as one phrase: `atol 1e-4, rtol 1e-3` when they are
 * all alike, else `float32: atol 1e-4, rtol 1e-3; float16: atol 1e-2, rtol 1e-2`.
 * @param byDtype each element type's tolerance
 * @returns the phrase (float32's when there is none)
 */
export function describeTolerances(byDtype: Readonly<Record<string, Tolerance>>): string {
  const fmt = (t: Tolerance) => `atol ${t.atol.toExponential()}, rtol ${t.rtol.toExponential()}`;
  const entries = Object.entries(byDtype);
  if (new Set(entries.map(([, t]) => fmt(t))).size <= 1) return fmt(entries[0]?.[1] ?? DEFAULT_TOLERANCE);
  return entries.map(([d, t]) => `${d}: ${fmt(t)}`).join("; ");
}

/** Largest absolute and relative error of a comparison. */
export interface ErrorStats {
  /** Largest |actual − expected| (NaN when none can be measured). */
  maxAbs: number;
  /** Largest |actual − expected| / |expected| (NaN when none can be measured). */
  maxRel: number;
}

/**
 * Undefined when `actual` matches `expected`, else a one-line reason. Sequences and maps match
 * element by element; an optional matches its content (or "none" matches absence).
 * @param actual the value computed
 * @param expected the reference value
 * @param tol tolerance for float elements
 * @returns undefined on a match, else where and how they differ
 * @example
 * ```ts
 * import { compareValues, float32Tensor, SequenceValue } from "../mod.ts";
 * const tol = { rtol: 1e-3, atol: 1e-7 };
 * const a = new SequenceValue([float32Tensor([2], [1, 2])]);
 * if (compareValues(a, new SequenceValue([float32Tensor([2], [1, 2.0001])]), tol) !== undefined) {
 *   throw new Error("within rtol");
 * }
 * const why = compareValues(a, new SequenceValue([float32Tensor([2], [1, 3])]), tol);
 * if (!why?.startsWith("item 0: element 1")) throw new Error("names the item and element");
 * ```
 */
export function compareValues(
  actual: Value | undefined,
  expected: Value | undefined,
  tol: Tolerance,
): string | undefined {
  if (expected === undefined || actual === undefined) {
    return actual === expected
      ? undefined
      : `expected ${expected === undefined ? "nothing" : expected.constructor.name}, got ${
        actual === undefined ? "nothing" : actual.constructor.name
      }`;
  }
  if (expected instanceof Tensor) {
    if (!(actual instanceof Tensor)) return `expected a tensor, got a ${actual.kind}`;
    return compareTensors(actual, expected, tol);
  }
  if (expected instanceof SequenceValue) {
    if (!(actual instanceof SequenceValue)) return `expected a sequence, got ${actual.constructor.name}`;
    if (actual.items.length !== expected.items.length) {
      return `sequence length ${actual.items.length}, expected ${expected.items.length}`;
    }
    for (let i = 0; i < expected.items.length; i++) {
      const r = compareValues(actual.items[i], expected.items[i], tol);
      if (r) return `item ${i}: ${r}`;
    }
    return undefined;
  }
  if (expected instanceof OptionalValue) {
    const a = actual instanceof OptionalValue ? actual.value : actual;
    return compareValues(a, expected.value, tol);
  }
  if (expected instanceof MapValue) {
    if (!(actual instanceof MapValue)) return "expected a map";
    if (actual.entries.size !== expected.entries.size) return "map sizes differ";
    for (const [k, v] of expected.entries) {
      const r = compareValues(actual.entries.get(k), v, tol);
      if (r) return `key ${String(k)}: ${r}`;
    }
  }
  return undefined;
}

/**
 * Undefined when the tensors match, else a one-line reason (first differing element). Dtype
 * and shape must be equal; floats match within `|a − e| ≤ atol + rtol·|e|` (NaN matches NaN,
 * an infinity matches itself); everything else must be equal.
 * @param a the tensor computed
 * @param e the expected tensor
 * @param tol tolerance for float elements
 * @returns undefined on a match, else the reason
 * @example
 * ```ts
 * import { compareTensors, float32Tensor, int64Tensor } from "../mod.ts";
 * const tol = { rtol: 0, atol: 0.01 };
 * const e = float32Tensor([3], [1, NaN, -Infinity]);
 * if (compareTensors(float32Tensor([3], [1.005, NaN, -Infinity]), e, tol) !== undefined) throw new Error("match");
 * const why = compareTensors(float32Tensor([3], [1.02, NaN, -Infinity]), e, tol);
 * if (why !== "element 0: 1.0199999809265137, expected 1") throw new Error("first differing element");
 * const dtype = compareTensors(int64Tensor([3], [1, 2, 3]), e, tol);
 * if (dtype !== "dtype int64, expected float32") throw new Error("dtypes must be equal");
 * ```
 */
export function compareTensors(a: Tensor, e: Tensor, tol: Tolerance): string | undefined {
  if (a.dtype !== e.dtype) return `dtype ${dtypeName(a.dtype)}, expected ${dtypeName(e.dtype)}`;
  if (a.dims.length !== e.dims.length || a.dims.some((d, i) => d !== e.dims[i])) {
    return `shape [${a.dims}], expected [${e.dims}]`;
  }
  const ad = a.data, ed = e.data;
  if (Array.isArray(ed)) {
    const as = ad as string[];
    for (let i = 0; i < ed.length; i++) {
      if (as[i] !== ed[i]) return `element ${i}: ${JSON.stringify(as[i])}, expected ${JSON.stringify(ed[i])}`;
    }
    return undefined;
  }
  if (isComplex(e.dtype)) {
    const x = ad as Float32Array, y = ed as Float32Array;
    for (let i = 0; i < y.length; i++) {
      const r = closeOrReason(x[i], y[i], tol, i);
      if (r) return r;
    }
    return undefined;
  }
  if (!isFloat(e.dtype)) {
    for (let i = 0; i < e.size; i++) {
      if (ad[i] !== ed[i]) return `element ${i}: ${ad[i]}, expected ${ed[i]}`;
    }
    return undefined;
  }
  const x = toNumbers(a), y = toNumbers(e);
  for (let i = 0; i < y.length; i++) {
    const r = closeOrReason(x[i], y[i], tol, i);
    if (r) return r;
  }
  return undefined;
}

function closeOrReason(x: number, y: number, tol: Tolerance, i: number): string | undefined {
  if (Number.isNaN(y)) return Number.isNaN(x) ? undefined : `element ${i}: ${x}, expected NaN`;
  if (!Number.isFinite(y)) return x === y ? undefined : `element ${i}: ${x}, expected ${y}`;
  if (!(Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y))) return `element ${i}: ${x}, expected ${y}`;
  return undefined;
}

/**
 * Max absolute and relative error between two numeric tensors of one shape (floats, integers
 * of any width — 64-bit ones exactly —, bools). NaN for strings, complex numbers, or shapes
 * that differ (no error can be measured). A NaN against a number counts as an infinite error.
 * @param a the tensor computed
 * @param e the expected tensor
 * @returns the largest errors
 * @example
 * ```ts
 * import { DataType, errorStats, fromNumbers } from "../mod.ts";
 * const s = errorStats(fromNumbers(DataType.UINT8, [2], [3, 0]), fromNumbers(DataType.UINT8, [2], [2, 0]));
 * if (s.maxAbs !== 1) throw new Error("uint8 values 3 and 2 differ by 1, not by NaN");
 * ```
 */
export function errorStats(a: Tensor, e: Tensor): ErrorStats {
  const none = { maxAbs: NaN, maxRel: NaN };
  if (a.dims.length !== e.dims.length || a.dims.some((d, i) => d !== e.dims[i])) return none;
  if (Array.isArray(e.data) || Array.isArray(a.data) || isComplex(a.dtype) || isComplex(e.dtype)) return none;
  const big = a.data instanceof BigInt64Array || a.data instanceof BigUint64Array ||
    e.data instanceof BigInt64Array || e.data instanceof BigUint64Array;
  const x = big ? undefined : toNumbers(a), y = big ? undefined : toNumbers(e);
  let maxAbs = 0, maxRel = 0;
  for (let i = 0; i < e.size; i++) {
    let yi: number, d: number;
    if (big) {
      const p = BigInt(a.data[i] as bigint | number), q = BigInt(e.data[i] as bigint | number);
      if (p === q) continue;
      yi = Number(q), d = Number(p > q ? p - q : q - p);
    } else {
      const xi = x![i];
      yi = y![i];
      if (Number.isNaN(xi) && Number.isNaN(yi)) continue;
      if (xi === yi) continue;
      d = Number.isNaN(xi) || Number.isNaN(yi) ? Infinity : Math.abs(xi - yi);
    }
    if (!(d <= maxAbs)) maxAbs = d;
    const r = d / Math.max(Math.abs(yi), 1e-30);
    if (!(r <= maxRel)) maxRel = r;
  }
  return { maxAbs, maxRel };
}
