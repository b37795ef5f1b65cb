/**
 * What rule right-hand sides may call beyond ONNX ops: builders (`(@name args…)`, which make
 * an e-class from the match, usually a small constant) and attribute functions (`:perm
 * (compose ?p ?q)`), plus ONNX's attribute defaults, which matching consults when a node leaves
 * an attribute unset.
 * @module
 */
import type { ClassId, ENode } from "../egraph/enode.ts";
import { makeENode } from "../egraph/enode.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { AttrDefaults, AttrFn, AttrTerm, Builder, Library, MatchEnv, Pattern, Subst } from "../egraph/pattern.ts";
import { opsetVersion } from "../ir/graph.ts";
import { fromNumbers, int64Tensor, type Tensor, toInts, toNumbers } from "../ir/tensor.ts";
import { isFloat } from "../ir/dtype.ts";
import type { Dim } from "../ir/types.ts";
import "./contrib_ops.ts";
import { sliceRange } from "./guards.ts";
import { type InputFacts, onnxAttrDefault } from "./attr_defaults.ts";

/** The static shape of a class, when known. */
export function shapeOf(eg: EGraph, id: ClassId): Dim[] | undefined {
  const t = eg.typeOf(id);
  return t?.kind === "tensor" ? t.shape : undefined;
}

/** The element type of a class, when known. */
export function dtypeOf(eg: EGraph, id: ClassId): number | undefined {
  const t = eg.typeOf(id);
  return t?.kind === "tensor" ? t.dtype : undefined;
}

/** A shape with every dim a number, else undefined. */
export function staticShape(eg: EGraph, id: ClassId): number[] | undefined {
  const s = shapeOf(eg, id);
  return s && s.every((d) => typeof d === "number") ? (s as number[]) : undefined;
}

/** The numbers of a constant class (undefined when it has no known numeric value). */
export function constNumbers(eg: EGraph, id: ClassId): number[] | undefined {
  const v = eg.valueOf(id);
  if (!v || v.dtype === 8 || v.dtype === 14 || v.dtype === 15) return undefined;
  return [...toNumbers(v)];
}

/** Resolve a builder or attribute-function argument: a class id, an attribute value or a literal. */
export function argValue(s: Subst, a: Pattern | AttrTerm): unknown {
  switch (a.kind) {
    case "var":
      return s.classes.has(a.name) ? { cls: s.classes.get(a.name)! } : s.attrs.get(a.name);
    case "num":
      return a.value;
    case "lit":
      return a.value;
    default:
      return undefined;
  }
}

function classArg(s: Subst, a: Pattern | AttrTerm | undefined): ClassId | undefined {
  if (!a) return undefined;
  const v = argValue(s, a);
  return typeof v === "object" && v !== null && "cls" in v ? (v as { cls: ClassId }).cls : undefined;
}

function numArg(env: MatchEnv, s: Subst, a: Pattern | AttrTerm | undefined): number | undefined {
  if (!a) return undefined;
  const v = argValue(s, a);
  if (typeof v === "number") return v;
  if (typeof v === "object" && v !== null && "cls" in v) {
    const xs = constNumbers(env.eg, (v as { cls: ClassId }).cls);
    return xs && xs.length === 1 ? xs[0] : undefined;
  }
  return undefined;
}

function addConst(eg: EGraph, t: Tensor): ClassId {
  return eg.add(makeENode("$const", [], [], { value: t }));
}

