/**
 * Elementwise binary and variadic ops with multidirectional (numpy) broadcasting: Add, Sub,
 * Mul, Div (integers truncate toward zero), Pow (base and exponent of different types), Mod
 * (`fmod`), BitShift, And/Or/Xor, BitwiseAnd/Or/Xor, the comparisons (Equal on strings too),
 * Where, and the variadic Sum, Mean, Max, Min.
 *
 * Floats are computed in float64 and rounded once to the output type; integers of up to 32
 * bits are exact and wrap to their width on store; int64/uint64 use BigInt.
 * The float math is written once over the scalar algebra (`ir/algebra.ts`) and exported, for
 * the verifier to run over Z3 terms (`verify/symbolic.ts`).
 * @module
 */
import { bitsPerElement, DataType, isBigInt, isFloat, isInteger, isUnsignedInt } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import type { OpDef } from "./registry.ts";
import { registerOps } from "./registry.ts";
import type { RunContext } from "./run_context.ts";
import type { InferContext } from "./infer_context.ts";
import {
  bigOutput,
  bigView,
  binaryBigInt,
  binaryNumber,
  binaryRawPredicate,
  broadcastTensors,
  foldVariadic,
  inferBroadcast,
  isNumeric,
  legacyB,
  numView,
  requireDtype,
  requireSameDtype,
  selectRaw,
  variadicInputs,
} from "./_elementwise.ts";
import type { BigFn2, NumFn2 } from "./_elementwise.ts";
import {
  type BinaryFormula,
  type CompareFormula,
  cpow,
  type FoldFormula,
  type LogicFormula,
  numberAlgebra,
  type SelectFormula,
} from "../algebra.ts";

// ---------------------------------------------------------------------------------------------
// the math, once (ir/algebra.ts): run with numbers here, with Z3 terms by verify/symbolic.ts.
// Integers (≤32-bit wrapping, int64 in BigInt) have their own kernels below: the verifier keeps
// integer tensors concrete and runs them through these ops, so it never needs their formulas.

/** The float math of Add, Sub, Mul, Div and Pow. */
export const ARITH_FORMULAS: Record<"Add" | "Sub" | "Mul" | "Div" | "Pow", BinaryFormula> = {
  Add: (alg) => (a, b) => alg.add(a, b),
  Sub: (alg) => (a, b) => alg.sub(a, b),
  Mul: (alg) => (a, b) => alg.mul(a, b),
  Div: (alg) => (a, b) => alg.div(a, b),
  Pow: (alg) => (x, e) => alg.pow(x, e),
};

/** The comparisons, on numbers (Equal of bools compares them as 0/1). */
export const COMPARE_FORMULAS: Record<"Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual", CompareFormula> =
  {
    Equal: (alg) => (a, b) => alg.eq(a, b),
    Less: (alg) => (a, b) => alg.lt(a, b),
    LessOrEqual: (alg) => (a, b) => alg.le(a, b),
    Greater: (alg) => (a, b) => alg.gt(a, b),
    GreaterOrEqual: (alg) => (a, b) => alg.ge(a, b),
  };

/** And, Or, Xor on bools. */
export const LOGIC_FORMULAS: Record<"And" | "Or" | "Xor", LogicFormula> = {
  And: (alg) => (a, b) => alg.and(a, b),
  Or: (alg) => (a, b) => alg.or(a, b),
  Xor: (alg) => (a, b) => alg.xor(a, b),
};

/** Where: c ? x : y. */
export const WHERE_FORMULA: SelectFormula = (alg) => (c, a, b) => alg.select(c, a, b);

/** The float math of the variadic Sum, Mean, Max, Min (left fold from the first input). */
export const FOLD_FORMULAS: Record<"Sum" | "Mean" | "Max" | "Min", FoldFormula> = {
  Sum: { step: (alg) => (a, b) => alg.add(a, b) },
  Mean: {
    step: (alg) => (a, b) => alg.add(a, b),
    finish: (alg, count) => {
      const n = alg.num(count);
      return (acc) => alg.div(acc, n);
    },
  },
  Max: { step: (alg) => (a, b) => alg.max(a, b) },
  Min: { step: (alg) => (a, b) => alg.min(a, b) },
};

