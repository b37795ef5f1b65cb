/**
 * Elementwise unary math: Abs, Neg, Reciprocal, Sqrt, Exp, Log, Ceil, Floor, Round (half to
 * even), Sign, the trigonometric and hyperbolic functions and their inverses, Erf, IsNaN,
 * IsInf, Not and BitwiseNot. Float results are computed in float64 and rounded once to the
 * input's type; integer results are exact in the input's width.
 * The float math is written once over the scalar algebra (`ir/algebra.ts`) and exported, for
 * the verifier to run over Z3 terms (`verify/symbolic.ts`).
 * @module
 */
import { DataType, isBigInt, isFloat, isInteger, isSignedInt } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import type { OpDef } from "./registry.ts";
import { registerOps } from "./registry.ts";
import type { RunContext } from "./run_context.ts";
import {
  inferSame,
  inferSameShape,
  isNumeric,
  requireDtype,
  roundHalfEven,
  unaryBigInt,
  unaryNumber,
  unaryPredicate,
} from "./_elementwise.ts";
import type { NumFn } from "./_elementwise.ts";
import { numberAlgebra, type PredicateFormula, type ScalarAlgebra, type UnaryFormula } from "../algebra.ts";

// ---------------------------------------------------------------------------------------------
// the math, once (ir/algebra.ts): run with numbers here, with Z3 terms by verify/symbolic.ts

/** x > 0 ? 1 : x < 0 ? -1 : NaN stays NaN, else 0. */
export const sign = <T, B>(alg: ScalarAlgebra<T, B>): (x: T) => T => {
  const z = alg.zero, o = alg.one, m = alg.neg(alg.one);
  return (x) => alg.select(alg.gt(x, z), o, alg.select(alg.lt(x, z), m, alg.select(alg.isNaN(x), x, z)));
};

/** The float math of the unary ops (Abs, Neg and Sign also run ≤32-bit integers through it). */
export const UNARY_FORMULAS: Record<string, UnaryFormula> = {
  Abs: (alg) => (x) => alg.abs(x),
  Neg: (alg) => (x) => alg.neg(x),
  Sign: (alg) => sign(alg),
  Reciprocal: (alg) => {
    const o = alg.one;
    return (x) => alg.div(o, x);
  },
  Sqrt: (alg) => (x) => alg.sqrt(x),
  Floor: (alg) => (x) => alg.floor(x),
  /** -floor(-x), which is IEEE ceil exactly (signed zeros, NaN, ±inf included) */
  Ceil: (alg) => (x) => alg.neg(alg.floor(alg.neg(x))),
  Exp: (alg) => alg.fn("exp"),
  Log: (alg) => alg.fn("log"),
  Erf: (alg) => alg.fn("erf"),
  Sin: (alg) => alg.fn("sin"),
  Cos: (alg) => alg.fn("cos"),
  Tan: (alg) => alg.fn("tan"),
  Asin: (alg) => alg.fn("asin"),
  Acos: (alg) => alg.fn("acos"),
  Atan: (alg) => alg.fn("atan"),
  Sinh: (alg) => alg.fn("sinh"),
  Cosh: (alg) => alg.fn("cosh"),
  Asinh: (alg) => alg.fn("asinh"),
  Acosh: (alg) => alg.fn("acosh"),
  Atanh: (alg) => alg.fn("atanh"),
};

/** IsNaN and IsInf (`detect_negative`, `detect_positive`): false over the reals. */
export const PREDICATE_FORMULAS: Record<string, PredicateFormula> = {
  IsNaN: (alg) => (x) => alg.isNaN(x),
  IsInf: (alg, nc) => {
    const neg = nc.attrInt("detect_negative", 1) !== 0, pos = nc.attrInt("detect_positive", 1) !== 0;
    const no = alg.bool(false);
    return (x) => alg.or(pos ? alg.isInf(x, 1) : no, neg ? alg.isInf(x, -1) : no);
  },
};

/** An op defined on float types only, by its formula. */
function floatOp(opType: string): OpDef {
  const f = UNARY_FORMULAS[opType];
  return floatNumOp(opType, (ctx) => f(numberAlgebra, ctx));
}

/** An op defined on float types only, by a number function (no formula: Round). */
function floatNumOp(opType: string, make: (ctx: RunContext) => NumFn): OpDef {
  return {
    opType,
    run(ctx: RunContext) {
      const x = ctx.input(0);
      requireDtype(ctx, x.dtype, isFloat, "a float type");
      return [unaryNumber(x, x.dtype, make(ctx))];
    },
    infer: inferSame,
  };
}

/** An op on every numeric type: `f` for floats and ≤32-bit ints, `big` for int64/uint64. */
function numericOp(
  opType: string,
  make: (ctx: RunContext) => NumFn,
  big: (x: bigint) => bigint,
  accepts: (d: number) => boolean = isNumeric,
): OpDef {
  return {
    opType,
    run(ctx: RunContext) {
      const x = ctx.input(0);
      requireDtype(ctx, x.dtype, accepts, "a numeric type");
      return [isBigInt(x.dtype) ? unaryBigInt(x, big) : unaryNumber(x, x.dtype, make(ctx))];
    },
    infer: inferSame,
  };
}

/** The number kernel of a formula of `UNARY_FORMULAS`. */
const numeric = (opType: string) => (ctx: RunContext): NumFn => UNARY_FORMULAS[opType](numberAlgebra, ctx);

const isSignedOrFloat = (d: number): boolean => isFloat(d) || isSignedInt(d);

const isInf: OpDef = {
  opType: "IsInf",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    return [unaryPredicate(x, PREDICATE_FORMULAS.IsInf(numberAlgebra, ctx))];
  },
  infer: (ctx) => inferSameShape(ctx, DataType.BOOL),
};

const isNaN_: OpDef = {
  opType: "IsNaN",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    return [unaryPredicate(x, PREDICATE_FORMULAS.IsNaN(numberAlgebra, ctx))];
  },
  infer: (ctx) => inferSameShape(ctx, DataType.BOOL),
};

const not: OpDef = {
  opType: "Not",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, (d) => d === DataType.BOOL, "bool");
    const v = x.data as Uint8Array;
    const out = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[i] ? 0 : 1;
    return [new Tensor(DataType.BOOL, x.dims, out)];
  },
  infer: inferSame,
};

registerOps([
  numericOp("Abs", numeric("Abs"), (x) => (x < 0n ? -x : x)),
  numericOp("Neg", numeric("Neg"), (x) => -x, isSignedOrFloat),
  numericOp("Sign", numeric("Sign"), (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n)),
  numericOp("BitwiseNot", () => (x) => ~x, (x) => ~x, isInteger),
  floatNumOp("Round", () => roundHalfEven),
  ...Object.keys(UNARY_FORMULAS).filter((op) => op !== "Abs" && op !== "Neg" && op !== "Sign").map(floatOp),
  isInf,
  isNaN_,
  not,
]);
