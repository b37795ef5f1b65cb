/**
 * Control-flow bodies (If branches, Loop and Scan bodies) through the optimizer.
 *
 * Each body is optimized as a graph of its own, after the graph that holds it: the values it
 * reads from enclosing scopes become extra inputs of that graph, typed as the enclosing scopes
 * know them, so they stay `$in` leaves of its e-graph and keep their names (a body never renames
 * what it reads from outside); they are dropped from the inputs again afterwards. Names minted
 * in any graph avoid every name of the model (`modelNames`), so a nested body that reads a value
 * of an outer scope never finds it shadowed by a name a nearer body now defines. Bodies nested
 * in bodies are reached with an explicit stack (the nesting is the model's).
 *
 * Invariant: the graph returned computes what the input graph computes; a body the optimizer
 * does not take (its optimizer declines, e.g. out of time) is kept as it was.
 * @module
 */
import type { Attribute, Graph, Node, ValueInfo } from "../ir/graph.ts";
import type { ValueType } from "../ir/types.ts";
import type { Tensor } from "../ir/tensor.ts";
import { subgraphsOf } from "../ir/functions.ts";
import { freeNames } from "../ir/validate.ts";

/** What became of the bodies of a model. */
export interface BodyStats {
  /** Bodies found, at any depth. */
  bodies: number;
  /** Bodies the optimizer rewrote. */
  optimized: number;
  /** Nodes of all bodies before (of the bodies as they were given). */
  nodesBefore: number;
  /** Nodes of all bodies after. */
  nodesAfter: number;
}

/** A body optimized: the new graph, and the types of the names of the graph it was given. */
export interface OptimizedBody {
  graph: Graph;
  types: ReadonlyMap<string, ValueType>;
}

/** Optimizes one body (outer values as its extra inputs); undefined keeps the body as it is. */
export type BodyOptimizer = (body: Graph) => Promise<OptimizedBody | undefined>;

/** What a graph tells its bodies of the names it defines; a body sees its enclosing scopes' in turn. */
interface Scope {
  /** Every name the graph defines (inputs, initializers, node outputs). */
  names: ReadonlySet<string>;
  types: ReadonlyMap<string, ValueType>;
  /** Its constants: initializers that are not inputs (an input's default may be overridden). */
  consts: ReadonlyMap<string, Tensor>;
  parent?: Scope;
}

function scopeOf(g: Graph, types: ReadonlyMap<string, ValueType>, parent?: Scope): Scope {
  const names = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  for (const n of g.nodes) for (const o of n.outputs) if (o !== "") names.add(o);
  const consts = new Map([...g.initializers].filter(([k]) => !g.inputs.some((i) => i.name === k)));
  return { names, types, consts, parent };
}

/** The nearest scope that defines `name` (none: a name from nowhere, left to validation). */
function definer(scope: Scope | undefined, name: string): Scope | undefined {
  for (let s = scope; s; s = s.parent) if (s.names.has(name)) return s;
  return undefined;
}

/** The graph and every body in it, at any depth (explicit stack). */
export function graphsOf(g: Graph): Graph[] {
  const out: Graph[] = [];
  const stack = [g];
  while (stack.length) {
    const x = stack.pop()!;
    out.push(x);
    for (const n of x.nodes) for (const b of subgraphsOf(n)) stack.push(b);
  }
  return out;
}

/** Every value name that a graph or any of its bodies defines or reads. */
export function modelNames(g: Graph): Set<string> {
  const names = new Set<string>();
  for (const x of graphsOf(g)) {
    for (const i of x.inputs) names.add(i.name);
    for (const o of x.outputs) names.add(o.name);
    for (const k of x.initializers.keys()) names.add(k);
    for (const n of x.nodes) for (const v of [...n.inputs, ...n.outputs]) if (v !== "") names.add(v);
  }
  return names;
}

/** The types a graph declares for its names (inputs, value_info, outputs, initializers). */
function declaredTypes(g: Graph): Map<string, ValueType> {
  const m = new Map<string, ValueType>();
  for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs]) if (v.type) m.set(v.name, v.type);
  for (const [k, t] of g.initializers) m.set(k, { kind: "tensor", dtype: t.dtype, shape: [...t.dims] });
  return m;
}

