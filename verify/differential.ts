/**
 * Differential tests of a rule instance: both sides through the reference interpreter on seeded
 * inputs of several kinds, compared elementwise.
 *
 * Inputs: small, wide, zeros, negatives, large and tiny magnitudes; IEEE special values (±0,
 * ±inf, NaN, denormals of the input's type); values past exp's overflow (|x| > 88.7 in float32,
 * > 709.8 in float64); huge ones (past the square root of the type's max up to max^(3/4), and
 * for float16 up to its max: see `drawFloat`); integer-valued ones (negative, zero: integer exponents, zero divisors);
 * and a mix where each input takes its own kind (a zero divisor under a non-zero numerator).
 * One extreme at a time: an instance whose constants were drawn extreme (tiny, denormal, huge) is
 * fed no huge, overflowing, special or mixed data (`BESIDE_EXTREME`).
 * Integer inputs get their own edge values (both ends of their range, values past int32 for an
 * int64), bool inputs both values.
 *
 * Float instances run in float64 (the instance converted, Casts to float32 still rounding to
 * float32), so a difference a rule makes stands out from rounding: sides must agree within
 * `|a − b| ≤ 1e-6·scale + 1e-5·|b|`, with `scale` the largest finite magnitude either side
 * produced. The special and overflow kinds also run on the instance as built (float32, looser
 * tolerances), where float32's own overflow shows: there only differences in kind count (a
 * finite value against ±inf or NaN), values being the float64 run's to compare. Comparison is
 * IEEE-aware: NaN equals only
 * NaN, an infinity only the same infinity (a finite value never matches ±inf, whatever the
 * tolerance), +0 equals −0. Integers and booleans must be equal, and so must element types.
 * A difference found in float64 is re-run on the instance as built (`nativeDiffers`): one its
 * own types show beyond their rounding is preferred as the counterexample.
 * @module
 */
import type { Model, Node } from "../ir/graph.ts";
import { DataType, intRange, isFloat } from "../ir/dtype.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import type { Value } from "../ir/values.ts";
import { Tensor as TensorClass } from "../ir/tensor.ts";
import { rng } from "./inputs.ts";
import type { RuleInstance } from "./instances.ts";

/** Kinds of input values a test draws (the first decides whether the instance is valid at all). */
export const INPUT_KINDS = [
  "uniform",
  "wide",
  "zeros",
  "negative",
  "large",
  "tiny",
  "integers",
  "special",
  "overflow",
  "huge",
  "mixed",
] as const;
export type InputKind = typeof INPUT_KINDS[number];

/** Kinds also run on the instance as built (float32), where float32's own overflow shows. */
const NATIVE_KINDS: readonly InputKind[] = ["special", "overflow", "huge", "mixed"];
/** Data kinds an instance with an extreme constant is not fed (see `RuleInstance.extremeConstants`). */
const BESIDE_EXTREME: ReadonlySet<InputKind> = new Set(["huge", "special", "overflow", "mixed"]);
/** What an instance with an extreme constant runs as built instead of `NATIVE_KINDS`. */
const NATIVE_BESIDE_EXTREME: readonly InputKind[] = ["uniform", "large", "tiny"];

/** Where two sides differ. */
export interface Difference {
  output: [string, string];
  inputs: Map<string, number[]>;
  kind: string;
  /** first differing element, and both sides' values there */
  index: number;
  lhs: number[];
  rhs: number[];
  reason: string;
  /** found on the float64 conversion of the instance (false: on the instance as built) */
  float64?: boolean;
  /**
   * The instance as built (its own element types) shows the difference on these inputs too,
   * beyond its type's rounding: a counterexample anyone can re-run as is.
   */
  native?: boolean;
}

/** What the tests of one instance found. */
export interface DifferentialResult {
  /** cases run (input draws × output pairs) */
  cases: number;
  /** largest |lhs − rhs| relative to the output's scale (Infinity where the sides differ in kind) */
  maxError: number;
  difference?: Difference;
  /** the left side could not run on this instance (the instance is not a valid graph): skip it */
  invalid?: string;
  /** ran in float64 (else float32, with looser tolerances) */
  float64: boolean;
  /** input kinds run (a kind the left side refuses, e.g. NaN cast to an integer, is left out) */
  kinds: InputKind[];
  /** IEEE special values that reached a float input in a run: `+0 -0 inf -inf nan denormal overflow` */
  specials: string[];
}

