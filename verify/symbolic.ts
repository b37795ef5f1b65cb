/**
 * The symbolic evaluator: runs an ONNX graph of small, concrete shapes over Z3 terms, and
 * decides whether two of its values are equal for every value of its symbolic inputs.
 *
 * Semantics (what "equal" means here — exact real arithmetic, not floating point):
 * - Float tensors are Z3 Reals. A float constant (initializer, Constant, attribute) becomes the
 *   exact rational of its stored value; a float attribute is first rounded to float32, as ONNX
 *   stores it (AttributeProto.f). Nothing is ever rounded after that: a float op whose inputs
 *   are all constants still builds exact terms (folded as exact rationals), so both sides of a
 *   rule that computes a constant differently (Conv+BatchNorm folding) agree exactly.
 * - Integer tensors (shapes, axes, indices) are always concrete, computed by the reference op
 *   (`ir/ops/`). A node whose inputs are all concrete and whose outputs are all integers or
 *   bools runs the reference op too. An integer result that would depend on a symbol (Cast
 *   float→int, ArgMax of a symbolic tensor…) is unsupported.
 * - Data-movement ops (Transpose, Reshape, Slice, Gather, Concat, Split, Pad, Tile, …) run the
 *   reference op on a float64 tensor of element numbers 1..n (several data inputs numbered one
 *   after another); each output number names the element it copies (0: a zero the op filled in;
 *   -1: Pad's constant value). Their semantics is therefore exactly the reference's.
 * - Division is multiplication by the reciprocal (`x / y` ≡ `x * (1/y)`): over the reals these
 *   are equal wherever y ≠ 0, and in IEEE arithmetic they differ only by rounding (y = ±0 gives
 *   the same inf/NaN), so rules that trade one for the other are not held up by Z3's free
 *   interpretation of division by zero.
 * - exp, log, erf, tanh, sin, … are uninterpreted functions Real→Real, with the axiom
 *   exp(t) > 0. Each application f(t) is a fresh real constant `f#k` (one per distinct argument
 *   term). `proveEqual` first ties them to Z3 function symbols (`f#k = f(t)`: Z3's SMT core,
 *   which proves congruence-based identities fast but finds only rational models), then, if that
 *   is undecided, replaces the function symbols by Ackermann's consistency facts
 *   (t = t' ⇒ f#k = f#k'): pure nonlinear real arithmetic, which Z3 decides with nlsat, whose
 *   models may be irrational (a counterexample to a rule that folds a square root needs one).
 *   The time limit is shared: half what is left for the first query, the rest for the second. Sigmoid is 1/(1+exp(-x)), Softplus log(1+exp(x)), Softmax
 *   exp(x_i)/Σexp(x_j) (no max subtracted: the same real number). `sqrt` is uninterpreted with
 *   the axiom t ≥ 0 ⇒ sqrt(t) ≥ 0 ∧ sqrt(t)² = t (a perfect-square rational constant gives its
 *   exact root), so √2 in Gelu is exact: a rule that writes 1.4142135 for it is not provable,
 *   and becomes "tested" instead. π (Gelu's tanh form) is a constant known to lie in
 *   (3.14159265, 3.14159266).
 * - IsNaN and IsInf of a real are false; a constant that is inf or NaN has no real value and
 *   makes the op unsupported.
 *
 * A refutation found with uninterpreted functions may be spurious (Z3 may choose exp freely);
 * callers re-evaluate counterexamples with the reference interpreter.
 *
 * Every use of Z3 goes through `serialized` (see `verify/z3.ts`): terms are never built while
 * a check runs.
 * @module
 */
import type { Arith, Bool } from "z3-solver";
import "../ir/ops/all.ts";
import { findOp, isNondeterministic } from "../ir/ops/registry.ts";
import { RunContext } from "../ir/ops/run_context.ts";
import { NodeContext } from "../ir/ops/node_context.ts";
import { type Model, type Node, opsetVersion } from "../ir/graph.ts";
import { allocate, fromNumbers, sizeOf, Tensor, toInts, toNumbers } from "../ir/tensor.ts";
import { DataType, isBigInt, isFloat } from "../ir/dtype.ts";
import { broadcastDims, broadcastIndex } from "../ir/ops/_broadcast.ts";
import { convGeometry } from "../ir/ops/conv.ts";
import { planMatMul } from "../ir/ops/matmul.ts";
import { normAxis } from "../ir/dims.ts";
import type { Value } from "../ir/values.ts";
import { serialized, z3, type Z3Api, type Z3Context } from "./z3.ts";

/** A Z3 real term. */
export type RealExpr = Arith<"saturn">;
/** A Z3 boolean term. */
export type BoolExpr = Bool<"saturn">;
/** One element of a symbolic tensor. */
export type SymExpr = RealExpr | BoolExpr;

/**
 * A tensor whose elements are Z3 terms: Reals for float dtypes, Bools for BOOL. Integer
 * tensors are never symbolic. `els` is in row-major order, `els.length === sizeOf(dims)`.
 */
export interface SymTensor {
  dtype: number;
  dims: number[];
  els: SymExpr[];
}

/** A value of the symbolic run: concrete tensors stay concrete until an op mixes them with symbols. */
export type SymValue = SymTensor | Tensor;

/** True when a value is symbolic (not a concrete `Tensor`). */
export function isSymTensor(v: SymValue | undefined): v is SymTensor {
  return v !== undefined && !(v instanceof Tensor);
}

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

/** What `symbolicRun` returns. */
export interface SymbolicRun {
  /** each graph output's value */
  outputs: Map<string, SymValue>;
  /** the Z3 constants of each symbolic input, `${name}[i]` in row-major order */
  vars: Map<string, SymExpr[]>;
  /**
   * Facts to assert with any query on these terms: what is known of sqrt, exp and π, and the
   * functional consistency of the function applications (each `f(args)` is a constant `f#k`;
   * see the module notes)
   */
  axioms: BoolExpr[];
  /** `f#k = f(args)` over Z3 function symbols: the alternative to `axioms`' consistency facts */
  definitions: BoolExpr[];
}

/** The answer of `proveEqual`. */
export type ProofResult =
  | { status: "proved" }
  | { status: "refuted"; inputs: Map<string, number[]> }
  | { status: "unknown"; reason: string }
  | { status: "unsupported"; reason: string };

/** Options of `proveEqual`. */
export interface ProveOptions {
  /** Z3's time limit in milliseconds (default 5000) */
  timeoutMs?: number;
  /** graph inputs that take symbolic values (default: every graph input without an initializer) */
  symbolic?: ReadonlySet<string>;
}

/**
 * Evaluate a model's graph over Z3 terms. Graph inputs named in `symbolic` become fresh Z3
 * constants `${name}[i]` (Real, or Bool for a BOOL input) of their declared static shape;
 * initializers are concrete. Throws `SymbolicUnsupported` for an op it cannot evaluate exactly.
 */
export async function symbolicRun(model: Model, symbolic: ReadonlySet<string>): Promise<SymbolicRun> {
  const api = await z3();
  return serialized(() => {
    const ev = new Evaluator(api, model);
    const { values, vars } = ev.run(symbolic, undefined);
    const outputs = new Map<string, SymValue>();
    for (const o of model.graph.outputs) {
      const v = values.get(o.name);
      if (v === undefined) throw new Error(`graph output '${o.name}' has no value`);
      outputs.set(o.name, v);
    }
    return { outputs, vars, axioms: [...ev.axioms, ...ev.consistency()], definitions: ev.definitions() };
  });
}

/**
 * Decide whether values `a` and `b` of the model (graph outputs, or any value the graph names)
 * are equal, element by element over the reals, for all values of the symbolic inputs.
 *
 * "proved": equal for all inputs. "refuted": Z3 found inputs where they differ (given per
 * symbolic input, row-major, as finite JS numbers; with uninterpreted functions the difference
 * may be spurious, so re-run them through the reference interpreter); different shapes are
 * refuted at once with all-zero inputs. "unknown": Z3 gave up (its reason, e.g. "timeout").
 * "unsupported": the graph uses an op (named in the reason) the evaluator cannot model exactly.
 * Other errors (a malformed graph) are thrown.
 */
