/**
 * The scalar algebra op semantics are written over (DESIGN.md, "one semantics, several
 * interpretations"): an elementwise op's math is written once, as a function of a
 * `ScalarAlgebra<T, B>` (T: a number-like scalar, B: a boolean), and interpreted twice:
 * - with `numberAlgebra` (float64 JS numbers, IEEE: NaN, ±inf, ±0) by the reference
 *   interpreter's kernels (`ir/ops/`), and
 * - with Z3 real terms (`verify/z3_algebra.ts`) by the verifier (`verify/symbolic.ts`),
 * so what Z3 proves about an op is, by construction, the formula the reference computes.
 *
 * Formulas are *staged*: `(alg, params…) => (x…) => T`. The outer call reads attributes and
 * builds constants once per node; the inner function runs per element (for numbers it is the
 * kernel itself, so the interpreter pays no per-element dispatch).
 *
 * The primitives are where the two interpretations meet, and the only place where one thing has
 * two definitions: each primitive's number definition is an IEEE computation of the real
 * function its Z3 definition states. Those that are not plain arithmetic:
 * - `div(a, b)`: IEEE a/b; over the reals a·(1/b) (1/0 is a free real in Z3).
 * - `min`/`max`: NaN if either is NaN, else the second if strictly smaller/larger, else the
 *   first (ties, ±0, keep the first argument); over the reals the same `ite`.
 * - `pow(x, e)`: C's pow; over the reals a product for a small integer constant e, √ for
 *   e = 1/2, else an uninterpreted function.
 * - `fn(name)`: exp, log, erf, tanh, the trigonometric functions… are `Math` (or `erf` here)
 *   on numbers, uninterpreted functions in Z3 (exp(t) > 0 known). `expm1`, `log1p`, `sigmoid`
 *   and `softplus` are numerically careful forms of exp(x) - 1, log(1 + x), 1/(1 + exp(-x))
 *   and log(1 + exp(x)), which is what Z3 is given.
 * - `isNaN`, `isInf`: IEEE tests on numbers, false over the reals (which have neither).
 * - `sqrt`: Math.sqrt; in Z3 an uninterpreted s with t ≥ 0 ⇒ s ≥ 0 ∧ s² = t.
 * @module
 */
import type { NodeContext } from "./ops/node_context.ts";
import { erf } from "./ops/_elementwise.ts";

/** The functions a scalar algebra knows by name (uninterpreted in Z3; see the module notes). */
export type Transcendental =
  | "exp"
  | "log"
  | "expm1"
  | "log1p"
  | "erf"
  | "tanh"
  | "sigmoid"
  | "softplus"
  | "sin"
  | "cos"
  | "tan"
  | "asin"
  | "acos"
  | "atan"
  | "sinh"
  | "cosh"
  | "asinh"
  | "acosh"
  | "atanh";

/**
 * A scalar algebra: what an op's formula may use. `T` is a scalar, `B` a truth value.
 * Implementations: `numberAlgebra` here, `Z3Algebra` in `verify/z3_algebra.ts`.
 */
