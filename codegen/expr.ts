/**
 * Elementwise ops as WGSL expressions: for each unary, binary, ternary and variadic op the
 * backend fuses, which inputs it reads and the expression of its output from theirs. The fusion
 * pass (`fusion.ts`) strings these together into one kernel or a GEMM/Conv epilogue.
 *
 * Semantics follow `ir/ops/` (the reference): Relu keeps NaN, Sigmoid is the stable form, Pow
 * takes negative bases with integer exponents, integer Div truncates with 0 for a zero divisor,
 * results of 8/16-bit integer types wrap to their width. Erf and Tanh are float32 rational
 * approximations (Eigen's; |error| < 3e-7) rather than the driver's builtins, whose accuracy
 * WGSL leaves open.
 * @module
 */
import { DataType, dtypeName, isFloat } from "../ir/dtype.ts";
import type { Node } from "../ir/graph.ts";
import type { NodeContext } from "../ir/ops/node_context.ts";
import { type Tensor, toNumbers } from "../ir/tensor.ts";
import { type ElemType, storageType, unsupported } from "./kernel.ts";
import { f32Lit } from "./wgsl.ts";
import { FDIV } from "./fdiv.ts";

/** What an elementwise op needs to know of its node. */
export interface EwContext {
  node: Node;
  attrs: NodeContext;
  opset: number;
  /** dtype of each input position (undefined when omitted) */
  inDtypes: readonly (number | undefined)[];
  outDtype: number;
  /** the known value of input `i`, if any */
  constant(i: number): Tensor | undefined;
}

/** One elementwise op: the inputs it reads and its output expression. */
export interface EwOp {
  /** input positions read, in the order `emit` receives their expressions */
  args: number[];
  emit(a: string[]): string;
  /** names of helper functions (keys of `HELPERS`) the expression calls */
  helpers: string[];
}

/** WGSL helper functions, by name. */
export const HELPERS: Record<string, string> = {
  fdiv_: FDIV,
  erf_: `fn erf_(x0: f32) -> f32 {
  let x = clamp(x0, -4.0, 4.0);
  let x2 = x * x;
  var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08;
  p = x2 * p - 2.10102402082508e-06;
  p = x2 * p - 5.69250639462346e-05;
  p = x2 * p - 7.34990630326855e-04;
  p = x2 * p - 2.95459980854025e-03;
  p = x2 * p - 1.60960333262415e-02;
  var q = x2 * -1.45660718464996e-05 - 2.13374055278905e-04;
  q = x2 * q - 1.68282697438203e-03;
  q = x2 * q - 7.37332916720468e-03;
  q = x2 * q - 1.42647390514189e-02;
  return select(x * p / q, x0, x0 != x0);
}`,
  tanh_: `fn tanh_(x0: f32) -> f32 {
  let x = clamp(x0, -7.90531110763549805, 7.90531110763549805);
  let x2 = x * x;
  var p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13;
  p = x2 * p - 8.60467152213735e-11;
  p = x2 * p + 5.12229709037114e-08;
  p = x2 * p + 1.48572235717979e-05;
  p = x2 * p + 6.37261928875436e-04;
  p = x2 * p + 4.89352455891786e-03;
  var q = x2 * 1.19825839466702e-06 + 1.18534705686654e-04;
  q = x2 * q + 2.26843463243900e-03;
  q = x2 * q + 4.89352518554385e-03;
  return select(x * p / q, x0, x0 != x0);
}`,
  sigmoid_: `fn sigmoid_(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
}`,
  softplus_: `fn softplus_(x: f32) -> f32 {
  return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}`,
  expm1_: `fn expm1_(x: f32) -> f32 {
  if (abs(x) < 1e-3) { return x + 0.5 * x * x + x * x * x / 6.0; }
  return exp(x) - 1.0;
}`,
  pow_: `fn pow_(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  if (isnan_(x) || isnan_(y)) { return bitcast<f32>(saturn_nan_bits); }
  if (x == 0.0) { return select(0.0, bitcast<f32>(saturn_inf_bits), y < 0.0); }
  if (x < 0.0) {
    if (y != floor(y)) { return bitcast<f32>(saturn_nan_bits); }
    let r = pow(-x, y);
    return select(r, -r, abs(y) % 2.0 == 1.0);
  }
  return pow(x, y);
}`,
  isnan_: `fn isnan_(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}`,
  // WGSL's min, max and sign leave NaN to the implementation (llvmpipe drops it); ONNX propagates it
  fmin_: `fn fmin_(a: f32, b: f32) -> f32 {
  return select(min(a, b), bitcast<f32>(saturn_nan_bits), isnan_(a) || isnan_(b));
}`,
  fmax_: `fn fmax_(a: f32, b: f32) -> f32 {
  return select(max(a, b), bitcast<f32>(saturn_nan_bits), isnan_(a) || isnan_(b));
}`,
  idiv_: `fn idiv_(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  return a / b;
}`,
  irem_: `fn irem_(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let r = i32(u32(abs(a)) % u32(abs(b)));
  return select(r, -r, a < 0);
}`,
  imod_: `fn imod_(a: i32, b: i32) -> i32 {
  let r = irem_(a, b);
  return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}`,
  ipow_: `fn ipow_(x: i32, e0: i32) -> i32 {
  if (e0 < 0) { return i32(trunc(pow(f32(x), f32(e0)))); }
  var r = 1; var b = x; var e = e0;
  while (e > 0) { if ((e & 1) == 1) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}`,
};