export async function proveEqual(model: Model, a: string, b: string, opts: ProveOptions = {}): Promise<ProofResult> {
  const timeoutMs = Math.max(1, Math.round(opts.timeoutMs ?? 5000));
  const api = await z3();
  return serialized(async () => {
    const symbolic = opts.symbolic ?? defaultSymbolic(model);
    const ev = new Evaluator(api, model);
    let values: Map<string, SymValue>, vars: Map<string, SymExpr[]>;
    try {
      ({ values, vars } = ev.run(symbolic, [a, b]));
    } catch (e) {
      if (e instanceof SymbolicUnsupported) return { status: "unsupported", reason: e.message };
      throw e;
    }
    const va = values.get(a), vb = values.get(b);
    if (va === undefined) throw new Error(`the graph has no value named '${a}'`);
    if (vb === undefined) throw new Error(`the graph has no value named '${b}'`);
    const zeros = () => new Map([...vars].map(([k, v]) => [k, new Array<number>(v.length).fill(0)]));
    const kind = (v: SymValue) => (v.dtype === DataType.BOOL ? "bool" : isFloat(v.dtype) ? "real" : "int");
    if (va.dims.length !== vb.dims.length || va.dims.some((d, i) => d !== vb.dims[i]) || kind(va) !== kind(vb)) {
      return { status: "refuted", inputs: zeros() };
    }
    if (kind(va) === "int") {
      const x = toInts(va as Tensor), y = toInts(vb as Tensor);
      return x.every((v, i) => v === y[i]) ? { status: "proved" } : { status: "refuted", inputs: zeros() };
    }
    const ea = ev.lift(va).els, eb = ev.lift(vb).els;
    const diffs: BoolExpr[] = [];
    for (let i = 0; i < ea.length; i++) {
      if (ea[i].eqIdentity(eb[i])) continue;
      const d = (ea[i] as RealExpr).neq(eb[i] as RealExpr);
      if (!api.ctx.isFalse(d)) diffs.push(d);
    }
    if (diffs.length === 0) return { status: "proved" };
    // Two encodings of the uninterpreted functions (see `Evaluator.app`): first with function
    // symbols (Z3's SMT core: fast congruence proofs, but rational models only), then, if that
    // is undecided, Ackermann's reduction (pure nonlinear real arithmetic: nlsat, complete,
    // algebraic models such as √2). Without function applications the two are one query.
    const goal = api.ctx.Or(...diffs);
    const encodings = ev.appCount() === 0
      ? [ev.axioms]
      : [[...ev.axioms, ...ev.definitions()], [...ev.axioms, ...ev.consistency()]];
    const deadline = performance.now() + timeoutMs;
    let reason = "unknown";
    for (let k = 0; k < encodings.length; k++) {
      const left = Math.round(deadline - performance.now());
      if (k > 0 && left < 1) break;
      const budget = Math.max(1, k === encodings.length - 1 ? left : Math.round(left / 2));
      const r = await check(api, [...encodings[k], goal], budget);
      if (r.result === "unsat") return { status: "proved" };
      if (r.result === "sat") {
        const inputs = new Map<string, number[]>();
        for (const [name, els] of vars) {
          inputs.set(name, els.map((e) => ev.modelNumber(r.model!.eval(e as RealExpr, true))));
        }
        return { status: "refuted", inputs };
      }
      reason = r.reason;
    }
    return { status: "unknown", reason };
  });
}

/** One solver call with a time limit: Z3 enforces it; a watchdog interrupts a check that overran. */
async function check(api: Z3Api, facts: BoolExpr[], timeoutMs: number) {
  const { ctx, raw } = api;
  const solver = new ctx.Solver();
  solver.set("timeout", timeoutMs);
  for (const f of facts) solver.add(f);
  const watchdog = setTimeout(() => ctx.interrupt(), timeoutMs + 2000);
  let result: "sat" | "unsat" | "unknown";
  try {
    result = await solver.check();
  } finally {
    clearTimeout(watchdog);
  }
  return {
    result,
    model: result === "sat" ? solver.model() : undefined,
    reason: result === "unknown" ? raw.solver_get_reason_unknown(ctx.ptr, solver.ptr) || "unknown" : "",
  };
}

/** Graph inputs that have no initializer. */
function defaultSymbolic(model: Model): Set<string> {
  return new Set(model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => i.name));
}

// ---------------------------------------------------------------------------------------------
// exact rationals

interface Rat {
  n: bigint;
  d: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b) [a, b] = [b, a % b];
  return a;
}

function rat(n: bigint, d = 1n): Rat {
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return g > 1n ? { n: n / g, d: d / g } : { n, d };
}

