/**
 * Elementwise activations: Relu, LeakyRelu, PRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid,
 * HardSwish, Softplus, Softsign, Tanh, Mish, Gelu (`approximate` none | tanh), Swish,
 * ThresholdedRelu, Shrink and Clip (bounds as attributes before opset 11, as inputs since).
 * Float results are computed in float64 and rounded once to the input's type. The math of each
 * op is written once over the scalar algebra (`ir/algebra.ts`) and exported: the verifier runs
 * the same formulas over Z3 terms (`verify/symbolic.ts`).
 * @module
 */
import { isBigInt, isFloat, isSignedInt } from "../dtype.ts";
import { toNumbers } from "../tensor.ts";
import type { Tensor } from "../tensor.ts";
import type { OpDef } from "./registry.ts";
import { registerOps } from "./registry.ts";
import type { RunContext } from "./run_context.ts";
import type { NodeContext } from "./node_context.ts";
import {
  binaryBigInt,
  binaryNumber,
  inferBroadcast,
  inferSame,
  isNumeric,
  requireDtype,
  requireSameDtype,
  unaryBigInt,
  unaryNumber,
} from "./_elementwise.ts";
import { attrF32, numberAlgebra, type ScalarAlgebra, type UnaryFormula } from "../algebra.ts";

// ---------------------------------------------------------------------------------------------
// the math, once (ir/algebra.ts): run with numbers here, with Z3 terms by verify/symbolic.ts

/** max(0, x) (NaN stays NaN, -0 gives +0). */
export const relu = <T, B>(alg: ScalarAlgebra<T, B>): (x: T) => T => {
  const z = alg.zero;
  return (x) => alg.max(z, x);
};
/** x < 0 ? alpha·x : x */
export const leakyRelu = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number): (x: T) => T => {
  const a = alg.num(alpha), z = alg.zero;
  return (x) => alg.select(alg.lt(x, z), alg.mul(a, x), x);
};
/** x < 0 ? alpha·(e^x - 1) : x */
export const elu = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number): (x: T) => T => {
  const a = alg.num(alpha), z = alg.zero, expm1 = alg.fn("expm1");
  return (x) => alg.select(alg.lt(x, z), alg.mul(a, expm1(x)), x);
};
/** x > 0 ? gamma·x : gamma·alpha·(e^x - 1) */
export const selu = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number, gamma: number): (x: T) => T => {
  const g = alg.num(gamma), ga = alg.mul(g, alg.num(alpha)), z = alg.zero, expm1 = alg.fn("expm1");
  return (x) => alg.select(alg.gt(x, z), alg.mul(g, x), alg.mul(ga, expm1(x)));
};
/** max(0, x) + min(0, alpha·(e^(x/alpha) - 1)) */
export const celu = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number): (x: T) => T => {
  const a = alg.num(alpha), z = alg.zero, expm1 = alg.fn("expm1");
  return (x) => alg.add(alg.max(z, x), alg.min(z, alg.mul(a, expm1(alg.div(x, a)))));
};
/** max(0, min(1, alpha·x + beta)) */
export const hardSigmoid = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number, beta: number): (x: T) => T => {
  const a = alg.num(alpha), b = alg.num(beta), z = alg.zero, o = alg.one;
  return (x) => alg.max(z, alg.min(o, alg.add(alg.mul(a, x), b)));
};
/** x · max(0, min(1, x/6 + 1/2)) */
export const hardSwish = <T, B>(alg: ScalarAlgebra<T, B>): (x: T) => T => {
  const six = alg.num(6), half = alg.num(0.5), z = alg.zero, o = alg.one;
  return (x) => alg.mul(x, alg.max(z, alg.min(o, alg.add(alg.div(x, six), half))));
};
/** x / (1 + |x|) */
export const softsign = <T, B>(alg: ScalarAlgebra<T, B>): (x: T) => T => {
  const o = alg.one;
  return (x) => alg.div(x, alg.add(o, alg.abs(x)));
};
/** x · tanh(softplus(x)) */
export const mish = <T, B>(alg: ScalarAlgebra<T, B>): (x: T) => T => {
  const tanh = alg.fn("tanh"), softplus = alg.fn("softplus");
  return (x) => alg.mul(x, tanh(softplus(x)));
};
/** x · sigmoid(alpha·x) */
export const swish = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number): (x: T) => T => {
  const a = alg.num(alpha), sigmoid = alg.fn("sigmoid");
  return (x) => alg.mul(x, sigmoid(alg.mul(a, x)));
};
/** x > alpha ? x : 0 */
export const thresholdedRelu = <T, B>(alg: ScalarAlgebra<T, B>, alpha: number): (x: T) => T => {
  const a = alg.num(alpha), z = alg.zero;
  return (x) => alg.select(alg.gt(x, a), x, z);
};
/** x < -lambd ? x + bias : x > lambd ? x - bias : 0 */
export const shrink = <T, B>(alg: ScalarAlgebra<T, B>, lambd: number, bias: number): (x: T) => T => {
  const l = alg.num(lambd), nl = alg.neg(l), b = alg.num(bias), z = alg.zero;
  return (x) => alg.select(alg.lt(x, nl), alg.add(x, b), alg.select(alg.gt(x, l), alg.sub(x, b), z));
};
/** Gelu: x/2 · (1 + erf(x/√2)), or with `tanh`: x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const gelu = <T, B>(alg: ScalarAlgebra<T, B>, approximate: "none" | "tanh"): (x: T) => T => {
  const half = alg.num(0.5), o = alg.one;
  if (approximate === "tanh") {
    const k = alg.sqrt(alg.div(alg.num(2), alg.pi)), c = alg.num(0.044715), tanh = alg.fn("tanh");
    return (x) =>
      alg.mul(alg.mul(half, x), alg.add(o, tanh(alg.mul(k, alg.add(x, alg.mul(alg.mul(alg.mul(c, x), x), x))))));
  }
  const s2 = alg.sqrt(alg.num(2)), erf = alg.fn("erf");
  return (x) => alg.mul(alg.mul(half, x), alg.add(o, erf(alg.div(x, s2))));
};
/** min(max(x, lo), hi) as numpy's clip (hi wins when lo > hi; NaN stays NaN); a bound may be absent. */
export const clamp = <T, B>(alg: ScalarAlgebra<T, B>, lo: T | undefined, hi: T | undefined): (x: T) => T => {
  return (x) => {
    let r = x;
    if (lo !== undefined) r = alg.select(alg.lt(r, lo), lo, r);
    if (hi !== undefined) r = alg.select(alg.gt(r, hi), hi, r);
    return r;
  };
};
/** PRelu over floats: x < 0 ? x·slope : x */
export const prelu = <T, B>(alg: ScalarAlgebra<T, B>): (x: T, slope: T) => T => {
  const z = alg.zero;
  return (x, s) => alg.select(alg.lt(x, z), alg.mul(x, s), x);
};

