/**
 * Patterns, e-matching and instantiation.
 *
 * A pattern is a variable (`?x`), a literal number (matches a class whose constant value has
 * every element equal to it), an op applied to attribute patterns and child patterns, or on a
 * right-hand side a call of a named builder (`rules/builders.ts`) that makes a class from the
 * substitution. Matching walks the op index (`EGraph.byOp`) for the root and backtracks through
 * children; a multi-pattern (several roots) is matched root by root with shared variables.
 * @module
 */
import type { Attribute, AttrType } from "../ir/graph.ts";
import type { ClassId, ENode } from "./enode.ts";
import { makeENode } from "./enode.ts";
import type { EGraph } from "./egraph.ts";
import { toNumbers } from "../ir/tensor.ts";

/** A value for an attribute in a pattern: a literal, a variable, or (right-hand side) a function call. */
export type AttrTerm =
  | { kind: "lit"; value: unknown; type?: AttrType }
  | { kind: "var"; name: string; type?: AttrType }
  | { kind: "call"; fn: string; args: (AttrTerm | Pattern)[]; type?: AttrType };

/** An attribute constraint (left) or setting (right). `absent` matches only when unset. */
export interface AttrPattern {
  /** The attribute's name. */
  name: string;
  /** What its value must match (left) or is set to (right); `absent`: it must be unset. */
  term: AttrTerm | "absent";
}

/** A pattern over e-classes. */
export type Pattern =
  | { kind: "var"; name: string }
  | { kind: "num"; value: number }
  | {
    kind: "op";
    op: string;
    domain?: string;
    attrs: AttrPattern[];
    children: Pattern[];
    /** multi-output op: which output this pattern denotes (`$out`), default single-output */
    output?: number;
    /** right-hand side: number of outputs of the op made (default `output + 1`) */
    outputs?: number;
  }
  | { kind: "call"; fn: string; args: (Pattern | AttrTerm)[] };

/** Bindings of a match: class variables and attribute variables. */
export interface Subst {
  /** Class variables (`?x`, without the `?`) → the class each matched. */
  classes: Map<string, ClassId>;
  /** Attribute variables → the value each matched (defaults included). */
  attrs: Map<string, unknown>;
  /**
   * Attribute variables bound from an attribute the node left unset (their value is the default):
   * copied to the right-hand side they stay unset, so a default that depends on other attributes
   * or the inputs (Conv's pads under auto_pad) keeps meaning what it meant.
   */
  unset?: Set<string>;
}

/**
 * Attribute defaults (ONNX's), consulted when a node leaves an attribute unset and when a
 * pattern leaves one out. The node and e-graph are given for defaults that depend on the input
 * (Transpose's perm) or the opset (Softmax's axis); `domain` when no node is (default: the
 * node's, else ai.onnx). Undefined: no default known.
 */
export type AttrDefaults = (op: string, attr: string, node?: ENode, eg?: EGraph, domain?: string) => unknown;

/** Context for matching: the e-graph and attribute defaults. */
export interface MatchEnv {
  /** The e-graph matched against (rebuilt). */
  eg: EGraph;
  /**
   * Defaults for attributes a node leaves unset, so `:axis -1` matches a node without `axis`,
   * and an attribute a pattern does not mention matches only a node whose value is its default.
   */
  defaults: AttrDefaults;
}

function cloneSubst(s: Subst): Subst {
  const c: Subst = { classes: new Map(s.classes), attrs: new Map(s.attrs) };
  if (s.unset) c.unset = new Set(s.unset);
  return c;
}

/**
 * Two attribute values are the same: numbers equal, or equal as float32 when either is not a
 * whole number (ONNX stores float attributes as float32: a node's `alpha` 0.01 reads back as
 * 0.009999999776…, the same attribute as a rule's `0.01`); lists element by element.
 * @example
 * ```ts
 * import { sameAttrValue } from "./pattern.ts";
 * if (!sameAttrValue(Math.fround(0.01), 0.01)) throw new Error("float32 0.01 is 0.01");
 * if (sameAttrValue(16777217, 16777216)) throw new Error("ints compare exactly");
 * if (!sameAttrValue([0, 2, 1], [0, 2, 1]) || sameAttrValue([0, 1], [1, 0])) throw new Error("lists");
 * ```
 */