/** The exact rational value of a finite double. */
function ratOfNumber(v: number): Rat {
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
// the evaluator

type In = SymValue | undefined;
type Out = (SymValue | undefined)[];
type Handler = (ev: Evaluator, nc: NodeContext, ins: In[]) => Out;

const PI_LO: Rat = { n: 314159265n, d: 100000000n };
const PI_HI: Rat = { n: 314159266n, d: 100000000n };

class Evaluator {
  readonly ctx: Z3Context;
  readonly api: Z3Api;
  readonly model: Model;
  readonly axioms: BoolExpr[] = [];
  readonly #numerals = new Map<string, RealExpr>();
  readonly #ratOf = new WeakMap<object, Rat>();
  readonly #boolOf = new WeakMap<object, boolean>();
  readonly #apps = new Map<string, { args: RealExpr[]; v: RealExpr }[]>();
  readonly #appOf = new Map<string, RealExpr>();
  #pi: RealExpr | undefined;
  readonly T: BoolExpr;
  readonly F: BoolExpr;

  constructor(api: Z3Api, model: Model) {
    this.api = api;
    this.ctx = api.ctx;
    this.model = model;
    this.T = this.ctx.Bool.val(true);
    this.F = this.ctx.Bool.val(false);
    this.#boolOf.set(this.T, true);
    this.#boolOf.set(this.F, false);
  }

  // ---- graph

  run(symbolic: ReadonlySet<string>, wanted: string[] | undefined) {
    const g = this.model.graph;
    const values = new Map<string, SymValue>();
    const vars = new Map<string, SymExpr[]>();
    for (const [name, t] of g.initializers) values.set(name, t);
    for (const inp of g.inputs) {
      if (!symbolic.has(inp.name)) {
        if (!g.initializers.has(inp.name)) {
          throw new Error(`graph input '${inp.name}' is neither symbolic nor an initializer`);
        }
        continue;
      }
      const t = inp.type;
      let dtype: number | undefined, dims: number[] | undefined;
      if (t?.kind === "tensor" && t.shape?.every((d) => typeof d === "number")) {
        dtype = t.dtype;
        dims = t.shape as number[];
      } else if (g.initializers.has(inp.name)) {
        const init = g.initializers.get(inp.name)!;
        dtype = init.dtype;
        dims = [...init.dims];
      }
      if (dtype === undefined || dims === undefined) {
        throw new SymbolicUnsupported("input", `symbolic input '${inp.name}' has no static tensor shape`);
      }
      if (!isFloat(dtype) && dtype !== DataType.BOOL) {
        throw new SymbolicUnsupported(
          "input",
          `symbolic input '${inp.name}' is not float or bool (integers stay concrete)`,
        );
      }
      const els: SymExpr[] = [];
      for (let i = 0; i < sizeOf(dims); i++) {
        els.push(
          dtype === DataType.BOOL ? this.ctx.Bool.const(`${inp.name}[${i}]`) : this.ctx.Real.const(`${inp.name}[${i}]`),
        );
      }
      vars.set(inp.name, els);
      values.set(inp.name, { dtype, dims: [...dims], els });
    }
    for (const s of symbolic) {
      if (!g.inputs.some((i) => i.name === s)) throw new Error(`'${s}' is not a graph input`);
    }
    const needed = wanted ? neededNodes(g.nodes, wanted) : undefined;
    g.nodes.forEach((node, k) => {
      if (needed && !needed.has(k)) return;
      const ins = node.inputs.map((name) => {
        if (name === "") return undefined;
        const v = values.get(name);
        if (v === undefined) {
          throw new Error(`node '${node.name || node.outputs[0]}' reads '${name}', which has no value`);
        }
        return v;
      });
      const outs = this.evalNode(node, ins);
      node.outputs.forEach((name, i) => {
        const v = outs[i];
        if (name !== "" && v !== undefined) values.set(name, v);
      });
    });
    return { values, vars };
  }

  opset(node: Node): number {
    return opsetVersion(this.model.opsetImports, node.domain) ?? 1;
  }

  evalNode(node: Node, ins: In[]): Out {
    try {
      return this.#evalNode(node, ins);
    } catch (e) {
      if (!(e instanceof SymbolicUnsupported)) throw e;
      const dom = node.domain === "ai.onnx" ? "" : node.domain;
      const opName = dom ? `${dom}.${node.opType}` : node.opType;
      const where = ` (node '${node.name || node.outputs[0]}')`;
      if (e.message.endsWith(where)) throw e;
      const msg = e.message.includes(opName) ? e.message : `${opName}: ${e.message}`;
      throw new SymbolicUnsupported(e.op === opName ? e.op : opName, msg + where);
    }
  }

  #evalNode(node: Node, ins: In[]): Out {
    const dom = node.domain === "ai.onnx" ? "" : node.domain;
    const key = `${dom}::${node.opType}`;
    const opName = dom ? `${dom}.${node.opType}` : node.opType;
    if (node.attributes.some((a) => a.type === "graph" || a.type === "graphs")) {
      throw new SymbolicUnsupported(opName, `op ${opName} (control flow) is not supported symbolically`);
    }
    const def = findOp(dom, node.opType);
    if (def && key !== "::Dropout" && isNondeterministic(def, node)) {
      throw new SymbolicUnsupported(opName, `op ${opName} is random and has no symbolic value`);
    }
    const nc = new NodeContext(node, this.opset(node));
    const allConcrete = ins.every((v) => !isSymTensor(v));
    const data = DATA_MOVEMENT[key];
    if (allConcrete) {
      if (data || EXACT_CONCRETE.has(key)) {
        if (data?.check) data.check(this, nc, ins);
        return this.runRef(node, ins as (Tensor | undefined)[], opName);
      }
      if (def) {
        let outs: Out | undefined;
        try {
          outs = this.runRef(node, ins as (Tensor | undefined)[], opName);
        } catch (e) {
          if (!HANDLERS[key]) throw e;
        }
        if (outs && outs.every((o) => o === undefined || !isFloat(o.dtype))) return outs;
      }
      const h = HANDLERS[key];
      if (!h) {
        const what = def ? "computes floats from constants, which" : "";
        throw new SymbolicUnsupported(opName, `op ${opName} ${what} is not supported symbolically`.replace("  ", " "));
      }
      return h(this, nc, ins);
    }
    if (data) return this.indexTrick(node, nc, ins, data, opName);
    if (SHAPE_ONLY.has(key)) {
      return this.runRef(node, ins.map((v) => (isSymTensor(v) ? zerosLike(v) : v)), opName);
    }
    const h = HANDLERS[key];
    if (!h) throw new SymbolicUnsupported(opName, `op ${opName} is not supported symbolically`);
    return h(this, nc, ins);
  }

  /** Run the reference op on concrete inputs. */
  runRef(node: Node, ins: (Tensor | undefined)[], opName: string): (Tensor | undefined)[] {
    const def = findOp(node.domain === "ai.onnx" ? "" : node.domain, node.opType);
    if (!def) throw new SymbolicUnsupported(opName, `op ${opName} is not supported`);
    const rc = new RunContext(node, this.opset(node), ins, () => {
      throw new SymbolicUnsupported(opName, `op ${opName} runs a subgraph`);
    });
    return def.run(rc).map((v: Value | undefined) => {
      if (v === undefined || v instanceof Tensor) return v;
      throw new SymbolicUnsupported(opName, `op ${opName} produces a ${v.kind}, not a tensor`);
    });
  }

  /** Data movement: run the reference op on element numbers and map its outputs back. */
  indexTrick(node: Node, nc: NodeContext, ins: In[], spec: DataSpec, opName: string): Out {
    spec.check?.(this, nc, ins);
    const dataPos = spec.data === "all" ? ins.map((_, i) => i) : spec.data;
    const pool: SymExpr[] = [];
    const subst: (Tensor | undefined)[] = ins.map((v, i) => {
      if (dataPos.includes(i) || i === spec.sentinel) return undefined;
      if (isSymTensor(v)) {
        throw new SymbolicUnsupported(opName, `op ${opName} with a symbolic input ${i} is not supported`);
      }
      return v;
    });
    let dtype: number | undefined;
    for (const i of dataPos) {
      const v = ins[i];
      if (v === undefined) continue;
      dtype ??= v.dtype;
      const s = this.lift(v);
      const idx = new Float64Array(s.els.length);
      for (let k = 0; k < idx.length; k++) idx[k] = pool.length + k + 1;
      pool.push(...s.els);
      subst[i] = new Tensor(DataType.DOUBLE, [...v.dims], idx);
    }
    if (dtype === undefined) throw new SymbolicUnsupported(opName, `op ${opName} has no data input`);
    const isBool = dtype === DataType.BOOL;
    let fill: SymExpr = isBool ? this.F : this.num({ n: 0n, d: 1n });
    let runNode = node;
    if (spec.sentinel !== undefined) {
      // Pad: its constant value is the sentinel -1
      if (nc.opset >= 11) {
        const cv = ins[spec.sentinel];
        if (cv !== undefined) {
          const s = this.lift(cv);
          if (s.els.length !== 1) throw new Error(`${opName}: constant_value must be a scalar`);
          fill = s.els[0];
        }
        while (subst.length <= spec.sentinel) subst.push(undefined);
        subst[spec.sentinel] = new Tensor(DataType.DOUBLE, [], new Float64Array([-1]));
        if (runNode.inputs.length <= spec.sentinel || runNode.inputs[spec.sentinel] === "") {
          const inputs = [...runNode.inputs];
          while (inputs.length < spec.sentinel) inputs.push("");
          inputs[spec.sentinel] = "__sentinel";
          runNode = { ...runNode, inputs };
        }
      } else {
        const v = Math.fround(nc.attrFloat("value", 0));
        fill = isBool ? (v !== 0 ? this.T : this.F) : this.real(v, opName);
        runNode = {
          ...runNode,
          attributes: [...runNode.attributes.filter((a) => a.name !== "value"), {
            name: "value",
            type: "float",
            value: -1,
          }],
        };
      }
    }
    const zero: SymExpr = isBool ? this.F : this.num({ n: 0n, d: 1n });
    const outs = this.runRef(runNode, subst, opName);
    return outs.map((o, k) => {
      if (o === undefined) return undefined;
      if (spec.outputs !== "all" && !spec.outputs.includes(k)) return o;
      const nums = toNumbers(o);
      const els = new Array<SymExpr>(nums.length);
      for (let i = 0; i < nums.length; i++) {
        const j = nums[i];
        if (!Number.isInteger(j) || j < -1 || j > pool.length) {
          throw new Error(`${opName}: element map broke (${j}); the op is not pure data movement here`);
        }
        els[i] = j === -1 ? fill : j === 0 ? zero : pool[j - 1];
      }
      return { dtype: dtype!, dims: [...o.dims], els };
    });
  }

  // ---- terms

  /** A SymValue as a SymTensor (concrete elements as exact numerals or Bool literals). */
  lift(v: SymValue): SymTensor {
    if (isSymTensor(v)) return v;
    const t = v;
    if (t.dtype === DataType.BOOL) {
      const d = t.data as Uint8Array;
      return { dtype: t.dtype, dims: [...t.dims], els: Array.from(d, (x) => (x ? this.T : this.F)) };
    }
    if (t.dtype === DataType.STRING) throw new SymbolicUnsupported("string", "string tensors are not supported");
    if (isBigInt(t.dtype)) {
      const d = t.data as BigInt64Array | BigUint64Array;
      return { dtype: t.dtype, dims: [...t.dims], els: Array.from(d, (x) => this.num(rat(BigInt(x)))) };
    }
    const nums = toNumbers(t);
    return { dtype: t.dtype, dims: [...t.dims], els: Array.from(nums, (x) => this.real(x, "constant")) };
  }

  /** The exact numeral of a finite double. */
  real(v: number, what: string): RealExpr {
    if (!Number.isFinite(v)) throw new SymbolicUnsupported(what, `a ${what} holds ${v}, which has no real value`);
    return this.num(ratOfNumber(v));
  }

  num(r: Rat): RealExpr {
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
    return this.num({ n: 0n, d: 1n });
  }
  get one(): RealExpr {
    return this.num({ n: 1n, d: 1n });
  }

  add(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.num(rat(x.n * y.d + y.n * x.d, x.d * y.d));
    if (x && x.n === 0n) return b;
    if (y && y.n === 0n) return a;
    return a.add(b);
  }
  sub(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.num(rat(x.n * y.d - y.n * x.d, x.d * y.d));
    if (y && y.n === 0n) return a;
    return a.sub(b);
  }
  mul(a: RealExpr, b: RealExpr): RealExpr {
    const x = this.ratOf(a), y = this.ratOf(b);
    if (x && y) return this.num(rat(x.n * y.n, x.d * y.d));
    if (x && x.n === x.d) return b;
    if (y && y.n === y.d) return a;
    if ((x && x.n === 0n) || (y && y.n === 0n)) return this.zero;
    return a.mul(b);
  }
  neg(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    return x ? this.num({ n: -x.n, d: x.d }) : a.neg();
  }
  /** 1/a (Z3's division: 1/0 is an unspecified real). */
  recip(a: RealExpr): RealExpr {
    const x = this.ratOf(a);
    if (x && x.n !== 0n) return this.num(rat(x.d, x.n));
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
    return this.mul(this.sum(xs), this.num(rat(1n, BigInt(xs.length))));
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
      if (rn * rn === x.n && rd * rd === x.d) return this.num(rat(rn, rd));
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
      this.axioms.push(this.#pi.gt(this.num(PI_LO)), this.#pi.lt(this.num(PI_HI)));
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

  gelu(x: RealExpr, approx: string): RealExpr {
    const half = this.num(rat(1n, 2n));
    if (approx === "tanh") {
      const k = this.sqrt(this.mul(this.num(rat(2n)), this.recip(this.pi)));
      const c = this.real(0.044715, "Gelu constant");
      const inner = this.mul(k, this.add(x, this.mul(c, this.mul(this.mul(x, x), x))));
      return this.mul(this.mul(half, x), this.add(this.one, this.app("tanh", inner)));
    }
    const s2 = this.sqrt(this.num(rat(2n)));
    return this.mul(this.mul(half, x), this.add(this.one, this.app("erf", this.mul(x, this.recip(s2)))));
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
}

/** Indices of the nodes that the values `wanted` depend on. */
function neededNodes(nodes: readonly Node[], wanted: string[]): Set<number> {
  const producer = new Map<string, number>();
  nodes.forEach((n, k) => n.outputs.forEach((o) => o !== "" && producer.set(o, k)));
  const need = new Set<number>();
  const stack = [...wanted];
  while (stack.length) {
    const k = producer.get(stack.pop()!);
    if (k === undefined || need.has(k)) continue;
    need.add(k);
    for (const i of nodes[k].inputs) if (i !== "") stack.push(i);
  }
  return need;
}

function zerosLike(v: SymTensor): Tensor {
  return new Tensor(v.dtype as DataType, [...v.dims], allocate(v.dtype, sizeOf(v.dims)));
}

// ---------------------------------------------------------------------------------------------
// data movement and concrete-only ops

interface DataSpec {
  /** inputs whose elements are moved ("all": every input) */
  data: number[] | "all";
  /** outputs made of moved elements ("all" or positions); others are concrete */
  outputs: number[] | "all";
  /** Pad: the input holding the constant value */
  sentinel?: number;
  /** refuse cases that are not pure data movement */
  check?: (ev: Evaluator, nc: NodeContext, ins: In[]) => void;
}

const onlyReductionNone = (_ev: Evaluator, nc: NodeContext) => {
  const r = nc.attrString("reduction", "none");
  if (r !== "none") {
    throw new SymbolicUnsupported(nc.node.opType, `${nc.node.opType} with reduction '${r}' is not supported`);
  }
};

const DATA_MOVEMENT: Record<string, DataSpec> = {
  "::Identity": { data: [0], outputs: [0] },
  "::Transpose": { data: [0], outputs: [0] },
  "::Reshape": { data: [0], outputs: [0] },
  "::Flatten": { data: [0], outputs: [0] },
  "::Squeeze": { data: [0], outputs: [0] },
  "::Unsqueeze": { data: [0], outputs: [0] },
  "::Expand": { data: [0], outputs: [0] },
  "::Tile": { data: [0], outputs: [0] },
  "::Slice": { data: [0], outputs: [0] },
  "::Gather": { data: [0], outputs: [0] },
  "::GatherElements": { data: [0], outputs: [0] },
  "::GatherND": { data: [0], outputs: [0] },
  "::DepthToSpace": { data: [0], outputs: [0] },
  "::SpaceToDepth": { data: [0], outputs: [0] },
  "::ReverseSequence": { data: [0], outputs: [0] },
  "::Compress": { data: [0], outputs: [0] },
  "::Trilu": { data: [0], outputs: [0] },
  "::CenterCropPad": { data: [0], outputs: [0] },
  "::Concat": { data: "all", outputs: [0] },
  "::Split": { data: [0], outputs: "all" },
  "::Pad": { data: [0], outputs: [0], sentinel: 2 },
  "::OneHot": { data: [2], outputs: [0] },
  "::ScatterND": { data: [0, 2], outputs: [0], check: onlyReductionNone },
  "::ScatterElements": { data: [0, 2], outputs: [0], check: onlyReductionNone },
  "::Scatter": { data: [0, 2], outputs: [0] },
  "::Dropout": {
    data: [0],
    outputs: [0],
    check(_ev, nc, ins) {
      const t = ins[2];
      const training = nc.opset >= 12
        ? t !== undefined && (isSymTensor(t) || toInts(t)[0] !== 0)
        : nc.opset < 7 && nc.attrInt("is_test", 0) === 0;
      if (training) throw new SymbolicUnsupported("Dropout", "Dropout in training mode is random");
    },
  },
};

/** Ops whose output depends only on their inputs' shapes and types. */
const SHAPE_ONLY = new Set(["::Shape", "::Size", "::EyeLike"]);

/** Ops whose float outputs the reference computes exactly from concrete inputs. */
const EXACT_CONCRETE = new Set(["::Constant", "::ConstantOfShape", ...SHAPE_ONLY]);

// ---------------------------------------------------------------------------------------------
// elementwise helpers

function floatIn(ev: Evaluator, nc: NodeContext, v: In, i: number): SymTensor {
  if (v === undefined) nc.fail(`input ${i} is missing`);
  const s = ev.lift(v);
  if (!isFloat(s.dtype)) {
    throw new SymbolicUnsupported(
      nc.node.opType,
      `${nc.node.opType} on ${dtypeLabel(s.dtype)} input ${i} is not supported`,
    );
  }
  return s;
}

function dtypeLabel(d: number): string {
  return d === DataType.BOOL ? "bool" : isFloat(d) ? "float" : "integer";
}

/** The numpy broadcast of `shapes` and, per shape, the source index of each output element. */
function broadcastMaps(nc: NodeContext, shapes: readonly (readonly number[])[]) {
  const dims = broadcastDims(...shapes);
  if (!dims) nc.fail(`shapes ${shapes.map((d) => `[${d}]`).join(", ")} do not broadcast`);
  return { dims, maps: shapes.map((d) => broadcastIndex(d, dims)) };
}

/** Broadcast `ts` (numpy rules) and build each output element from the aligned elements. */
function mapN(nc: NodeContext, ts: SymTensor[], dtype: number, f: (xs: SymExpr[]) => SymExpr): SymTensor {
  const { dims, maps } = broadcastMaps(nc, ts.map((t) => t.dims));
  const n = sizeOf(dims);
  const els = new Array<SymExpr>(n);
  for (let i = 0; i < n; i++) els[i] = f(ts.map((t, k) => t.els[maps[k] ? maps[k]![i] : i]));
  return { dtype, dims, els };
}

function legacyBroadcast(nc: NodeContext): void {
  if (nc.opset < 7 && nc.attrInt("broadcast", 0) !== 0) {
    throw new SymbolicUnsupported(
      nc.node.opType,
      `${nc.node.opType} with legacy (opset < 7) broadcast is not supported`,
    );
  }
}

function unary(f: (ev: Evaluator, x: RealExpr, nc: NodeContext) => RealExpr): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    return [{ dtype: x.dtype, dims: [...x.dims], els: x.els.map((e) => f(ev, e as RealExpr, nc)) }];
  };
}

function binary(f: (ev: Evaluator, a: RealExpr, b: RealExpr) => RealExpr): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
    return [mapN(nc, [a, b], a.dtype, ([x, y]) => f(ev, x as RealExpr, y as RealExpr))];
  };
}

