/**
 * What an op's `infer` sees: its node, the static types of its inputs, and the values of
 * inputs that are known before run time (constants, and symbolic shape vectors such as the
 * output of `Shape` on a tensor with a dynamic batch).
 * @module
 */
import { NodeContext } from "./node_context.ts";
import type { Tensor } from "../tensor.ts";
import type { Dim, TensorType, ValueType } from "../types.ts";
import type { DataType } from "../dtype.ts";
import type { Graph, Node } from "../graph.ts";

/** Types a subgraph's outputs given its input types; outer-scope types are visible. */
export type SubgraphTyper = (graph: Graph, inputs: (ValueType | undefined)[]) => (ValueType | undefined)[];

/**
 * The context of one op's shape and type inference: what an `OpDef.infer` reads the input
 * types, and the inputs' values known before run time, from.
 * @example
 * ```ts
 * import { float32Tensor, inferModel, type Model, registerOps } from "../../mod.ts";
 * registerOps([{
 *   opType: "Twice",
 *   domain: "com.example",
 *   run: (ctx) => {
 *     const x = ctx.input(0).data as Float32Array;
 *     return [float32Tensor([2, ...ctx.input(0).dims], [...x, ...x])];
 *   },
 *   infer: (ctx) => {
 *     const s = ctx.shape(0);
 *     return [s === undefined ? undefined : { kind: "tensor", dtype: ctx.dtype(0)!, shape: [2, ...s] }];
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
 *     nodes: [{ name: "n", opType: "Twice", domain: "com.example", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const y = inferModel(model).types.get("y");
 * if (y?.kind !== "tensor" || y.shape?.join() !== "2,2") throw new Error("typed by infer: [2, ...x's shape]");
 * ```
 */
export class InferContext extends NodeContext {
  readonly #types: readonly (ValueType | undefined)[];
  readonly #constants: readonly (Tensor | undefined)[];
  readonly #shapeValues: readonly (Dim[] | undefined)[];
  readonly #typeSubgraph: SubgraphTyper;

  /**
   * Made by shape inference for each node it types.
   * @param node the node
   * @param opset the opset version the model imports for the node's domain
   * @param types static types of the inputs, by position
   * @param constants values of the inputs known statically, by position
   * @param shapeValues symbolic values of small integer inputs, by position
   * @param typeSubgraph types a control-flow body in this node's scope
   */
  constructor(
    node: Node,
    opset: number,
    types: readonly (ValueType | undefined)[],
    constants: readonly (Tensor | undefined)[],
    shapeValues: readonly (Dim[] | undefined)[],
    typeSubgraph: SubgraphTyper,
  ) {
    super(node, opset);
    this.#types = types;
    this.#constants = constants;
    this.#shapeValues = shapeValues;
    this.#typeSubgraph = typeSubgraph;
  }

  /** Static type of input `i` (undefined when omitted or unknown). */
  type(i: number): ValueType | undefined {
    return this.#types[i];
  }

  /** Input `i`'s type when it is a tensor. */
  tensorType(i: number): TensorType | undefined {
    const t = this.#types[i];
    return t?.kind === "tensor" ? t : undefined;
  }

  /** Element type of tensor input `i`. */
  dtype(i: number): DataType | undefined {
    return this.tensorType(i)?.dtype;
  }

  /** Shape of tensor input `i` (undefined when the rank is unknown). */
  shape(i: number): Dim[] | undefined {
    return this.tensorType(i)?.shape;
  }

  /** The value of input `i` when it is known statically (an initializer or a folded constant). */
  constant(i: number): Tensor | undefined {
    return this.#constants[i];
  }

  /**
   * The value of a 1-D (or scalar) integer input as dims, some possibly symbolic: e.g.
   * `["batch", 128, 768]` for a `Shape` output. Known constants are returned too.
   */
  shapeValue(i: number): Dim[] | undefined {
    return this.#shapeValues[i];
  }

  /** Type a subgraph's outputs given its input types. */
  typeSubgraph(graph: Graph, inputs: (ValueType | undefined)[]): (ValueType | undefined)[] {
    return this.#typeSubgraph(graph, inputs);
  }
}