export function sameAttrValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") {
    if (Number.isNaN(a) && Number.isNaN(b)) return true;
    return !(Number.isInteger(a) && Number.isInteger(b)) && Math.fround(a) === Math.fround(b);
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameAttrValue(x, b[i]));
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false; // values JSON cannot write (bigints) are never the same as anything else
  }
}

/**
 * Whether `node`'s attributes that no pattern entry names are all at their defaults: an
 * attribute a pattern does not mention means "its ONNX default at the node's opset", never
 * "anything" (so `(LeakyRelu ?x)` is a rule about `alpha` 0.01, the only LeakyRelu its
 * verification builds). Unset attributes are their default by definition; a set one matches
 * only when equal to a default known for it (unknown default: no match).
 */
function restAtDefaults(env: MatchEnv, node: ENode, pats: AttrPattern[]): boolean {
  for (const a of node.attrs) {
    if (pats.some((p) => p.name === a.name)) continue;
    const d = env.defaults(node.op, a.name, node, env.eg);
    if (d === undefined || !sameAttrValue(a.value, d)) return false;
  }
  return true;
}

function matchAttrs(env: MatchEnv, node: ENode, pats: AttrPattern[], s: Subst): Subst | undefined {
  if (!restAtDefaults(env, node, pats)) return undefined;
  let out = s;
  for (const p of pats) {
    const a = node.attrs.find((x) => x.name === p.name);
    if (p.term === "absent") {
      if (a) return undefined;
      continue;
    }
    const value = a ? a.value : env.defaults(node.op, p.name, node, env.eg);
    if (p.term.kind === "lit") {
      if (value === undefined || !sameAttrValue(value, p.term.value)) return undefined;
    } else if (p.term.kind === "var") {
      if (out.attrs.has(p.term.name)) {
        const had = out.attrs.get(p.term.name);
        if (had !== value && !sameAttrValue(had, value)) return undefined;
      } else {
        if (out === s) out = cloneSubst(s);
        out.attrs.set(p.term.name, value);
        if (!a) (out.unset ??= new Set()).add(p.term.name);
      }
    } else return undefined; // calls only on right-hand sides
  }
  return out;
}

/** All ways `p` matches class `id` extending `s`. */
export function matchClass(env: MatchEnv, p: Pattern, id: ClassId, s: Subst): Subst[] {
  const eg = env.eg;
  id = eg.find(id);
  switch (p.kind) {
    case "var": {
      const bound = s.classes.get(p.name);
      if (bound !== undefined) return eg.find(bound) === id ? [s] : [];
      const t = cloneSubst(s);
      t.classes.set(p.name, id);
      return [t];
    }
    case "num": {
      const v = eg.valueOf(id);
      if (!v || v.size === 0 || v.dtype === 8) return [];
      const xs = toNumbers(v);
      return xs.every((x) => x === p.value) ? [s] : [];
    }
    case "call":
      return [];
    case "op": {
      const out: Subst[] = [];
      const cls = eg.eclass(id);
      if (p.output !== undefined) {
        for (const n of cls.nodes) {
          if (n.op !== "$out" || n.attrs[0]?.value !== p.output) continue;
          out.push(...matchNodeClass(env, { ...p, output: undefined }, n.children[0], s, true));
        }
        return out;
      }
      return matchNodeClass(env, p, id, s);
    }
  }
}