/** Wrap an i32 expression to the width of a narrow integer dtype (identity for 32/64-bit types). */
export function wrapInt(dtype: number, e: string): string {
  switch (dtype) {
    case DataType.INT8:
      return `((${e}) << 24u) >> 24u`;
    case DataType.UINT8:
      return `((${e}) & 255)`;
    case DataType.INT16:
      return `((${e}) << 16u) >> 16u`;
    case DataType.UINT16:
      return `((${e}) & 65535)`;
    default:
      return e;
  }
}

/** Convert an expression of storage type `from` (dtype `fromDt`) to dtype `to` (Cast semantics). */
export function castExpr(e: string, fromDt: number, to: number): string {
  const from = storageType(fromDt)!, tt = storageType(to)!;
  if (to === DataType.BOOL) {
    // by the bits (±0 false, NaN true): llvmpipe's `x != 0.0` is false for NaN
    return from === "f32"
      ? `select(0u, 1u, (bitcast<u32>(${e}) & 0x7fffffffu) != 0u)`
      : from === "i32"
      ? `select(0u, 1u, ${e} != 0)`
      : `min(${e}, 1u)`;
  }
  if (tt === "f32") return from === "f32" ? e : `f32(${e})`;
  if (tt === "u32") return from === "u32" ? e : from === "i32" ? `bitcast<u32>(${e})` : `u32(${e})`;
  // to an i32-stored integer
  const asI = from === "i32" ? e : from === "u32" ? `bitcast<i32>(${e})` : `i32(trunc(${e}))`;
  return fromDt === to ? e : wrapInt(to, asI);
}

