/**
 * Inline the `If` nodes whose condition is known at plan time. Once a model's shapes are static,
 * conditions such as `Equal(Shape(x)[1], 1)` fold to constants (`inferModel`); each such `If` is
 * replaced, where it stood, by the nodes of the branch its condition picks (`then_branch` when
 * true, `else_branch` when false), so that the backend sees a flat graph. Repeated until no `If`
 * is left whose condition is known: an inlined branch can hold further `If`s, and its values can
 * make another `If`'s condition foldable.
 *
 * Invariant: the result computes what the model computes, for every feed, and holds no
 * main-graph `If` whose condition is an initializer or a folded constant. Every value and
 * initializer a branch defines is renamed with a prefix no name of the model uses
 * (`<if node>/then/<name>`), so branch names may collide with outer ones; a branch output produced
 * by a branch node takes the `If`'s output name directly, any other (an outer value, a branch
 * initializer, an output listed twice) reaches it through an `Identity`. Outer values a branch
 * reads keep their names; subgraphs nested in a branch are renamed within their own scopes (their
 * own names shadow the branch's). An `If` whose condition is only known at run time, or whose
 * chosen branch does not fit it (inputs, too few outputs), is left as it is. Opset imports stay
 * the model's.
 * @module
 */
import type { Attribute, Graph, Model, Node, SparseTensor, ValueInfo } from "../ir/graph.ts";
import { inferModel } from "../ir/infer.ts";
import type { Tensor } from "../ir/tensor.ts";
import { truthy } from "../ir/ops/_cf_util.ts";

/** What replaces one `If`: its nodes in order, and the definitions they bring to the main graph. */
interface Inlined {
  nodes: Node[];
  initializers: [string, Tensor][];
  sparse: SparseTensor[];
  valueInfo: ValueInfo[];
}

function isIf(n: Node): boolean {
  return n.opType === "If" && n.domain === "";
}

function subgraphs(n: Node): Graph[] {
  return n.attributes.flatMap((a) => (a.type === "graph" ? [a.value] : a.type === "graphs" ? a.value : []));
}

/** Every name a graph and its subgraphs use: values, initializers, declared types. */
function namesOf(g: Graph, into: Set<string>): Set<string> {
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) into.add(v.name);
  for (const k of g.initializers.keys()) into.add(k);
  for (const s of g.sparseInitializers) if (s.name) into.add(s.name);
  for (const n of g.nodes) {
    for (const x of [...n.inputs, ...n.outputs]) if (x !== "") into.add(x);
    for (const sg of subgraphs(n)) namesOf(sg, into);
  }
  return into;
}

/** `n` reading through `map`: its inputs, and the outer names of its subgraphs. */
function renameReads(n: Node, map: ReadonlyMap<string, string>): Node {
  if (map.size === 0) return n;
  const attributes = n.attributes.map((a): Attribute => {
    if (a.type === "graph") return { ...a, value: renameScope(a.value, map) };
    if (a.type === "graphs") return { ...a, value: a.value.map((g) => renameScope(g, map)) };
    return a;
  });
  return { ...n, inputs: n.inputs.map((x) => (x === "" ? x : map.get(x) ?? x)), attributes };
}

/**
 * A nested subgraph whose reads of outer names go through `outer`. Names the subgraph defines
 * shadow the outer ones from their definition on (a read before a node defines a name is an
 * outer read, as the reference interpreter's scopes have it).
 */
function renameScope(g: Graph, outer: ReadonlyMap<string, string>): Graph {
  const map = new Map(outer);
  for (const i of g.inputs) map.delete(i.name);
  for (const k of g.initializers.keys()) map.delete(k);
  for (const s of g.sparseInitializers) if (s.name) map.delete(s.name);
  const nodes = g.nodes.map((n) => {
    const r = renameReads(n, map);
    for (const o of n.outputs) map.delete(o);
    return r;
  });
  const sub = (v: ValueInfo): ValueInfo => (map.has(v.name) ? { ...v, name: map.get(v.name)! } : v);
  return { ...g, nodes, outputs: g.outputs.map(sub), valueInfo: g.valueInfo.map(sub) };
}

/**
 * The nodes that replace `ifNode` when `branch` runs. `fresh` gives an unused name for a branch
 * value; `label` prefixes the names of the branch's nodes.
 */