const EXP_OVERFLOW: Record<number, [number, number]> = {
  [DataType.FLOAT16]: [11.1, 20],
  [DataType.BFLOAT16]: [89, 120],
  [DataType.FLOAT]: [89, 120],
  [DataType.DOUBLE]: [710, 800],
};
/** Largest finite magnitude per float type. */
const MAX_FLOAT: Record<number, number> = {
  [DataType.FLOAT16]: 65504,
  [DataType.BFLOAT16]: 3.3895e38,
  [DataType.FLOAT]: 3.4028234e38,
  [DataType.DOUBLE]: 1.7976931348623157e308,
};
const DENORMAL: Record<number, number> = {
  [DataType.FLOAT16]: 3e-6,
  [DataType.BFLOAT16]: 1e-39,
  [DataType.FLOAT]: 1e-40,
  [DataType.DOUBLE]: 1e-310,
};

function drawFloat(kind: InputKind, r: () => number, dtype: DataType): number {
  const sign = () => (r() < 0.5 ? -1 : 1);
  switch (kind) {
    case "uniform":
      return r() * 2 - 1;
    case "wide":
      return r() * 6 - 3;
    case "zeros":
      return 0;
    case "negative":
      return -0.1 - r() * 2;
    case "large":
      return sign() * (100 + r() * 900);
    case "tiny":
      return (r() - 0.5) * 2e-3;
    case "integers":
      return Math.floor(r() * 9) - 4;
    case "special": {
      const d = DENORMAL[dtype] ?? 1e-40;
      return [0, -0, Infinity, -Infinity, NaN, d, -d, 1, -1, 0.5, -2][Math.floor(r() * 11)];
    }
    case "overflow": {
      const [lo, hi] = EXP_OVERFLOW[dtype] ?? [89, 120];
      const u = r();
      if (u < 0.25) return r() * 2 - 1;
      // a float64 input also gets values past float32's range (a Cast to float32 overflows)
      if (u < 0.4 && dtype === DataType.DOUBLE) return sign() * (4e38 + r() * 1e39);
      return sign() * (lo + r() * (hi - lo));
    }
    case "huge": {
      // half the elements huge for the type, the rest ordinary: past the square root of its
      // largest value (x·x overflows) up to max^(3/4), which leaves sums and products of such a
      // value with ordinary ones (weights, constants, a few terms) room below the max. float16's
      // max (65504) is within what real activations reach, so float16 also gets values up to it
      // (a sum of two overflows); float32's (3.4e38) is not, and a rule is not refuted there
      // for an intermediate that overflows only at values no float32 model holds.
      if (r() < 0.5) return r() * 2 - 1;
      const max = MAX_FLOAT[dtype] ?? MAX_FLOAT[DataType.FLOAT];
      const tiers = [2 * Math.sqrt(max), max ** 0.625, max ** 0.75];
      if (dtype === DataType.FLOAT16) tiers.push(max / 8, max / 2, max * 0.9);
      return sign() * tiers[Math.floor(r() * tiers.length)];
    }
    case "mixed":
      return r() * 2 - 1;
  }
}

function drawInt(kind: InputKind, r: () => number, dtype: DataType): number {
  const [lo, hi] = dtype === DataType.INT64
    ? [-(2 ** 53), 2 ** 53]
    : dtype === DataType.UINT64
    ? [0, 2 ** 53]
    : intRange(dtype);
  const fit = (x: number) => Math.min(hi, Math.max(lo, x));
  switch (kind) {
    case "uniform":
      return Math.floor(r() * 3); // in range as an index of any dim ≥ 3
    case "wide":
    case "integers":
    case "mixed":
      return fit(Math.floor(r() * 7) - 3);
    case "zeros":
      return 0;
    case "negative":
      return fit(-1 - Math.floor(r() * 5));
    case "large":
      return fit((r() < 0.5 ? -1 : 1) * (100 + Math.floor(r() * 900)));
    case "tiny":
      return Math.floor(r() * 2);
    case "special":
      return fit([0, 1, -1, lo, hi, 2 ** 31, -(2 ** 31) - 1][Math.floor(r() * 7)]);
    case "overflow":
    case "huge":
      return fit([2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 + 1, -(2 ** 31) - 1, 2 ** 15, 255][Math.floor(r() * 7)]);
  }
}

