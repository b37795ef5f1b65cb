/**
 * The Z3 interpretation of the scalar algebra (`ir/algebra.ts`): op formulas written once over
 * `ScalarAlgebra` build Z3 real terms here, for the verifier (`verify/symbolic.ts`).
 *
 * - Reals, not floats: a double constant is its exact rational; nothing is rounded. Terms whose
 *   operands are all numerals fold to exact numerals (so constant sub-expressions agree exactly
 *   whichever way a rule computes them).
 * - Division is multiplication by the reciprocal (x / y ≡ x · (1/y)); 1/0 is a free real.
 * - exp, log, erf, tanh, sin, … are uninterpreted (one fresh constant `f#k` per distinct
 *   argument term, see `app`), with exp(t) > 0; expm1, log1p, sigmoid and softplus are given by
 *   their real definitions over exp and log. sqrt is uninterpreted with t ≥ 0 ⇒ s ≥ 0 ∧ s² = t
 *   (a perfect-square rational gives its exact root). π is a constant in (3.14159265, 3.14159266).
 * - isNaN and isInf are false (the reals have neither).
 *
 * Not thread-safe: build terms only inside `serialized` (`verify/z3.ts`).
 * @module
 */
import type { Arith, Bool } from "z3-solver";
import type { ScalarAlgebra, Transcendental } from "../ir/algebra.ts";
import type { Z3Api, Z3Context } from "./z3.ts";

/** A Z3 real term. */
export type RealExpr = Arith<"saturn">;
/** A Z3 boolean term. */
export type BoolExpr = Bool<"saturn">;
/** One element of a symbolic tensor. */
export type SymExpr = RealExpr | BoolExpr;

/** Thrown (and reported by `proveEqual` as "unsupported") for an op or case the evaluator lacks. */
export class SymbolicUnsupported extends Error {
  /** the op, as `domain.OpType` (`OpType` for ai.onnx) */
  readonly op: string;
  constructor(op: string, message: string) {
    super(message);
    this.name = "SymbolicUnsupported";
    this.op = op;
  }
}

// ---------------------------------------------------------------------------------------------
// exact rationals

