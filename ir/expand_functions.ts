/**
 * Model-local functions expanded into plain nodes: each call (a node whose domain and op type
 * name a function of the model and no registered op) is replaced by the function's body, with
 *
 * - the call's inputs and outputs in place of the formal ones (a formal input the call leaves out
 *   reads `""`, an absent optional input; an output the call leaves out gets a fresh name);
 * - every other value the body defines, in control-flow bodies too, renamed uniquely in the model
 *   (`<call>/<name>`), so two calls of one function never clash;
 * - attributes that refer to the caller's (`refAttrName`), at any depth of control-flow bodies,
 *   given the call's value, or the function's default, or dropped (the op's default applies);
 * - calls inside the body expanded in turn (nested functions), and calls inside If/Loop/Scan
 *   bodies expanded too.
 *
 * Opset-aware: a body's nodes follow the function's own opset imports. A domain the function
 * imports and the model does not is added to the model's imports; a function importing a domain
 * at a version other than the model's cannot be inlined without changing what its nodes mean, so
 * its calls are kept (and the model keeps its functions). Self or mutual recursion is refused
 * (`checkFunctionCalls`), and so is an expansion past `MAX_EXPANDED_NODES` nodes (calls nested
 * n deep, each calling the next twice, make 2^n nodes). Everything is iterative: nesting depth
 * comes from the model.
 *
 * Used by `optimize` (before building the e-graph, so rules see inside functions) and by the
 * WebGPU planner, which lowers plain nodes only.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Attribute, FunctionDef, Graph, Model, Node, OpsetImport } from "./graph.ts";
import { opsetVersion } from "./graph.ts";
import { checkFunctionCalls, subgraphsOf } from "./functions.ts";
import { findOp } from "./ops/registry.ts";
import "./ops/all.ts";

/** The most nodes expansion may make (all calls together); past it, a SaturnError. */
export const MAX_EXPANDED_NODES = 1_000_000;

const norm = (d: string) => (d === "ai.onnx" ? "" : d);

/** A task: expand the nodes `src` (under `names`, the renaming in force) into `dst.nodes`. */
interface Task {
  src: readonly Node[];
  dst: { nodes: Node[] };
}

/**
 * The model with its local functions' calls replaced by their bodies (see the module doc).
 * A model without functions is returned as it is; the input is never modified.
 * @param model the model
 * @returns the expanded model: `functions` empty unless some call had to be kept
 * @throws {SaturnError} `INVALID_GRAPH` for a function that calls itself, directly or not, or an
 * expansion past `MAX_EXPANDED_NODES` nodes
 * @example
 * ```ts
 * import { expandFunctions } from "./expand_functions.ts";
 * import type { Model } from "./graph.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }, { domain: "local", version: 1 }],
 *   metadataProps: [], trainingInfo: [],
 *   functions: [{
 *     name: "Twice", domain: "local", inputs: ["a"], outputs: ["b"], attributes: [], attributeProtos: [],
 *     opsetImports: [{ domain: "", version: 17 }], valueInfo: [],
 *     nodes: [{ name: "add", opType: "Add", domain: "", inputs: ["a", "a"], outputs: ["b"], attributes: [] }],
 *   }],
 *   graph: {
 *     name: "g", inputs: [{ name: "x" }], outputs: [{ name: "y" }], initializers: new Map(),
 *     sparseInitializers: [], valueInfo: [],
 *     nodes: [{ name: "call", opType: "Twice", domain: "local", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const out = expandFunctions(model);
 * const [add] = out.graph.nodes;
 * if (out.graph.nodes.length !== 1 || add.opType !== "Add" || add.inputs.join() !== "x,x" || add.outputs[0] !== "y") {
 *   throw new Error("the call became its body, renamed to the call's values");
 * }
 * if (out.functions.length !== 0) throw new Error("no call is left");
 * ```
 */