function variadic(f: (ev: Evaluator, xs: RealExpr[]) => RealExpr): Handler {
  return (ev, nc, ins) => {
    const ts = ins.map((v, i) => floatIn(ev, nc, v, i));
    return [mapN(nc, ts, ts[0].dtype, (xs) => f(ev, xs as RealExpr[]))];
  };
}

function compare(op: "lt" | "le" | "gt" | "ge" | "eq"): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = ev.lift(need(nc, ins, 0)), b = ev.lift(need(nc, ins, 1));
    if (op !== "eq" && (a.dtype === DataType.BOOL || b.dtype === DataType.BOOL)) {
      throw new SymbolicUnsupported(nc.node.opType, `${nc.node.opType} on bools is not supported`);
    }
    return [mapN(nc, [a, b], DataType.BOOL, ([x, y]) => ev.cmp(op, x, y))];
  };
}

function logic(f: (ev: Evaluator, a: BoolExpr, b: BoolExpr) => BoolExpr): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = boolIn(ev, nc, ins[0], 0), b = boolIn(ev, nc, ins[1], 1);
    return [mapN(nc, [a, b], DataType.BOOL, ([x, y]) => f(ev, x as BoolExpr, y as BoolExpr))];
  };
}

function boolIn(ev: Evaluator, nc: NodeContext, v: In, i: number): SymTensor {
  const s = ev.lift(need(nc, v === undefined ? [] : [v], 0, i));
  if (s.dtype !== DataType.BOOL) nc.fail(`input ${i} must be bool`);
  return s;
}

