/**
 * A rule's verdict: instances over small shapes (`instances.ts`), differential tests of each
 * (`differential.ts`), and a Z3 proof of each (`symbolic.ts`).
 *
 * - **refuted**: some input tells the two sides apart: found by the tests, or a Z3 model that the
 *   reference interpreter confirms (a Z3 model over uninterpreted exp/erf/… may be spurious; those
 *   are re-evaluated and dropped when the sides agree). The verdict carries the instance, inputs
 *   and both sides' values.
 * - **proved**: every instance proved equal by Z3 over the reals (the shapes are listed).
 * - **tested**: the tests found no difference, but Z3 did not prove every instance (an op it cannot
 *   express, uninterpreted functions, or a timeout): the note says why.
 * - **unknown**: Z3 timed out (and the tests found nothing), or no instance could be built where the
 *   rule fires.
 * @module
 */
import type { Rule } from "../rules/rule.ts";
import { type RuleInstance, ruleInstances } from "./instances.ts";
import { compareSides, type Difference, pruneTo, testInstance, toFloat64 } from "./differential.ts";
import { runModel } from "../ir/interpreter.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

/** A verdict's status. */
export type VerdictStatus = "proved" | "tested" | "refuted" | "unknown";

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
  /** instances to build (default 10) */
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
    const feeds = new Map<string, Value>();
    for (const name of inst.dataInputs) {
      const vi = model.graph.inputs.find((i) => i.name === name)!;
      const t = vi.type as { dtype: number; shape: number[] };
      const n = t.shape.reduce((a, b) => a * b, 1);
      const xs = inputs.get(name) ?? [];
      feeds.set(name, fromNumbers(t.dtype as never, t.shape, Array.from({ length: n }, (_, i) => xs[i] ?? 0)));
    }
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
    const c = compareSides(out.get(pair[0]), out.get(pair[1]), float64);
    if (!("reason" in c)) return undefined;
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
  const insts = ruleInstances(rule, { seed: opts.seed ?? 1, want: opts.instances ?? 10 });
  const valid: RuleInstance[] = [];
  let cases = 0, maxError = 0;
  const invalid: string[] = [];
  for (const inst of insts) {
    const r = testInstance(inst);
    if (r.invalid) {
      invalid.push(r.invalid);
      continue;
    }
    cases += r.cases;
    maxError = Math.max(maxError, r.maxError);
    if (r.difference) {
      return {
        ...base,
        status: "refuted",
        shapes: [inst.bindings],
        cases,
        maxError,
        provedInstances: 0,
        note: `the sides differ: ${r.difference.reason}`,
        counterexample: counterexample(inst, r.difference, "test"),
        ms: performance.now() - t0,
      };
    }
    valid.push(inst);
  }
  if (!valid.length) {
    return {
      ...base,
      status: "unknown",
      shapes: [],
      cases,
      maxError,
      provedInstances: 0,
      note: insts.length
        ? `no instance the left side is valid on (${invalid[0]})`
        : "no instance over ranks ≤ 4, dims 1–3 where the rule fires",
      ms: performance.now() - t0,
    };
  }
  const prover = opts.prover === undefined ? await z3Prover() : opts.prover;
  let proved = 0, timedOut = 0;
  const why: string[] = [];
  if (prover) {
    for (const inst of valid) {
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
              note: `Z3 found inputs where the sides differ: ${d.reason}`,
              counterexample: counterexample(inst, d, "z3"),
              ms: performance.now() - t0,
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
  } else why.push("Z3 is not available");
  // a timeout with nothing Z3 cannot express is "unknown"; math Z3 cannot express is "tested"
  const inexpressible = why.length > timedOut;
  const status: VerdictStatus = prover && proved === valid.length
    ? "proved"
    : prover && timedOut && !inexpressible
    ? "unknown"
    : "tested";
  return {
    ...base,
    status,
    shapes: valid.map((i) => i.bindings),
    cases,
    maxError,
    provedInstances: proved,
    note: status === "proved"
      ? undefined
      : `${proved} of ${valid.length} instances proved; ${[...new Set(why)].join("; ")}; ${cases} test cases agree`,
    ms: performance.now() - t0,
  };
}
