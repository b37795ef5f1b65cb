/**
 * Guards: the conditions after `if` in a rule, read from the e-class analyses (dtype, shape,
 * constant value) and the opset. Each takes the match's substitution and its root classes; an
 * argument is a pattern variable (a class or an attribute value), `$root`/`$rootN` (the class of
 * the N-th left-hand root), a number, a list, a string, or a nested guard (for `not`).
 * Unknown facts (an unknown shape, a non-constant) make a guard fail: rules fire only when safe.
 * @module
 */
import type { ClassId } from "../egraph/enode.ts";
import { type MatchEnv, sameAttrValue, type Subst } from "../egraph/pattern.ts";
import { dtypeFromName, isFloat } from "../ir/dtype.ts";
import type { Dim } from "../ir/types.ts";
import { constInts, constNumbers, dtypeOf, onnxOpset, shapeOf } from "./library.ts";

/** An argument of a guard. */
export type GuardArg =
  | { kind: "var"; name: string }
  | { kind: "root"; index: number }
  | { kind: "num"; value: number }
  | { kind: "list"; values: (number | string)[] }
  | { kind: "str"; value: string }
  | { kind: "guard"; guard: GuardCall };

/** One guard application, as parsed. */
export interface GuardCall {
  /** The guard's name, e.g. `same-shape`, `rank`, `not`. */
  name: string;
  /** Its arguments as written. */
  args: GuardArg[];
}

type Ctx = { env: MatchEnv; s: Subst; roots: ClassId[] };
type GuardFn = (c: Ctx, args: GuardArg[]) => boolean;

function cls(c: Ctx, a: GuardArg): ClassId | undefined {
  if (a.kind === "root") return c.roots[a.index];
  if (a.kind === "var") return c.s.classes.get(a.name);
  return undefined;
}

/** A guard argument as a plain value: attribute value, number, list or string (classes: their constant ints). */
function val(c: Ctx, a: GuardArg): unknown {
  switch (a.kind) {
    case "num":
      return a.value;
    case "str":
      return a.value;
    case "list":
      return a.values;
    case "var":
      if (c.s.attrs.has(a.name)) return c.s.attrs.get(a.name);
      return c.s.classes.has(a.name) ? constInts(c.env.eg, c.s.classes.get(a.name)!) : undefined;
    default:
      return undefined;
  }
}

function shape(c: Ctx, a: GuardArg): Dim[] | undefined {
  const id = cls(c, a);
  return id === undefined ? undefined : shapeOf(c.env.eg, id);
}

function sameDims(a: Dim[] | undefined, b: Dim[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);
}

function numbers(c: Ctx, a: GuardArg): number[] | undefined {
  const id = cls(c, a);
  return id === undefined ? undefined : constNumbers(c.env.eg, id);
}

/** `a` broadcasts (numpy rules) to exactly `b`'s shape. */
function broadcastsTo(a: Dim[] | undefined, b: Dim[] | undefined): boolean {
  if (!a || !b || a.length > b.length) return false;
  const off = b.length - a.length;
  return a.every((d, i) => d === 1 || d === b[i + off]);
}

/**
 * The range a one-axis, step-1 Slice keeps along a static axis of a tensor of shape `sx`
 * (ONNX clamping: negatives count from the end, then clamp to [0, dim]); undefined otherwise.
 */
export function sliceRange(
  sx: Dim[] | undefined,
  starts: unknown,
  ends: unknown,
  axes: unknown,
): { axis: number; start: number; end: number; dim: number } | undefined {
  const one = (v: unknown) => (Array.isArray(v) && v.length === 1 && typeof v[0] === "number" ? v[0] : undefined);
  const st = one(starts), en = one(ends), ax = one(axes);
  if (!sx || st === undefined || en === undefined || ax === undefined || ax < -sx.length || ax >= sx.length) return;
  const axis = ax < 0 ? ax + sx.length : ax, dim = sx[axis];
  if (typeof dim !== "number") return;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + dim : i, 0), dim);
  return { axis, start: clamp(st), end: clamp(en), dim };
}

function num(a: GuardArg): number {
  return a.kind === "num" ? a.value : NaN;
}