/** An exact rational n/d, d > 0, in lowest terms. */
export interface Rat {
  n: bigint;
  d: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

export function rat(n: bigint, d = 1n): Rat {
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return g > 1n ? { n: n / g, d: d / g } : { n, d };
}

/** The exact rational value of a finite double. */
export function ratOfNumber(v: number): Rat {
  if (Number.isInteger(v)) return { n: BigInt(v), d: 1n };
  let x = v, e = 0n;
  while (!Number.isInteger(x)) {
    x *= 2; // exact: doubles are m·2^e
    e++;
  }
  return rat(BigInt(x), 1n << e);
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x--;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

/** A double close to a rational (finite: clamped to ±float32 max). */
function ratToNumber(r: Rat): number {
  const MAX = 3.4028234663852886e38;
  let v = Number(r.n) / Number(r.d);
  if (!Number.isFinite(v)) {
    // both huge: scale down before dividing
    const shift = BigInt(Math.max(r.n.toString(2).length, r.d.toString(2).length) - 1000);
    v = shift > 0n ? Number(r.n >> shift) / Number(r.d >> shift) : 0;
  }
  if (Number.isNaN(v)) return 0;
  return Math.max(-MAX, Math.min(MAX, v));
}
// ---------------------------------------------------------------------------------------------
// the algebra

const PI_LO: Rat = { n: 314159265n, d: 100000000n };
const PI_HI: Rat = { n: 314159266n, d: 100000000n };

/**
 * Z3 reals as a `ScalarAlgebra`. One instance per query: it collects the axioms and function
 * applications its terms need (`axioms`, `consistency()`, `definitions()`).
 */
export class Z3Algebra implements ScalarAlgebra<RealExpr, BoolExpr> {
  readonly ctx: Z3Context;
  readonly api: Z3Api;
  readonly axioms: BoolExpr[] = [];
  readonly #numerals = new Map<string, RealExpr>();
  readonly #ratOf = new WeakMap<object, Rat>();
  readonly #boolOf = new WeakMap<object, boolean>();
  readonly #apps = new Map<string, { args: RealExpr[]; v: RealExpr }[]>();
  readonly #appOf = new Map<string, RealExpr>();
  readonly #fns = new Map<Transcendental, (x: RealExpr) => RealExpr>();
  #pi: RealExpr | undefined;
  readonly T: BoolExpr;
  readonly F: BoolExpr;

  constructor(api: Z3Api) {
    this.api = api;
    this.ctx = api.ctx;
    this.T = this.ctx.Bool.val(true);
    this.F = this.ctx.Bool.val(false);
    this.#boolOf.set(this.T, true);
    this.#boolOf.set(this.F, false);
  }

  /** The exact numeral of a double; ±inf and NaN have no real value (unsupported). */
  num(v: number): RealExpr {
    return this.real(v, "constant");
  }

  /** The exact numeral of a finite double. */
  real(v: number, what: string): RealExpr {
    if (!Number.isFinite(v)) throw new SymbolicUnsupported(what, `a ${what} holds ${v}, which has no real value`);
    return this.rational(ratOfNumber(v));
  }

  /** The numeral of an exact rational (one term per value). */
  rational(r: Rat): RealExpr {
    const key = `${r.n}/${r.d}`;
    let e = this.#numerals.get(key);
    if (!e) {
      e = this.ctx.Real.val({ numerator: r.n, denominator: r.d }) as RealExpr;
      this.#numerals.set(key, e);
      this.#ratOf.set(e, r);
    }
    return e;
  }

  ratOf(e: SymExpr): Rat | undefined {
    return this.#ratOf.get(e);
  }

  boolLit(b: boolean): BoolExpr {
    return b ? this.T : this.F;
  }

  boolOf(e: SymExpr): boolean | undefined {
    return this.#boolOf.get(e);
  }

  get zero(): RealExpr {
    return this.rational({ n: 0n, d: 1n });
  }
  get one(): RealExpr {
    return this.rational({ n: 1n, d: 1n });
  }

  add(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.rational(rat(x.n * y.d + y.n * x.d, x.d * y.d));
    if (x && x.n === 0n) return b;
    if (y && y.n === 0n) return a;
    return a.add(b);
  }
  sub(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.rational(rat(x.n * y.d - y.n * x.d, x.d * y.d));
    if (y && y.n === 0n) return a;
    return a.sub(b);
  }
  mul(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.rational(rat(x.n * y.n, x.d * y.d));
    if (x && x.n === x.d) return b;
    if (y && y.n === y.d) return a;
    if ((x && x.n === 0n) || (y && y.n === 0n)) return this.zero;
    return a.mul(b);
  }
  neg(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    return x ? this.rational({ n: -x.n, d: x.d }) : a.neg();
  }
  /** 1/a (Z3's division: 1/0 is an unspecified real). */
  recip(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    if (x && x.n !== 0n) return this.rational(rat(x.d, x.n));
    return this.one.div(a);
  }
  /** a/b, written a·(1/b) (see the module notes). */
  div(a: RealExpr, b: RealExpr): RealExpr {
    return this.mul(a, this.recip(b));
  }
  sum(xs: RealExpr[]): RealExpr {
    if (xs.length === 0) return this.zero;
    if (xs.length === 1) return xs[0];
    if (xs.every((x) => this.ratOf(x))) return xs.reduce((p, q) => this.add(p, q));
    const [h, ...t] = xs;
    return this.ctx.Sum(h, ...t);
  }
  mean(xs: RealExpr[]): RealExpr {
    return this.mul(this.sum(xs), this.rational(rat(1n, BigInt(xs.length))));
  }

  cmp(op: "lt" | "le" | "gt" | "ge" | "eq", a: SymExpr, b: SymExpr): BoolExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) {
      const l = x.n * y.d, r = y.n * x.d;
      return this.boolLit(
        op === "lt" ? l < r : op === "le" ? l <= r : op === "gt" ? l > r : op === "ge" ? l >= r : l === r,
      );
    }
    if (op === "eq") {
      const p = this.boolOf(a), q = this.boolOf(b);
      if (p !== undefined && q !== undefined) return this.boolLit(p === q);
      if (a.eqIdentity(b)) return this.T;
      return (a as RealExpr).eq(b as RealExpr);
    }
    return (a as RealExpr)[op](b as RealExpr);
  }
  not(a: BoolExpr): BoolExpr {
    const p = this.boolOf(a);
    return p !== undefined ? this.boolLit(!p) : this.ctx.Not(a);
  }
  and(a: BoolExpr, b: BoolExpr): BoolExpr {
    const p = this.boolOf(a), q = this.boolOf(b);
    if (p === false || q === false) return this.F;
    if (p === true) return b;
    if (q === true) return a;
    return this.ctx.And(a, b);
  }
  or(a: BoolExpr, b: BoolExpr): BoolExpr {
    const p = this.boolOf(a), q = this.boolOf(b);
    if (p === true || q === true) return this.T;
    if (p === false) return b;
    if (q === false) return a;
    return this.ctx.Or(a, b);
  }
  xor(a: BoolExpr, b: BoolExpr): BoolExpr {
    const p = this.boolOf(a), q = this.boolOf(b);
    if (p !== undefined && q !== undefined) return this.boolLit(p !== q);
    return this.ctx.Xor(a, b);
  }
  ite<E extends SymExpr>(c: BoolExpr, a: E, b: E): E {
    const p = this.boolOf(c);
    if (p !== undefined) return p ? a : b;
    if (a.eqIdentity(b)) return a;
    return this.ctx.If(c, a as RealExpr, b as RealExpr) as unknown as E;
  }
  max(a: RealExpr, b: RealExpr): RealExpr {
    return this.ite(this.cmp("gt", b, a), b, a);
  }
  min(a: RealExpr, b: RealExpr): RealExpr {
    return this.ite(this.cmp("lt", b, a), b, a);
  }