function need(nc: NodeContext, ins: In[], i: number, label = i): SymValue {
  const v = ins[i];
  if (v === undefined) nc.fail(`input ${label} is missing`);
  return v;
}

/** A float attribute as ONNX stores it (float32). */
function attrF(nc: NodeContext, name: string, def: number): number {
  return Math.fround(nc.attrFloat(name, def));
}

/** The activations FusedConv names (ONNX Runtime's `activation`), with their parameters. */
function activation(ev: Evaluator, name: string, params: number[], op: string): (x: RealExpr) => RealExpr {
  const p = params.map(Math.fround);
  switch (name) {
    case "Relu":
      return (x) => ev.ite(ev.cmp("gt", x, ev.zero), x, ev.zero);
    case "Sigmoid":
      return (x) => ev.sigmoid(x);
    case "Tanh":
      return (x) => ev.app("tanh", x);
    case "LeakyRelu": {
      const a = ev.real(p[0] ?? Math.fround(0.01), "LeakyRelu alpha");
      return (x) => ev.ite(ev.cmp("lt", x, ev.zero), ev.mul(a, x), x);
    }
    case "Clip": {
      const lo = p[0] ?? -Infinity, hi = p[1] ?? Infinity;
      const l = Number.isFinite(lo) ? ev.real(lo, "Clip bound") : undefined;
      const h = Number.isFinite(hi) ? ev.real(hi, "Clip bound") : undefined;
      return (x) => clamp(ev, x, l, h);
    }
    case "HardSigmoid": {
      const a = ev.real(p[0] ?? Math.fround(0.2), "HardSigmoid alpha");
      const b = ev.real(p[1] ?? Math.fround(0.5), "HardSigmoid beta");
      return (x) => ev.max(ev.zero, ev.min(ev.one, ev.add(ev.mul(a, x), b)));
    }
    default:
      throw new SymbolicUnsupported(op, `${op} with activation '${name}' is not supported`);
  }
}

/** min(max(v, lo), hi) as the reference writes it (hi wins when lo > hi). */
function clamp(ev: Evaluator, v: RealExpr, lo: RealExpr | undefined, hi: RealExpr | undefined): RealExpr {
  let r = v;
  if (lo) r = ev.ite(ev.cmp("lt", r, lo), lo, r);
  if (hi) r = ev.ite(ev.cmp("gt", r, hi), hi, r);
  return r;
}

// ---------------------------------------------------------------------------------------------
// reductions, softmax, normalization

/** Element groups of a reduction over `axes` (sorted, distinct), in input order, and the output dims. */
function reduceGroups(dims: readonly number[], axes: readonly number[], keep: boolean) {
  const reduced = dims.map((_, i) => axes.includes(i));
  const outDims: number[] = [];
  dims.forEach((d, i) => {
    if (!reduced[i]) outDims.push(d);
    else if (keep) outDims.push(1);
  });
  const keptDims = dims.filter((_, i) => !reduced[i]);
  const groups: number[][] = Array.from({ length: sizeOf(keptDims) }, () => []);
  const n = sizeOf(dims);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    let o = 0;
    for (let a = 0; a < dims.length; a++) if (!reduced[a]) o = o * dims[a] + idx[a];
    groups[o].push(k);
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
  return { outDims, groups };
}

type ReduceKind = "sum" | "mean" | "max" | "min" | "prod" | "l1" | "l2" | "logsum" | "logsumexp" | "sumsquare";

function reduceOf(ev: Evaluator, kind: ReduceKind, xs: RealExpr[], op: string): RealExpr {
  if (xs.length === 0 && (kind === "max" || kind === "min" || kind === "logsum" || kind === "logsumexp")) {
    throw new SymbolicUnsupported(op, `${op} over an empty set is not a real number`);
  }
  switch (kind) {
    case "sum":
      return ev.sum(xs);
    case "mean":
      return ev.mean(xs);
    case "max":
      return xs.reduce((a, b) => ev.max(a, b));
    case "min":
      return xs.reduce((a, b) => ev.min(a, b));
    case "prod":
      return xs.reduce((a, b) => ev.mul(a, b), ev.one);
    case "l1":
      return ev.sum(xs.map((x) => absOf(ev, x)));
    case "l2":
      return ev.sqrt(ev.sum(xs.map((x) => ev.mul(x, x))));
    case "sumsquare":
      return ev.sum(xs.map((x) => ev.mul(x, x)));
    case "logsum":
      return ev.log(ev.sum(xs));
    case "logsumexp":
      return ev.log(ev.sum(xs.map((x) => ev.exp(x))));
  }
}

function absOf(ev: Evaluator, x: RealExpr): RealExpr {
  return ev.ite(ev.cmp("lt", x, ev.zero), ev.neg(x), x);
}

function reduceHandler(kind: ReduceKind): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    const fromInput = nc.node.opType === "ReduceSum" ? nc.opset >= 13 : nc.opset >= 18;
    let axes: number[];
    if (fromInput) {
      const a = ins[1];
      if (isSymTensor(a)) throw new SymbolicUnsupported(nc.node.opType, "symbolic axes");
      axes = a ? toInts(a) : [];
    } else {
      axes = nc.attrInts("axes", []);
    }
    const rank = x.dims.length;
    if (axes.length === 0) {
      if (fromInput && nc.attrInt("noop_with_empty_axes", 0) !== 0) return [x];
      axes = x.dims.map((_, i) => i);
    }
    const norm = [...new Set(axes.map((a) => normAxis(a, rank, (m) => nc.fail(m))))].sort((p, q) => p - q);
    const { outDims, groups } = reduceGroups(x.dims, norm, nc.attrInt("keepdims", 1) !== 0);
    const els = groups.map((g) => reduceOf(ev, kind, g.map((k) => x.els[k] as RealExpr), nc.node.opType));
    return [{ dtype: x.dtype, dims: outDims, els }];
  };
}

function globalPool(kind: "mean" | "max"): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    if (x.dims.length < 2) nc.fail(`input must have rank ≥ 2`);
    const axes = x.dims.map((_, i) => i).slice(2);
    const { outDims, groups } = reduceGroups(x.dims, axes, true);
    return [{
      dtype: x.dtype,
      dims: outDims,
      els: groups.map((g) => reduceOf(ev, kind, g.map((k) => x.els[k] as RealExpr), "pool")),
    }];
  };
}

/** Rows of a softmax: [outer, n, inner] as the reference splits the shape. */
function softmaxHandler(log: boolean): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    const dims = x.dims, rank = dims.length;
    let outer = 1, n = 1, inner = 1;
    if (rank > 0) {
      const a = normAxis(nc.attrInt("axis", nc.opset < 13 ? 1 : -1), rank, (m) => nc.fail(m));
      outer = sizeOf(dims.slice(0, a));
      if (nc.opset < 13) n = sizeOf(dims.slice(a));
      else {
        n = dims[a];
        inner = sizeOf(dims.slice(a + 1));
      }
    }
    const els = [...x.els];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const pos = Array.from({ length: n }, (_, k) => o * n * inner + i + k * inner);
        const es = pos.map((p) => ev.exp(x.els[p] as RealExpr));
        const inv = ev.recip(ev.sum(es));
        pos.forEach((p, k) => {
          const y = ev.mul(es[k], inv);
          els[p] = log ? ev.log(y) : y;
        });
      }
    }
    return [{ dtype: x.dtype, dims: [...dims], els }];
  };
}