const builders: [string, Builder][] = [
  // (@scalar-like ?x V): a rank-0 constant V of ?x's element type
  ["scalar-like", (env, s, args) => {
    const x = classArg(s, args[0]), v = numArg(env, s, args[1]);
    const dt = x === undefined ? undefined : dtypeOf(env.eg, x);
    if (dt === undefined || v === undefined) return undefined;
    return addConst(env.eg, fromNumbers(dt as never, [], [v]));
  }],
  // (@ints A B …): a 1-D int64 constant
  ["ints", (env, s, args) => {
    const xs = args.map((a) => numArg(env, s, a));
    if (xs.some((x) => x === undefined || !Number.isInteger(x))) return undefined;
    return addConst(env.eg, int64Tensor([xs.length], xs as number[]));
  }],
  // (@channel-shape ?w): [-1, 1, …, 1] of ?w's rank (per-output-channel broadcasting for Conv weights)
  ["channel-shape", (env, s, args) => {
    const w = classArg(s, args[0]);
    const r = w === undefined ? undefined : shapeOf(env.eg, w)?.length;
    if (r === undefined || r < 1) return undefined;
    return addConst(env.eg, int64Tensor([r], [-1, ...new Array(r - 1).fill(1)]));
  }],
  // (@channel-vector ?b ?w): a per-channel constant ?b (shape [1,C,1,…] or [C,1,…], or one value) as a [C] vector
  ["channel-vector", (env, s, args) => {
    const b = classArg(s, args[0]), w = classArg(s, args[1]);
    if (b === undefined || w === undefined) return undefined;
    const v = env.eg.valueOf(b), ws = staticShape(env.eg, w);
    if (!v || !ws || !isFloat(v.dtype)) return undefined;
    const c = ws[0], xs = toNumbers(v);
    if (v.size === 1) return addConst(env.eg, fromNumbers(v.dtype, [c], new Array(c).fill(xs[0])));
    return v.size === c ? addConst(env.eg, fromNumbers(v.dtype, [c], xs)) : undefined;
  }],
  // (@split-sizes ?a ?b AXIS): int64 [dim_a, dim_b] along AXIS (for splitting a merged MatMul/Conv)
  ["split-sizes", (env, s, args) => {
    const axis = numArg(env, s, args[args.length - 1]);
    const dims: number[] = [];
    for (const a of args.slice(0, -1)) {
      const id = classArg(s, a);
      const sh = id === undefined ? undefined : shapeOf(env.eg, id);
      if (!sh || axis === undefined) return undefined;
      const d = sh[axis < 0 ? axis + sh.length : axis];
      if (typeof d !== "number") return undefined;
      dims.push(d);
    }
    return addConst(env.eg, int64Tensor([dims.length], dims));
  }],
  // (@flatten-shape ?x AXIS): [prod(dims[:axis]), prod(dims[axis:])] for a static ?x
  ["flatten-shape", (env, s, args) => {
    const x = classArg(s, args[0]), axis = numArg(env, s, args[1]);
    const sh = x === undefined ? undefined : staticShape(env.eg, x);
    if (!sh || axis === undefined || sh.includes(0)) return undefined; // a 0 would read as "copy the dim"
    const k = axis < 0 ? axis + sh.length : axis;
    const prod = (xs: number[]) => xs.reduce((p, d) => p * d, 1);
    return addConst(env.eg, int64Tensor([2], [prod(sh.slice(0, k)), prod(sh.slice(k))]));
  }],
  // (@gelu ?x "none"|"tanh"): Gelu (opset >= 20) or ONNX Runtime's com.microsoft Gelu / FastGelu
  ["gelu", (env, s, args) => {
    const x = classArg(s, args[0]), mode = argValue(s, args[1] ?? { kind: "lit", value: "none" });
    if (x === undefined || (mode !== "none" && mode !== "tanh")) return undefined;
    if (onnxOpset(env.eg) >= 20) {
      const attrs = mode === "tanh" ? [{ name: "approximate", type: "string" as const, value: "tanh" }] : [];
      return env.eg.add(makeENode("Gelu", [x], attrs));
    }
    return env.eg.add(makeENode(mode === "tanh" ? "FastGelu" : "Gelu", [x], [], { domain: "com.microsoft" }));
  }],
  // (@rmsnorm ?x ?g ?eps): RMSNormalization (opset >= 23) or ONNX Runtime's SimplifiedLayerNormalization (ONNX domain)
  ["rmsnorm", (env, s, args) => {
    const x = classArg(s, args[0]), g = classArg(s, args[1]), eps = numArg(env, s, args[2]);
    if (x === undefined || g === undefined || eps === undefined) return undefined;
    const attrs = [
      { name: "axis", type: "int" as const, value: -1 },
      { name: "epsilon", type: "float" as const, value: eps },
    ];
    if (onnxOpset(env.eg) >= 23) return env.eg.add(makeENode("RMSNormalization", [x, g], attrs));
    return env.eg.add(makeENode("SimplifiedLayerNormalization", [x, g], attrs));
  }],
  // (@slice-split-sizes ?x ?end ?axis): int64 [end, dim - end] for a Split that replaces two adjacent Slices
  ["slice-split-sizes", (env, s, args) => {
    const x = classArg(s, args[0]), e = classArg(s, args[1]), a = classArg(s, args[2]);
    if (x === undefined || e === undefined || a === undefined) return undefined;
    const r = sliceRange(shapeOf(env.eg, x), [0], constNumbers(env.eg, e), constNumbers(env.eg, a));
    return r ? addConst(env.eg, int64Tensor([2], [r.end, r.dim - r.end])) : undefined;
  }],
  // (@shape-of ?x): the static shape of ?x as an int64 constant
  // (a 0 dim is refused: Reshape reads 0 as "copy the input's dim" unless allowzero)
  ["shape-of", (env, s, args) => {
    const x = classArg(s, args[0]);
    const sh = x === undefined ? undefined : staticShape(env.eg, x);
    return sh && !sh.includes(0) ? addConst(env.eg, int64Tensor([sh.length], sh)) : undefined;
  }],
];

