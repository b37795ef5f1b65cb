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
 * - The scalar math (reals, division as x·(1/y), uninterpreted exp/log/erf/tanh/…, sqrt and π
 *   with their axioms) is `Z3Algebra` (`verify/z3_algebra.ts`). Uninterpreted applications
 *   have two encodings: `proveEqual` first ties each `f#k` to a Z3 function symbol
 *   (`f#k = f(t)`: Z3's SMT core, fast congruence proofs, rational models only), then, if that
 *   is undecided, uses Ackermann's consistency facts (t = t' ⇒ f#k = f#k'): pure nonlinear
 *   real arithmetic, which nlsat decides, with models that may be irrational (a counterexample
 *   to a rule that folds a square root needs one). The time limit is shared: half what is left
 *   for the first query, the rest for the second.
 * - IsNaN and IsInf of a real are false; a constant that is inf or NaN has no real value and
 *   makes the op unsupported.
 *
 * One semantics, several interpretations (DESIGN.md). Ops whose math is written once, in
 * `ir/ops/`, over the scalar algebra of `ir/algebra.ts` — the interpreter runs the formula with
 * numbers, this evaluator with `Z3Algebra` terms, so a proof is about what the reference
 * computes (tests/one_semantics_test.ts checks both interpretations):
 * - unary math (`UNARY_FORMULAS`): Abs, Neg, Sign, Reciprocal, Sqrt, Floor, Ceil, Exp, Log, Erf,
 *   Sin … Atanh; IsNaN, IsInf (`PREDICATE_FORMULAS`);
 * - activations (`ACTIVATION_FORMULAS`): Relu, LeakyRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid,
 *   HardSwish, Softplus, Softsign, Tanh, Mish, Gelu, Swish, ThresholdedRelu, Shrink; PRelu,
 *   Clip (`clamp`), com.microsoft Gelu/FastGelu (`gelu`), FusedConv's activations;
 * - binary (`ARITH_FORMULAS`, with numpy broadcasting from one place): Add, Sub, Mul, Div, Pow;
 *   comparisons (`COMPARE_FORMULAS`); And, Or, Xor (`LOGIC_FORMULAS`); Where (`WHERE_FORMULA`);
 *   Sum, Mean, Max, Min (`FOLD_FORMULAS`).
 * Ops with one definition by other means: data movement (the reference op itself, on element
 * numbers: the index trick below), Shape/Size/EyeLike and every all-concrete integer node (the
 * reference op on concrete values). Integer arithmetic (≤32-bit wrapping, int64 BigInt) exists
 * only in the interpreter: integers never become symbolic here.
 *
 * Ops that still have two definitions, a handler here beside the kernel in `ir/ops/`, and why:
 * - ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare and GlobalAverage/MaxPool
 *   (`ir/ops/reduce.ts`, `pool.ts`): the interpreter's strided accumulation loops are not yet
 *   written over the algebra; here each group is a sum/max/… of the same algebra primitives.
 * - Softmax, LogSoftmax (`softmax.ts`): the interpreter subtracts the row maximum and
 *   special-cases ±inf rows (IEEE); over the reals exp(x - m)/Σexp(x_j - m) = exp(x)/Σexp(x_j),
 *   but with exp uninterpreted Z3 cannot see it, so the unshifted form is stated here.
 * - LayerNormalization, RMS/SimplifiedLayerNormalization, BatchNormalization,
 *   InstanceNormalization (`normalization.ts`): row kernels with their own mean/variance passes.
 * - MatMul, Gemm, Conv (`matmul.ts`, `_gemm.ts`, `conv.ts`): the geometry is shared
 *   (`planMatMul`, `convGeometry`), the arithmetic is not: the interpreter's blocked float64
 *   kernels are a sum of products in another order, which the reals do not distinguish.
 *   com.microsoft.FusedMatMul is MatMul's handler on transposed operands, scaled by alpha.
 * - com.microsoft.SkipLayerNormalization / SkipSimplifiedLayerNormalization: LayerNormalization's
 *   and RMS normalization's handler on input + skip (+ bias).
 * - com.microsoft.FusedConv: its activations are `fusedActivationFormula` (ir/ops/activation.ts),
 *   here and in the reference (`rules/contrib_ops.ts`); its convolution is Conv's, as above.
 * - Cast/CastLike: float → int rounding is concrete only; float → float is the identity on reals.
 *
 * A refutation found with uninterpreted functions may be spurious (Z3 may choose exp freely);
 * callers re-evaluate counterexamples with the reference interpreter.
 *
 * Every use of Z3 goes through `serialized` (see `verify/z3.ts`): terms are never built while
 * a check runs.
 * @module
 */
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
import { serialized, z3, type Z3Api } from "./z3.ts";
import {
  attrF32,
  type BinaryFormula,
  type CompareFormula,
  type FoldFormula,
  type LogicFormula,
  type PredicateFormula,
  type UnaryFormula,
} from "../ir/algebra.ts";
import {
  ACTIVATION_FORMULAS,
  clamp,
  clipAttrBounds,
  fusedActivationFormula,
  gelu,
  prelu,
} from "../ir/ops/activation.ts";
import { PREDICATE_FORMULAS, UNARY_FORMULAS } from "../ir/ops/unary.ts";
import { ARITH_FORMULAS, COMPARE_FORMULAS, FOLD_FORMULAS, LOGIC_FORMULAS, WHERE_FORMULA } from "../ir/ops/binary.ts";
import { SKIP_NORM_EPSILON } from "../rules/contrib_ops.ts";
import { type BoolExpr, rat, type RealExpr, SymbolicUnsupported, type SymExpr, Z3Algebra } from "./z3_algebra.ts";

export { type BoolExpr, type RealExpr, SymbolicUnsupported, type SymExpr };

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
// the evaluator

type In = SymValue | undefined;
type Out = (SymValue | undefined)[];
type Handler = (ev: Evaluator, nc: NodeContext, ins: In[]) => Out;

/** The symbolic run of one model: a `Z3Algebra` that also holds the graph. */
class Evaluator extends Z3Algebra {
  readonly model: Model;

  constructor(api: Z3Api, model: Model) {
    super(api);
    this.model = model;
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
    let fill: SymExpr = isBool ? this.F : this.rational({ n: 0n, d: 1n });
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
    const zero: SymExpr = isBool ? this.F : this.rational({ n: 0n, d: 1n });
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
      return { dtype: t.dtype, dims: [...t.dims], els: Array.from(d, (x) => this.rational(rat(BigInt(x)))) };
    }
    const nums = toNumbers(t);
    return { dtype: t.dtype, dims: [...t.dims], els: Array.from(nums, (x) => this.real(x, "constant")) };
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

/** A unary op by its formula (`ir/ops/`): the formula run over Z3 terms. */
function unary(f: UnaryFormula): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    const g = f(ev, nc);
    return [{ dtype: x.dtype, dims: [...x.dims], els: x.els.map((e) => g(e as RealExpr)) }];
  };
}