export interface ScalarAlgebra<T, B> {
  /** 0 */
  readonly zero: T;
  /** 1 */
  readonly one: T;
  /** π */
  readonly pi: T;
  /** The exact value of a double (Z3: a constant that is ±inf or NaN is unsupported). */
  num(v: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  neg(a: T): T;
  abs(a: T): T;
  /** NaN-propagating; ties keep `a` (see the module notes). */
  min(a: T, b: T): T;
  /** NaN-propagating; ties keep `a` (see the module notes). */
  max(a: T, b: T): T;
  sqrt(a: T): T;
  floor(a: T): T;
  /** x^e as C's pow. */
  pow(x: T, e: T): T;
  /** A named function, as a function value (look it up once, call it per element). */
  fn(name: Transcendental): (x: T) => T;
  lt(a: T, b: T): B;
  le(a: T, b: T): B;
  gt(a: T, b: T): B;
  ge(a: T, b: T): B;
  eq(a: T, b: T): B;
  /** True for NaN (never over the reals). */
  isNaN(a: T): B;
  /** True for +inf (`sign` 1) or -inf (`sign` -1) (never over the reals). */
  isInf(a: T, sign: 1 | -1): B;
  bool(v: boolean): B;
  not(a: B): B;
  and(a: B, b: B): B;
  or(a: B, b: B): B;
  xor(a: B, b: B): B;
  /** `c ? a : b`, for scalars or truth values. */
  select<X extends T | B>(c: B, a: X, b: X): X;
}

// ---------------------------------------------------------------------------------------------
// formula shapes of the elementwise ops

/** A unary op's math: attributes read from the node once, then one function per element. */
export type UnaryFormula = <T, B>(alg: ScalarAlgebra<T, B>, nc: NodeContext) => (x: T) => T;
/** A binary op's math (numpy broadcasting is applied around it). */
export type BinaryFormula = <T, B>(alg: ScalarAlgebra<T, B>) => (a: T, b: T) => T;
/** A comparison: two scalars to a truth value. */
export type CompareFormula = <T, B>(alg: ScalarAlgebra<T, B>) => (a: T, b: T) => B;
/** A test of one scalar (IsNaN, IsInf). */
export type PredicateFormula = <T, B>(alg: ScalarAlgebra<T, B>, nc: NodeContext) => (x: T) => B;
/** A logical op on truth values. */
export type LogicFormula = <T, B>(alg: ScalarAlgebra<T, B>) => (a: B, b: B) => B;
/** A choice by a truth value, of scalars or of truth values (Where). */
export type SelectFormula = <T, B>(alg: ScalarAlgebra<T, B>) => <X extends T | B>(c: B, a: X, b: X) => X;
/**
 * A variadic op (Sum, Mean, Max, Min): `step` folds the inputs left to right starting from the
 * first; `finish` (Mean) maps the folded value given the number of inputs.
 */
export interface FoldFormula {
  step<T, B>(alg: ScalarAlgebra<T, B>): (acc: T, x: T) => T;
  finish?<T, B>(alg: ScalarAlgebra<T, B>, count: number): (acc: T) => T;
}

/** A float attribute as ONNX stores it (AttributeProto.f is a float32), its default rounded alike. */
export function attrF32(nc: NodeContext, name: string, def: number): number {
  return Math.fround(nc.attrFloat(name, def));
}

// ---------------------------------------------------------------------------------------------
// numbers

/** 1 / (1 + e^-x), without overflow for x < 0. */
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

const NUMBER_FNS: Record<Transcendental, (x: number) => number> = {
  exp: Math.exp,
  log: Math.log,
  expm1: Math.expm1,
  log1p: Math.log1p,
  erf,
  tanh: Math.tanh,
  sigmoid,
  softplus,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
};

/** C's pow: pow(1, y) = 1 and pow(-1, ±∞) = 1, where JavaScript gives NaN. */
export function cpow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

/**
 * The algebra of float64 numbers (IEEE), the reference interpreter's.
 * @example
 * ```ts
 * import { numberAlgebra as n } from "./algebra.ts";
 * if (n.max(n.zero, NaN) === n.max(n.zero, NaN)) throw new Error("max propagates NaN");
 * if (!Object.is(n.max(n.zero, -0), 0)) throw new Error("ties keep the first argument");
 * ```
 */
export const numberAlgebra: ScalarAlgebra<number, boolean> = {
  zero: 0,
  one: 1,
  pi: Math.PI,
  num: (v) => v,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  neg: (a) => -a,
  abs: Math.abs,
  min: (a, b) => (a !== a || b !== b ? NaN : b < a ? b : a),
  max: (a, b) => (a !== a || b !== b ? NaN : b > a ? b : a),
  sqrt: Math.sqrt,
  floor: Math.floor,
  pow: cpow,
  fn: (name) => NUMBER_FNS[name],
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
  eq: (a, b) => a === b,
  isNaN: (a) => a !== a,
  isInf: (a, sign) => a === sign * Infinity,
  bool: (v) => v,
  not: (a) => !a,
  and: (a, b) => a && b,
  or: (a, b) => a || b,
  xor: (a, b) => a !== b,
  select: (c, a, b) => (c ? a : b),
};