/** Kernels of an arithmetic op: floats, ≤32-bit ints (results wrap on store), int64/uint64. */
interface ArithKernels {
  float: NumFn2;
  int: NumFn2;
  big: BigFn2;
}

/** Same-type binary op over numeric tensors; `dtypes` restricts the accepted element types. */
function arith(opType: string, k: ArithKernels, dtypes: (d: number) => boolean = isNumeric): OpDef {
  return {
    opType,
    run(ctx) {
      const a = ctx.input(0), b = legacyB(ctx, ctx.input(0), ctx.input(1));
      requireSameDtype(ctx, [a, b]);
      requireDtype(ctx, a.dtype, dtypes, "a numeric type");
      return [binaryOn(ctx, a, b, k)];
    },
    infer: (ctx) => inferBroadcast(ctx),
  };
}

function binaryOn(ctx: RunContext, a: Tensor, b: Tensor, k: ArithKernels): Tensor {
  if (isBigInt(a.dtype)) return binaryBigInt(ctx, a, b, a.dtype, k.big);
  return binaryNumber(ctx, a, b, a.dtype, isFloat(a.dtype) ? k.float : k.int);
}

// ---------------------------------------------------------------------------------------------
// Pow

/** x^e for an integer e ≥ 0, wrapped to 32 bits at each step (exact low bits). */
function ipow32(x: number, e: number): number {
  let r = 1, b = x | 0;
  while (e > 0) {
    if (e & 1) r = Math.imul(r, b);
    b = Math.imul(b, b);
    e = Math.floor(e / 2);
  }
  return r;
}

/** x^e for an integer e ≥ 0, wrapped to 64 bits at each step. */
function ipow64(x: bigint, e: bigint): bigint {
  let r = 1n, b = x;
  while (e > 0n) {
    if (e & 1n) r = BigInt.asIntN(64, r * b);
    b = BigInt.asIntN(64, b * b);
    e >>= 1n;
  }
  return r;
}

/** A double (result of a float pow) as an int64 value, saturating like `fromNumbers`. */
function doubleToBig(v: number): bigint {
  if (Number.isNaN(v)) return 0n;
  if (v >= 9223372036854775807) return 9223372036854775807n;
  if (v <= -9223372036854775808) return -9223372036854775808n;
  return BigInt(Math.trunc(v));
}

const pow: OpDef = {
  opType: "Pow",
  run(ctx) {
    const x = ctx.input(0), y = legacyB(ctx, ctx.input(0), ctx.input(1));
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    requireDtype(ctx, y.dtype, isNumeric, "a numeric type");
    if (isFloat(x.dtype)) return [binaryNumber(ctx, x, y, x.dtype, ARITH_FORMULAS.Pow(numberAlgebra))];
    if (!isBigInt(x.dtype)) {
      const intExp = (a: number, e: number) => (Number.isInteger(e) && e >= 0 ? ipow32(a, e) : Math.trunc(cpow(a, e)));
      return [binaryNumber(ctx, x, y, x.dtype, intExp)];
    }
    // int64 / uint64 base
    const { dims, size: n, maps: [mx, my] } = broadcastTensors(ctx, [x, y]);
    const vx = bigView(x);
    const out = bigOutput(x.dtype, n);
    const unsigned = x.dtype === DataType.UINT64;
    const wrap = (r: bigint) => (unsigned ? BigInt.asUintN(64, r) : BigInt.asIntN(64, r));
    if (isBigInt(y.dtype)) {
      const vy = bigView(y);
      for (let i = 0; i < n; i++) {
        const a = vx[mx ? mx[i] : i], e = vy[my ? my[i] : i];
        out[i] = wrap(e >= 0n ? ipow64(a, e) : doubleToBig(cpow(Number(a), Number(e))));
      }
    } else {
      const vy = numView(y);
      for (let i = 0; i < n; i++) {
        const a = vx[mx ? mx[i] : i], e = vy[my ? my[i] : i];
        out[i] = wrap(Number.isInteger(e) && e >= 0 ? ipow64(a, BigInt(e)) : doubleToBig(cpow(Number(a), e)));
      }
    }
    return [new Tensor(x.dtype, dims, out)];
  },
  infer: (ctx) => inferBroadcast(ctx, ctx.dtype(0)),
};

