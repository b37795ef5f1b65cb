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
import { DataType, dtypeFromName, dtypeName, isFloat } from "../ir/dtype.ts";
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

/**
 * What a guard argument must be: `class` a tensor (a class variable or `$root`/`$rootN`);
 * `value` an attribute variable, a class variable (its constant ints), a number or a list
 * (`any`: or a string);
 * `int`/`number` a literal; `dtype` an element type name (`"float32"`); `op` an op name as a
 * string; `guard` a nested guard. A trailing `?` makes the argument optional.
 */
export type GuardArgKind = "class" | "value" | "any" | "int" | "number" | "dtype" | "op" | "guard";
type SigEntry = GuardArgKind | `${GuardArgKind}?`;

const GUARDS: Record<string, { sig: SigEntry[]; fn: GuardFn }> = {
  // (rank ?x N): ?x has rank N
  rank: { sig: ["class", "int"], fn: (c, [x, n]) => shape(c, x)?.length === num(n) },
  // (same-rank ?a ?b)
  "same-rank": {
    sig: ["class", "class"],
    fn: (c, [a, b]) => shape(c, a) !== undefined && shape(c, a)?.length === shape(c, b)?.length,
  },
  // (same-shape ?a ?b): equal known shapes (symbolic dims equal by name)
  "same-shape": { sig: ["class", "class"], fn: (c, [a, b]) => sameDims(shape(c, a), shape(c, b)) },
  // (static ?x): every dim of ?x is a number
  static: { sig: ["class"], fn: (c, [x]) => !!shape(c, x)?.every((d) => typeof d === "number") },
  // (broadcasts-to ?a ?b): ?a broadcasts to exactly ?b's shape
  "broadcasts-to": { sig: ["class", "class"], fn: (c, [a, b]) => broadcastsTo(shape(c, a), shape(c, b)) },
  // (gemm-bias ?c ?a ?b [?transA ?transB]): ?c broadcasts to exactly Gemm(?a, ?b)'s [M, N] result
  // (never to a larger one: an Add's own result may be larger than the product it adds to)
  "gemm-bias": {
    sig: ["class", "class", "class", "value?", "value?"],
    fn: (c, [bias, a, b, ta, tb]) => {
      const sa = shape(c, a), sb = shape(c, b);
      if (sa?.length !== 2 || sb?.length !== 2) return false;
      const t = (x: GuardArg | undefined) => (x === undefined ? 0 : Number(val(c, x) ?? 0));
      return broadcastsTo(shape(c, bias), [t(ta) ? sa[1] : sa[0], t(tb) ? sb[0] : sb[1]]);
    },
  },
  // (dtype-float ?x): ?x holds floating-point numbers
  "dtype-float": {
    sig: ["class"],
    fn: (c, [x]) => {
      const id = cls(c, x);
      const dt = id === undefined ? undefined : dtypeOf(c.env.eg, id);
      return dt !== undefined && isFloat(dt);
    },
  },
  // (dtype ?x "float32"): ?x has exactly that element type
  dtype: {
    sig: ["class", "dtype"],
    fn: (c, [x, name]) => {
      const id = cls(c, x);
      const want = name.kind === "str" ? dtypeFromName(name.value) : undefined;
      return id !== undefined && want !== undefined && dtypeOf(c.env.eg, id) === want;
    },
  },
  // (slices-split ?x ?s1 ?e1 ?a1 ?s2 ?e2 ?a2): two one-axis Slices of ?x cover [0, m) and [m, dim) of one axis
  "slices-split": {
    sig: ["class", "class", "class", "class", "class", "class", "class"],
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
    sig: ["class", "class"],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      if (x === undefined || y === undefined) return false;
      const dx = dtypeOf(c.env.eg, x);
      return dx !== undefined && dx === dtypeOf(c.env.eg, y);
    },
  },
  // (const ?c): ?c's value is known
  const: { sig: ["class"], fn: (c, [x]) => cls(c, x) !== undefined && !!c.env.eg.valueOf(cls(c, x)!) },
  // (scalar ?c): ?c is a constant holding one element
  scalar: { sig: ["class"], fn: (c, [x]) => numbers(c, x)?.length === 1 },
  // (all ?c V): ?c is a constant whose every element equals V
  all: {
    sig: ["class", "number"],
    fn: (c, [x, v]) => {
      const xs = numbers(c, x);
      return !!xs && xs.length > 0 && xs.every((e) => e === num(v));
    },
  },
  // (at-least ?c V): ?c is a constant whose every element is ≥ V (NaN is not): an epsilon that keeps a
  // normalization's denominator away from 0, so that float32 underflow of x² cannot decide the result
  "at-least": {
    sig: ["class", "number"],
    fn: (c, [x, v]) => {
      const xs = numbers(c, x);
      return !!xs && xs.length > 0 && xs.every((e) => e >= num(v));
    },
  },
  // (bounded ?c V): ?c is a constant whose every element is finite with |e| ≤ V: folding it into another constant
  // (a Conv's weights) then cannot overflow where the unfolded graph did not (trained weights sit far below 1e15)
  bounded: {
    sig: ["class", "number"],
    fn: (c, [x, v]) => {
      const xs = numbers(c, x);
      return !!xs && xs.length > 0 && xs.every((e) => Math.abs(e) <= num(v));
    },
  },
  // (approx ?c V [RTOL]): ?c is a constant whose every element is V within relative tolerance (default 1e-4)
  approx: {
    sig: ["class", "number", "number?"],
    fn: (c, [x, v, tol]) => {
      const xs = numbers(c, x), t = tol ? num(tol) : 1e-4, want = num(v);
      return !!xs && xs.length > 0 && xs.every((e) => Math.abs(e - want) <= t * Math.abs(want));
    },
  },
  // (last-axis ?axes ?x): ?axes (an attribute or a constant) is exactly the last axis of ?x
  "last-axis": {
    sig: ["value", "class"],
    fn: (c, [a, x]) => {
      const axes = val(c, a), r = shape(c, x)?.length;
      return Array.isArray(axes) && axes.length === 1 && r !== undefined && (axes[0] === -1 || axes[0] === r - 1);
    },
  },
  // (last-dim-vector ?g ?x): ?g has shape [D] where D is ?x's last dim
  "last-dim-vector": {
    sig: ["class", "class"],
    fn: (c, [g, x]) => {
      const sg = shape(c, g), sx = shape(c, x);
      return !!sg && !!sx && sg.length === 1 && sx.length > 0 && typeof sg[0] === "number" &&
        sg[0] === sx[sx.length - 1];
    },
  },
  // (channel-bias ?b ?w ?y): ?b is a constant that varies only along ?y's axis 1, of ?w's output channels
  "channel-bias": {
    sig: ["class", "class", "class"],
    fn: (c, [b, w, y]) => {
      const sb = shape(c, b), sw = shape(c, w), sy = shape(c, y), bv = numbers(c, b);
      if (!sb || !sw || !sy || !bv || sb.length > sy.length || sy.length < 2) return false;
      const padded = [...new Array(sy.length - sb.length).fill(1), ...sb];
      return padded.every((d, i) => d === 1 || (i === 1 && d === sw[0]));
    },
  },
  // (identity-perm ?p): ?p is [0, 1, …, n-1]
  "identity-perm": {
    sig: ["value"],
    fn: (c, [p]) => {
      const v = val(c, p);
      return Array.isArray(v) && v.every((x, i) => x === i);
    },
  },
  // (no-zero ?s): the constant shape ?s has no 0 entry (so Reshape's copy-dim rule cannot apply)
  "no-zero": {
    sig: ["value"],
    fn: (c, [x]) => {
      const v = val(c, x);
      return Array.isArray(v) && v.every((d) => d !== 0);
    },
  },
  // (opset>= N), (opset< N): the model's ai.onnx opset
  "opset>=": { sig: ["int"], fn: (c, [n]) => onnxOpset(c.env.eg) >= num(n) },
  "opset<": { sig: ["int"], fn: (c, [n]) => onnxOpset(c.env.eg) < num(n) },
  // (ordered ?a ?b): distinct classes in a fixed order (keeps a symmetric multi-pattern from firing twice)
  ordered: {
    sig: ["class", "class"],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      return x !== undefined && y !== undefined && c.env.eg.find(x) < c.env.eg.find(y);
    },
  },
  // (distinct ?a ?b): different classes
  distinct: {
    sig: ["class", "class"],
    fn: (c, [a, b]) => {
      const x = cls(c, a), y = cls(c, b);
      return x !== undefined && y !== undefined && c.env.eg.find(x) !== c.env.eg.find(y);
    },
  },
  // (eq ?a V): an attribute (or constant) equals a value (float attributes as float32: 0.01 is 0.01f)
  eq: { sig: ["any", "any"], fn: (c, [a, b]) => sameAttrValue(val(c, a), val(c, b)) },
  // (has-op ?x "Op"): ?x's class holds a node of that op
  "has-op": {
    sig: ["class", "op"],
    fn: (c, [x, o]) => {
      const id = cls(c, x);
      return id !== undefined && o.kind === "str" && c.env.eg.eclass(id).nodes.some((n) => n.op === o.value);
    },
  },
  // (not G)
  not: { sig: ["guard"], fn: (c, [g]) => g.kind === "guard" && !evalGuard(c, g.guard) },
};