/** The special values among `xs`, by name. */
function specialsOf(xs: ArrayLike<number>, dtype: DataType, out: Set<string>): void {
  const [lo] = EXP_OVERFLOW[dtype] ?? [89, 120];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x)) out.add("nan");
    else if (x === Infinity) out.add("inf");
    else if (x === -Infinity) out.add("-inf");
    else if (Object.is(x, -0)) out.add("-0");
    else if (x === 0) out.add("+0");
    else if (Math.abs(x) < (dtype === DataType.FLOAT16 ? 6.1e-5 : dtype === DataType.DOUBLE ? 2.3e-308 : 1.2e-38)) {
      out.add("denormal");
    } else if (Math.abs(x) >= lo) out.add("overflow");
  }
}

/** Float types the float64 conversion widens (values exactly representable in float64). */
const NARROW: ReadonlySet<DataType> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16]);

/**
 * The instance's model with every float32, float16 and bfloat16 value and constant made float64.
 * A Cast to one of them stays one, followed by a Cast to float64: its rounding is part of the
 * model (a Cast to float32 rounds to float32 even when evaluation is in float64).
 */
export function toFloat64(m: Model): Model {
  const dbl = (dt: DataType): DataType => (NARROW.has(dt) ? DataType.DOUBLE : dt);
  const g = m.graph;
  const nodes: Node[] = [];
  // element types known before conversion (inputs, initializers, Cast outputs): a CastLike to a
  // narrow float keeps rounding to it, as a Cast does
  const known = new Map<string, DataType>();
  for (const i of g.inputs) if (i.type?.kind === "tensor") known.set(i.name, i.type.dtype);
  for (const [k, t] of g.initializers) known.set(k, t.dtype);
  for (const n0 of g.nodes) {
    let n = n0;
    const like = n.opType === "CastLike" && (n.domain ?? "") === "" ? known.get(n.inputs[1] ?? "") : undefined;
    if (like !== undefined) {
      n = {
        ...n,
        opType: "Cast",
        inputs: [n.inputs[0]],
        attributes: [{ name: "to", type: "int", value: like } as Node["attributes"][number]],
      };
    }
    const to = n.opType === "Cast" && (n.domain ?? "") === "" &&
      n.attributes.find((a) => a.name === "to" && a.type === "int");
    if (to) known.set(n.outputs[0], to.value as DataType);
    if (!to || !NARROW.has(to.value as DataType)) {
      nodes.push(n);
      continue;
    }
    const mid = `${n.outputs[0]}__narrow`;
    nodes.push({ ...n, outputs: [mid] });
    nodes.push({
      ...n,
      name: `${n.name ?? ""}__f64`,
      inputs: [mid],
      outputs: [n.outputs[0]],
      attributes: [{ name: "to", type: "int", value: DataType.DOUBLE } as Node["attributes"][number]],
    });
  }
  return {
    ...m,
    graph: {
      ...g,
      inputs: g.inputs.map((i) =>
        i.type?.kind === "tensor" ? { ...i, type: { ...i.type, dtype: dbl(i.type.dtype) } } : i
      ),
      initializers: new Map(
        [...g.initializers].map(([k, t]) => [
          k,
          NARROW.has(t.dtype) ? fromNumbers(DataType.DOUBLE, t.dims, toNumbers(t)) : t,
        ]),
      ),
      nodes,
      valueInfo: [],
    },
  };
}

/**
 * `inputs` (drawn for the instance as built, so every value is representable in its type)
 * converted to the element types `m` declares (the float64 conversion's).
 */
export function widenInputs(inputs: Map<string, Value>, m: Model): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const [name, v] of inputs) {
    const ty = m.graph.inputs.find((i) => i.name === name)?.type;
    out.set(
      name,
      ty?.kind === "tensor" && v instanceof TensorClass && ty.dtype !== v.dtype
        ? fromNumbers(ty.dtype, v.dims, toNumbers(v))
        : v,
    );
  }
  return out;
}

