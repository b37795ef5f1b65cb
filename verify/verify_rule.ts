/**
 * A rule's verdict: instances over small shapes (`instances.ts`), differential tests of each
 * (`differential.ts`), and a Z3 proof of each (`symbolic.ts`).
 *
 * - **refuted**: some input tells the two sides apart: found by the tests, or a Z3 model that the
 *   reference interpreter confirms (a Z3 model over uninterpreted exp/erf/… may be spurious; those
 *   are re-evaluated and dropped when the sides agree). The verdict carries the instance, inputs
 *   and both sides' values, and says which found it.
 * - **proved**: Z3 proved every instance it can express equal over the reals (float data; integer
 *   instances are tested only) *and* the tests passed on every instance, IEEE special values
 *   included (±0, ±inf, NaN, denormals, exp overflow). Z3 over the reals reads IsNaN as false and
 *   x − x as 0, so its proof alone never makes a rule "proved": a rule true over the reals but not
 *   in IEEE arithmetic is refuted by the test with the special value. `decidedBy` is "z3+tests".
 * - **tested**: the tests found no difference, but Z3 did not prove every instance (an op it cannot
 *   express, uninterpreted functions, integer data, a timeout) or special values could not be
 *   tested: the note says why. `decidedBy` is "tests". A Z3 timeout is "tested" when the tests
 *   reached the IEEE special values (inf, NaN) and found nothing.
 * - **unknown**: Z3 timed out on an instance it can express and the tests could not reach the
 *   special values either (the tests found nothing).
 * - **error**: no valid instance could be built where the rule fires: the note tells the rule's
 *   author why (the guard never held, the left side is invalid ONNX, …). Never applied.
 *
 * `exercised` says what the evidence covered: instances, cases, element types, opsets, attribute
 * values, input kinds and special values.
 * @module
 */
import type { Rule } from "../rules/rule.ts";
import { type RuleInstance, sampleInstances } from "./instances.ts";
import {
  compareSides,
  type Difference,
  looseness,
  nativeDiffers,
  pruneTo,
  testInstance,
  toFloat64,
  widenInputs,
} from "./differential.ts";
import { runModel } from "../ir/interpreter.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

/** A verdict's status. */
export type VerdictStatus = "proved" | "tested" | "refuted" | "unknown" | "error";

/** How a verdict was reached: a Z3 proof with passing tests, tests alone, or (refuted) Z3's confirmed model. */
export type DecidedBy = "z3+tests" | "tests" | "z3" | "none";

/** What a verdict's evidence covered. */
export interface Exercised {
  /** Valid instances tested (schema-invalid or unrunnable ones are discarded, never counted). */
  instances: number;
  /** Instances thrown away as invalid (left side invalid ONNX or not runnable). */
  discarded: number;
  /** Differential cases run. */
  cases: number;
  /** Element types of the instances' inputs and constants. */
  dtypes: string[];
  /** ai.onnx opsets of the instances. */
  opsets: number[];
  /** Values each attribute variable took (`null`: left unset, its default). */
  attributes: Record<string, unknown[]>;
  /** Input kinds run (uniform, special, overflow, …). */
  kinds: string[];
  /** IEEE special values that reached float inputs: `+0 -0 inf -inf nan denormal overflow`. */
  specials: string[];
  /** Instances Z3 was asked about (float data), and how many it proved. */
  z3Asked: number;
}

/** The outcome of verifying one rule. */
export interface Verdict {
  /** The rule's name. */
  name: string;
  /** The rule's file, when it has one. */
  file?: string;
  /** The rule's line in `file`. */
  line?: number;
  /** The verdict (see the module doc for what each status promises). */
  status: VerdictStatus;
  /** instances checked (shapes and values of the variables), one line each */
  shapes: string[];
  /** differential cases run, and the largest relative difference seen */
  cases: number;
  /** The largest relative difference between the sides over all cases (rounding, for a sound rule). */
  maxError: number;
  /** instances Z3 proved, of those it was asked about */
  provedInstances: number;
  /** why not proved (tested), or what was found (refuted) */
  note?: string;
  /** For `refuted`: the instance and inputs that tell the sides apart. */
  counterexample?: Counterexample;
  /** Wall time of the verification, in milliseconds. */
  ms: number;
  /** How the verdict was reached (see the module doc). */
  decidedBy: DecidedBy;
  /** What the evidence covered. */
  exercised: Exercised;
}