function evalGuard(c: Ctx, g: GuardCall): boolean {
  return GUARDS[g.name].fn(c, g.args);
}

/** Known guard names with their arities (for the parser's checks). */
export function guardArity(name: string): [number, number] | undefined {
  const sig = GUARDS[name]?.sig;
  return sig && [sig.filter((k) => !k.endsWith("?")).length, sig.length];
}

/** What the parser knows of a rule when it checks a guard's arguments. */
export interface GuardScope {
  /** `?name` binds an attribute value (not a tensor); `undefined` for a name the rule does not bind. */
  kindOf(name: string): "class" | "attr" | undefined;
  /** The attribute a variable binds, for messages (`:alpha of LeakyRelu`). */
  attrOf?(name: string): string | undefined;
  /** Left-hand patterns of the rule (`$rootN` needs N below it). */
  roots: number;
  /** Whether an op of this name exists (for `has-op`). */
  knownOp(name: string): boolean;
}

function shownArg(a: GuardArg): string {
  switch (a.kind) {
    case "var":
      return `?${a.name}`;
    case "root":
      return a.index ? `$root${a.index}` : "$root";
    case "num":
      return String(a.value);
    case "str":
      return `"${a.value}"`;
    case "list":
      return `[${a.values.join(" ")}]`;
    case "guard":
      return `(${a.guard.name} …)`;
  }
}