function inlineBranch(ifNode: Node, branch: Graph, label: string, fresh: (name: string) => string): Inlined {
  const defs = new Map<string, number>();
  for (const n of branch.nodes) for (const o of n.outputs) if (o !== "") defs.set(o, (defs.get(o) ?? 0) + 1);
  // a branch output one node produces takes the If's output name (once); the rest get an Identity
  const direct = new Map<string, string>();
  const viaIdentity: number[] = [];
  ifNode.outputs.forEach((o, i) => {
    if (o === "") return;
    const b = branch.outputs[i].name;
    if (defs.get(b) === 1 && !direct.has(b)) direct.set(b, o);
    else viaIdentity.push(i);
  });
  const map = new Map<string, string>();
  const initializers: [string, Tensor][] = [];
  for (const [k, t] of branch.initializers) {
    map.set(k, fresh(k));
    initializers.push([map.get(k)!, t]);
  }
  const sparse: SparseTensor[] = [];
  for (const s of branch.sparseInitializers) {
    if (!s.name) continue;
    map.set(s.name, fresh(s.name));
    sparse.push({ ...s, name: map.get(s.name)! });
  }
  const nodes: Node[] = branch.nodes.map((n) => {
    const r = renameReads(n, map);
    const outputs = n.outputs.map((o) => {
      if (o === "") return o;
      const to = direct.get(o) ?? fresh(o);
      map.set(o, to);
      return to;
    });
    return { ...r, name: n.name ? `${label}${n.name}` : "", outputs };
  });
  for (const i of viaIdentity) {
    const src = branch.outputs[i].name;
    nodes.push({
      name: `${label}output_${i}`,
      opType: "Identity",
      domain: "",
      inputs: [map.get(src) ?? src],
      outputs: [ifNode.outputs[i]],
      attributes: [],
    });
  }
  const valueInfo = branch.valueInfo.filter((v) => map.has(v.name)).map((v) => ({ ...v, name: map.get(v.name)! }));
  return { nodes, initializers, sparse, valueInfo };
}

/** The branch an `If` takes when its condition is `cond`, or undefined when it cannot be inlined. */
function chosenBranch(n: Node, cond: Tensor | undefined): { graph: Graph; which: string } | undefined {
  if (cond === undefined || cond.size === 0) return undefined;
  const which = truthy(cond) ? "then" : "else";
  const a = n.attributes.find((x) => x.name === `${which}_branch`);
  if (a?.type !== "graph") return undefined;
  const g = a.value;
  if (g.inputs.length > 0 || g.outputs.length < n.outputs.length) return undefined;
  return { graph: g, which };
}

/** One pass: inline every main-graph `If` whose condition inference knows. Undefined when none. */
function inlinePass(model: Model): Model | undefined {
  const g = model.graph;
  const { constants } = inferModel(model);
  const feeds = new Set(g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name));
  const known = (v: string): Tensor | undefined =>
    v === "" || feeds.has(v) ? undefined : g.initializers.get(v) ?? constants.get(v);
  const used = namesOf(g, new Set());
  const freshName = (base: string): string => {
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  };
  const nodes: Node[] = [];
  const initializers = new Map(g.initializers);
  const sparseInitializers = [...g.sparseInitializers];
  const valueInfo = [...g.valueInfo];
  let changed = false;
  g.nodes.forEach((n, index) => {
    const branch = isIf(n) ? chosenBranch(n, known(n.inputs[0] ?? "")) : undefined;
    if (!branch) return nodes.push(n);
    const label = freshName(`${n.name || n.outputs[0] || `if_${index}`}/${branch.which}/`);
    const r = inlineBranch(n, branch.graph, label, (name) => freshName(label + name));
    nodes.push(...r.nodes);
    for (const [k, t] of r.initializers) initializers.set(k, t);
    sparseInitializers.push(...r.sparse);
    valueInfo.push(...r.valueInfo);
    changed = true;
  });
  return changed ? { ...model, graph: { ...g, nodes, initializers, sparseInitializers, valueInfo } } : undefined;
}

/**
 * Replace each `If` of the main graph whose condition is known at plan time (an initializer, or a
 * value `inferModel` folds) by the nodes of the branch it takes, until none is left. Pass the
 * model with its shapes already static: that is what makes shape conditions known. The model is
 * not changed; one without such an `If` comes back as it is.
 * @param model a model whose input shapes are static
 * @returns the model with those `If`s inlined
 * @example
 * ```ts ignore
 * // nodes: Size(x) -> n; Equal(n, four) -> c; If(c) -> y (then: Neg(x), else: Relu(x));
 * // x: float[2,2], four: an int64 initializer
 * const flat = inlineKnownIfs(model);
 * assertEquals(flat.graph.nodes.map((n) => n.opType), ["Size", "Equal", "Neg"]);
 * ```
 */
export function inlineKnownIfs(model: Model): Model {
  let m = model;
  // each pass removes at least one If from the model (nested ones counted), so this ends
  while (m.graph.nodes.some(isIf)) {
    const next = inlinePass(m);
    if (!next) break;
    m = next;
  }
  return m;
}
