/**
 * Templates of elementwise ops: unary math and activations, binary arithmetic and comparisons with
 * multidirectional broadcasting, logic, Where, Clip and Cast. Ops outside their domain (Log, Sqrt,
 * Reciprocal, the divisor of Div, the base of Pow) read `|x| + 0.5`, so no run yields NaN by accident.
 * @module
 */
import { attr, BOOL, FLOAT, type GraphBuilder, INT32, INT64, type Template, type Val } from "./builder.ts";
import type { DataType } from "../ir/dtype.ts";
import type { Rand } from "./random.ts";

const NUMERIC: readonly DataType[] = [FLOAT, INT64, INT32];
const isFloat = (v: Val) => v.dtype === FLOAT;
const isNumeric = (v: Val) => NUMERIC.includes(v.dtype);

/** Dims that broadcast with `dims` in both directions (ONNX's multidirectional broadcasting). */
export function partnerDims(r: Rand, dims: readonly number[]): number[] {
  const rank = dims.length;
  const outRank = r.chance(0.15) ? Math.min(4, rank + 1) : r.int(Math.max(0, rank - 2), rank);
  const out: number[] = [];
  for (let i = 0; i < outRank; i++) {
    const j = rank - outRank + i;
    if (j < 0) out.push(r.int(1, 2));
    else if (dims[j] === 1) out.push(r.chance(0.3) ? r.int(2, 3) : 1);
    else out.push(r.chance(0.3) ? 1 : dims[j]);
  }
  return out;
}

/** `|x| + 0.5` of a float value: positive, away from zero. */
function positive(b: GraphBuilder, x: string): string | undefined {
  const a = b.emit("Abs", [x]);
  if (!a) return undefined;
  return b.emit("Add", [a[0].name, b.floats([], 0.5, 0.5)])?.[0].name;
}

type Attrs = (r: Rand) => ReturnType<typeof attr>[];

function unary(op: string, ok: (v: Val) => boolean, attrs: Attrs = () => [], minOpset = 13, guard = false): Template {
  return {
    op,
    minOpset,
    build(b) {
      const x = b.pick(ok);
      if (!x) return false;
      const input = guard ? positive(b, x.name) : x.name;
      return input !== undefined && b.emit(op, [input], attrs(b.rand)) !== undefined;
    },
  };
}

const alpha = (lo: number, hi: number): Attrs => (r) =>
  r.chance(0.5) ? [attr("alpha", lo + r.float() * (hi - lo), true)] : [];