/** A broadcasting binary op by its formula. */
function binary(f: BinaryFormula): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
    const g = f(ev);
    return [mapN(nc, [a, b], a.dtype, ([x, y]) => g(x as RealExpr, y as RealExpr))];
  };
}

/** A variadic op by its fold formula. */
function variadic(f: FoldFormula): Handler {
  return (ev, nc, ins) => {
    const ts = ins.map((v, i) => floatIn(ev, nc, v, i));
    const step = f.step(ev), finish = f.finish?.(ev, ts.length);
    return [mapN(nc, ts, ts[0].dtype, (xs) => {
      const acc = (xs as RealExpr[]).reduce(step);
      return finish ? finish(acc) : acc;
    })];
  };
}

/** A comparison by its formula (Equal of bools: their equality). */
function compare(f: CompareFormula, numericOnly: boolean): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = ev.lift(need(nc, ins, 0)), b = ev.lift(need(nc, ins, 1));
    if (numericOnly && (a.dtype === DataType.BOOL || b.dtype === DataType.BOOL)) {
      throw new SymbolicUnsupported(nc.node.opType, `${nc.node.opType} on bools is not supported`);
    }
    const g = f(ev);
    return [mapN(nc, [a, b], DataType.BOOL, ([x, y]) => g(x as RealExpr, y as RealExpr))];
  };
}

/** IsNaN, IsInf by their formulas (false over the reals). */
function predicate(f: PredicateFormula): Handler {
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    const g = f(ev, nc);
    return [{ dtype: DataType.BOOL, dims: [...x.dims], els: x.els.map((e) => g(e as RealExpr)) }];
  };
}

