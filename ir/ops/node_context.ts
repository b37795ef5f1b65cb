/**
 * What every op sees of its node, whether it is being run or typed: attributes with ONNX
 * defaults, which optional inputs and outputs are present, the opset version, and `fail` to
 * raise an error that names the node.
 * @module
 */
import { OpError } from "../../errors.ts";
import type { Attribute, AttrType, AttrValueOf, Graph, Node } from "../graph.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Attribute and arity access shared by `RunContext` and `InferContext`. Attribute getters apply
 * the default given, or fail naming the node when a required attribute is missing.
 * @example
 * ```ts
 * import { float32Tensor, type Model, OpError, registerOps, runModel } from "../../mod.ts";
 * registerOps([{
 *   opType: "Pick",
 *   domain: "com.example",
 *   run: (ctx) => [float32Tensor([], [(ctx.input(0).data as Float32Array)[ctx.attrInt("index")]])],
 * }]);
 * const model: Model = {
 *   irVersion: 8,
 *   opsetImports: [{ domain: "", version: 17 }, { domain: "com.example", version: 1 }],
 *   metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [2] } }],
 *     outputs: [{ name: "y" }],
 *     nodes: [{ name: "n", opType: "Pick", domain: "com.example", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * try {
 *   runModel(model, new Map([["x", float32Tensor([2], [5, 6])]]));
 *   throw new Error("a missing required attribute must be refused");
 * } catch (e) {
 *   if (!(e instanceof OpError) || e.message !== "Pick node 'n': required attribute 'index' is missing") throw e;
 * }
 * ```
 */
export class NodeContext {
  /** The node being run or typed. */
  readonly node: Node;
  /** The opset version the model imports for the node's domain. */
  readonly opset: number;

  /**
   * Context of `node` at its domain's opset version `opset`.
   * @param node the node
   * @param opset the opset version the model imports for the node's domain
   */
  constructor(node: Node, opset: number) {
    this.node = node;
    this.opset = opset;
  }

  /** Throw an `OpError` naming this node and op. */
  fail(message: string): never {
    const n = this.node;
    throw new OpError(`${n.opType} node '${n.name || n.outputs[0]}': ${message}`, n.name || n.outputs[0]);
  }

  /** The attribute, if set. */
  attr(name: string): Attribute | undefined {
    for (const a of this.node.attributes) if (a.name === name) return a;
    return undefined;
  }

  /** True when the attribute is set. */
  hasAttr(name: string): boolean {
    return this.attr(name) !== undefined;
  }

  #get<K extends AttrType>(name: string, type: K, def: AttrValueOf[K] | undefined): AttrValueOf[K] {
    const a = this.attr(name);
    if (a === undefined) {
      if (def === undefined) this.fail(`required attribute '${name}' is missing`);
      return def;
    }
    if (a.type !== type) {
      // ints given where floats are expected (and the reverse) are common in hand-made models
      if (type === "float" && a.type === "int") return a.value as AttrValueOf[K];
      if (type === "floats" && a.type === "ints") return a.value as AttrValueOf[K];
      if (type === "ints" && a.type === "int") return [a.value] as AttrValueOf[K];
      this.fail(`attribute '${name}' should be ${type}, is ${a.type}`);
    }
    return a.value as AttrValueOf[K];
  }

  /** An int attribute (`def` when unset; required when `def` is omitted). */
  attrInt(name: string, def?: number): number {
    return this.#get(name, "int", def);
  }
  /** A float attribute. */
  attrFloat(name: string, def?: number): number {
    return this.#get(name, "float", def);
  }
  /** A string attribute. */
  attrString(name: string, def?: string): string {
    return this.#get(name, "string", def);
  }
  /** An ints attribute. */
  attrInts(name: string, def?: number[]): number[] {
    return this.#get(name, "ints", def);
  }
  /** A floats attribute. */
  attrFloats(name: string, def?: number[]): number[] {
    return this.#get(name, "floats", def);
  }
  /** A strings attribute. */
  attrStrings(name: string, def?: string[]): string[] {
    return this.#get(name, "strings", def);
  }
  /** A tensor attribute, or undefined. */
  attrTensor(name: string): Tensor | undefined {
    const a = this.attr(name);
    return a === undefined ? undefined : this.#get(name, "tensor", undefined);
  }
  /** A graph attribute (required). */
  attrGraph(name: string): Graph {
    return this.#get(name, "graph", undefined);
  }

  /** Number of inputs the node lists (omitted optional ones included). */
  get numInputs(): number {
    return this.node.inputs.length;
  }
  /** True when input `i` is listed and not omitted (`""`). */
  hasInput(i: number): boolean {
    return i < this.node.inputs.length && this.node.inputs[i] !== "";
  }
  /** Number of outputs the node lists. */
  get numOutputs(): number {
    return this.node.outputs.length;
  }
  /** True when output `i` is listed and not omitted. */
  hasOutput(i: number): boolean {
    return i < this.node.outputs.length && this.node.outputs[i] !== "";
  }
}