/** Seeded inputs of one kind for the instance's data inputs. */
export function drawInputs(m: Model, dataInputs: readonly string[], kind: InputKind, seed: number): Map<string, Value> {
  const r = rng(seed * 7919 + INPUT_KINDS.indexOf(kind));
  const out = new Map<string, Value>();
  for (const name of dataInputs) {
    const vi = m.graph.inputs.find((i) => i.name === name)!;
    const t = vi.type as { dtype: DataType; shape: number[] };
    const n = t.shape.reduce((a, b) => a * b, 1);
    // "mixed": each input its own kind (a zero divisor under a non-zero numerator, NaN beside numbers)
    const k: InputKind = kind === "mixed" ? INPUT_KINDS[Math.floor(r() * (INPUT_KINDS.length - 1))] : kind;
    const xs = Array.from(
      { length: n },
      () =>
        t.dtype === DataType.BOOL
          ? (k === "zeros" ? 0 : r() < 0.5 ? 1 : 0)
          : isFloat(t.dtype)
          ? drawFloat(k, r, t.dtype)
          : drawInt(k, r, t.dtype),
    );
    out.set(name, fromNumbers(t.dtype, t.shape, xs));
  }
  return out;
}

/** IEEE equality up to a tolerance: NaN only with NaN, ±inf only with itself, ±0 alike. */
function sameFloat(p: number, q: number, tol: number): boolean {
  if (Number.isNaN(p) || Number.isNaN(q)) return Number.isNaN(p) && Number.isNaN(q);
  if (p === q) return true;
  if (!Number.isFinite(p) || !Number.isFinite(q)) return false;
  return Math.abs(p - q) <= tol;
}

/**
 * Tolerances `[atol (times the output's scale), rtol]` for outputs of element type `dtype`:
 * tight in a float64 run (a rule's own difference stands out from rounding), else the type's
 * own rounding (float32 as ONNX Runtime's checkers, float16/bfloat16 looser). `loose`: the
 * instance sits at the edge of an `approx` guard, whose approximation is allowed float32's
 * tolerance (a wider guard than that is refuted there).
 */
function tolerance(dtype: number, float64: boolean, loose: boolean | "half"): [number, number] {
  if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) return [1e-2, 1e-2];
  // a float64 run of a half-precision instance: its constants (and those a rule's right side
  // folds from them) are rounded to half precision, so its rounding is a float16 rounding
  if (float64 && loose === "half") return [2e-3, 2e-3];
  if (float64 && !loose) return [1e-6, 1e-5];
  return [1e-4, 1e-3];
}

/** How loosely an instance's sides are compared: at an approx guard's edge, or at half precision. */
export function looseness(inst: RuleInstance): boolean | "half" {
  if (inst.dtypes.some((d) => d === "float16" || d === "bfloat16")) return "half";
  return !!inst.approxEdge;
}

/** Compare two outputs; undefined when equal within tolerance, else the first difference. */
export function compareSides(
  a: Value | undefined,
  b: Value | undefined,
  float64: boolean,
  loose: boolean | "half" | "kind" = false,
): { index: number; reason: string; error: number } | { error: number } {
  if (!(a instanceof TensorClass) || !(b instanceof TensorClass)) {
    return { index: 0, reason: "a side produced no tensor", error: Infinity };
  }
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    return { index: 0, reason: `shapes differ: [${a.dims}] vs [${b.dims}]`, error: Infinity };
  }
  const fa = isFloat(a.dtype);
  // element types must agree (a rule that turns a float16 result into float32 changes the model)
  if (a.dtype !== b.dtype) {
    return { index: 0, reason: `element types differ (${a.dtype} vs ${b.dtype})`, error: Infinity };
  }
  const xa = toNumbers(a), xb = toNumbers(b);
  if (!fa) {
    for (let i = 0; i < xa.length; i++) {
      if (xa[i] !== xb[i]) return { index: i, reason: `element ${i}: ${xa[i]} vs ${xb[i]}`, error: Infinity };
    }
    return { error: 0 };
  }
  let scale = 1;
  for (let i = 0; i < xa.length; i++) {
    if (Number.isFinite(xa[i])) scale = Math.max(scale, Math.abs(xa[i]));
    if (Number.isFinite(xb[i])) scale = Math.max(scale, Math.abs(xb[i]));
  }
  if (loose === "kind") {
    // the instance as built: only differences in kind (finite vs ±inf or NaN); values are the
    // float64 run's to compare, where float32 rounding and cancellation do not blur them
    for (let i = 0; i < xa.length; i++) {
      const p = xa[i], q = xb[i];
      if (Number.isFinite(p) && Number.isFinite(q)) continue;
      if (!sameFloat(p, q, 0)) return { index: i, reason: `element ${i}: ${p} vs ${q}`, error: Infinity };
    }
    return { error: 0 };
  }
  const [atol, rtol] = tolerance(a.dtype, float64, loose);
  let worst = 0;
  for (let i = 0; i < xa.length; i++) {
    const p = xa[i], q = xb[i];
    if (sameFloat(p, q, atol * scale + rtol * Math.abs(q))) {
      if (p !== q && Number.isFinite(p)) worst = Math.max(worst, Math.abs(p - q) / scale);
      continue;
    }
    const err = Math.abs(p - q);
    return { index: i, reason: `element ${i}: ${p} vs ${q}`, error: Number.isFinite(err) ? err / scale : Infinity };
  }
  return { error: worst };
}