function logic(f: LogicFormula): Handler {
  return (ev, nc, ins) => {
    legacyBroadcast(nc);
    const a = boolIn(ev, nc, ins[0], 0), b = boolIn(ev, nc, ins[1], 1);
    const g = f(ev);
    return [mapN(nc, [a, b], DataType.BOOL, ([x, y]) => g(x as BoolExpr, y as BoolExpr))];
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

/** FusedConv's activations (ONNX Runtime's `activation`) by the formulas of the ops they name. */
function activation(ev: Evaluator, name: string, params: number[], op: string): (x: RealExpr) => RealExpr {
  const f = fusedActivationFormula(ev, name, params);
  if (!f) throw new SymbolicUnsupported(op, `${op} with activation '${name}' is not supported`);
  return f;
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
      return ev.sum(xs.map((x) => ev.abs(x)));
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
    const eps = ev.real(attrF32(nc, "epsilon", 1e-5), "epsilon");
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

/**
 * com.microsoft.SkipLayerNormalization / SkipSimplifiedLayerNormalization: the sum
 * s = input + skip (+ bias) (the skip broadcast over the input's shape, as in the reference's
 * `rules/contrib_ops.ts`, which also checks the shapes ONNX Runtime accepts), then
 * LayerNormalization's / RMS normalization's handler on (s, gamma, beta) over the last axis with
 * the node's `epsilon` (default 1e-12, ONNX Runtime's). Outputs: the normalized value,
 * SkipLayerNormalization's mean and inv_std_var (none for the simplified op, as in the
 * reference), and s.
 */
function skipNormHandler(simplified: boolean): Handler {
  const norm = layerNormHandler(simplified);
  return (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0), skip = floatIn(ev, nc, ins[1], 1);
    if (x.dims.length !== 2 && x.dims.length !== 3) nc.fail(`input must have rank 2 or 3, has rank ${x.dims.length}`);
    const sk = alignTo(nc, skip, x.dims, "skip");
    const biasAt = simplified ? 3 : 4;
    const bias = ins[biasAt] !== undefined ? alignTo(nc, floatIn(ev, nc, ins[biasAt], biasAt), x.dims, "bias") : [];
    const els = x.els.map((v, i) => {
      const t = ev.add(v as RealExpr, sk[i]);
      return bias.length ? ev.add(t, bias[i]) : t;
    });
    const sum: SymTensor = { dtype: x.dtype, dims: [...x.dims], els };
    const node: Node = {
      ...nc.node,
      attributes: [{ name: "epsilon", type: "float", value: nc.attrFloat("epsilon", SKIP_NORM_EPSILON) }],
    };
    const [y, mean, inv] = norm(ev, new NodeContext(node, nc.opset), [sum, ins[2], simplified ? undefined : ins[3]]);
    return [y, mean, inv, sum];
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
  const eps = ev.real(attrF32(nc, "epsilon", 1e-5), "epsilon");
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
  const eps = ev.real(attrF32(nc, "epsilon", 1e-5), "epsilon");
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

/** A symbolic tensor with its last two dims swapped (rank < 2: as it is). */
function swapLastTwoSym(t: SymTensor): SymTensor {
  const r = t.dims.length;
  if (r < 2) return t;
  const R = t.dims[r - 2], C = t.dims[r - 1], mat = R * C;
  const els = new Array<SymExpr>(t.els.length);
  for (let q = 0; q < t.els.length / mat; q++) {
    for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) els[q * mat + j * R + i] = t.els[q * mat + i * C + j];
  }
  return { dtype: t.dtype, dims: [...t.dims.slice(0, -2), C, R], els };
}

/**
 * com.microsoft.FusedMatMul: MatMul's handler on the operands transposed as `transA`/`transB`
 * say (1-D operands never are), each element times `alpha` (float32, as ONNX stores it);
 * `transBatchA`/`transBatchB` must be 0, as in the reference (`rules/contrib_ops.ts`).
 */
const fusedMatMul: Handler = (ev, nc, ins) => {
  for (const a of ["transBatchA", "transBatchB"]) if (nc.attrInt(a, 0) !== 0) nc.fail(`${a} is not supported`);
  let a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
  if (nc.attrInt("transA", 0) !== 0) a = swapLastTwoSym(a);
  if (nc.attrInt("transB", 0) !== 0) b = swapLastTwoSym(b);
  const [y] = matMul(ev, nc, [a, b]) as [SymTensor];
  const alpha = ev.real(attrF32(nc, "alpha", 1), "alpha");
  return [{ ...y, els: y.els.map((v) => ev.mul(v as RealExpr, alpha)) }];
};

const gemm: Handler = (ev, nc, ins) => {
  const a = floatIn(ev, nc, ins[0], 0), b = floatIn(ev, nc, ins[1], 1);
  if (a.dims.length !== 2 || b.dims.length !== 2) nc.fail(`A and B must be 2-D, got [${a.dims}] and [${b.dims}]`);
  const tA = nc.attrInt("transA", 0) !== 0, tB = nc.attrInt("transB", 0) !== 0;
  const [M, K] = tA ? [a.dims[1], a.dims[0]] : a.dims;
  const [K2, N] = tB ? [b.dims[1], b.dims[0]] : b.dims;
  if (K !== K2) nc.fail(`inner dimensions differ: A [${a.dims}], B [${b.dims}]`);
  const alpha = ev.real(attrF32(nc, "alpha", 1), "alpha"), beta = ev.real(attrF32(nc, "beta", 1), "beta");
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

/**
 * Ops by their formulas (`ir/ops/`, one definition run by the interpreter too): the unary math,
 * the activations, Add/Sub/Mul/Div, comparisons, logic, IsNaN/IsInf, Sum/Mean/Max/Min.
 */
const FORMULA_HANDLERS: Record<string, Handler> = Object.fromEntries([
  ...Object.entries(UNARY_FORMULAS).map(([op, f]) => [`::${op}`, unary(f)]),
  ...Object.entries(ACTIVATION_FORMULAS).map(([op, f]) => [`::${op}`, unary(f)]),
  ...(["Add", "Sub", "Mul", "Div"] as const).map((op) => [`::${op}`, binary(ARITH_FORMULAS[op])]),
  ...Object.entries(COMPARE_FORMULAS).map(([op, f]) => [`::${op}`, compare(f, op !== "Equal")]),
  ...Object.entries(LOGIC_FORMULAS).map(([op, f]) => [`::${op}`, logic(f)]),
  ...Object.entries(PREDICATE_FORMULAS).map(([op, f]) => [`::${op}`, predicate(f)]),
  ...Object.entries(FOLD_FORMULAS).map(([op, f]) => [`::${op}`, variadic(f)]),
]);

const HANDLERS: Record<string, Handler> = {
  ...FORMULA_HANDLERS,
  "::Pow": (ev, nc, ins) => {
    legacyBroadcast(nc);
    // the exponent may be of another numeric type than the base (int64 exponents are common)
    const x = floatIn(ev, nc, ins[0], 0), y = ev.lift(need(nc, ins, 1));
    if (y.dtype === DataType.BOOL) nc.fail("the exponent must be numeric");
    const pow = ARITH_FORMULAS.Pow(ev);
    return [mapN(nc, [x, y], x.dtype, ([a, b]) => pow(a as RealExpr, b as RealExpr))];
  },
  "::PRelu": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0), s = floatIn(ev, nc, ins[1], 1);
    const f = prelu(ev);
    const y = mapN(nc, [x, s], x.dtype, ([v, k]) => f(v as RealExpr, k as RealExpr));
    if (y.dims.length !== x.dims.length || y.dims.some((d, i) => d !== x.dims[i])) {
      nc.fail("slope does not broadcast to X");
    }
    return [y];
  },
  "com.microsoft::Gelu": contribUnary((alg) => gelu(alg, "none")),
  "com.microsoft::FastGelu": contribUnary((alg) => gelu(alg, "tanh")),
  "::Clip": (ev, nc, ins) => {
    const x = floatIn(ev, nc, ins[0], 0);
    let lo: RealExpr | undefined, hi: RealExpr | undefined;
    if (nc.opset < 11) {
      const [l, h] = clipAttrBounds(nc);
      lo = ev.real(l, "min");
      hi = ev.real(h, "max");
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
    const f = clamp(ev, lo, hi);
    return [{ dtype: x.dtype, dims: [...x.dims], els: x.els.map((v) => f(v as RealExpr)) }];
  },
  "::Not": (ev, nc, ins) => {
    const a = boolIn(ev, nc, ins[0], 0);
    return [{ dtype: DataType.BOOL, dims: [...a.dims], els: a.els.map((e) => ev.not(e as BoolExpr)) }];
  },
  "::Where": (ev, nc, ins) => {
    const c = boolIn(ev, nc, ins[0], 0), a = ev.lift(need(nc, ins, 1)), b = ev.lift(need(nc, ins, 2));
    if (a.dtype !== b.dtype) nc.fail("X and Y have different types");
    if (!isFloat(a.dtype) && a.dtype !== DataType.BOOL) {
      throw new SymbolicUnsupported("Where", "Where on integers with a symbolic condition is not supported");
    }
    const sel = WHERE_FORMULA(ev);
    return [mapN(nc, [c, a, b], a.dtype, ([p, x, y]) => sel(p as BoolExpr, x, y))];
  },
  "::Cast": (ev, nc, ins) => [cast(ev, nc, need(nc, ins, 0), nc.attrInt("to"))],
  "::CastLike": (ev, nc, ins) => [cast(ev, nc, need(nc, ins, 0), need(nc, ins, 1).dtype)],
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
  "com.microsoft::SkipLayerNormalization": skipNormHandler(false),
  "com.microsoft::SkipSimplifiedLayerNormalization": skipNormHandler(true),
  "::BatchNormalization": batchNorm,
  "::InstanceNormalization": instanceNorm,
  "::MatMul": matMul,
  "::Gemm": gemm,
  "::Conv": conv,
  "com.microsoft::FusedConv": fusedConv,
  "com.microsoft::FusedMatMul": fusedMatMul,
};

function contribUnary(f: UnaryFormula): Handler {
  const h = unary(f);
  return (ev, nc, ins) => {
    if (ins.length > 1 && ins[1] !== undefined) nc.fail("a bias input is not supported");
    return h(ev, nc, ins);
  };
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