/** Elements of `t` aligned with `dims` by broadcasting. */
function alignTo(nc: NodeContext, t: SymTensor, dims: readonly number[], what: string): RealExpr[] {
  const bd = broadcastDims(t.dims, dims);
  if (!bd || bd.length !== dims.length || bd.some((d, i) => d !== dims[i])) {
    nc.fail(`${what} of shape [${t.dims}] does not broadcast to [${dims}]`);
  }
  const map = broadcastIndex(t.dims, dims);
  return Array.from({ length: sizeOf(dims) }, (_, i) => t.els[map ? map[i] : i] as RealExpr);
}

function layerNormHandler(rms: boolean): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    const rank = x.dims.length;
    const axis = normAxis(nc.attrInt("axis", -1), rank, (m) => nc.fail(m));
    const eps = ev.real(attrF(nc, "epsilon", 1e-5), "epsilon");
    const cols = sizeOf(x.dims.slice(axis)), rows = sizeOf(x.dims.slice(0, axis));
    const sc = alignTo(nc, floatIn(ev, nc, ins[1], 1), x.dims, "scale");
    const bi = !rms && ins[2] !== undefined ? alignTo(nc, floatIn(ev, nc, ins[2], 2), x.dims, "bias") : undefined;
    const y = new Array<SymExpr>(x.els.length);
    const means: RealExpr[] = [], invs: RealExpr[] = [];
    for (let r = 0; r < rows; r++) {
      const row = x.els.slice(r * cols, (r + 1) * cols) as RealExpr[];
      const mean = rms ? undefined : ev.mean(row);
      const d = mean ? row.map((v) => ev.sub(v, mean)) : row;
      const variance = ev.mean(d.map((v) => ev.mul(v, v)));
      const inv = ev.recip(ev.sqrt(ev.add(variance, eps)));
      means.push(mean ?? ev.zero);
      invs.push(inv);
      for (let i = 0; i < cols; i++) {
        const p = r * cols + i;
        const v = ev.mul(ev.mul(d[i], inv), sc[p]);
        y[p] = bi ? ev.add(v, bi[p]) : v;
      }
    }
    const out: Out = [{ dtype: x.dtype, dims: [...x.dims], els: y }];
    if (!rms) {
      const statDims = x.dims.map((d, i) => (i < axis ? d : 1));
      const st = nc.attrInt("stash_type", 1);
      out.push({ dtype: st, dims: statDims, els: means }, { dtype: st, dims: [...statDims], els: invs });
    }
    return out;
  };
}

const batchNorm: Handler = (ev, nc, ins) => {
  const x = floatIn(ev, nc, ins[0], 0);
  const training = nc.opset >= 14
    ? nc.attrInt("training_mode", 0) !== 0
    : nc.opset >= 7
    ? nc.numOutputs > 1
    : nc.attrInt("is_test", 0) === 0 && nc.numOutputs > 1;
  if (training) {
    throw new SymbolicUnsupported("BatchNormalization", "BatchNormalization in training mode is not supported");
  }
  if (nc.opset < 9 && nc.attrInt("spatial", 1) === 0) {
    throw new SymbolicUnsupported("BatchNormalization", "BatchNormalization with spatial = 0 is not supported");
  }
  const eps = ev.real(attrF(nc, "epsilon", 1e-5), "epsilon");
  const C = x.dims.length > 1 ? x.dims[1] : 1;
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => {
    const t = floatIn(ev, nc, ins[i], i);
    if (t.els.length !== C) nc.fail(`input ${i} has ${t.els.length} elements, ${C} expected`);
    return t.els as RealExpr[];
  });
  const inner = sizeOf(x.dims.slice(2)), N = x.dims[0] ?? 1;
  const a = scale.map((s, c) => ev.mul(s, ev.recip(ev.sqrt(ev.add(variance[c], eps)))));
  const y = new Array<SymExpr>(x.els.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * inner;
      for (let i = 0; i < inner; i++) {
        y[base + i] = ev.add(ev.mul(ev.sub(x.els[base + i] as RealExpr, mean[c]), a[c]), bias[c]);
      }
    }
  }
  return [{ dtype: x.dtype, dims: [...x.dims], els: y }];
};

const instanceNorm: Handler = (ev, nc, ins) => {
  const x = floatIn(ev, nc, ins[0], 0);
  if (x.dims.length < 3) nc.fail("input must have rank ≥ 3");
  const [N, C] = x.dims;
  const inner = sizeOf(x.dims.slice(2));
  const eps = ev.real(attrF(nc, "epsilon", 1e-5), "epsilon");
  const sc = floatIn(ev, nc, ins[1], 1).els as RealExpr[], bi = floatIn(ev, nc, ins[2], 2).els as RealExpr[];
  if (sc.length !== C || bi.length !== C) nc.fail(`scale and B must have ${C} elements`);
  const y = new Array<SymExpr>(x.els.length);
  for (let b = 0; b < N * C; b++) {
    const row = x.els.slice(b * inner, (b + 1) * inner) as RealExpr[];
    const mean = ev.mean(row);
    const d = row.map((v) => ev.sub(v, mean));
    const inv = ev.recip(ev.sqrt(ev.add(ev.mean(d.map((v) => ev.mul(v, v))), eps)));
    const c = b % C;
    d.forEach((v, i) => (y[b * inner + i] = ev.add(ev.mul(ev.mul(v, inv), sc[c]), bi[c])));
  }
  return [{ dtype: x.dtype, dims: [...x.dims], els: y }];
};

// ---------------------------------------------------------------------------------------------
// MatMul, Gemm, Conv

const matMul: Handler = (ev, nc, ins) => {
  const a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
  const p = planMatMul(nc, a.dims, b.dims);
  const { M, K, N } = p;
  const nb = sizeOf(p.batch);
  const ai = broadcastIndex(p.aBatch, p.batch), bi = broadcastIndex(p.bBatch, p.batch);
  const els = new Array<SymExpr>(nb * M * N);
  for (let q = 0; q < nb; q++) {
    const aOff = (ai ? ai[q] : q) * M * K, bOff = (bi ? bi[q] : q) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        const terms: RealExpr[] = [];
        for (let k = 0; k < K; k++) {
          terms.push(ev.mul(a.els[aOff + i * K + k] as RealExpr, b.els[bOff + k * N + j] as RealExpr));
        }
        els[q * M * N + i * N + j] = ev.sum(terms);
      }
    }
  }
  return [{ dtype: a.dtype, dims: p.outDims, els }];
};

const gemm: Handler = (ev, nc, ins) => {
  const a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
  if (a.dims.length !== 2 || b.dims.length !== 2) nc.fail(`A and B must be 2-D, got [${a.dims}] and [${b.dims}]`);
  const tA = nc.attrInt("transA", 0) !== 0, tB = nc.attrInt("transB", 0) !== 0;
  const [M, K] = tA ? [a.dims[1], a.dims[0]] : a.dims;
  const [K2, N] = tB ? [b.dims[1], b.dims[0]] : b.dims;
  if (K !== K2) nc.fail(`inner dimensions differ: A [${a.dims}], B [${b.dims}]`);
  const alpha = ev.real(attrF(nc, "alpha", 1), "alpha"), beta = ev.real(attrF(nc, "beta", 1), "beta");
  const betaZero = ev.ratOf(beta)!.n === 0n;
  const c = ins[2] !== undefined && !betaZero ? alignTo(nc, floatIn(ev, nc, ins[2], 2), [M, N], "C") : undefined;
  const els = new Array<SymExpr>(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const terms: RealExpr[] = [];
      for (let k = 0; k < K; k++) {
        const x = a.els[tA ? k * M + i : i * K + k] as RealExpr, y = b.els[tB ? j * K + k : k * N + j] as RealExpr;
        terms.push(ev.mul(x, y));
      }
      let v = ev.mul(ev.sum(terms), alpha);
      if (c) v = ev.add(v, ev.mul(beta, c[i * N + j]));
      els[i * N + j] = v;
    }
  }
  return [{ dtype: a.dtype, dims: [M, N], els }];
};