const USAGE: Record<GuardArgKind, string> = {
  class: "?x",
  value: "?v",
  any: "V",
  int: "N",
  number: "V",
  dtype: '"float32"',
  op: '"Op"',
  guard: "(guard …)",
};

const KIND_WORDS: Record<GuardArgKind, string> = {
  class: "a tensor (?x or $root)",
  value: "an attribute variable, a constant's variable, a number or a list",
  any: "an attribute variable, a constant's variable, a number, a list or a string",
  int: "an integer",
  number: "a number",
  dtype: 'an element type name in quotes ("float32", "int64", …)',
  op: 'an op name in quotes ("MatMul")',
  guard: "a guard, as in (not (rank ?x 2))",
};

/**
 * Why a guard call can never hold as written, or undefined when it is well formed: an unknown
 * name, the wrong number of arguments, an argument of the wrong kind (an attribute variable
 * where a tensor is read, a root past the rule's left-hand patterns, an unknown dtype or op).
 * Nested guards are checked by their own call.
 * @param call the guard as parsed
 * @param scope what the rule binds
 * @returns the problem, in one line without a location
 * @example
 * ```ts
 * import { guardProblem } from "./guards.ts";
 * const scope = { kindOf: (n: string) => (n === "a" ? "attr" as const : "class" as const), roots: 1, knownOp: () => true };
 * const bad = guardProblem({ name: "all", args: [{ kind: "var", name: "a" }, { kind: "num", value: 1 }] }, scope);
 * if (!bad?.includes("attribute")) throw new Error("a value guard reads a tensor, not an attribute");
 * if (guardProblem({ name: "rank", args: [{ kind: "var", name: "x" }, { kind: "num", value: 2 }] }, scope)) {
 *   throw new Error("(rank ?x 2) is fine");
 * }
 * ```
 */