function values(v: Value | undefined, around: number): number[] {
  if (!(v instanceof TensorClass)) return [];
  const xs = toNumbers(v as Tensor);
  return Array.from(xs.slice(Math.max(0, around - 2), around + 3));
}

/** The model cut down to what `outputs` need (so a failing right side cannot hide a valid left side). */
export function pruneTo(m: Model, outputs: readonly string[]): Model {
  const need = new Set(outputs);
  const nodes = [];
  for (let i = m.graph.nodes.length - 1; i >= 0; i--) {
    const n = m.graph.nodes[i];
    if (!n.outputs.some((o) => need.has(o))) continue;
    nodes.push(n);
    for (const x of n.inputs) if (x) need.add(x);
  }
  nodes.reverse();
  return {
    ...m,
    graph: {
      ...m.graph,
      nodes,
      inputs: m.graph.inputs.filter((x) => need.has(x.name)),
      outputs: m.graph.outputs.filter((o) => outputs.includes(o.name)),
    },
  };
}

function pick(inputs: Map<string, Value>, m: Model): Map<string, Value> {
  return new Map([...inputs].filter(([k]) => m.graph.inputs.some((i) => i.name === k)));
}

function specialsIn(inputs: Map<string, Value>, out: Set<string>): void {
  for (const v of inputs.values()) {
    if (v instanceof TensorClass && isFloat(v.dtype)) specialsOf(toNumbers(v), v.dtype, out);
  }
}

/** Whether the model computes in a narrow float anywhere (then the native runs add its overflow). */
function hasFloat32(m: Model): boolean {
  return m.graph.inputs.some((i) => i.type?.kind === "tensor" && NARROW.has(i.type.dtype)) ||
    [...m.graph.initializers.values()].some((t) => NARROW.has(t.dtype));
}

/**
 * Run the instance's differential tests: every input kind on the float64 conversion (or on the
 * instance as built where an op has no float64 support), then the special-value kinds on the
 * instance as built too. The first kind decides validity: when the left side cannot run on it,
 * the instance is `invalid` (not evidence); a later kind the left side refuses is skipped.
 */