/**
 * The activation com.microsoft FusedConv applies (ONNX Runtime's `activation`, with its
 * `activation_params`), by the formulas of the ops it names; undefined for a name ONNX Runtime
 * does not know. Parameters are float32, as ONNX stores them.
 */
export function fusedActivationFormula<T, B>(
  alg: ScalarAlgebra<T, B>,
  name: string,
  params: readonly number[],
): ((x: T) => T) | undefined {
  const p = params.map(Math.fround);
  switch (name) {
    case "Relu":
      return relu(alg);
    case "Sigmoid":
      return alg.fn("sigmoid");
    case "Tanh":
      return alg.fn("tanh");
    case "LeakyRelu":
      return leakyRelu(alg, p[0] ?? Math.fround(0.01));
    case "Clip": {
      const lo = p[0] ?? -Infinity, hi = p[1] ?? Infinity;
      return clamp(alg, Number.isFinite(lo) ? alg.num(lo) : undefined, Number.isFinite(hi) ? alg.num(hi) : undefined);
    }
    case "HardSigmoid":
      return hardSigmoid(alg, p[0] ?? Math.fround(0.2), p[1] ?? Math.fround(0.5));
    default:
      return undefined;
  }
}

/** Gelu's `approximate` attribute, checked. */
export function geluApproximate(nc: { attrString(n: string, d: string): string; fail(m: string): never }) {
  const approx = nc.attrString("approximate", "none");
  if (approx !== "none" && approx !== "tanh") nc.fail(`approximate must be 'none' or 'tanh', is '${approx}'`);
  return approx as "none" | "tanh";
}

/**
 * The float activations that are a function of one element: each op's formula with its
 * attributes read (float attributes rounded to float32, as ONNX stores them).
 */
export const ACTIVATION_FORMULAS: Record<string, UnaryFormula> = {
  Relu: (alg) => relu(alg),
  LeakyRelu: (alg, nc) => leakyRelu(alg, attrF32(nc, "alpha", 0.01)),
  Elu: (alg, nc) => elu(alg, attrF32(nc, "alpha", 1)),
  Selu: (alg, nc) =>
    selu(alg, attrF32(nc, "alpha", 1.67326319217681884765625), attrF32(nc, "gamma", 1.0507010221405029296875)),
  Celu: (alg, nc) => {
    const a = attrF32(nc, "alpha", 1);
    if (a === 0) nc.fail("alpha must not be 0");
    return celu(alg, a);
  },
  Sigmoid: (alg) => alg.fn("sigmoid"),
  HardSigmoid: (alg, nc) => hardSigmoid(alg, attrF32(nc, "alpha", 0.2), attrF32(nc, "beta", 0.5)),
  HardSwish: (alg) => hardSwish(alg),
  Softplus: (alg) => alg.fn("softplus"),
  Softsign: (alg) => softsign(alg),
  Tanh: (alg) => alg.fn("tanh"),
  Mish: (alg) => mish(alg),
  Gelu: (alg, nc) => gelu(alg, geluApproximate(nc)),
  Swish: (alg, nc) => swish(alg, attrF32(nc, "alpha", 1)),
  ThresholdedRelu: (alg, nc) => thresholdedRelu(alg, attrF32(nc, "alpha", 1)),
  Shrink: (alg, nc) => shrink(alg, attrF32(nc, "lambd", 0.5), attrF32(nc, "bias", 0)),
};