const GUARDS: Record<string, { arity: [number, number]; fn: GuardFn }> = {
  // (rank ?x N): ?x has rank N
  rank: { arity: [2, 2], fn: (c, [x, n]) => shape(c, x)?.length === num(n) },
  // (same-rank ?a ?b)
  "same-rank": {
    arity: [2, 2],
    fn: (c, [a, b]) => shape(c, a) !== undefined && shape(c, a)?.length === shape(c, b)?.length,
  },
  // (same-shape ?a ?b): equal known shapes (symbolic dims equal by name)
  "same-shape": { arity: [2, 2], fn: (c, [a, b]) => sameDims(shape(c, a), shape(c, b)) },
  // (static ?x): every dim of ?x is a number
  static: { arity: [1, 1], fn: (c, [x]) => !!shape(c, x)?.every((d) => typeof d === "number") },
  // (broadcasts-to ?a ?b): ?a broadcasts to exactly ?b's shape
  "broadcasts-to": { arity: [2, 2], fn: (c, [a, b]) => broadcastsTo(shape(c, a), shape(c, b)) },
  // (dtype-float ?x): ?x holds floating-point numbers
  "dtype-float": {
    arity: [1, 1],
    fn: (c, [x]) => {
      const id = cls(c, x);
      const dt = id === undefined ? undefined : dtypeOf(c.env.eg, id);
      return dt !== undefined && isFloat(dt);
    },
  },
  // (dtype ?x "float32"): ?x has exactly that element type
  dtype: {
    arity: [2, 2],
    fn: (c, [x, name]) => {
      const id = cls(c, x);
      const want = name.kind === "str" ? dtypeFromName(name.value) : undefined;
      return id !== undefined && want !== undefined && dtypeOf(c.env.eg, id) === want;
    },
  },
  // (slices-split ?x ?s1 ?e1 ?a1 ?s2 ?e2 ?a2): two one-axis Slices of ?x cover [0, m) and [m, dim) of one axis
  "slices-split": {
    arity: [7, 7],
    fn: (c, [x, s1, e1, a1, s2, e2, a2]) => {
      const sx = shape(c, x);
      // numbers, not ints: exporters write INT64_MAX for "to the end", past a double's exact integers
      const first = sliceRange(sx, numbers(c, s1), numbers(c, e1), numbers(c, a1));
      const second = sliceRange(sx, numbers(c, s2), numbers(c, e2), numbers(c, a2));
      return !!first && !!second && first.axis === second.axis && first.start === 0 && first.end > 0 &&
        first.end === second.start && second.start < second.end && second.end === first.dim;
    },
  },
  // (same-dtype ?a ?b)
  "same-dtype": {
    arity: [2, 2],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      if (x === undefined || y === undefined) return false;
      const dx = dtypeOf(c.env.eg, x);
      return dx !== undefined && dx === dtypeOf(c.env.eg, y);
    },
  },
  // (const ?c): ?c's value is known
  const: { arity: [1, 1], fn: (c, [x]) => cls(c, x) !== undefined && !!c.env.eg.valueOf(cls(c, x)!) },
  // (scalar ?c): ?c is a constant holding one element
  scalar: { arity: [1, 1], fn: (c, [x]) => numbers(c, x)?.length === 1 },
  // (all ?c V): ?c is a constant whose every element equals V
  all: {
    arity: [2, 2],
    fn: (c, [x, v]) => {
      const xs = numbers(c, x);
      return !!xs && xs.length > 0 && xs.every((e) => e === num(v));
    },
  },
  // (approx ?c V [RTOL]): ?c is a constant whose every element is V within relative tolerance (default 1e-4)
  approx: {
    arity: [2, 3],
    fn: (c, [x, v, tol]) => {
      const xs = numbers(c, x), t = tol ? num(tol) : 1e-4, want = num(v);
      return !!xs && xs.length > 0 && xs.every((e) => Math.abs(e - want) <= t * Math.abs(want));
    },
  },
  // (last-axis ?axes ?x): ?axes (an attribute or a constant) is exactly the last axis of ?x
  "last-axis": {
    arity: [2, 2],
    fn: (c, [a, x]) => {
      const axes = val(c, a), r = shape(c, x)?.length;
      return Array.isArray(axes) && axes.length === 1 && r !== undefined && (axes[0] === -1 || axes[0] === r - 1);
    },
  },
  // (last-dim-vector ?g ?x): ?g has shape [D] where D is ?x's last dim
  "last-dim-vector": {
    arity: [2, 2],
    fn: (c, [g, x]) => {
      const sg = shape(c, g), sx = shape(c, x);
      return !!sg && !!sx && sg.length === 1 && sx.length > 0 && typeof sg[0] === "number" &&
        sg[0] === sx[sx.length - 1];
    },
  },
  // (channel-bias ?b ?w ?y): ?b is a constant that varies only along ?y's axis 1, of ?w's output channels
  "channel-bias": {
    arity: [3, 3],
    fn: (c, [b, w, y]) => {
      const sb = shape(c, b), sw = shape(c, w), sy = shape(c, y), bv = numbers(c, b);
      if (!sb || !sw || !sy || !bv || sb.length > sy.length || sy.length < 2) return false;
      const padded = [...new Array(sy.length - sb.length).fill(1), ...sb];
      return padded.every((d, i) => d === 1 || (i === 1 && d === sw[0]));
    },
  },
  // (identity-perm ?p): ?p is [0, 1, …, n-1]
  "identity-perm": {
    arity: [1, 1],
    fn: (c, [p]) => {
      const v = val(c, p);
      return Array.isArray(v) && v.every((x, i) => x === i);
    },
  },
  // (no-zero ?s): the constant shape ?s has no 0 entry (so Reshape's copy-dim rule cannot apply)
  "no-zero": {
    arity: [1, 1],
    fn: (c, [x]) => {
      const v = val(c, x);
      return Array.isArray(v) && v.every((d) => d !== 0);
    },
  },
  // (opset>= N), (opset< N): the model's ai.onnx opset
  "opset>=": { arity: [1, 1], fn: (c, [n]) => onnxOpset(c.env.eg) >= num(n) },
  "opset<": { arity: [1, 1], fn: (c, [n]) => onnxOpset(c.env.eg) < num(n) },
  // (ordered ?a ?b): distinct classes in a fixed order (keeps a symmetric multi-pattern from firing twice)
  ordered: {
    arity: [2, 2],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      return x !== undefined && y !== undefined && c.env.eg.find(x) < c.env.eg.find(y);
    },
  },
  // (distinct ?a ?b): different classes
  distinct: {
    arity: [2, 2],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      return x !== undefined && y !== undefined && c.env.eg.find(x) !== c.env.eg.find(y);
    },
  },
  // (eq ?a V): an attribute (or constant) equals a value (float attributes as float32: 0.01 is 0.01f)
  eq: { arity: [2, 2], fn: (c, [a, b]) => sameAttrValue(val(c, a), val(c, b)) },
  // (has-op ?x "Op"): ?x's class holds a node of that op
  "has-op": {
    arity: [2, 2],
    fn: (c, [x, o]) => {
      const id = cls(c, x);
      return id !== undefined && o.kind === "str" && c.env.eg.eclass(id).nodes.some((n) => n.op === o.value);
    },
  },
  // (not G)
  not: { arity: [1, 1], fn: (c, [g]) => g.kind === "guard" && !evalGuard(c, g.guard) },
};

function evalGuard(c: Ctx, g: GuardCall): boolean {
  return GUARDS[g.name].fn(c, g.args);
}

/** Known guard names with their arities (for the parser's checks). */
export function guardArity(name: string): [number, number] | undefined {
  return GUARDS[name]?.arity;
}

/** The code of a guard (for the verdict cache: a changed guard invalidates the verdicts of rules using it). */
export function guardSource(name: string): string {
  return GUARDS[name]?.fn.toString() ?? "";
}

/** Every guard name. */
export function guardNames(): string[] {
  return Object.keys(GUARDS).sort();
}

/** Compile a list of guard calls into a rule guard (all must hold). */
export function compileGuards(
  calls: GuardCall[],
): ((env: MatchEnv, s: Subst, roots: ClassId[]) => boolean) | undefined {
  if (!calls.length) return undefined;
  return (env, s, roots) => {
    const c = { env, s, roots };
    return calls.every((g) => evalGuard(c, g));
  };
}