function permArg(v: unknown): number[] | undefined {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? (v as number[]) : undefined;
}

const attrFns: [string, AttrFn][] = [
  // Transpose(Transpose(x, p), q) = Transpose(x, compose(p, q)): r[i] = p[q[i]]
  ["compose", (_env, _s, [p, q]) => {
    const a = permArg(p), b = permArg(q);
    if (!a || !b || a.length !== b.length) return undefined;
    return b.map((i) => a[i]);
  }],
  // the inverse permutation: inv[p[i]] = i
  ["invert", (_env, _s, [p]) => {
    const a = permArg(p);
    if (!a) return undefined;
    const inv = new Array<number>(a.length);
    a.forEach((x, i) => (inv[x] = i));
    return inv;
  }],
  // the single number a constant class holds (e.g. an epsilon written as a tensor)
  ["value", (env, _s, [c]) => oneNumber(env, c)],
  ["neg", (_env, _s, [x]) => (typeof x === "number" ? -x : undefined)],
  // a list of numbers from numbers and one-element constants: `:activation_params (list ?lo ?hi)`
  ["list", (env, _s, xs) => {
    const out: number[] = [];
    for (const x of xs) {
      const v = oneNumber(env, x);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }],
  // the product of two numbers or one-element constants, as the float32 a float attribute is:
  // `:alpha (times ?al ?t)` (none when it overflows or underflows float32, see `float32Attr`)
  ["times", (env, _s, [x, y]) => float32Attr(oneNumber(env, x), oneNumber(env, y), (a, b) => a * b)],
  // the quotient x / y likewise: `:alpha (over 1.0 ?s)` for a Div by ?s
  ["over", (env, _s, [x, y]) => float32Attr(oneNumber(env, x), oneNumber(env, y), (a, b) => a / b)],
];

/** A number, or the single number a one-element constant class (`{ cls }`) holds; else undefined. */
function oneNumber(env: MatchEnv, x: unknown): number | undefined {
  if (typeof x === "number") return x;
  if (typeof x !== "object" || x === null || !("cls" in x)) return undefined;
  const xs = constNumbers(env.eg, (x as { cls: ClassId }).cls);
  return xs && xs.length === 1 ? xs[0] : undefined;
}

/** Smallest normal float32 (2^-126): below it a float32 keeps fewer significant bits. */
const F32_MIN_NORMAL = 2 ** -126;

/**
 * `f(x, y)` rounded to float32 (ONNX stores a float attribute as one), or undefined when an
 * argument is missing or the result is no faithful float32: infinite or NaN (x / 0, an
 * overflow), or a nonzero result that rounds to a denormal or to 0 (an underflow). So a rule
 * that folds a scale into an attribute does not fire where the folded attribute would be an
 * inf the unfolded graph never computes, or would lose the scale's precision.
 */
function float32Attr(
  x: number | undefined,
  y: number | undefined,
  f: (a: number, b: number) => number,
): number | undefined {
  if (x === undefined || y === undefined) return undefined;
  const exact = f(x, y), r = Math.fround(exact);
  if (!Number.isFinite(r) || (exact !== 0 && Math.abs(r) < F32_MIN_NORMAL)) return undefined;
  return r;
}

/**
 * The library the shipped rule packs use: builders such as `@scalar-like`, `@ints` and
 * `@shape-of`, and attribute functions such as `compose` and `invert` (permutations).
 */
export const ruleLibrary: Library = {
  builders: new Map(builders),
  attrFns: new Map(attrFns),
};

/** Builder and attribute-function names, for the parser's checks. */
export function libraryNames(lib: Library = ruleLibrary): { builders: Set<string>; attrFns: Set<string> } {
  return { builders: new Set(lib.builders.keys()), attrFns: new Set(lib.attrFns.keys()) };
}

/** Attributes whose values are floats even when written as whole numbers (`:alpha 1`). */
export const FLOAT_ATTRS: ReadonlySet<string> = new Set([
  "alpha",
  "beta",
  "epsilon",
  "momentum",
  "gamma",
  "lambd",
  "bias",
  "scale",
  "spatial_scale",
  "ratio",
  "activation_params",
]);

/**
 * ONNX's attribute defaults (`rules/attr_defaults.ts`) at the e-graph's opset, so that a
 * pattern's `:axis -1` matches a node that leaves `axis` unset and a pattern that leaves `alpha`
 * out matches only the default `alpha`. Defaults that depend on the input (Transpose's `perm`,
 * Conv's `strides`) read it from `node` and `eg`; without `eg`, the newest opset's default;
 * `domain` (default: `node`'s, else ai.onnx) picks the op's schema. Undefined: no default
 * known (or the attribute is required).
 * @example
 * ```ts
 * import { attrDefaults, EGraph } from "../mod.ts";
 * if (attrDefaults("Gemm", "alpha") !== 1) throw new Error("Gemm's alpha is 1");
 * if (attrDefaults("Softmax", "axis") !== -1) throw new Error("Softmax's axis is -1 from opset 13");
 * const eg11 = new EGraph([{ domain: "", version: 11 }]);
 * if (attrDefaults("Softmax", "axis", undefined, eg11) !== 1) throw new Error("and 1 before");
 * if (attrDefaults("Conv", "dilations") !== undefined) throw new Error("Conv's dilations depend on its input");
 * if (attrDefaults("Concat", "axis") !== undefined) throw new Error("Concat's axis is required");
 * ```
 */
export const attrDefaults: AttrDefaults = (
  op: string,
  attr: string,
  node?: ENode,
  eg?: EGraph,
  domain?: string,
): unknown => {
  const dom = domain ?? node?.domain ?? "";
  const opset = eg ? opsetVersion(eg.opsets, dom) : undefined;
  const inputs: InputFacts | undefined = node && eg
    ? {
      rank: (i) => (node.children[i] === undefined ? undefined : shapeOf(eg, node.children[i])?.length),
      shape: (i) => (node.children[i] === undefined ? undefined : staticShape(eg, node.children[i])),
    }
    : undefined;
  return onnxAttrDefault(dom, op, attr, opset, inputs);
};

/** The ai.onnx opset an e-graph is typed under. */
export function onnxOpset(eg: EGraph): number {
  return opsetVersion(eg.opsets, "") ?? 1;
}

/** Ints of a constant class (axes, shapes), when known. */
export function constInts(eg: EGraph, id: ClassId): number[] | undefined {
  const v = eg.valueOf(id);
  if (!v || v.dtype === 8) return undefined;
  try {
    return toInts(v);
  } catch {
    return undefined;
  }
}