function matchNodeClass(
  env: MatchEnv,
  p: Extract<Pattern, { kind: "op" }>,
  id: ClassId,
  s: Subst,
  tuple = false,
): Subst[] {
  const out: Subst[] = [];
  for (const n of env.eg.eclass(id).nodes) {
    if (n.op !== p.op || n.domain !== (p.domain ?? "") || n.children.length < p.children.length) continue;
    // a pattern without an output projection denotes a single-output node, never a tuple class
    if (!tuple && n.outputs !== 1) continue;
    // trailing children the pattern leaves out must be omitted inputs
    if (n.children.length > p.children.length && !n.children.slice(p.children.length).every((c) => isNone(env.eg, c))) {
      continue;
    }
    const s0 = matchAttrs(env, n, p.attrs, s);
    if (!s0) continue;
    let partial = [s0];
    for (let i = 0; i < p.children.length && partial.length; i++) {
      const next: Subst[] = [];
      for (const si of partial) next.push(...matchClass(env, p.children[i], n.children[i], si));
      partial = next;
    }
    out.push(...partial);
  }
  return out;
}

function isNone(eg: EGraph, c: ClassId): boolean {
  return eg.eclass(c).nodes.some((n) => n.op === "$none");
}

/** Every match of a (multi-)pattern: the roots' classes and the substitution. */
export function searchPatterns(
  env: MatchEnv,
  roots: Pattern[],
  limit = Infinity,
): { roots: ClassId[]; subst: Subst }[] {
  let partial: { roots: ClassId[]; subst: Subst }[] = [{ roots: [], subst: { classes: new Map(), attrs: new Map() } }];
  for (const root of roots) {
    const next: { roots: ClassId[]; subst: Subst }[] = [];
    const candidates = candidateClasses(env.eg, root);
    for (const m of partial) {
      for (const c of candidates) {
        for (const s of matchClass(env, root, c, m.subst)) {
          next.push({ roots: [...m.roots, c], subst: s });
          if (next.length >= limit) break;
        }
        if (next.length >= limit) break;
      }
    }
    partial = next;
    if (!partial.length) break;
  }
  return partial;
}

function candidateClasses(eg: EGraph, p: Pattern): ClassId[] {
  const op = p.kind === "op" ? (p.output !== undefined ? "$out" : p.op) : undefined;
  const ids = op ? eg.byOp.get(op) ?? new Set<ClassId>() : [...eg.classes()].map((c) => c.id);
  return [...new Set([...ids].map((i) => eg.find(i)))];
}

/** Builders that right-hand-side `call` patterns use: they make a class (or undefined to abort). */
export type Builder = (env: MatchEnv, s: Subst, args: (Pattern | AttrTerm)[]) => ClassId | undefined;
/** Functions that compute attribute values on right-hand sides (class arguments come as `{ cls: id }`). */
export type AttrFn = (env: MatchEnv, s: Subst, args: unknown[]) => unknown;

/** Named builders and attribute functions available to right-hand sides. */
export interface Library {
  /** Class-valued functions by name, called as `(@scalar-like ?x 1)` on right-hand sides. */
  builders: Map<string, Builder>;
  /** Attribute-valued functions by name, e.g. `(compose ?p ?q)` for permutations. */
  attrFns: Map<string, AttrFn>;
}

/** Evaluate an attribute term under a substitution (undefined: cannot). */
export function evalAttr(env: MatchEnv, lib: Library, t: AttrTerm, s: Subst): unknown {
  switch (t.kind) {
    case "lit":
      return t.value;
    case "var":
      return s.attrs.get(t.name);
    case "call": {
      const f = lib.attrFns.get(t.fn);
      if (!f) return undefined;
      // class variables reach the function as `{ cls: id }`; attribute terms as their values
      const args = t.args.map((a) =>
        a.kind === "var" && s.classes.has(a.name)
          ? { cls: s.classes.get(a.name)! }
          : a.kind === "num"
          ? a.value
          : a.kind === "lit" || a.kind === "var" || a.kind === "call"
          ? evalAttr(env, lib, a as AttrTerm, s)
          : undefined
      );
      return f(env, s, args);
    }
  }
}