/** Direct N-d grouped convolution with the reference's geometry (pads, strides, dilations, auto_pad). */
function convolve(ev: Evaluator, nc: NodeContext, ins: In[]): SymTensor {
  const x = floatIn(ev, nc, ins[0], 0), w = floatIn(ev, nc, ins[1], 1);
  const b = ins[2] !== undefined ? floatIn(ev, nc, ins[2], 2) : undefined;
  const g = convGeometry(nc, x.dims, w.dims);
  if (b && b.els.length !== g.M) nc.fail(`B has ${b.els.length} elements, expected ${g.M}`);
  const nsp = g.inSizes.length;
  const Cg = g.C / g.group, Mg = g.M / g.group;
  const inSize = sizeOf(g.inSizes), kSize = sizeOf(g.kernel), outSize = sizeOf(g.outSizes);
  const els = new Array<SymExpr>(g.N * g.M * outSize);
  const oIdx = new Array<number>(nsp), kIdx = new Array<number>(nsp);
  for (let n = 0; n < g.N; n++) {
    for (let m = 0; m < g.M; m++) {
      const grp = Math.floor(m / Mg);
      for (let o = 0; o < outSize; o++) {
        let r = o;
        for (let d = nsp - 1; d >= 0; d--) {
          oIdx[d] = r % g.outSizes[d];
          r = Math.floor(r / g.outSizes[d]);
        }
        const terms: RealExpr[] = [];
        for (let c = 0; c < Cg; c++) {
          const xBase = (n * g.C + grp * Cg + c) * inSize, wBase = (m * Cg + c) * kSize;
          for (let kk = 0; kk < kSize; kk++) {
            let rk = kk;
            for (let d = nsp - 1; d >= 0; d--) {
              kIdx[d] = rk % g.kernel[d];
              rk = Math.floor(rk / g.kernel[d]);
            }
            let off = 0, inside = true;
            for (let d = 0; d < nsp; d++) {
              const pos = oIdx[d] * g.strides[d] - g.padBegin[d] + kIdx[d] * g.dilations[d];
              if (pos < 0 || pos >= g.inSizes[d]) {
                inside = false;
                break;
              }
              off = off * g.inSizes[d] + pos;
            }
            if (inside) terms.push(ev.mul(x.els[xBase + off] as RealExpr, w.els[wBase + kk] as RealExpr));
          }
        }
        const s = ev.sum(terms);
        els[(n * g.M + m) * outSize + o] = b ? ev.add(s, b.els[m] as RealExpr) : s;
      }
    }
  }
  return { dtype: x.dtype, dims: [g.N, g.M, ...g.outSizes], els };
}

const conv: Handler = (ev, nc, ins) => [convolve(ev, nc, ins)];

const fusedConv: Handler = (ev, nc, ins) => {
  const f = activation(
    ev,
    nc.attrString("activation", ""),
    nc.attrFloats("activation_params", []),
    "com.microsoft.FusedConv",
  );
  const y = convolve(ev, nc, ins.slice(0, 3));
  let els = y.els as RealExpr[];
  if (ins[3] !== undefined) {
    const z = floatIn(ev, nc, ins[3], 3);
    if (z.els.length !== els.length) nc.fail(`Z has ${z.els.length} elements, the convolution ${els.length}`);
    els = els.map((v, i) => ev.add(v, z.els[i] as RealExpr));
  }
  return [{ ...y, els: els.map(f) }];
};

// ---------------------------------------------------------------------------------------------
// the handler table