/** Where a rule is wrong: the instance and the inputs that tell its sides apart. */
export interface Counterexample {
  /** Shapes and values of the rule's variables in this instance, e.g. `?x: float32[2,3]`. */
  bindings: string;
  /** The instance's input values that tell the sides apart, row-major, by input name. */
  inputs: Record<string, number[]>;
  /** The pair of outputs that differ, `lhs<i> vs rhs<i>`. */
  output: string;
  /** The first differing element. */
  index: number;
  /** Left side's values around `index` (up to two on each side). */
  lhs: number[];
  /** Right side's values around `index`. */
  rhs: number[];
  /** How they differ, and how the inputs were drawn. */
  reason: string;
  /** "test" (found by a differential test) or "z3" (a Z3 model, confirmed by the interpreter) */
  by: "test" | "z3";
  /** Found on the instance converted to float64 (false: on the instance as built, e.g. float32 overflow). */
  float64: boolean;
  /**
   * The instance as built, in its own element types, shows the difference on these inputs beyond
   * its type's rounding (false: only the float64 conversion does, e.g. a 1e-5 eps dropped).
   */
  native: boolean;
  /** the instance itself, so a caller can re-evaluate it */
  instance: RuleInstance;
}

/** The prover's answer for one output pair (`symbolic.ts`'s `proveEqual`). */
export type ProofResult =
  | { status: "proved" }
  | { status: "refuted"; inputs: Map<string, number[]> }
  | { status: "unknown"; reason: string }
  | { status: "unsupported"; reason: string };

/** A prover: decides `a == b` elementwise for all values of the `symbolic` inputs. */
export type Prover = (
  model: RuleInstance["model"],
  a: string,
  b: string,
  opts: { timeoutMs: number; symbolic: ReadonlySet<string> },
) => Promise<ProofResult>;

/** Z3's time per query unless `VerifyOptions.timeoutMs` says otherwise. */
export const Z3_QUERY_MS = 5000;

/** How `verifyRule` verifies. */
export interface VerifyOptions {
  /** Seed of instance sampling and test inputs (default 1): verdicts are reproducible. */
  seed?: number;
  /** instances Z3 is asked about (default 10); three times as many are tested */
  instances?: number;
  /** Z3 per query (default 5000 ms); `prover: null` tests only */
  timeoutMs?: number;
  /** The prover (default Z3, loaded on first use); `null` runs the differential tests only. */
  prover?: Prover | null;
}

let defaultProver: Promise<Prover | null> | undefined;
/** Z3's prover, loaded on first use (null when z3-solver cannot load here). */
export function z3Prover(): Promise<Prover | null> {
  defaultProver ??= import("./symbolic.ts").then(
    (m) => m.proveEqual as unknown as Prover,
    () => null,
  );
  return defaultProver;
}

/** Re-evaluate a Z3 model with the reference interpreter: the difference, if it is real. */
export function confirm(
  inst: RuleInstance,
  pair: [string, string],
  inputs: Map<string, number[]>,
): Difference | undefined {
  for (const float64 of [true, false]) {
    const model = float64 ? toFloat64(inst.model) : inst.model;
    let feeds = new Map<string, Value>();
    for (const name of inst.dataInputs) {
      // Z3's values rounded to the instance's own input types first, then widened
      const vi = inst.model.graph.inputs.find((i) => i.name === name)!;
      const t = vi.type as { dtype: number; shape: number[] };
      const n = t.shape.reduce((a, b) => a * b, 1);
      const xs = inputs.get(name) ?? [];
      feeds.set(name, fromNumbers(t.dtype as never, t.shape, Array.from({ length: n }, (_, i) => xs[i] ?? 0)));
    }
    feeds = widenInputs(feeds, model);
    let out;
    try {
      runModel(
        pruneTo(model, [pair[0]]),
        new Map([...feeds].filter(([k]) => pruneTo(model, [pair[0]]).graph.inputs.some((i) => i.name === k))),
      );
      out = runModel(model, feeds);
    } catch {
      continue; // float64 unsupported somewhere, or the left side cannot run on these values
    }
    const c = compareSides(out.get(pair[0]), out.get(pair[1]), float64, looseness(inst));
    if (!("reason" in c)) return undefined;
    // the same values in the instance's own types: does the difference show there too?
    const raw = new Map<string, Value>();
    for (const name of inst.dataInputs) {
      const t = inst.model.graph.inputs.find((i) => i.name === name)!.type as { dtype: number; shape: number[] };
      raw.set(name, fromNumbers(t.dtype as never, t.shape, Array.from(toNumbers(feeds.get(name) as Tensor))));
    }
    const vals = (v: Value | undefined) =>
      v ? Array.from(toNumbers(v as Tensor).slice(Math.max(0, c.index - 2), c.index + 3)) : [];
    return {
      output: pair,
      inputs: new Map([...feeds].map(([k, v]) => [k, Array.from(toNumbers(v as Tensor))])),
      kind: "z3 model",
      index: c.index,
      lhs: vals(out.get(pair[0])),
      rhs: vals(out.get(pair[1])),
      reason: c.reason,
      float64,
      native: !float64 || nativeDiffers(inst, raw, pair),
    };
  }
  return undefined;
}