  /**
   * f(args) for an uninterpreted function f, as a fresh constant `f#k` (one per distinct
   * argument terms); `consistency()` later adds args = args' ⇒ f#k = f#k' for each pair, which
   * is congruence written out (Ackermann's reduction), so that queries stay free of function
   * symbols and Z3 can use its complete procedure for nonlinear real arithmetic (nlsat), whose
   * models may be irrational (√2), where its function-symbol solver's are rational only.
   */
  app(name: string, ...args: RealExpr[]): RealExpr {
    return this.#app(name, args).v;
  }

  #app(name: string, args: RealExpr[]): { v: RealExpr; fresh: boolean } {
    const key = `${name}(${args.map((a) => a.id()).join(",")})`;
    const seen = this.#appOf.get(key);
    if (seen) return { v: seen, fresh: false };
    let list = this.#apps.get(name);
    if (!list) this.#apps.set(name, list = []);
    const v = this.ctx.Real.const(`${name}#${list.length}`);
    list.push({ args, v });
    this.#appOf.set(key, v);
    return { v, fresh: true };
  }

  /** Number of distinct function applications so far. */
  appCount(): number {
    let n = 0;
    for (const l of this.#apps.values()) n += l.length;
    return n;
  }

  /** `f#k = f(args)` with Z3 function symbols, for every `app` so far (the other encoding). */
  definitions(): BoolExpr[] {
    const out: BoolExpr[] = [];
    const R = this.ctx.Real.sort();
    for (const [name, list] of this.#apps) {
      const f = this.ctx.Function.declare(name, ...new Array(list[0].args.length).fill(R), R) as unknown as {
        call(...a: RealExpr[]): RealExpr;
      };
      for (const { args, v } of list) out.push(v.eq(f.call(...args)));
    }
    return out;
  }

  /** The functional-consistency facts of every `app` so far (see `app`). */
  consistency(): BoolExpr[] {
    const out: BoolExpr[] = [];
    for (const list of this.#apps.values()) {
      for (let j = 0; j < list.length; j++) {
        for (let k = 0; k < j; k++) {
          const a = list[j].args, b = list[k].args;
          if (a.some((x, i) => this.ratOf(x) && this.ratOf(b[i]))) continue; // distinct numerals never meet
          const same = a.map((x, i) => this.cmp("eq", x, b[i]));
          out.push(this.ctx.Implies(same.length === 1 ? same[0] : this.ctx.And(...same), list[j].v.eq(list[k].v)));
        }
      }
    }
    return out;
  }

  sqrt(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    if (x && x.n >= 0n) {
      const rn = isqrt(x.n), rd = isqrt(x.d);
      if (rn * rn === x.n && rd * rd === x.d) return this.rational(rat(rn, rd));
    }
    const { v: s, fresh } = this.#app("sqrt", [a]);
    if (fresh) {
      const fact = this.ctx.And(s.ge(0), s.mul(s).eq(a));
      if (!x) this.axioms.push(this.ctx.Implies(a.ge(0), fact));
      else if (x.n >= 0n) this.axioms.push(fact);
    }
    return s;
  }
  exp(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    if (x && x.n === 0n) return this.one;
    const { v, fresh } = this.#app("exp", [a]);
    if (fresh) this.axioms.push(v.gt(0));
    return v;
  }
  log(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    if (x && x.n === x.d) return this.zero;
    return this.app("log", a);
  }
  get pi(): RealExpr {
    if (!this.#pi) {
      this.#pi = this.ctx.Real.const("π");
      this.axioms.push(this.#pi.gt(this.rational(PI_LO)), this.#pi.lt(this.rational(PI_HI)));
    }
    return this.#pi;
  }
  sigmoid(x: RealExpr): RealExpr {
    return this.recip(this.add(this.one, this.exp(this.neg(x))));
  }
  softplus(x: RealExpr): RealExpr {
    return this.log(this.add(this.one, this.exp(x)));
  }
  /**
   * x^e: a product for an integer constant |e| ≤ 64 (its reciprocal for e < 0; 1 for e = 0),
   * sqrt for e = 1/2, else the uninterpreted pow(x, e).
   */
  pow(x: RealExpr, e: RealExpr): RealExpr {
    const r = this.ratOf(e);
    if (r && r.d === 1n && r.n >= -64n && r.n <= 64n) {
      const k = Math.abs(Number(r.n));
      let p: RealExpr = this.one;
      for (let i = 0; i < k; i++) p = i === 0 ? x : this.mul(p, x);
      return r.n < 0n ? this.recip(p) : p;
    }
    if (r && r.n === 1n && r.d === 2n) return this.sqrt(x);
    return this.app("pow", x, e);
  }

  /** Z3 model value of a numeral as a finite double (bool: 1/0). */
  modelNumber(e: SymExpr): number {
    const ctx = this.ctx;
    if (ctx.isBool(e)) return ctx.isTrue(e) ? 1 : 0;
    if (ctx.isRealVal(e)) {
      const v = e.value();
      return ratToNumber({ n: v.numerator, d: v.denominator });
    }
    try {
      const s = this.api.raw.get_numeral_decimal_string(ctx.ptr, e.ast, 17).replace(/\?$/, "");
      const v = parseFloat(s);
      return Number.isFinite(v) ? v : 0;
    } catch {
      return 0;
    }
  }

  // ---- the rest of ScalarAlgebra

  abs(x: RealExpr): RealExpr {
    return this.ite(this.cmp("lt", x, this.zero), this.neg(x), x);
  }
  /** ⌊x⌋: exact for a numeral, else Z3's to_int. */
  floor(x: RealExpr): RealExpr {
    const r = this.ratOf(x);
    if (r) {
      let q = r.n / r.d;
      if (r.n < 0n && q * r.d !== r.n) q -= 1n;
      return this.rational(rat(q));
    }
    return this.ctx.ToReal(this.ctx.ToInt(x)) as RealExpr;
  }
  fn(name: Transcendental): (x: RealExpr) => RealExpr {
    let f = this.#fns.get(name);
    if (!f) {
      switch (name) {
        case "exp":
          f = (x) => this.exp(x);
          break;
        case "log":
          f = (x) => this.log(x);
          break;
        case "expm1":
          f = (x) => this.sub(this.exp(x), this.one);
          break;
        case "log1p":
          f = (x) => this.log(this.add(this.one, x));
          break;
        case "sigmoid":
          f = (x) => this.sigmoid(x);
          break;
        case "softplus":
          f = (x) => this.softplus(x);
          break;
        default:
          f = (x) => this.app(name, x);
      }
      this.#fns.set(name, f);
    }
    return f;
  }
  lt(a: RealExpr, b: RealExpr): BoolExpr {
    return this.cmp("lt", a, b);
  }
  le(a: RealExpr, b: RealExpr): BoolExpr {
    return this.cmp("le", a, b);
  }
  gt(a: RealExpr, b: RealExpr): BoolExpr {
    return this.cmp("gt", a, b);
  }
  ge(a: RealExpr, b: RealExpr): BoolExpr {
    return this.cmp("ge", a, b);
  }
  eq(a: RealExpr, b: RealExpr): BoolExpr {
    return this.cmp("eq", a, b);
  }
  /** Never, over the reals. */
  isNaN(_a: RealExpr): BoolExpr {
    return this.F;
  }
  /** Never, over the reals. */
  isInf(_a: RealExpr, _sign: 1 | -1): BoolExpr {
    return this.F;
  }
  bool(v: boolean): BoolExpr {
    return this.boolLit(v);
  }
  select<X extends SymExpr>(c: BoolExpr, a: X, b: X): X {
    return this.ite(c, a, b);
  }
}