/** A body waiting to be optimized, and where its result goes. */
interface Job {
  body: Graph;
  scope: Scope;
  put: (g: Graph) => void;
}

/**
 * `g` with each node that holds bodies copied (new attribute objects), and one job per body
 * whose `put` writes the body's replacement into the copy.
 */
function withOwnBodies(g: Graph, scope: Scope): { graph: Graph; jobs: Job[] } {
  const jobs: Job[] = [];
  const nodes = g.nodes.map((n): Node => {
    if (!subgraphsOf(n).length) return n;
    const attributes = n.attributes.map((a): Attribute => {
      if (a.type === "graph") {
        const copy = { ...a };
        jobs.push({ body: a.value, scope, put: (b) => (copy.value = b) });
        return copy;
      }
      if (a.type === "graphs") {
        const list = [...a.value];
        list.forEach((b, k) => jobs.push({ body: b, scope, put: (nb) => (list[k] = nb) }));
        return { ...a, value: list };
      }
      return a;
    });
    return { ...n, attributes };
  });
  return { graph: { ...g, nodes }, jobs };
}

/**
 * Optimize every body of `graph` (already optimized itself; `types` are its names' types) with
 * `optimizeOne`, outermost first. `avoid` (every name of the model) grows by the names each
 * optimized body defines.
 */
export async function optimizeBodies(
  graph: Graph,
  types: ReadonlyMap<string, ValueType>,
  avoid: Set<string>,
  optimizeOne: BodyOptimizer,
): Promise<{ graph: Graph; stats: BodyStats }> {
  const stats: BodyStats = { bodies: 0, optimized: 0, nodesBefore: 0, nodesAfter: 0 };
  const top = withOwnBodies(graph, scopeOf(graph, types));
  const stack = [...top.jobs].reverse();
  while (stack.length) {
    const job = stack.pop()!;
    const { body } = job;
    stats.bodies++;
    stats.nodesBefore += body.nodes.length;
    const own = new Set(body.inputs.map((i) => i.name));
    // a body input that also has an initializer is not a plain input: such a body is kept as it is
    const plain = !body.inputs.some((i) => body.initializers.has(i.name));
    // outer values: constants of an enclosing graph as initializers (so rules see their values; the
    // extraction names them as the outer graph does, and they are dropped again), the rest as inputs
    const outer: ValueInfo[] = [];
    const outerConsts = new Map<string, Tensor>();
    for (const name of freeNames(body)) {
      if (own.has(name)) continue;
      const at = definer(job.scope, name);
      const t = at?.consts.get(name);
      if (t && !body.initializers.has(name)) outerConsts.set(name, t);
      else {
        const type = at?.types.get(name);
        outer.push(type ? { name, type } : { name });
      }
    }
    const given: Graph = {
      ...body,
      inputs: [...body.inputs, ...outer],
      initializers: outerConsts.size ? new Map([...body.initializers, ...outerConsts]) : body.initializers,
    };
    const done = plain ? await optimizeOne(given) : undefined;
    let result = body, types: ReadonlyMap<string, ValueType> = declaredTypes(body);
    if (done) {
      const captured = new Set(outer.map((o) => o.name));
      const inits = new Map([...done.graph.initializers].filter(([k, t]) => outerConsts.get(k) !== t));
      result = { ...done.graph, inputs: done.graph.inputs.filter((i) => !captured.has(i.name)), initializers: inits };
      types = done.types;
      stats.optimized++;
      // its own names (the names of the bodies inside it are in `avoid` already)
      for (const k of result.initializers.keys()) avoid.add(k);
      for (const n of result.nodes) for (const o of n.outputs) avoid.add(o);
    }
    stats.nodesAfter += result.nodes.length;
    const next = withOwnBodies(result, scopeOf(result, types, job.scope));
    job.put(next.graph);
    for (let k = next.jobs.length - 1; k >= 0; k--) stack.push(next.jobs[k]);
  }
  return { graph: top.graph, stats };
}