/** A float-only activation whose formula is `ACTIVATION_FORMULAS[opType]`. */
function floatAct(opType: string): OpDef {
  const f = ACTIVATION_FORMULAS[opType];
  return {
    opType,
    run(ctx) {
      const x = ctx.input(0);
      requireDtype(ctx, x.dtype, isFloat, "a float type");
      return [unaryNumber(x, x.dtype, f(numberAlgebra, ctx))];
    },
    infer: inferSame,
  };
}

const reluOp: OpDef = {
  opType: "Relu",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, (d) => isFloat(d) || isSignedInt(d), "a float or signed integer type");
    if (isBigInt(x.dtype)) return [unaryBigInt(x, (v) => (v > 0n ? v : 0n))];
    return [unaryNumber(x, x.dtype, relu(numberAlgebra))];
  },
  infer: inferSame,
};

const intPrelu = (v: number, s: number): number => (v < 0 ? Math.imul(v, s) : v);

const preluOp: OpDef = {
  opType: "PRelu",
  run(ctx) {
    const x = ctx.input(0), slope = ctx.input(1);
    requireSameDtype(ctx, [x, slope]);
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    const y = isBigInt(x.dtype)
      ? binaryBigInt(ctx, x, slope, x.dtype, (v, s) => (v < 0n ? v * s : v))
      : binaryNumber(ctx, x, slope, x.dtype, isFloat(x.dtype) ? prelu(numberAlgebra) : intPrelu);
    if (y.dims.length !== x.dims.length || y.dims.some((d, i) => d !== x.dims[i])) {
      ctx.fail(`slope of shape [${slope.dims}] does not broadcast to X of shape [${x.dims}]`);
    }
    return [y];
  },
  infer: (ctx) => inferBroadcast(ctx, ctx.dtype(0)),
};

const shrinkOp: OpDef = {
  opType: "Shrink",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    return [unaryNumber(x, x.dtype, ACTIVATION_FORMULAS.Shrink(numberAlgebra, ctx))];
  },
  infer: inferSame,
};

// ---------------------------------------------------------------------------------------------
// Clip

/** A scalar bound input (or undefined when omitted); fails when it is not a one-element tensor. */
function bound(ctx: RunContext, i: number, x: Tensor): Tensor | undefined {
  if (!ctx.hasInput(i)) return undefined;
  const t = ctx.optionalInput(i);
  if (!t) return undefined;
  if (t.size !== 1) ctx.fail(`${i === 1 ? "min" : "max"} must be a scalar, has shape [${t.dims}]`);
  if (t.dtype !== x.dtype) ctx.fail(`${i === 1 ? "min" : "max"} has a different element type than the input`);
  return t;
}

const clip: OpDef = {
  opType: "Clip",
  run(ctx) {
    const x = ctx.input(0);
    requireDtype(ctx, x.dtype, isNumeric, "a numeric type");
    if (ctx.opset < 11) {
      const [lo, hi] = clipAttrBounds(ctx);
      return [unaryNumber(x, x.dtype, clamp(numberAlgebra, lo, hi))];
    }
    const loT = bound(ctx, 1, x), hiT = bound(ctx, 2, x);
    if (isBigInt(x.dtype)) {
      const lo = loT ? (loT.data as BigInt64Array)[0] : undefined;
      const hi = hiT ? (hiT.data as BigInt64Array)[0] : undefined;
      return [unaryBigInt(x, (v) => {
        let r = lo !== undefined && v < lo ? lo : v;
        if (hi !== undefined && r > hi) r = hi;
        return r;
      })];
    }
    const lo = loT ? toNumbers(loT)[0] : undefined;
    const hi = hiT ? toNumbers(hiT)[0] : undefined;
    return [unaryNumber(x, x.dtype, clamp(numberAlgebra, lo, hi))];
  },
  infer: inferSame,
};

/** Clip's bounds before opset 11 (attributes, float32 as ONNX stores them). */
export function clipAttrBounds(nc: NodeContext): [number, number] {
  return [attrF32(nc, "min", -3.4028234663852886e38), attrF32(nc, "max", 3.4028234663852886e38)];
}

// ---------------------------------------------------------------------------------------------

registerOps([
  reluOp,
  preluOp,
  shrinkOp,
  clip,
  ...Object.keys(ACTIVATION_FORMULAS).filter((op) => op !== "Relu" && op !== "Shrink").map(floatAct),
]);
