/**
 * Greedy bottom-up extraction (egg's): each class takes its cheapest e-node by tree cost,
 * iterated to a fixed point so that cycles never win. Shared sub-graphs are counted once per
 * use here (the ILP extractor counts them once).
 * @module
 */
import type { CostModel } from "../cost/cost_model.ts";
import type { EGraph } from "./egraph.ts";
import type { ClassId, ENode } from "./enode.ts";

/** A choice of one e-node per class needed by the roots. */
export interface Extraction {
  /** The e-node chosen for each canonical class reachable from the roots through chosen nodes. */
  choice: Map<ClassId, ENode>;
  /** Sum of node costs of the chosen DAG (each class counted once). */
  cost: number;
}

/** Cost of the DAG a choice selects under the roots, each class once. */
export function dagCost(eg: EGraph, model: CostModel, choice: Map<ClassId, ENode>, roots: ClassId[]): number {
  const seen = new Set<ClassId>();
  let total = 0;
  const stack = roots.map((r) => eg.find(r));
  while (stack.length) {
    const c = eg.find(stack.pop()!);
    if (seen.has(c)) continue;
    seen.add(c);
    const n = choice.get(c)!;
    total += model.nodeCost(eg, n, c);
    for (const k of n.children) stack.push(k);
  }
  return total;
}

/**
 * Extract greedily: each class takes the e-node of least tree cost (its own cost plus its
 * children's best), iterated to a fixed point. Fast and cycle-free, but a sub-graph shared by
 * several parents is priced once per parent, so it can miss the cheapest DAG (`extractIlp` finds it).
 * @param eg a rebuilt e-graph
 * @param model the cost model; an e-node of infinite cost is never chosen
 * @param roots the classes to extract
 * @returns one e-node per needed class, and the DAG cost of that choice
 * @throws {Error} when a root has no e-node of finite cost
 * @example
 * ```ts
 * import { EGraph, extractGreedy, NodeCountCost } from "../mod.ts";
 * import { makeENode } from "./enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const root = eg.add(makeENode("Relu", [eg.add(makeENode("Relu", [x]))]));
 * eg.union(root, eg.add(makeENode("Relu", [x]))); // Relu(Relu(x)) = Relu(x)
 * eg.rebuild();
 * const { choice, cost } = extractGreedy(eg, new NodeCountCost(), [root]);
 * if (cost !== 1 || choice.get(eg.find(root))?.children[0] !== eg.find(x)) throw new Error("one Relu of x");
 * ```
 */
export function extractGreedy(eg: EGraph, model: CostModel, roots: ClassId[]): Extraction {
  const best = new Map<ClassId, { cost: number; node: ENode }>();
  const classes = [...eg.classes()];
  const own = new Map<ENode, number>();
  for (const cls of classes) for (const n of cls.nodes) own.set(n, model.nodeCost(eg, n, cls.id));
  let changed = true;
  while (changed) {
    changed = false;
    for (const cls of classes) {
      for (const n of cls.nodes) {
        let cost = own.get(n)!;
        if (!Number.isFinite(cost)) continue;
        let ready = true;
        for (const k of distinctChildren(eg, n)) {
          const b = best.get(k);
          if (!b) {
            ready = false;
            break;
          }
          cost += b.cost;
        }
        if (!ready) continue;
        // a tree cost can double with each shared level (2^1024 overflows past ~1,000 residual
        // blocks): it saturates instead, so every class with an acyclic choice keeps one
        if (cost === Infinity) cost = Number.MAX_VALUE;
        const cur = best.get(cls.id);
        if (cost < (cur?.cost ?? Infinity)) {
          best.set(cls.id, { cost, node: n });
          changed = true;
        }
      }
    }
  }
  const choice = new Map<ClassId, ENode>();
  const stack = roots.map((r) => eg.find(r));
  while (stack.length) {
    const c = eg.find(stack.pop()!);
    if (choice.has(c)) continue;
    const b = best.get(c);
    if (!b) throw new Error(`class ${c} has no finite-cost e-node`);
    choice.set(c, b.node);
    for (const k of b.node.children) stack.push(k);
  }
  return { choice, cost: dagCost(eg, model, choice, roots) };
}

/** The canonical classes a node reads, each once (`Add(v, v)` pays for `v` once). */
function distinctChildren(eg: EGraph, n: ENode): ClassId[] {
  const kids = n.children.map((k) => eg.find(k));
  return kids.length < 2 ? kids : [...new Set(kids)];
}