export function testInstance(
  inst: RuleInstance,
  seeds = 2,
  opts: { preferNative?: boolean } = {},
): DifferentialResult {
  let model: Model = toFloat64(inst.model), float64: boolean = true;
  let fallback: Difference | undefined;
  const res: DifferentialResult = { cases: 0, maxError: 0, float64, kinds: [], specials: [] };
  const specials = new Set<string>();
  const lhsOnly = (m: Model) => pruneTo(m, inst.pairs.map(([l]) => l));
  // one extreme at a time: huge, overflowing or infinite data beside an extreme constant (whose
  // product with a tiny one underflows to 0 in float32, ∞·0) goes where no model's values go
  const kinds: readonly InputKind[] = inst.extremeConstants
    ? INPUT_KINDS.filter((k) => !BESIDE_EXTREME.has(k))
    : INPUT_KINDS;
  const runs: { kind: InputKind; native: boolean }[] = kinds.map((kind) => ({ kind, native: false }));
  if (hasFloat32(inst.model)) {
    // with an extreme constant, ordinary data as built shows float32's own overflow of it (1/denormal)
    const native = inst.extremeConstants ? NATIVE_BESIDE_EXTREME : NATIVE_KINDS;
    runs.push(...native.map((kind) => ({ kind, native: true })));
  }
  const done = () => {
    res.specials = [...specials].sort();
    return res;
  };
  for (const run of runs) {
    if (run.native && !float64) continue; // the instance as built already ran every kind
    const m = run.native ? inst.model : model;
    const f64: boolean = run.native ? false : float64;
    let ranKind = false; // the left side ran on some draw of this kind
    for (let seed = 0; seed < (run.kind === "zeros" ? 1 : seeds); seed++) {
      // drawn in the instance's own types (a float16 input holds float16 values), then widened
      let raw = drawInputs(inst.model, inst.dataInputs, run.kind, seed);
      let inputs = widenInputs(raw, m);
      let mm: Model = m, ff: boolean = f64;
      try {
        runModel(lhsOnly(mm), pick(inputs, lhsOnly(mm)));
      } catch (e) {
        if (res.cases > 0 || ranKind) continue; // this kind's values are outside the left side's domain
        if (!(float64 && !run.native)) return { ...done(), invalid: (e as Error).message };
        // an op without float64 support: fall back to the instance as sampled
        model = mm = inst.model;
        float64 = ff = res.float64 = false;
        inputs = raw = drawInputs(mm, inst.dataInputs, run.kind, seed);
        try {
          runModel(lhsOnly(mm), pick(inputs, lhsOnly(mm)));
        } catch (e2) {
          return { ...done(), invalid: (e2 as Error).message };
        }
      }
      ranKind = true;
      if (!res.kinds.includes(run.kind)) res.kinds.push(run.kind);
      specialsIn(inputs, specials);
      const label = `${run.kind}${run.native ? ", as built" : ""} (seed ${seed})`;
      const feeds = () => new Map([...inputs].map(([k, v]) => [k, Array.from(toNumbers(v as Tensor))]));
      let out: Map<string, Value | undefined>;
      try {
        out = runModel(mm, inputs);
      } catch (e) {
        res.cases++;
        res.maxError = Infinity;
        res.difference = {
          output: inst.pairs[0],
          inputs: feeds(),
          kind: label,
          index: 0,
          lhs: [],
          rhs: [],
          reason: `the right-hand side fails where the left runs: ${(e as Error).message}`,
          float64: ff,
          native: !ff || nativeDiffers(inst, raw, inst.pairs[0]),
        };
        return done();
      }
      for (const [l, r] of inst.pairs) {
        res.cases++;
        const c = compareSides(out.get(l), out.get(r), ff, run.native ? "kind" : looseness(inst));
        res.maxError = Math.max(res.maxError, c.error);
        if ("reason" in c) {
          const d: Difference = {
            output: [l, r],
            inputs: feeds(),
            kind: label,
            index: c.index,
            lhs: values(out.get(l), c.index),
            rhs: values(out.get(r), c.index),
            reason: c.reason,
            float64: ff,
            native: !ff || nativeDiffers(inst, raw, [l, r]),
          };
          // a difference the instance's own types hide under their rounding: keep looking for
          // one they show (a counterexample anyone can re-run as is), this one the fallback
          if (d.native || !opts.preferNative) {
            res.difference = d;
            return done();
          }
          fallback ??= d;
          break;
        }
      }
    }
  }
  if (fallback) res.difference = fallback;
  return done();
}

/**
 * Whether the instance as built (its own element types, float32 rounding) tells `pair` apart on
 * `raw` beyond its type's tolerance.
 */
export function nativeDiffers(inst: RuleInstance, raw: Map<string, Value>, pair: [string, string]): boolean {
  let out: Map<string, Value | undefined>;
  try {
    runModel(pruneTo(inst.model, [pair[0]]), pick(raw, pruneTo(inst.model, [pair[0]])));
  } catch {
    return false; // the left side cannot run on these values as built
  }
  try {
    out = runModel(inst.model, raw);
  } catch {
    return true; // the right side fails where the left runs
  }
  return "reason" in compareSides(out.get(pair[0]), out.get(pair[1]), false, looseness(inst));
}
