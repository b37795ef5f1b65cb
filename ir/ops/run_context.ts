/**
 * What an op's `run` sees: its node (attributes, arity) and the input values.
 * @module
 */
import { NodeContext } from "./node_context.ts";
import { Tensor } from "../tensor.ts";
import type { Value } from "../values.ts";
import type { Graph, Node } from "../graph.ts";

/** Runs a subgraph (a control-flow body) with its inputs; outer-scope values are visible. */
export type SubgraphRunner = (graph: Graph, inputs: (Value | undefined)[]) => (Value | undefined)[];

/**
 * The context of one op execution: what an `OpDef.run` reads its inputs and attributes from.
 * @example
 * ```ts
 * import { float32Tensor, type Model, registerOps, runModel, type Tensor } from "../../mod.ts";
 * registerOps([{
 *   opType: "Scale",
 *   domain: "com.example",
 *   run: (ctx) => {
 *     const x = ctx.input(0), k = ctx.attrFloat("k", 1);
 *     return [float32Tensor([...x.dims], Array.from(x.data as Float32Array, (v) => k * v))];
 *   },
 * }]);
 * const model: Model = {
 *   irVersion: 8,
 *   opsetImports: [{ domain: "", version: 17 }, { domain: "com.example", version: 1 }],
 *   metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [2] } }],
 *     outputs: [{ name: "y" }],
 *     nodes: [{ name: "n", opType: "Scale", domain: "com.example", inputs: ["x"], outputs: ["y"], attributes: [{ name: "k", type: "float", value: 3 }] }],
 *   },
 * };
 * const y = runModel(model, new Map([["x", float32Tensor([2], [1, 2])]])).get("y") as Tensor;
 * if (Array.from(y.data as Float32Array).join() !== "3,6") throw new Error("k = 3 scales each element");
 * ```
 */
export class RunContext extends NodeContext {
  /** Input values by position (`undefined` for omitted optional inputs). */
  readonly inputs: readonly (Value | undefined)[];
  readonly #runSubgraph: SubgraphRunner;

  /**
   * Made by the interpreter for each node it runs.
   * @param node the node
   * @param opset the opset version the model imports for the node's domain
   * @param inputs input values by position
   * @param runSubgraph runs a control-flow body in this node's scope
   */
  constructor(node: Node, opset: number, inputs: readonly (Value | undefined)[], runSubgraph: SubgraphRunner) {
    super(node, opset);
    this.inputs = inputs;
    this.#runSubgraph = runSubgraph;
  }

  /** Input `i` as a tensor; fails when absent or not a tensor. */
  input(i: number): Tensor {
    const v = this.inputs[i];
    if (v instanceof Tensor) return v;
    return this.fail(`input ${i} ${v === undefined ? "is missing" : `is a ${v.kind}, not a tensor`}`);
  }

  /** Input `i` as a tensor, or undefined when omitted. */
  optionalInput(i: number): Tensor | undefined {
    return this.inputs[i] === undefined ? undefined : this.input(i);
  }

  /** Input `i` of any kind (tensor, sequence, optional, map). */
  value(i: number): Value | undefined {
    return this.inputs[i];
  }

  /** Run a subgraph attribute's body with the given inputs (for If, Loop, Scan, SequenceMap). */
  runSubgraph(graph: Graph, inputs: (Value | undefined)[]): (Value | undefined)[] {
    return this.#runSubgraph(graph, inputs);
  }
}