export function expandFunctions(model: Model): Model {
  if (!model.functions.length) return model;
  const isOp = (domain: string, opType: string) => findOp(domain, opType) !== undefined;
  checkFunctionCalls(model.functions, isOp);
  const opsets: OpsetImport[] = [...model.opsetImports];
  // which functions can be inlined under the model's opsets, adding the domains it lacks (in
  // order: a later function importing an added domain at another version clashes)
  const inlinable = new Set<FunctionDef>();
  for (const f of model.functions) {
    const clash = f.opsetImports.some((o) => {
      const have = opsetVersion(opsets, o.domain);
      return have !== undefined && have !== o.version;
    });
    if (clash) continue;
    inlinable.add(f);
    for (const o of f.opsetImports) {
      if (opsetVersion(opsets, o.domain) === undefined) opsets.push({ domain: o.domain, version: o.version });
    }
  }
  const callee = (n: Node): FunctionDef | undefined => {
    if (isOp(n.domain, n.opType)) return undefined;
    const named = model.functions.filter((f) => norm(f.domain) === norm(n.domain) && f.name === n.opType);
    return named.find((f) => (f.overload ?? "") === (n.overload ?? "")) ?? named[0];
  };
  const taken = allNames(model);
  let counter = 0;
  const fresh = (base: string): string => {
    let name = base;
    while (taken.has(name)) name = `${base}__${++counter}`;
    taken.add(name);
    return name;
  };
  const total = expandedSize(model, (n) => {
    const f = callee(n);
    return f && inlinable.has(f) ? f : undefined;
  });
  if (total > MAX_EXPANDED_NODES) {
    throw new SaturnError(
      "INVALID_GRAPH",
      `local functions expand to more than ${MAX_EXPANDED_NODES.toLocaleString("en-US")} nodes`,
    );
  }
  let kept = false;
  const graph: Graph = { ...model.graph, nodes: [] };
  const tasks: Task[] = [{ src: model.graph.nodes, dst: graph }];
  while (tasks.length) {
    const { src, dst } = tasks.pop()!;
    const work = [...src].reverse();
    while (work.length) {
      const n = work.pop()!;
      const fn = callee(n);
      if (fn && inlinable.has(fn)) {
        const body = instantiate(fn, n, fresh);
        for (let i = body.length - 1; i >= 0; i--) work.push(body[i]);
        continue;
      }
      if (fn) kept = true;
      dst.nodes.push(withFreshBodies(n, tasks));
    }
  }
  return { ...model, opsetImports: opsets, graph, functions: kept ? model.functions : [] };
}

/** `n` with copies of its control-flow bodies, each queued for expansion. */
function withFreshBodies(n: Node, tasks: Task[]): Node {
  if (!subgraphsOf(n).length) return n;
  const copy = (g: Graph): Graph => {
    const dst: Graph = { ...g, nodes: [] };
    tasks.push({ src: g.nodes, dst });
    return dst;
  };
  return {
    ...n,
    attributes: n.attributes.map((a): Attribute => {
      if (a.type === "graph") return { ...a, value: copy(a.value) };
      if (a.type === "graphs") return { ...a, value: a.value.map(copy) };
      return a;
    }),
  };
}

/**
 * The body of `fn` for the call `call`: values renamed (formal ones to the call's, the rest
 * fresh), attribute references bound; nested control-flow bodies renamed by their own scopes.
 */