function counterexample(inst: RuleInstance, d: Difference, by: "test" | "z3"): Counterexample {
  return {
    bindings: inst.bindings,
    inputs: Object.fromEntries(d.inputs),
    output: `${d.output[0]} vs ${d.output[1]}`,
    index: d.index,
    lhs: d.lhs,
    rhs: d.rhs,
    reason: `${d.reason} (${d.kind})`,
    by,
    float64: d.float64 ?? true,
    native: d.native ?? false,
    instance: inst,
  };
}

/**
 * Verify one rule: build instances over small shapes where it fires, test each side against
 * the other on random and edge-case inputs, then ask the prover for each instance. A rule is
 * `refuted` only by inputs the reference interpreter confirms.
 * @param rule the rule
 * @param opts seed, instance count, prover and its per-query timeout
 * @returns the verdict
 * @example
 * ```ts
 * import { parseRules, verifyRule } from "../mod.ts";
 * const [good, bad] = parseRules(
 *   "neg-neg: (Neg (Neg ?x)) => ?x\nsub-swap: (Sub ?x ?y) => (Sub ?y ?x)",
 *   "inline.rules",
 *   "user",
 * );
 * // prover: null keeps this example fast; with Z3 (the default) neg-neg is "proved"
 * const ok = await verifyRule(good, { prover: null });
 * if (ok.status !== "tested" || ok.maxError !== 0) throw new Error("-(-x) = x exactly on every test");
 * const wrong = await verifyRule(bad, { prover: null });
 * if (wrong.status !== "refuted" || wrong.counterexample?.by !== "test") throw new Error("x - y != y - x");
 * ```
 */
