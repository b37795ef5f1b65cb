/**
 * Differential tests of a rule instance: both sides through the reference interpreter on seeded
 * inputs of several kinds (small, wide, zeros, negatives, large magnitudes), compared
 * elementwise. Float instances run in float64 (the instance converted), so a difference a rule
 * makes stands out from rounding: sides must agree within `|a − b| ≤ 1e-6·scale + 1e-5·|b|`,
 * with `scale` the largest magnitude either side produced. Integers and booleans must be equal.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import { DataType, isFloat } from "../ir/dtype.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import type { Value } from "../ir/values.ts";
import { Tensor as TensorClass } from "../ir/tensor.ts";
import { rng } from "./inputs.ts";
import type { RuleInstance } from "./instances.ts";

/** Kinds of input values a test draws. */
export const INPUT_KINDS = ["uniform", "wide", "zeros", "negative", "large", "tiny"] as const;
export type InputKind = typeof INPUT_KINDS[number];

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
}

/** What the tests of one instance found. */
export interface DifferentialResult {
  /** cases run (input draws × output pairs) */
  cases: number;
  /** largest |lhs − rhs| relative to the output's scale */
  maxError: number;
  difference?: Difference;
  /** the left side could not run on this instance (the instance is not a valid graph): skip it */
  invalid?: string;
  /** ran in float64 (else float32, with looser tolerances) */
  float64: boolean;
}

function draw(kind: InputKind, r: () => number): number {
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
      return (r() < 0.5 ? -1 : 1) * (100 + r() * 900);
    case "tiny":
      return (r() - 0.5) * 2e-3;
  }
}

/** The instance's model with every float32 value, constant and cast made float64. */
export function toFloat64(m: Model): Model {
  const dbl = (dt: DataType): DataType => (dt === DataType.FLOAT ? DataType.DOUBLE : dt);
  const g = m.graph;
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
          t.dtype === DataType.FLOAT ? fromNumbers(DataType.DOUBLE, t.dims, toNumbers(t)) : t,
        ]),
      ),
      nodes: g.nodes.map((n) => ({
        ...n,
        attributes: n.attributes.map((a) =>
          a.name === "to" && a.type === "int" && a.value === DataType.FLOAT ? { ...a, value: DataType.DOUBLE } : a
        ),
      })),
      valueInfo: [],
    },
  };
}

/** Seeded inputs of one kind for the instance's data inputs. */
export function drawInputs(m: Model, dataInputs: readonly string[], kind: InputKind, seed: number): Map<string, Value> {
  const r = rng(seed * 7919 + INPUT_KINDS.indexOf(kind));
  const out = new Map<string, Value>();
  for (const name of dataInputs) {
    const vi = m.graph.inputs.find((i) => i.name === name)!;
    const t = vi.type as { dtype: DataType; shape: number[] };
    const n = t.shape.reduce((a, b) => a * b, 1);
    const xs = Array.from({ length: n }, () => (isFloat(t.dtype) ? draw(kind, r) : Math.floor(r() * 3)));
    out.set(name, fromNumbers(t.dtype, t.shape, xs));
  }
  return out;
}

/** Compare two outputs; undefined when equal within tolerance, else the first difference. */
export function compareSides(
  a: Value | undefined,
  b: Value | undefined,
  float64: boolean,
): { index: number; reason: string; error: number } | { error: number } {
  if (!(a instanceof TensorClass) || !(b instanceof TensorClass)) {
    return { index: 0, reason: "a side produced no tensor", error: Infinity };
  }
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    return { index: 0, reason: `shapes differ: [${a.dims}] vs [${b.dims}]`, error: Infinity };
  }
  const fa = isFloat(a.dtype), fb = isFloat(b.dtype);
  if (fa !== fb) return { index: 0, reason: `element types differ (${a.dtype} vs ${b.dtype})`, error: Infinity };
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
  const [atol, rtol] = float64 ? [1e-6, 1e-5] : [1e-4, 1e-3];
  let worst = 0;
  for (let i = 0; i < xa.length; i++) {
    const p = xa[i], q = xb[i];
    if (Number.isNaN(p) && Number.isNaN(q)) continue;
    if (p === q) continue;
    const err = Math.abs(p - q);
    if (!(err <= atol * scale + rtol * Math.abs(q))) {
      return { index: i, reason: `element ${i}: ${p} vs ${q}`, error: Number.isFinite(err) ? err / scale : Infinity };
    }
    worst = Math.max(worst, err / scale);
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

/** Run the instance's differential tests. */
export function testInstance(inst: RuleInstance, seeds = 2): DifferentialResult {
  let model = toFloat64(inst.model), float64 = true;
  const res: DifferentialResult = { cases: 0, maxError: 0, float64 };
  for (const kind of INPUT_KINDS) {
    for (let seed = 0; seed < (kind === "zeros" ? 1 : seeds); seed++) {
      let inputs = drawInputs(model, inst.dataInputs, kind, seed);
      const lhsOnly = (m: Model) => pruneTo(m, inst.pairs.map(([l]) => l));
      try {
        runModel(lhsOnly(model), pick(inputs, lhsOnly(model)));
      } catch (e) {
        if (!(float64 && res.cases === 0)) return { ...res, invalid: (e as Error).message };
        // an op without float64 support: fall back to the instance as sampled
        model = inst.model;
        float64 = res.float64 = false;
        inputs = drawInputs(model, inst.dataInputs, kind, seed);
        try {
          runModel(lhsOnly(model), pick(inputs, lhsOnly(model)));
        } catch (e2) {
          return { ...res, invalid: (e2 as Error).message };
        }
      }
      let out: Map<string, Value | undefined>;
      try {
        out = runModel(model, inputs);
      } catch (e) {
        res.cases++;
        res.difference = {
          output: inst.pairs[0],
          inputs: new Map([...inputs].map(([k, v]) => [k, Array.from(toNumbers(v as Tensor))])),
          kind: `${kind} (seed ${seed})`,
          index: 0,
          lhs: [],
          rhs: [],
          reason: `the right-hand side fails where the left runs: ${(e as Error).message}`,
        };
        return res;
      }
      for (const [l, r] of inst.pairs) {
        res.cases++;
        const c = compareSides(out.get(l), out.get(r), float64);
        res.maxError = Math.max(res.maxError, Number.isFinite(c.error) ? c.error : res.maxError);
        if ("reason" in c) {
          res.difference = {
            output: [l, r],
            inputs: new Map([...inputs].map(([k, v]) => [k, Array.from(toNumbers(v as Tensor))])),
            kind: `${kind} (seed ${seed})`,
            index: c.index,
            lhs: values(out.get(l), c.index),
            rhs: values(out.get(r), c.index),
            reason: c.reason,
          };
          return res;
        }
      }
    }
  }
  return res;
}
