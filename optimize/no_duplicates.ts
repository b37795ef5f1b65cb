/**
 * The extraction's view of shared inputs: a contraction (Conv, MatMul, Gemm and their fused forms)
 * is never computed twice from the same input and weights.
 *
 * The ILP counts each chosen e-node once, but two e-nodes that redo one contraction — the
 * SiLU's `Conv(x, w, b)` that its Mul reads and the `FusedConv(x, w, b, Sigmoid)` beside it, or a
 * hard-swish's Conv and a second `Conv(x, w, b + 3)` with the +3 folded in — are different
 * classes, so the sum of node costs cannot see that the second recomputes the first. Whatever the
 * cost model says, that is never faster on a real runtime: an elementwise op over the first's
 * output is always cheaper than a second contraction.
 *
 * `withoutDuplicateContractions(extract)` wraps an extractor: after each extraction it looks for
 * chosen contractions with the same op family, the same input and weight classes and the same
 * geometry (strides, pads, dilations, group, transposes); in each such group it forbids (prices
 * at Infinity) every node whose class holds an alternative that is no contraction (`Sigmoid(y)`,
 * `Add(y, 3)`), keeping one, and extracts again — a few rounds at most, keeping the last extraction
 * that succeeded.
 *
 * Invariant: the result is an extraction of the wrapped extractor (with some nodes forbidden), so
 * every property of it (validity, acyclicity) holds; it is never more than `MAX_ROUNDS` extra runs.
 * @module
 */
import type { CostModel } from "../cost/cost_model.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import type { Extractor, ExtractResult } from "./optimize.ts";

/** Re-extractions at most. */
export const MAX_ROUNDS = 4;

/** Op family of each contraction: nodes of one family with equal keys compute the same product. */
const FAMILY: Readonly<Record<string, string>> = {
  Conv: "conv",
  FusedConv: "conv",
  MatMul: "matmul",
  FusedMatMul: "matmul",
  Gemm: "matmul",
};

/**
 * Attributes that decide which product a contraction computes (activation and bias excluded;
 * kernel_shape follows from the shared weights), each with the test of its default value, which
 * counts as unset (a rule's right-hand side may write defaults the input left out).
 */
const GEOMETRY: Readonly<Record<string, (v: unknown) => boolean>> = {
  auto_pad: (v) => v === "NOTSET",
  dilations: (v) => Array.isArray(v) && v.every((x) => x === 1),
  group: (v) => v === 1,
  pads: (v) => Array.isArray(v) && v.every((x) => x === 0),
  strides: (v) => Array.isArray(v) && v.every((x) => x === 1),
  transA: (v) => v === 0,
  transB: (v) => v === 0,
  alpha: (v) => v === 1,
};

function contractionKey(eg: EGraph, n: ENode): string | undefined {
  const family = FAMILY[n.op];
  if (!family || n.children.length < 2) return undefined;
  const geometry = n.attrs.filter((a) => a.name in GEOMETRY && !GEOMETRY[a.name](a.value))
    .map((a) => `${a.name}=${JSON.stringify(a.value)}`);
  return `${family}|${eg.find(n.children[0])}|${eg.find(n.children[1])}|${geometry.sort().join(",")}`;
}

/** Chosen nodes reachable from the roots, with their classes (explicit stack). */
function reachableChoice(eg: EGraph, choice: Map<ClassId, ENode>, roots: readonly ClassId[]): [ClassId, ENode][] {
  const seen = new Set<ClassId>(), out: [ClassId, ENode][] = [];
  const stack = roots.map((r) => eg.find(r));
  while (stack.length) {
    const c = stack.pop()!;
    if (seen.has(c)) continue;
    seen.add(c);
    const n = choice.get(c);
    if (!n) continue;
    out.push([c, n]);
    for (const k of n.children) stack.push(eg.find(k));
  }
  return out;
}

/**
 * Chosen contractions that duplicate another chosen one and can be replaced in their class.
 * @param eg the e-graph
 * @param choice an extraction
 * @param roots the extraction's roots
 * @returns the nodes to forbid (empty when no contraction is computed twice)
 */
export function duplicateContractions(
  eg: EGraph,
  choice: Map<ClassId, ENode>,
  roots: readonly ClassId[],
): { node: ENode; cls: ClassId }[] {
  const groups = new Map<string, { node: ENode; cls: ClassId }[]>();
  for (const [cls, node] of reachableChoice(eg, choice, roots)) {
    const key = contractionKey(eg, node);
    if (key === undefined) continue;
    const g = groups.get(key);
    if (g) g.push({ node, cls });
    else groups.set(key, [{ node, cls }]);
  }
  const out: { node: ENode; cls: ClassId }[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    // replaceable: the class can be computed without a contraction (from the kept one's output)
    const replaceable = group.filter(({ cls }) => eg.eclass(cls).nodes.some((n) => !FAMILY[n.op]));
    // keep one: the first that cannot be replaced, else the first of the group
    const keep = group.find((g) => !replaceable.includes(g)) ?? group[0];
    for (const g of replaceable) if (g !== keep) out.push(g);
  }
  return out;
}

/**
 * Wrap an extractor so that no contraction is computed twice from the same input and weights.
 * @param extract the extractor (ILP or greedy)
 * @returns an extractor with the same interface
 */
export function withoutDuplicateContractions(extract: Extractor): Extractor {
  return async (eg: EGraph, model: CostModel, roots: ClassId[]): Promise<ExtractResult> => {
    let ex = await extract(eg, model, roots);
    const forbidden = new Set<ENode>();
    const priced: CostModel = {
      name: model.name,
      nodeCost: (g, n, c) => forbidden.has(n) ? Infinity : model.nodeCost(g, n, c),
    };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const dups = duplicateContractions(eg, ex.choice, roots).filter(({ node }) => !forbidden.has(node));
      if (!dups.length) break;
      for (const { node } of dups) forbidden.add(node);
      let again: ExtractResult;
      try {
        again = await extract(eg, priced, roots);
      } catch {
        break; // nothing without the duplicates: keep what we had
      }
      if (!Number.isFinite(again.cost) || reachableChoice(eg, again.choice, roots).some(([, n]) => forbidden.has(n))) {
        break;
      }
      ex = again;
    }
    return ex;
  };
}