function attrOf(name: string, value: unknown, type?: AttrType): Attribute | undefined {
  if (value === undefined || value === null) return undefined;
  // a float-typed attribute (`alpha`, `activation_params`…) given a list is a list of floats
  const t: AttrType = type === "float" && Array.isArray(value) ? "floats" : type ??
    (typeof value === "string"
      ? "string"
      : typeof value === "number"
      ? (Number.isInteger(value) ? "int" : "float")
      : Array.isArray(value)
      ? (value.length && value.every((v) => typeof v === "string")
        ? "strings"
        : value.every((v) => Number.isInteger(v))
        ? "ints"
        : "floats")
      : "tensor");
  return { name, type: t, value } as Attribute;
}

/**
 * `v` is `op`'s default for `attr` both at the e-graph's opset and at the newest one, so leaving
 * it unset means `v` wherever the graph goes. Input-dependent defaults (Transpose's perm) are
 * unknown without a node, so such values are always written.
 */
function isStableDefault(env: MatchEnv, p: Extract<Pattern, { kind: "op" }>, attr: string, v: unknown): boolean {
  const here = env.defaults(p.op, attr, undefined, env.eg, p.domain ?? "");
  if (here === undefined || !sameAttrValue(v, here)) return false;
  const newest = env.defaults(p.op, attr, undefined, undefined, p.domain ?? "");
  return newest !== undefined && sameAttrValue(v, newest);
}

/** `v` is `op`'s default for `attr` at the e-graph's opset, or that default depends on the node. */
function isSameOrNodeDefault(env: MatchEnv, p: Extract<Pattern, { kind: "op" }>, attr: string, v: unknown): boolean {
  const here = env.defaults(p.op, attr, undefined, env.eg, p.domain ?? "");
  return here === undefined || sameAttrValue(v, here);
}

/** Add the right-hand side `p` to the e-graph under `s`; returns its class or undefined (abort). */
export function instantiate(env: MatchEnv, lib: Library, p: Pattern, s: Subst): ClassId | undefined {
  const eg = env.eg;
  switch (p.kind) {
    case "var":
      return s.classes.get(p.name);
    case "num":
      return undefined; // numbers on a right-hand side need a dtype: use a builder such as (scalar-like ?x 1)
    case "call": {
      const b = lib.builders.get(p.fn);
      return b ? b(env, s, p.args) : undefined;
    }
    case "op": {
      const kids: ClassId[] = [];
      for (const c of p.children) {
        const k = instantiate(env, lib, c, s);
        if (k === undefined) return undefined;
        kids.push(k);
      }
      const attrs: Attribute[] = [];
      for (const a of p.attrs) {
        if (a.term === "absent") continue;
        const v = evalAttr(env, lib, a.term, s);
        if (v === undefined) {
          if (a.term.kind === "var") continue; // an unset attribute stays unset
          return undefined;
        }
        // a copied attribute equal to the op's default at this e-graph's opset stays unset (one
        // e-node per meaning), unless that default changed with the opset (Softmax's axis: -1
        // from 13, 1 before): such a value is written out, so it never takes another default
        if (a.term.kind === "var" && isStableDefault(env, p, a.name, v)) continue;
        // copied from an unset attribute: unset again where this op's default is that value at this
        // opset, or depends on the node (Conv's pads: zeros, or what auto_pad makes them)
        if (a.term.kind === "var" && s.unset?.has(a.term.name) && isSameOrNodeDefault(env, p, a.name, v)) continue;
        const at = attrOf(a.name, v, a.term.type);
        if (at) attrs.push(at);
      }
      const outputs = p.outputs ?? (p.output !== undefined ? p.output + 1 : 1);
      const id = eg.add(makeENode(p.op, kids, attrs, { domain: p.domain ?? "", outputs }));
      if (p.output === undefined) return id;
      return eg.add(makeENode("$out", [id], [{ name: "index", type: "int", value: p.output }]));
    }
  }
}