const unaryF: Record<string, (x: string, c: EwContext) => [string, string[]]> = {
  Abs: (x) => [`abs(${x})`, []],
  Neg: (x) => [`-(${x})`, []],
  Reciprocal: (x) => [`1.0 / ${x}`, []],
  Sqrt: (x) => [`sqrt(${x})`, []],
  Exp: (x) => [`exp(${x})`, []],
  Log: (x) => [`log(${x})`, []],
  Ceil: (x) => [`ceil(${x})`, []],
  Floor: (x) => [`floor(${x})`, []],
  Round: (x) => [`round(${x})`, []],
  Sign: (x) => [`sign(${x})`, []],
  Sin: (x) => [`sin(${x})`, []],
  Cos: (x) => [`cos(${x})`, []],
  Tan: (x) => [`tan(${x})`, []],
  Asin: (x) => [`asin(${x})`, []],
  Acos: (x) => [`acos(${x})`, []],
  Atan: (x) => [`atan(${x})`, []],
  Sinh: (x) => [`sinh(${x})`, []],
  Cosh: (x) => [`cosh(${x})`, []],
  Asinh: (x) => [`asinh(${x})`, []],
  Acosh: (x) => [`acosh(${x})`, []],
  Atanh: (x) => [`atanh(${x})`, []],
  Erf: (x) => [`erf_(${x})`, ["erf_"]],
  Tanh: (x) => [`tanh_(${x})`, ["tanh_"]],
  Sigmoid: (x) => [`sigmoid_(${x})`, ["sigmoid_"]],
  Relu: (x) => [`select(${x}, 0.0, ${x} < 0.0)`, []],
  LeakyRelu: (x, c) => [`select(${x}, ${f32Lit(c.attrs.attrFloat("alpha", 0.01))} * ${x}, ${x} < 0.0)`, []],
  Elu: (x, c) => [`select(${x}, ${f32Lit(c.attrs.attrFloat("alpha", 1))} * expm1_(${x}), ${x} < 0.0)`, ["expm1_"]],
  Selu: (x, c) => {
    const a = c.attrs.attrFloat("alpha", 1.67326319217681884765625);
    const g = c.attrs.attrFloat("gamma", 1.05070102214050292968750);
    return [`select(${f32Lit(g * a)} * expm1_(${x}), ${f32Lit(g)} * ${x}, ${x} > 0.0)`, ["expm1_"]];
  },
  Celu: (x, c) => {
    const a = c.attrs.attrFloat("alpha", 1);
    if (a === 0) unsupported("alpha must not be 0");
    return [`max(0.0, ${x}) + min(0.0, ${f32Lit(a)} * expm1_(${x} / ${f32Lit(a)}))`, ["expm1_"]];
  },
  HardSigmoid: (x, c) => {
    const a = c.attrs.attrFloat("alpha", 0.2), b = c.attrs.attrFloat("beta", 0.5);
    return [`clamp(${f32Lit(a)} * ${x} + ${f32Lit(b)}, 0.0, 1.0)`, []];
  },
  HardSwish: (x) => [`${x} * clamp(${x} / 6.0 + 0.5, 0.0, 1.0)`, []],
  Softplus: (x) => [`softplus_(${x})`, ["softplus_"]],
  Softsign: (x) => [`${x} / (1.0 + abs(${x}))`, []],
  Mish: (x) => [`${x} * tanh_(softplus_(${x}))`, ["tanh_", "softplus_"]],
  ThresholdedRelu: (x, c) => [`select(0.0, ${x}, ${x} > ${f32Lit(c.attrs.attrFloat("alpha", 1))})`, []],
  Shrink: (x, c) => {
    const l = f32Lit(c.attrs.attrFloat("lambd", 0.5)), b = f32Lit(c.attrs.attrFloat("bias", 0));
    return [`select(select(0.0, ${x} - ${b}, ${x} > ${l}), ${x} + ${b}, ${x} < -${l})`, []];
  },
  Gelu: (x, c) => {
    const approx = c.node.domain === "com.microsoft" ? "none" : c.attrs.attrString("approximate", "none");
    if (approx === "tanh") return fastGelu(x);
    if (approx !== "none") unsupported(`approximate '${approx}'`);
    return [`0.5 * ${x} * (1.0 + erf_(${x} * 0.70710678118654752))`, ["erf_"]];
  },
  FastGelu: (x) => fastGelu(x),
  IsNaN: (x) => [`select(0u, 1u, isnan_(${x}))`, ["isnan_"]],
  IsInf: (x, c) => {
    const neg = c.attrs.attrInt("detect_negative", 1) !== 0, pos = c.attrs.attrInt("detect_positive", 1) !== 0;
    const bits = `bitcast<u32>(${x})`;
    const conds = [pos ? `${bits} == 0x7f800000u` : "", neg ? `${bits} == 0xff800000u` : ""].filter((s) => s);
    return [conds.length ? `select(0u, 1u, ${conds.join(" || ")})` : "0u", []];
  },
};