// ---------------------------------------------------------------------------------------------
// Mod, BitShift

/** Remainder with the divisor's sign (Python's %), for floats. */
function floorMod(x: number, y: number): number {
  const r = x % y;
  return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
}

const mod: OpDef = {
  opType: "Mod",
  run(ctx) {
    const a = ctx.input(0), b = ctx.input(1);
    requireSameDtype(ctx, [a, b]);
    requireDtype(ctx, a.dtype, isNumeric, "a numeric type");
    const fmod = ctx.attrInt("fmod", 0);
    if (fmod !== 0 && fmod !== 1) ctx.fail(`fmod must be 0 or 1, is ${fmod}`);
    if (fmod === 1) {
      return [binaryOn(ctx, a, b, {
        float: (x, y) => x % y,
        int: (x, y) => (y === 0 ? 0 : x % y),
        big: (x, y) => (y === 0n ? 0n : x % y),
      })];
    }
    return [binaryOn(ctx, a, b, {
      float: floorMod,
      int: (x, y) => (y === 0 ? 0 : floorMod(x, y)),
      big: (x, y) => {
        if (y === 0n) return 0n;
        const r = x % y;
        return r !== 0n && (r < 0n) !== (y < 0n) ? r + y : r;
      },
    })];
  },
  infer: (ctx) => inferBroadcast(ctx),
};

const bitShift: OpDef = {
  opType: "BitShift",
  run(ctx) {
    const a = ctx.input(0), b = ctx.input(1);
    requireSameDtype(ctx, [a, b]);
    requireDtype(ctx, a.dtype, isUnsignedInt, "an unsigned integer type");
    const dir = ctx.attrString("direction");
    if (dir !== "LEFT" && dir !== "RIGHT") ctx.fail(`direction must be LEFT or RIGHT, is '${dir}'`);
    const left = dir === "LEFT";
    const bits = bitsPerElement(a.dtype);
    return [binaryOn(ctx, a, b, {
      float: () => 0,
      int: left ? (x, y) => (y >= bits ? 0 : (x << y) >>> 0) : (x, y) => (y >= bits ? 0 : x >>> y),
      big: left ? (x, y) => (y >= 64n ? 0n : x << y) : (x, y) => (y >= 64n ? 0n : x >> y),
    })];
  },
  infer: (ctx) => inferBroadcast(ctx),
};

// ---------------------------------------------------------------------------------------------
// logic and bitwise

function logical(opType: "And" | "Or" | "Xor"): OpDef {
  const g = LOGIC_FORMULAS[opType](numberAlgebra);
  const f: NumFn2 = (x, y) => (g(x !== 0, y !== 0) ? 1 : 0);
  return {
    opType,
    run(ctx) {
      const a = ctx.input(0), b = legacyB(ctx, ctx.input(0), ctx.input(1));
      requireDtype(ctx, a.dtype, (d) => d === DataType.BOOL, "bool");
      requireSameDtype(ctx, [a, b]);
      return [binaryNumber(ctx, a, b, DataType.BOOL, f)];
    },
    infer: (ctx) => inferBroadcast(ctx, DataType.BOOL),
  };
}

function bitwise(opType: string, int: NumFn2, big: BigFn2): OpDef {
  return arith(opType, { float: () => 0, int, big }, isInteger);
}

// ---------------------------------------------------------------------------------------------
// comparisons

type BigCmp = (x: bigint, y: bigint) => boolean;