const HANDLERS: Record<string, Handler> = {
  "::Add": binary((ev, a, b) => ev.add(a, b)),
  "::Sub": binary((ev, a, b) => ev.sub(a, b)),
  "::Mul": binary((ev, a, b) => ev.mul(a, b)),
  "::Div": binary((ev, a, b) => ev.div(a, b)),
  "::Pow": (ev, nc, ins) => {
    legacyBroadcast(nc);
    // the exponent may be of another numeric type than the base (int64 exponents are common)
    const x = floatIn(ev, nc, ins[0], 0), y = ev.lift(need(nc, ins, 1));
    if (y.dtype === DataType.BOOL) nc.fail("the exponent must be numeric");
    return [mapN(nc, [x, y], x.dtype, ([a, b]) => ev.pow(a as RealExpr, b as RealExpr))];
  },
  "::Neg": unary((ev, x) => ev.neg(x)),
  "::Abs": unary((ev, x) => absOf(ev, x)),
  "::Sign": unary((ev, x) =>
    ev.ite(ev.cmp("gt", x, ev.zero), ev.one, ev.ite(ev.cmp("lt", x, ev.zero), ev.neg(ev.one), ev.zero))
  ),
  "::Reciprocal": unary((ev, x) => ev.recip(x)),
  "::Sqrt": unary((ev, x) => ev.sqrt(x)),
  "::Exp": unary((ev, x) => ev.exp(x)),
  "::Log": unary((ev, x) => ev.log(x)),
  "::Floor": unary((ev, x) => floorOf(ev, x)),
  "::Ceil": unary((ev, x) => ev.neg(floorOf(ev, ev.neg(x)))),
  "::Relu": unary((ev, x) => ev.ite(ev.cmp("gt", x, ev.zero), x, ev.zero)),
  "::LeakyRelu": unary((ev, x, nc) => {
    const a = ev.real(attrF(nc, "alpha", 0.01), "alpha");
    return ev.ite(ev.cmp("lt", x, ev.zero), ev.mul(a, x), x);
  }),
  "::PRelu": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0), s = floatIn(ev, nc, ins[1], 1);
    const y = mapN(nc, [x, s], x.dtype, ([v, k]) => {
      const a = v as RealExpr;
      return ev.ite(ev.cmp("lt", a, ev.zero), ev.mul(a, k as RealExpr), a);
    });
    if (y.dims.length !== x.dims.length || y.dims.some((d, i) => d !== x.dims[i])) {
      nc.fail("slope does not broadcast to X");
    }
    return [y];
  },
  "::Elu": unary((ev, x, nc) => {
    const a = ev.real(attrF(nc, "alpha", 1), "alpha");
    return ev.ite(ev.cmp("lt", x, ev.zero), ev.mul(a, ev.sub(ev.exp(x), ev.one)), x);
  }),
  "::Selu": unary((ev, x, nc) => {
    const a = ev.real(attrF(nc, "alpha", 1.67326319217681884765625), "alpha");
    const g = ev.real(attrF(nc, "gamma", 1.05070102214050292968750), "gamma");
    return ev.ite(ev.cmp("gt", x, ev.zero), ev.mul(g, x), ev.mul(ev.mul(g, a), ev.sub(ev.exp(x), ev.one)));
  }),
  "::Celu": unary((ev, x, nc) => {
    const av = attrF(nc, "alpha", 1);
    if (av === 0) nc.fail("alpha must not be 0");
    const a = ev.real(av, "alpha");
    const neg = ev.mul(a, ev.sub(ev.exp(ev.div(x, a)), ev.one));
    return ev.add(ev.max(ev.zero, x), ev.min(ev.zero, neg));
  }),
  "::Sigmoid": unary((ev, x) => ev.sigmoid(x)),
  "::HardSigmoid": unary((ev, x, nc) => {
    const a = ev.real(attrF(nc, "alpha", 0.2), "alpha"), b = ev.real(attrF(nc, "beta", 0.5), "beta");
    return ev.max(ev.zero, ev.min(ev.one, ev.add(ev.mul(a, x), b)));
  }),
  "::HardSwish": unary((ev, x) =>
    ev.mul(x, ev.max(ev.zero, ev.min(ev.one, ev.add(ev.mul(x, ev.num(rat(1n, 6n))), ev.num(rat(1n, 2n))))))
  ),
  "::Softplus": unary((ev, x) => ev.softplus(x)),
  "::Softsign": unary((ev, x) => ev.div(x, ev.add(ev.one, absOf(ev, x)))),
  "::Mish": unary((ev, x) => ev.mul(x, ev.app("tanh", ev.softplus(x)))),
  "::Swish": unary((ev, x, nc) => ev.mul(x, ev.sigmoid(ev.mul(ev.real(attrF(nc, "alpha", 1), "alpha"), x)))),
  "::ThresholdedRelu": unary((ev, x, nc) => {
    const a = ev.real(attrF(nc, "alpha", 1), "alpha");
    return ev.ite(ev.cmp("gt", x, a), x, ev.zero);
  }),
  "::Shrink": unary((ev, x, nc) => {
    const l = ev.real(attrF(nc, "lambd", 0.5), "lambd"), b = ev.real(attrF(nc, "bias", 0), "bias");
    return ev.ite(ev.cmp("lt", x, ev.neg(l)), ev.add(x, b), ev.ite(ev.cmp("gt", x, l), ev.sub(x, b), ev.zero));
  }),
  "::Gelu": unary((ev, x, nc) => {
    const approx = nc.attrString("approximate", "none");
    if (approx !== "none" && approx !== "tanh") nc.fail(`approximate must be 'none' or 'tanh', is '${approx}'`);
    return ev.gelu(x, approx);
  }),
  "com.microsoft::Gelu": contribUnary((ev, x) => ev.gelu(x, "none")),
  "com.microsoft::FastGelu": contribUnary((ev, x) => ev.gelu(x, "tanh")),
  "::Clip": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    let lo: RealExpr | undefined, hi: RealExpr | undefined;
    if (nc.opset < 11) {
      lo = ev.real(attrF(nc, "min", -3.4028234663852886e38), "min");
      hi = ev.real(attrF(nc, "max", 3.4028234663852886e38), "max");
    } else {
      const bound = (i: number): RealExpr | undefined => {
        const v = ins[i];
        if (v === undefined) return undefined;
        if (v.dims.length > 0 && sizeOf(v.dims) !== 1) nc.fail(`bound ${i} must be a scalar`);
        if (!isSymTensor(v)) {
          const b = toNumbers(v)[0];
          if (b === Infinity || b === -Infinity) return undefined;
        }
        return floatIn(ev, nc, v, i).els[0] as RealExpr;
      };
      lo = bound(1);
      hi = bound(2);
    }
    return [{ dtype: x.dtype, dims: [...x.dims], els: x.els.map((v) => clamp(ev, v as RealExpr, lo, hi)) }];
  },
  "::Max": variadic((ev, xs) => xs.reduce((a, b) => ev.max(a, b))),
  "::Min": variadic((ev, xs) => xs.reduce((a, b) => ev.min(a, b))),
  "::Sum": variadic((ev, xs) => ev.sum(xs)),
  "::Mean": variadic((ev, xs) => ev.mean(xs)),
  "::Equal": compare("eq"),
  "::Less": compare("lt"),
  "::LessOrEqual": compare("le"),
  "::Greater": compare("gt"),
  "::GreaterOrEqual": compare("ge"),
  "::Not": (ev, nc, ins) => {
    const a = boolIn(ev, nc, ins[0], 0);
    return [{ dtype: DataType.BOOL, dims: [...a.dims], els: a.els.map((e) => ev.not(e as BoolExpr)) }];
  },
  "::And": logic((ev, a, b) => ev.and(a, b)),
  "::Or": logic((ev, a, b) => ev.or(a, b)),
  "::Xor": logic((ev, a, b) => ev.xor(a, b)),
  "::IsNaN": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    return [{ dtype: DataType.BOOL, dims: [...x.dims], els: x.els.map(() => ev.F) }];
  },
  "::IsInf": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    return [{ dtype: DataType.BOOL, dims: [...x.dims], els: x.els.map(() => ev.F) }];
  },
  "::Where": (ev, nc, ins) => {
    const c = boolIn(ev, nc, ins[0], 0), a = ev.lift(need(nc, ins, 1)), b = ev.lift(need(nc, ins, 2));
    if (a.dtype !== b.dtype) nc.fail("X and Y have different types");
    if (!isFloat(a.dtype) && a.dtype !== DataType.BOOL) {
      throw new SymbolicUnsupported("Where", "Where on integers with a symbolic condition is not supported");
    }
    return [mapN(nc, [c, a, b], a.dtype, ([p, x, y]) => ev.ite(p as BoolExpr, x, y))];
  },
  "::Cast": (ev, nc, ins) => [cast(ev, nc, need(nc, ins, 0), nc.attrInt("to"))],
  "::CastLike": (ev, nc, ins) => [cast(ev, nc, need(nc, ins, 0), need(nc, ins, 1).dtype)],
  "::Erf": unary((ev, x) => ev.app("erf", x)),
  "::Tanh": unary((ev, x) => ev.app("tanh", x)),
  "::Sin": unary((ev, x) => ev.app("sin", x)),
  "::Cos": unary((ev, x) => ev.app("cos", x)),
  "::Tan": unary((ev, x) => ev.app("tan", x)),
  "::Asin": unary((ev, x) => ev.app("asin", x)),
  "::Acos": unary((ev, x) => ev.app("acos", x)),
  "::Atan": unary((ev, x) => ev.app("atan", x)),
  "::Sinh": unary((ev, x) => ev.app("sinh", x)),
  "::Cosh": unary((ev, x) => ev.app("cosh", x)),
  "::Asinh": unary((ev, x) => ev.app("asinh", x)),
  "::Acosh": unary((ev, x) => ev.app("acosh", x)),
  "::Atanh": unary((ev, x) => ev.app("atanh", x)),
  "::ReduceSum": reduceHandler("sum"),
  "::ReduceMean": reduceHandler("mean"),
  "::ReduceMax": reduceHandler("max"),
  "::ReduceMin": reduceHandler("min"),
  "::ReduceProd": reduceHandler("prod"),
  "::ReduceL1": reduceHandler("l1"),
  "::ReduceL2": reduceHandler("l2"),
  "::ReduceLogSum": reduceHandler("logsum"),
  "::ReduceLogSumExp": reduceHandler("logsumexp"),
  "::ReduceSumSquare": reduceHandler("sumsquare"),
  "::GlobalAveragePool": globalPool("mean"),
  "::GlobalMaxPool": globalPool("max"),
  "::Softmax": softmaxHandler(false),
  "::LogSoftmax": softmaxHandler(true),
  "::LayerNormalization": layerNormHandler(false),
  "::RMSNormalization": layerNormHandler(true),
  "::SimplifiedLayerNormalization": layerNormHandler(true),
  "com.microsoft::SimplifiedLayerNormalization": layerNormHandler(true),
  "::BatchNormalization": batchNorm,
  "::InstanceNormalization": instanceNorm,
  "::MatMul": matMul,
  "::Gemm": gemm,
  "::Conv": conv,
  "com.microsoft::FusedConv": fusedConv,
};

function contribUnary(f: (ev: Evaluator, x: RealExpr) => RealExpr): Handler {
  return (ev, nc, ins) => {
    if (ins.length > 1 && ins[1] !== undefined) nc.fail("a bias input is not supported");
    return unary((e, x) => f(e, x))(ev, nc, ins);
  };
}

function floorOf(ev: Evaluator, x: RealExpr): RealExpr {
  const r = ev.ratOf(x);
  if (r) {
    let q = r.n / r.d;
    if (r.n < 0n && q * r.d !== r.n) q -= 1n;
    return ev.num(rat(q));
  }
  return ev.ctx.ToReal(ev.ctx.ToInt(x)) as RealExpr;
}

function cast(ev: Evaluator, nc: NodeContext, v: SymValue, to: number): SymValue {
  const from = v.dtype;
  const op = nc.node.opType;
  if (isFloat(to)) {
    if (isFloat(from)) return { ...ev.lift(v), dtype: to };
    if (from === DataType.BOOL) {
      const s = ev.lift(v);
      return { dtype: to, dims: [...s.dims], els: s.els.map((b) => ev.ite(b as BoolExpr, ev.one, ev.zero)) };
    }
    if (!isSymTensor(v) && from !== DataType.STRING) {
      // integers: their exact values, kept concrete when the target type holds them exactly
      const t = fromNumbers(to as DataType, [...v.dims], toNumbers(v));
      const got = toNumbers(t);
      const exact = isBigInt(from)
        ? Array.from(v.data as BigInt64Array | BigUint64Array).every((x, i) =>
          Number.isInteger(got[i]) && BigInt(got[i]) === BigInt(x)
        )
        : toNumbers(v).every((x, i) => x === got[i]);
      return exact ? t : { dtype: to, dims: [...v.dims], els: ev.lift(v).els };
    }
    throw new SymbolicUnsupported(op, `${op} from ${dtypeLabel(from)} to float is not supported`);
  }
  if (to === DataType.BOOL) {
    if (from === DataType.BOOL) return v;
    if (isFloat(from)) {
      const s = ev.lift(v);
      return { dtype: to, dims: [...s.dims], els: s.els.map((x) => ev.not(ev.cmp("eq", x, ev.zero))) };
    }
  }
  if (isFloat(from) && to !== DataType.STRING) {
    // numerals (constants computed exactly) truncate toward zero as a cast does
    const s = ev.lift(v);
    const rs = s.els.map((e) => ev.ratOf(e));
    if (rs.every((r) => r !== undefined)) {
      return fromNumbers(to as DataType, [...s.dims], rs.map((r) => Number(r!.n / r!.d)));
    }
  }
  throw new SymbolicUnsupported(op, `${op} of a symbolic ${dtypeLabel(from)} to an integer type is not supported`);
}