function fastGelu(x: string): [string, string[]] {
  return [`0.5 * ${x} * (1.0 + tanh_(0.7978845608028654 * (${x} + 0.044715 * ${x} * ${x} * ${x})))`, ["tanh_"]];
}

const unaryI: Record<string, (x: string) => string> = {
  Abs: (x) => `abs(${x})`,
  Neg: (x) => `-(${x})`,
  Sign: (x) => `sign(${x})`,
  Relu: (x) => `max(${x}, 0)`,
  BitwiseNot: (x) => `~(${x})`,
};

const binF: Record<string, (a: string, b: string) => string> = {
  Add: (a, b) => `${a} + ${b}`,
  Sub: (a, b) => `${a} - ${b}`,
  Mul: (a, b) => `${a} * ${b}`,
  Div: (a, b) => `${a} / ${b}`,
  PRelu: (a, b) => `select(${a}, ${a} * ${b}, ${a} < 0.0)`,
};

const binI: Record<string, (a: string, b: string) => string> = {
  Add: (a, b) => `${a} + ${b}`,
  Sub: (a, b) => `${a} - ${b}`,
  Mul: (a, b) => `${a} * ${b}`,
  Div: (a, b) => `idiv_(${a}, ${b})`,
  PRelu: (a, b) => `select(${a}, ${a} * ${b}, ${a} < 0)`,
  BitwiseAnd: (a, b) => `${a} & ${b}`,
  BitwiseOr: (a, b) => `${a} | ${b}`,
  BitwiseXor: (a, b) => `${a} ^ ${b}`,
};

const binU: Record<string, (a: string, b: string) => string> = {
  Add: (a, b) => `${a} + ${b}`,
  Sub: (a, b) => `${a} - ${b}`,
  Mul: (a, b) => `${a} * ${b}`,
  Div: (a, b) => `select(${a} / ${b}, 0u, ${b} == 0u)`,
  Mod: (a, b) => `select(${a} % ${b}, 0u, ${b} == 0u)`,
  BitwiseAnd: (a, b) => `${a} & ${b}`,
  BitwiseOr: (a, b) => `${a} | ${b}`,
  BitwiseXor: (a, b) => `${a} ^ ${b}`,
};

const compare: Record<string, string> = {
  Equal: "==",
  Greater: ">",
  Less: "<",
  GreaterOrEqual: ">=",
  LessOrEqual: "<=",
};

const logical: Record<string, string> = { And: "&", Or: "|", Xor: "^" };

/** The scalar value of a one-element constant input, else undefined. */
function scalarConst(c: EwContext, i: number): number | undefined {
  const t = c.constant(i);
  return t && t.size === 1 && isFloat(t.dtype) ? toNumbers(t)[0] : undefined;
}

function present(c: EwContext, i: number): boolean {
  return i < c.node.inputs.length && c.node.inputs[i] !== "";
}

/**
 * The elementwise form of a node, or undefined when its op is not elementwise. Throws an
 * `UnsupportedError` for an elementwise op with a dtype or attribute the backend lacks.
 */