/** Unary float ops and activations; Abs, Neg, Sign on integers too; Not on booleans. */
export const UNARY: Template[] = [
  ...["Relu", "Sigmoid", "Tanh", "Exp", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Atan", "Softplus", "Softsign"]
    .map((op) => unary(op, isFloat)),
  unary("Selu", isFloat),
  unary("Elu", isFloat, alpha(0.1, 2)),
  unary("Celu", isFloat, alpha(0.5, 2)),
  unary("LeakyRelu", isFloat, alpha(0.01, 0.5)),
  unary("ThresholdedRelu", isFloat, alpha(-0.5, 0.5)),
  unary(
    "HardSigmoid",
    isFloat,
    (r) => r.chance(0.5) ? [attr("alpha", 0.1 + r.float() / 2, true), attr("beta", r.float(), true)] : [],
  ),
  unary("HardSwish", isFloat, undefined, 14),
  unary("Mish", isFloat, undefined, 18),
  unary("Gelu", isFloat, (r) => r.chance(0.5) ? [attr("approximate", r.pick(["none", "tanh"]))] : [], 20),
  unary("Sqrt", isFloat, undefined, 13, true),
  unary("Log", isFloat, undefined, 13, true),
  unary("Reciprocal", isFloat, undefined, 13, true),
  unary("Abs", isNumeric),
  unary("Neg", (v) => v.dtype !== BOOL),
  unary("Sign", isNumeric),
  unary("Not", (v) => v.dtype === BOOL),
  unary("IsNaN", isFloat),
  unary("IsInf", isFloat),
  unary("Identity", () => true),
];

/** A binary template; `guard` reads the second operand (Div) or the first (Pow) as `|x| + 0.5`. */
function binary(op: string, ok: (v: Val) => boolean, guard?: "first" | "second"): Template {
  return {
    op,
    weight: 1.5,
    build(b) {
      const x = b.pick(ok);
      if (!x) return false;
      let y = b.operand(x.dtype, partnerDims(b.rand, x.dims));
      let first: string | undefined = x.name;
      if (b.rand.chance(0.3)) [first, y] = [y, first];
      // a Pow base left negative now and then: NaN (x^0.5 of x < 0) must flow through every stage
      if (guard === "first" && b.rand.chance(0.9)) first = positive(b, first);
      const second = guard === "second" ? positive(b, y) : y;
      return first !== undefined && second !== undefined && b.emit(op, [first, second]) !== undefined;
    },
  };
}

/** Binary arithmetic, comparisons and logic with broadcasting; variadic Max, Min, Sum, Mean. */
export const BINARY: Template[] = [
  ...["Add", "Sub", "Mul"].map((op) => binary(op, isNumeric)),
  binary("Div", isFloat, "second"),
  binary("Pow", isFloat, "first"),
  ...["Less", "Greater", "LessOrEqual", "GreaterOrEqual"].map((op) => binary(op, isNumeric)),
  binary("Equal", (v) => v.dtype !== FLOAT),
  ...["And", "Or", "Xor"].map((op) => binary(op, (v) => v.dtype === BOOL)),
  ...["Max", "Min", "Sum", "Mean"].map((op): Template => ({
    op,
    build(b) {
      const x = b.pick(op === "Sum" || op === "Mean" ? isFloat : isNumeric);
      if (!x) return false;
      const n = b.rand.int(1, 3);
      const ins = [x.name, ...Array.from({ length: n - 1 }, () => b.operand(x.dtype, partnerDims(b.rand, x.dims)))];
      return b.emit(op, b.rand.shuffle(ins)) !== undefined;
    },
  })),
  {
    op: "PRelu",
    build(b) {
      const x = b.pick(isFloat);
      if (!x) return false;
      // the slope broadcasts to x (unidirectionally): a suffix of x's dims, some set to 1
      const k = b.rand.int(0, x.dims.length);
      const slope = x.dims.slice(x.dims.length - k).map((d) => b.rand.chance(0.4) ? 1 : d);
      return b.emit("PRelu", [x.name, b.operand(FLOAT, slope)]) !== undefined;
    },
  },
  {
    op: "Where",
    weight: 1.5,
    build(b) {
      const x = b.pick((v) => v.dtype !== BOOL || b.rand.chance(0.3));
      if (!x) return false;
      let cond = b.pick((v) => v.dtype === BOOL);
      if (!cond || (x.dtype !== BOOL && b.rand.chance(0.3))) {
        if (x.dtype === BOOL) return false;
        const c = b.emit("Greater", [x.name, b.operand(x.dtype, partnerDims(b.rand, x.dims))]);
        if (!c) return false;
        cond = c[0];
      }
      const y = b.operand(x.dtype, partnerDims(b.rand, x.dims));
      const ins = b.rand.chance(0.5) ? [cond.name, x.name, y] : [cond.name, y, x.name];
      return b.emit("Where", ins) !== undefined;
    },
  },
  {
    op: "Clip",
    build(b) {
      const x = b.pick(isNumeric);
      if (!x) return false;
      const bound = (lo: number, hi: number) => {
        const v = lo + b.rand.float() * (hi - lo);
        return b.constant(x.dtype, [], [x.dtype === FLOAT ? v : Math.round(v)]);
      };
      const form = b.rand.int(0, 3);
      const ins = [x.name];
      if (form === 1) ins.push(bound(-1.5, 0));
      if (form === 2) ins.push("", bound(0, 1.5));
      if (form === 3) ins.push(bound(-1.5, 0), bound(0.1, 1.5));
      return b.emit("Clip", ins) !== undefined;
    },
  },
  {
    op: "Cast",
    weight: 1.5,
    build(b) {
      const x = b.pick(() => true);
      if (!x) return false;
      const to = b.rand.pick([FLOAT, INT64, INT32, BOOL].filter((d) => d !== x.dtype));
      let input = x.name;
      // float to integer: clipped first and NaN made 0, so every value has an integer (C leaves NaN's open)
      if (x.dtype === FLOAT && to !== BOOL) {
        const c = b.emit("Clip", [input, b.floats([], -100, -100), b.floats([], 100, 100)]);
        const nan = b.emit("IsNaN", [input]);
        if (!c || !nan) return false;
        const w = b.emit("Where", [nan[0].name, b.floats([], 0, 0), c[0].name]);
        if (!w) return false;
        input = w[0].name;
      }
      return b.emit("Cast", [input], [attr("to", to)]) !== undefined;
    },
  },
];
