/**
 * Summary figures of a model: op histogram, parameter count and bytes.
 * @module
 */
import type { Graph, Model } from "./graph.ts";

/** What `inspect` reports about a model's contents. */
export interface ModelStats {
  /** Node count, the nodes of subgraphs (If/Loop/Scan bodies) included. */
  nodes: number;
  /** Node count per op (`domain.OpType` outside the ONNX domain), most frequent first. */
  ops: Record<string, number>;
  /** Elements of all initializers of the main graph and subgraphs (a sparse one's stored values). */
  parameters: number;
  /** Bytes those initializers take in the file (a sparse one's values and indices). */
  parameterBytes: number;
}

/** Count `root` and every body nested in it (an explicit stack: nesting depth is the model's). */
function walk(root: Graph, s: ModelStats): void {
  const graphs: Graph[] = [root];
  while (graphs.length) {
    const g = graphs.pop()!;
    for (const n of g.nodes) {
      s.nodes++;
      const k = n.domain ? `${n.domain}.${n.opType}` : n.opType;
      s.ops[k] = (s.ops[k] ?? 0) + 1;
      for (const a of n.attributes) {
        if (a.type === "graph") graphs.push(a.value);
        if (a.type === "graphs") graphs.push(...a.value);
      }
    }
    for (const t of g.initializers.values()) {
      s.parameters += t.size;
      s.parameterBytes += t.byteLength;
    }
    // sparse initializers count what they store, never their dense size
    for (const t of g.sparseInitializers) {
      s.parameters += t.values.size;
      s.parameterBytes += t.values.byteLength + t.indices.byteLength;
    }
  }
}

/**
 * Count nodes by op (subgraphs included) and initializer elements and bytes.
 * @param model the model
 * @returns the counts; `ops` is ordered by count, then name
 * @example
 * ```ts
 * import { loadOnnx, modelStats } from "../mod.ts";
 * const s = modelStats(loadOnnx("examples/bert_tiny.onnx"));
 * const perOp = Object.values(s.ops).reduce((a, b) => a + b, 0);
 * if (perOp !== s.nodes) throw new Error("every node is counted under its op");
 * if (s.parameterBytes < s.parameters) throw new Error("bytes per parameter");
 * ```
 */
export function modelStats(model: Model): ModelStats {
  const s: ModelStats = { nodes: 0, ops: {}, parameters: 0, parameterBytes: 0 };
  walk(model.graph, s);
  s.ops = Object.fromEntries(Object.entries(s.ops).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  return s;
}