function instantiate(fn: FunctionDef, call: Node, fresh: (base: string) => string): Node[] {
  const label = call.name || call.outputs.find((o) => o !== "") || fn.name;
  const bound = new Map<string, Attribute>();
  for (const a of fn.attributeProtos) bound.set(a.name, a);
  for (const a of call.attributes) bound.set(a.name, a);
  const rename = new Map<string, string>();
  fn.inputs.forEach((name, i) => rename.set(name, call.inputs[i] ?? ""));
  fn.outputs.forEach((name, k) => {
    const actual = call.outputs[k];
    rename.set(name, actual ? actual : fresh(`${label}/${name}`));
  });
  for (const n of fn.nodes) {
    for (const o of n.outputs) if (o !== "" && !rename.has(o)) rename.set(o, fresh(`${label}/${o}`));
  }
  const nodes: Node[] = [];
  // each entry: nodes to copy, the renaming in force, and where copies go; bodies queue their own
  const stack: { src: readonly Node[]; names: Map<string, string>; dst: Node[] }[] = [
    { src: fn.nodes, names: rename, dst: nodes },
  ];
  while (stack.length) {
    const { src, names, dst } = stack.pop()!;
    const get = (x: string) => (x === "" ? "" : names.get(x) ?? x);
    /** A control-flow body of the function: its own values renamed fresh, outer references mapped. */
    const body = (g: Graph): Graph => {
      const inner = new Map(names);
      const def = (x: string) => {
        if (x !== "") inner.set(x, fresh(`${label}/${x}`));
      };
      for (const i of g.inputs) def(i.name);
      for (const k of g.initializers.keys()) def(k);
      for (const s of g.sparseInitializers) if (s.name) def(s.name);
      for (const n of g.nodes) for (const o of n.outputs) def(o);
      const at = (x: string) => inner.get(x) ?? x;
      const out: Graph = {
        ...g,
        inputs: g.inputs.map((i) => ({ ...i, name: at(i.name) })),
        outputs: g.outputs.map((o) => ({ ...o, name: at(o.name) })),
        initializers: new Map([...g.initializers].map(([k, t]) => [at(k), t])),
        initializerMeta: g.initializerMeta && new Map([...g.initializerMeta].map(([k, m]) => [at(k), m])),
        sparseInitializers: g.sparseInitializers.map((s) => (s.name ? { ...s, name: at(s.name) } : s)),
        valueInfo: g.valueInfo.map((v) => ({ ...v, name: at(v.name) })),
        nodes: [],
      };
      stack.push({ src: g.nodes, names: inner, dst: out.nodes });
      return out;
    };
    for (const n of src) {
      const attributes = n.attributes.flatMap((a): Attribute[] => {
        const v = a.refAttrName ? bound.get(a.refAttrName) : a;
        if (!v) return [];
        const b = a.refAttrName ? { ...v, name: a.name } : v;
        if (b.type === "graph") return [{ ...b, value: body(b.value) }];
        if (b.type === "graphs") return [{ ...b, value: b.value.map(body) }];
        return [b];
      });
      dst.push({
        ...n,
        name: `${label}/${n.name || n.opType}`,
        inputs: n.inputs.map(get),
        outputs: n.outputs.map(get),
        attributes,
      });
    }
  }
  return nodes;
}

/**
 * The nodes the expanded model will have (control-flow bodies included), computed before
 * expanding: each function's expanded size once, callees first (iterative; the call graph is
 * acyclic, `checkFunctionCalls` saw to that). May be astronomically large, never overflows.
 */
function expandedSize(model: Model, callee: (n: Node) => FunctionDef | undefined): number {
  /** Plain nodes of a node list (bodies included) and the inlined functions it calls, with repeats. */
  const scan = (nodes: readonly Node[]): { plain: number; calls: FunctionDef[] } => {
    let plain = 0;
    const calls: FunctionDef[] = [];
    const lists: (readonly Node[])[] = [nodes];
    while (lists.length) {
      for (const n of lists.pop()!) {
        const f = callee(n);
        if (f) calls.push(f);
        else plain++;
        for (const g of subgraphsOf(n)) lists.push(g.nodes);
      }
    }
    return { plain, calls };
  };
  const size = new Map<FunctionDef, number>();
  const scanned = new Map<FunctionDef, { plain: number; calls: FunctionDef[] }>();
  const sizeOf = (f: FunctionDef): number => {
    const stack: FunctionDef[] = [f];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (size.has(top)) {
        stack.pop();
        continue;
      }
      let s = scanned.get(top);
      if (!s) scanned.set(top, s = scan(top.nodes));
      const todo = s.calls.filter((c) => !size.has(c));
      if (todo.length) {
        stack.push(...todo);
        continue;
      }
      size.set(top, s.calls.reduce((n, c) => n + size.get(c)!, s.plain));
      stack.pop();
    }
    return size.get(f)!;
  };
  const top = scan(model.graph.nodes);
  return top.calls.reduce((n, c) => n + sizeOf(c), top.plain);
}

/** Every value name of the model's graphs (control-flow bodies included), found iteratively. */
function allNames(model: Model): Set<string> {
  const names = new Set<string>();
  const graphs: Graph[] = [model.graph];
  while (graphs.length) {
    const g = graphs.pop()!;
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) names.add(v.name);
    for (const k of g.initializers.keys()) names.add(k);
    for (const s of g.sparseInitializers) if (s.name) names.add(s.name);
    for (const n of g.nodes) {
      for (const x of [...n.inputs, ...n.outputs]) names.add(x);
      graphs.push(...subgraphsOf(n));
    }
  }
  return names;
}
