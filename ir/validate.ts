/**
 * Structural checks of a graph, and its nodes put in topological order.
 *
 * After `validateGraph` returns: every node input is produced exactly once (by a graph
 * input, an initializer, an earlier node, or an outer scope), no two producers write one
 * value, and `graph.nodes` is topologically sorted (stable: a sorted file keeps its order).
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Graph, Node } from "./graph.ts";
import { subgraphsOf } from "./functions.ts";

function nodeLabel(n: Node): string {
  return n.name ? `'${n.name}'` : `(${n.opType} writing '${n.outputs[0] ?? ""}')`;
}

/**
 * Check `graph` (and its subgraphs) and sort its nodes topologically, in place. A graph that
 * is already sorted keeps its order.
 * @param graph the graph; its `nodes` are replaced by the sorted list
 * @param outer names visible from enclosing graphs (for a subgraph)
 * @throws {SaturnError} `UNDEFINED_VALUE`, `DUPLICATE_VALUE` or `GRAPH_CYCLE` naming the value or node
 * @example
 * ```ts
 * import { type Graph, SaturnError, validateGraph } from "../mod.ts";
 * const graph: Graph = {
 *   name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *   inputs: [{ name: "x" }], outputs: [{ name: "z" }],
 *   nodes: [
 *     { name: "b", opType: "Neg", domain: "", inputs: ["y"], outputs: ["z"], attributes: [] },
 *     { name: "a", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] },
 *   ],
 * };
 * validateGraph(graph);
 * if (graph.nodes.map((n) => n.name).join() !== "a,b") throw new Error("sorted: a feeds b");
 * graph.nodes[0].inputs = ["nowhere"];
 * try {
 *   validateGraph(graph);
 *   throw new Error("an undefined input must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.code !== "UNDEFINED_VALUE") throw e;
 * }
 * ```
 */
export function validateGraph(graph: Graph, outer: ReadonlySet<string> = new Set()): void {
  const producer = new Map<string, number>(); // value → producing node index, -1 for inputs/initializers
  const firstBy = new Map<string, string>(); // value → who wrote it first, for messages
  const inputs = new Set<string>();
  const define = (name: string, who: number, where: string) => {
    if (name === "") return;
    if (producer.has(name)) {
      // the one legal pair: a graph input with an initializer of its name (its default value)
      if (who === -2 && inputs.has(name) && firstBy.get(name) === "a graph input") {
        firstBy.set(name, where);
        return;
      }
      throw new SaturnError(
        "DUPLICATE_VALUE",
        `value '${name}' is written twice: by ${firstBy.get(name)} and by ${where}`,
        name,
      );
    }
    producer.set(name, who < 0 ? -1 : who);
    firstBy.set(name, where);
  };
  for (const i of graph.inputs) {
    define(i.name, -1, "a graph input");
    inputs.add(i.name);
  }
  for (const name of graph.initializers.keys()) define(name, -2, "an initializer");
  for (const s of graph.sparseInitializers) if (s.name) define(s.name, -2, "a sparse initializer");
  graph.nodes.forEach((n, idx) => {
    for (const o of n.outputs) define(o, idx, `node ${nodeLabel(n)}`);
  });

  const visible = new Set([...outer, ...producer.keys()]);
  // dependencies (including values used inside subgraphs from this scope)
  const deps: number[][] = graph.nodes.map((n) => {
    const used = new Set<string>(n.inputs.filter((x) => x !== ""));
    for (const g of subgraphsOf(n)) {
      validateGraph(g, visible);
      for (const name of freeNames(g)) used.add(name);
    }
    const d: number[] = [];
    for (const name of used) {
      const p = producer.get(name);
      if (p === undefined) {
        if (outer.has(name)) continue;
        if (!n.inputs.includes(name)) continue; // a subgraph's own undefined names are reported by its check
        throw new SaturnError(
          "UNDEFINED_VALUE",
          `node ${nodeLabel(n)} (${n.opType}) reads '${name}', which no node, input or initializer produces`,
          n.name || name,
        );
      }
      if (p >= 0) d.push(p);
    }
    return d;
  });
  for (const o of graph.outputs) {
    if (!producer.has(o.name) && !outer.has(o.name)) {
      throw new SaturnError("UNDEFINED_VALUE", `graph output '${o.name}' is produced by nothing`, o.name);
    }
  }
  graph.nodes = topoSort(graph.nodes, deps);
}

/** Names a graph reads from enclosing scopes. */
export function freeNames(g: Graph): Set<string> {
  const defined = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  for (const n of g.nodes) for (const o of n.outputs) defined.add(o);
  const free = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i !== "" && !defined.has(i)) free.add(i);
    for (const sub of subgraphsOf(n)) for (const f of freeNames(sub)) if (!defined.has(f)) free.add(f);
  }
  for (const o of g.outputs) if (!defined.has(o.name)) free.add(o.name);
  return free;
}

function topoSort(nodes: Node[], deps: number[][]): Node[] {
  const sorted = deps.every((d, i) => d.every((j) => j < i));
  if (sorted) return nodes;
  const state = new Uint8Array(nodes.length); // 0 new, 1 on stack, 2 done
  const order: Node[] = [];
  for (let start = 0; start < nodes.length; start++) {
    if (state[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [i, k] = top;
      if (k < deps[i].length) {
        top[1]++;
        const j = deps[i][k];
        if (state[j] === 1) {
          throw new SaturnError(
            "GRAPH_CYCLE",
            `the graph has a cycle through node ${nodeLabel(nodes[j])} (${nodes[j].opType}) and node ${
              nodeLabel(nodes[i])
            }`,
            nodes[j].name || nodes[j].outputs[0],
          );
        }
        if (state[j] === 0) {
          state[j] = 1;
          stack.push([j, 0]);
        }
      } else {
        state[i] = 2;
        order.push(nodes[i]);
        stack.pop();
      }
    }
  }
  return order;
}