export function elementwiseOp(c: EwContext): EwOp | undefined {
  const op = c.node.opType;
  const dom = c.node.domain;
  if (dom === "com.microsoft") {
    if (op !== "Gelu" && op !== "FastGelu") return undefined;
    if (present(c, 1)) unsupported("a bias input is not supported");
  } else if (dom !== "") return undefined;
  const t0 = c.inDtypes[0];
  const st = (d: number | undefined): ElemType | undefined => (d === undefined ? undefined : storageType(d));
  const s0 = st(t0);
  const out = c.outDtype;
  const need = (ok: boolean) => {
    if (!ok) unsupported(`element type ${t0 === undefined ? "?" : dtypeName(t0)} is not supported`);
  };

  if (op === "Cast" || op === "CastLike") {
    need(s0 !== undefined && storageType(out) !== undefined);
    return { args: [0], emit: ([x]) => castExpr(x, t0!, out), helpers: [] };
  }
  if (op === "Expand") {
    need(s0 !== undefined);
    return { args: [0], emit: ([x]) => x, helpers: [] };
  }
  if (op === "Where") {
    need(st(c.inDtypes[1]) !== undefined);
    return { args: [0, 1, 2], emit: ([k, x, y]) => `select(${y}, ${x}, ${k} != 0u)`, helpers: [] };
  }
  if (op === "Not") return { args: [0], emit: ([x]) => `1u - ${x}`, helpers: [] };
  if (op in logical) return { args: [0, 1], emit: ([a, b]) => `${a} ${logical[op]} ${b}`, helpers: [] };
  if (op in compare) {
    need(s0 !== undefined);
    return { args: [0, 1], emit: ([a, b]) => `select(0u, 1u, ${a} ${compare[op]} ${b})`, helpers: [] };
  }
  if (op === "Clip") {
    need(s0 !== undefined && s0 !== "u32");
    const lit = (v: number) => (s0 === "f32" ? f32Lit(v) : `${Math.trunc(v)}`);
    const helpers = s0 === "f32" ? ["isnan_"] : [];
    const clipNaN = (e: string, x: string) => s0 === "f32" ? keepNaN(e, x) : e;
    if (c.opset < 11) {
      const lo = c.attrs.attrFloat("min", -3.4028234663852886e38), hi = c.attrs.attrFloat("max", 3.4028234663852886e38);
      return { args: [0], emit: ([x]) => clipNaN(clipExpr(x, lit(lo), lit(hi)), x), helpers };
    }
    const args = [0, ...[1, 2].filter((i) => present(c, i))];
    return {
      args,
      emit: (a) => {
        const lo = present(c, 1) ? a[1] : undefined;
        const hi = present(c, 2) ? a[args.indexOf(2)] : undefined;
        return clipNaN(clipExpr(a[0], lo, hi), a[0]);
      },
      helpers,
    };
  }
  if (s0 === "u32" && t0 !== DataType.BOOL && op in binU) {
    return { args: [0, 1], emit: ([a, b]) => binU[op](a, b), helpers: [] };
  }
  if (op === "Sum" || op === "Mean" || op === "Max" || op === "Min") {
    need(s0 !== undefined && (s0 !== "u32" || t0 !== DataType.BOOL) && (op !== "Mean" || s0 === "f32"));
    const args = c.node.inputs.map((_, i) => i).filter((i) => present(c, i));
    const minMax = op === "Max" || op === "Min";
    // floats through fmin_/fmax_, which propagate NaN
    const fn = !minMax ? "" : s0 === "f32" ? `f${op.toLowerCase()}_` : op.toLowerCase();
    return {
      args,
      emit: (a) => {
        if (minMax) return a.length === 1 && s0 === "f32" ? a[0] : a.reduce((x, y) => `${fn}(${x}, ${y})`);
        const s = a.length === 1 ? a[0] : `(${a.join(" + ")})`;
        // Mean divides correctly rounded, as a CPU does: WGSL's `/` may be 2.5 ulp off, which a
        // comparison after it turns into a wrong answer (Mean(x, x, x) > x)
        return op === "Mean" ? `fdiv_(${s}, ${f32Lit(a.length)})` : s0 === "i32" ? wrapInt(out, s) : s;
      },
      helpers: minMax && s0 === "f32" ? ["isnan_", fn] : op === "Mean" ? ["fdiv_"] : [],
    };
  }
  if (op === "Pow") {
    const s1 = st(c.inDtypes[1]);
    need(s0 !== undefined && s0 !== "u32" && s1 !== undefined && s1 !== "u32");
    if (s0 === "i32") {
      const e = s1 === "i32" ? "$b" : `i32($b)`;
      return {
        args: [0, 1],
        emit: ([a, b]) => wrapInt(out, `ipow_(${a}, ${e.replace("$b", b)})`),
        helpers: ["ipow_"],
      };
    }
    const y = scalarConst(c, 1) ??
      (s1 === "i32" && c.constant(1)?.size === 1 ? toNumbers(c.constant(1)!)[0] : undefined);
    const special: Record<number, (x: string) => string> = {
      1: (x) => x,
      2: (x) => `${x} * ${x}`,
      3: (x) => `${x} * ${x} * ${x}`,
      0.5: (x) => `sqrt(${x})`,
      [-1]: (x) => `1.0 / ${x}`,
    };
    if (y !== undefined && special[y]) return { args: [0], emit: ([x]) => special[y](x), helpers: [] };
    return {
      args: [0, 1],
      emit: ([a, b]) => `pow_(${a}, ${s1 === "f32" ? b : `f32(${b})`})`,
      helpers: ["isnan_", "pow_"],
    };
  }
  if (op === "Mod") {
    need(s0 === "f32" || s0 === "i32");
    const fmod = c.attrs.attrInt("fmod", 0);
    if (s0 === "f32") {
      if (fmod !== 1) unsupported("float Mod needs fmod=1");
      return { args: [0, 1], emit: ([a, b]) => `${a} % ${b}`, helpers: [] };
    }
    // signed % is computed on magnitudes: some drivers get it wrong for negative operands
    if (fmod === 1) return { args: [0, 1], emit: ([a, b]) => `irem_(${a}, ${b})`, helpers: ["irem_"] };
    return { args: [0, 1], emit: ([a, b]) => `imod_(${a}, ${b})`, helpers: ["irem_", "imod_"] };
  }
  if (op in binF || op in binI) {
    need(s0 === "f32" || s0 === "i32");
    if (s0 === "f32") {
      const f = binF[op] ?? unsupported(`element type ${dtypeName(t0!)} is not supported`);
      if (op === "PRelu") return { args: [0, 1], emit: ([a, b]) => keepNaN(f(a, b), a), helpers: ["isnan_"] };
      return { args: [0, 1], emit: ([a, b]) => f(a, b), helpers: [] };
    }
    const f = binI[op] ?? unsupported(`element type ${dtypeName(t0!)} is not supported`);
    return { args: [0, 1], emit: ([a, b]) => wrapInt(out, f(a, b)), helpers: op === "Div" ? ["idiv_"] : [] };
  }
  if (op === "Gelu" && dom === "" && c.opset < 20) return undefined;
  if (op in unaryF || op in unaryI) {
    if (s0 === "f32" && op in unaryF) {
      const [e, h] = unaryF[op]("$x", c);
      // NaN in, NaN out, whatever the shader compiler makes of comparisons, min, max and clamp on NaN;
      // not for IsNaN and IsInf (bool out), nor ThresholdedRelu and Shrink (0 for NaN, as in the reference)
      const plain = ["IsNaN", "IsInf", "ThresholdedRelu", "Shrink"].includes(op);
      const helpers = [...new Set([...h, "isnan_"])];
      return { args: [0], emit: ([x]) => plain ? e.replaceAll("$x", x) : keepNaN(e.replaceAll("$x", x), x), helpers };
    }
    if (s0 === "i32" && op in unaryI) {
      if (op === "IsNaN") return { args: [0], emit: () => "0u", helpers: [] };
      return { args: [0], emit: ([x]) => wrapInt(out, unaryI[op](x)), helpers: [] };
    }
    if (s0 === "i32" && (op === "IsNaN" || op === "IsInf")) return { args: [0], emit: () => "0u", helpers: [] };
    need(false);
  }
  return undefined;
}

/** `e`, or NaN where `x` is NaN (`isnan_` reads bits: no compiler folds it away). */
/** `e`, or `x` where `x` is NaN (needs the `isnan_` helper): NaN stays NaN through `e`. */
export function keepNaN(e: string, x: string): string {
  return `select(${e}, ${x}, isnan_(${x}))`;
}

/** `clip(x, lo, hi)` as the reference computes it (NaN stays NaN; hi wins when lo > hi). */
function clipExpr(x: string, lo: string | undefined, hi: string | undefined): string {
  let r = x;
  if (lo !== undefined) r = `select(${r}, ${lo}, ${r} < ${lo})`;
  if (hi !== undefined) r = `select(${r}, ${hi}, ${r} > ${hi})`;
  return r;
}