export async function verifyRule(rule: Rule, opts: VerifyOptions = {}): Promise<Verdict> {
  const t0 = performance.now();
  const base = { name: rule.name, file: rule.file, line: rule.line };
  // tests are cheap: three times as many instances are tested as Z3 is asked about
  const zWant = opts.instances ?? 10;
  const sample = sampleInstances(rule, { seed: opts.seed ?? 1, want: zWant * 3 });
  const insts = sample.instances;
  const valid: RuleInstance[] = [];
  let cases = 0, maxError = 0;
  const invalid: string[] = [];
  const kinds = new Set<string>(), specials = new Set<string>();
  let z3Asked = 0;
  const exercised = (): Exercised => {
    const attributes: Record<string, unknown[]> = {};
    for (const inst of valid) {
      for (const [k, v] of Object.entries(inst.attrs)) {
        const seen = attributes[k] ??= [];
        if (!seen.some((x) => JSON.stringify(x) === JSON.stringify(v))) seen.push(v);
      }
    }
    return {
      instances: valid.length,
      discarded: invalid.length,
      cases,
      dtypes: [...new Set(valid.flatMap((i) => i.dtypes))].sort(),
      opsets: [...new Set(valid.map((i) => i.opset))].sort((x, y) => x - y),
      attributes,
      kinds: [...kinds],
      specials: [...specials].sort(),
      z3Asked,
    };
  };
  // the first difference found; one the instance's own element types show too is preferred
  // (a counterexample that re-runs as is), looked for on a few more instances
  let found: { inst: RuleInstance; d: Difference } | undefined;
  let after = 0;
  for (const inst of insts) {
    if (found && ++after > 6) break;
    const r = testInstance(inst, 2, { preferNative: true });
    if (r.invalid) {
      invalid.push(r.invalid);
      continue;
    }
    cases += r.cases;
    maxError = Math.max(maxError, r.maxError);
    r.kinds.forEach((k) => kinds.add(k));
    r.specials.forEach((k) => specials.add(k));
    valid.push(inst);
    if (r.difference && (!found || r.difference.native)) found = { inst, d: r.difference };
    if (found?.d.native) break;
  }
  if (found) {
    return {
      ...base,
      status: "refuted",
      shapes: [found.inst.bindings],
      cases,
      maxError,
      provedInstances: 0,
      note: `a randomized test found inputs where the sides differ: ${found.d.reason}`,
      counterexample: counterexample(found.inst, found.d, "test"),
      ms: performance.now() - t0,
      decidedBy: "tests",
      exercised: exercised(),
    };
  }
  if (!valid.length) {
    return {
      ...base,
      status: "error",
      shapes: [],
      cases,
      maxError,
      provedInstances: 0,
      note: noInstanceWhy(insts.length, invalid, sample.rejected, sample.tries),
      ms: performance.now() - t0,
      decidedBy: "none",
      exercised: exercised(),
    };
  }
  const prover = opts.prover === undefined ? await z3Prover() : opts.prover;
  let proved = 0, timedOut = 0;
  const why: string[] = [];
  // Z3 reasons over reals: instances with integer data are left to the tests
  const askable = valid.filter((i) => !i.dataDtypes.some((d) => /int/.test(d))).slice(0, zWant);
  if (prover) {
    for (const inst of askable) {
      // two timeouts: Z3 will not answer on this rule's other instances either (the tests decide)
      if (timedOut >= 2) break;
      z3Asked++;
      let all = true;
      for (const pair of inst.pairs) {
        const res = await prover(inst.model, pair[0], pair[1], {
          timeoutMs: opts.timeoutMs ?? Z3_QUERY_MS,
          symbolic: new Set(inst.dataInputs),
        });
        if (res.status === "proved") continue;
        all = false;
        if (res.status === "refuted") {
          const d = confirm(inst, pair, res.inputs);
          if (d) {
            return {
              ...base,
              status: "refuted",
              shapes: [inst.bindings],
              cases,
              maxError,
              provedInstances: proved,
              note: `Z3 found inputs where the sides differ, confirmed by the reference interpreter: ${d.reason}`,
              counterexample: counterexample(inst, d, "z3"),
              ms: performance.now() - t0,
              decidedBy: "z3",
              exercised: exercised(),
            };
          }
          why.push(
            "Z3's counterexample needs values of uninterpreted functions (exp, erf, …) that real math rules out",
          );
        } else if (res.status === "unsupported") why.push(`Z3 cannot express ${res.reason}`);
        else {
          timedOut++;
          why.push(`Z3 gave no answer (${res.reason})`);
        }
        break;
      }
      if (all) proved++;
    }
    if (!askable.length) why.push("every instance has integer data, which Z3's real arithmetic does not model");
  } else why.push("Z3 is not available");
  // Z3's proof over the reals counts only where the IEEE special values were tested too
  const floatData = valid.some((i) => i.dataDtypes.some((d) => /^float|^bfloat/.test(d)));
  const ieeeTested = !floatData || (specials.has("inf") && specials.has("nan"));
  if (prover && askable.length && proved === askable.length && !ieeeTested) {
    why.push("the tests could not reach IEEE special values (inf, NaN) on this rule's inputs");
  }
  // Z3 without an answer (a timeout) leaves the tests to decide: "tested" when they reached the
  // IEEE special values, "unknown" when they could not either (the evidence is thin on both sides)
  const inexpressible = why.length > timedOut;
  const status: VerdictStatus = prover && askable.length && proved === askable.length && z3Asked === askable.length &&
      ieeeTested
    ? "proved"
    : prover && timedOut && !inexpressible && !ieeeTested
    ? "unknown"
    : "tested";
  const intOnly = valid.length - askable.length;
  return {
    ...base,
    status,
    shapes: valid.map((i) => i.bindings),
    cases,
    maxError,
    provedInstances: proved,
    note: status === "proved"
      ? (intOnly ? `Z3 proved the ${proved} float instances; ${intOnly} with integer data were tested` : undefined)
      : `${proved} of ${askable.length} instances proved; ${[...new Set(why)].join("; ")}; ${cases} test cases agree`,
    ms: performance.now() - t0,
    decidedBy: status === "proved" ? "z3+tests" : "tests",
    exercised: exercised(),
  };
}

/** Why no valid instance exists, for the rule's author: the commonest reasons tries were thrown away. */
function noInstanceWhy(built: number, invalid: string[], rejected: Map<string, number>, tries: number): string {
  const reasons = [...rejected].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([why, n]) => `${why} (${n})`);
  if (invalid.length) reasons.unshift(`the left side cannot run on ${invalid.length} instance(s): ${invalid[0]}`);
  return `no valid instance where the rule fires in ${tries} tries over ranks ≤ 4, small dims${
    built ? `, ${built} built` : ""
  }: ${reasons.join("; ") || "nothing was built"}`;
}