export function guardProblem(call: GuardCall, scope: GuardScope): string | undefined {
  const g = GUARDS[call.name];
  if (!g) {
    const near = closestName(call.name, Object.keys(GUARDS));
    return `unknown guard ${call.name}${near ? ` (did you mean ${near}?)` : ""}`;
  }
  const [lo, hi] = guardArity(call.name)!;
  if (call.args.length < lo || call.args.length > hi) {
    const want = lo === hi ? `${lo}` : `${lo} or ${hi}`;
    const usage = g.sig.map((k) =>
      k.endsWith("?") ? `[${USAGE[k.slice(0, -1) as GuardArgKind]}]` : USAGE[k as GuardArgKind]
    );
    const shown = [call.name, ...usage].join(" ");
    return `guard ${call.name} takes ${want} argument${hi === 1 ? "" : "s"}, as in (${shown}); got ${call.args.length}`;
  }
  for (let i = 0; i < call.args.length; i++) {
    const a = call.args[i], kind = g.sig[i].replace("?", "") as GuardArgKind;
    const where = `argument ${i + 1} of (${call.name} …)`;
    const bad = (why?: string) => `${where} must be ${KIND_WORDS[kind]}, got ${shownArg(a)}${why ? ` (${why})` : ""}`;
    if (a.kind === "root" && a.index >= scope.roots) {
      return `$root${a.index} names left-hand pattern ${a.index + 1}, but the rule has ${scope.roots}`;
    }
    switch (kind) {
      case "class":
        if (a.kind === "root") break;
        if (a.kind !== "var") return bad();
        if (scope.kindOf(a.name) === "attr") {
          const of = scope.attrOf?.(a.name);
          return bad(
            `?${a.name} is an attribute value${of ? ` (${of})` : ""}, not a tensor; compare it with (eq ?${a.name} V)`,
          );
        }
        break;
      case "value":
        if (a.kind === "root" || a.kind === "guard" || a.kind === "str") return bad();
        break;
      case "any":
        if (a.kind === "root" || a.kind === "guard") return bad();
        break;
      case "int":
        if (a.kind !== "num" || !Number.isSafeInteger(a.value)) return bad();
        if (call.name === "rank" && a.value < 0) return `(rank …) of ${a.value} never holds: a rank is 0 or more`;
        break;
      case "number":
        if (a.kind !== "num" || Number.isNaN(a.value)) return bad();
        break;
      case "dtype":
        if (a.kind !== "str") return bad();
        if (!dtypeFromName(a.value)) {
          const near = closestName(a.value, DTYPE_NAMES);
          return `unknown element type "${a.value}" in (${call.name} …)${near ? ` (did you mean "${near}"?)` : ""}`;
        }
        break;
      case "op":
        if (a.kind !== "str") return bad();
        if (!scope.knownOp(a.value)) return `unknown op "${a.value}" in (${call.name} …)`;
        break;
      case "guard":
        if (a.kind !== "guard") return bad();
        break;
    }
  }
  return undefined;
}

const DTYPE_NAMES: readonly string[] = Object.values(DataType).filter((c) => c !== 0).map((c) => dtypeName(c));

/** The name among `names` closest to `name` (case-insensitive edit distance at most 2), for "did you mean". */
export function closestName(name: string, names: Iterable<string>): string | undefined {
  const low = name.toLowerCase();
  let best: string | undefined, bestD = 3;
  for (const n of names) {
    const d = editDistance(low, n.toLowerCase(), bestD);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
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