function comparison(
  opType: keyof typeof COMPARE_FORMULAS,
  bigCmp: BigCmp,
  strCmp?: (x: string, y: string) => boolean,
): OpDef {
  const cmp = COMPARE_FORMULAS[opType](numberAlgebra);
  return {
    opType,
    run(ctx) {
      const a = ctx.input(0), b = legacyB(ctx, ctx.input(0), ctx.input(1));
      requireSameDtype(ctx, [a, b]);
      if (a.dtype === DataType.STRING) {
        const sc = strCmp ?? ctx.fail("string inputs are not supported");
        return [binaryRawPredicate(ctx, a, b, a.data as string[], b.data as string[], sc)];
      }
      requireDtype(ctx, a.dtype, (d) => isNumeric(d) || d === DataType.BOOL, "a numeric or bool type");
      if (isBigInt(a.dtype)) return [binaryRawPredicate(ctx, a, b, bigView(a), bigView(b), bigCmp)];
      return [binaryNumber(ctx, a, b, DataType.BOOL, (x, y) => (cmp(x, y) ? 1 : 0))];
    },
    infer: (ctx) => inferBroadcast(ctx, DataType.BOOL),
  };
}

// ---------------------------------------------------------------------------------------------
// Where

const where: OpDef = {
  opType: "Where",
  run(ctx) {
    const c = ctx.input(0), x = ctx.input(1), y = ctx.input(2);
    requireDtype(ctx, c.dtype, (d) => d === DataType.BOOL, "a bool condition");
    requireSameDtype(ctx, [x, y]);
    return [selectRaw(ctx, c, x, y, WHERE_FORMULA(numberAlgebra))];
  },
  infer: (ctx: InferContext) => inferBroadcast(ctx, ctx.dtype(1) ?? ctx.dtype(2), [0, 1, 2]),
};

// ---------------------------------------------------------------------------------------------
// variadic

function variadic(opType: keyof typeof FOLD_FORMULAS, big: BigFn2 | undefined, floatOnly = false): OpDef {
  const f = FOLD_FORMULAS[opType], num = f.step(numberAlgebra);
  return {
    opType,
    run(ctx) {
      const xs = variadicInputs(ctx);
      if (xs.length === 0) ctx.fail("needs at least one input");
      requireDtype(ctx, xs[0].dtype, floatOnly ? isFloat : isNumeric, floatOnly ? "a float type" : "a numeric type");
      const k = xs.length;
      return [foldVariadic(ctx, xs, num, big, f.finish?.(numberAlgebra, k))];
    },
    infer: (ctx) => inferBroadcast(ctx, ctx.dtype(0)),
  };
}

// ---------------------------------------------------------------------------------------------

/** Integer division truncating toward zero; 0 for a zero divisor (ONNX leaves it undefined). */
const idiv: NumFn2 = (x, y) => (y === 0 ? 0 : Math.trunc(x / y));

/** A same-type arithmetic op: floats by its formula, integers by their own kernels. */
const arithOf = (op: "Add" | "Sub" | "Mul" | "Div", int: NumFn2, big: BigFn2): OpDef =>
  arith(op, { float: ARITH_FORMULAS[op](numberAlgebra), int, big });

registerOps([
  arithOf("Add", (x, y) => x + y, (x, y) => x + y),
  arithOf("Sub", (x, y) => x - y, (x, y) => x - y),
  arithOf("Mul", Math.imul, (x, y) => x * y),
  arithOf("Div", idiv, (x, y) => (y === 0n ? 0n : x / y)),
  pow,
  mod,
  bitShift,
  logical("And"),
  logical("Or"),
  logical("Xor"),
  bitwise("BitwiseAnd", (x, y) => x & y, (x, y) => x & y),
  bitwise("BitwiseOr", (x, y) => x | y, (x, y) => x | y),
  bitwise("BitwiseXor", (x, y) => x ^ y, (x, y) => x ^ y),
  comparison("Equal", (x, y) => x === y, (x, y) => x === y),
  comparison("Greater", (x, y) => x > y),
  comparison("Less", (x, y) => x < y),
  comparison("GreaterOrEqual", (x, y) => x >= y),
  comparison("LessOrEqual", (x, y) => x <= y),
  where,
  variadic("Sum", (a, b) => a + b),
  variadic("Mean", undefined, true),
  variadic("Max", (a, b) => (a >= b ? a : b)),
  variadic("Min", (a, b) => (a <= b ? a : b)),
]);
