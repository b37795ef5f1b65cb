/**
 * Quantization rules: rewrites that replace a float weight by a low-precision one. They are not
 * equalities — each trades an error for bytes — so they are not e-graph rules: the quantization pass
 * (`optimize/quantize.ts`) applies one to a node only after measuring the model's output error with
 * that weight quantized, and `verify --all` reports each rule's measured error bound
 * (`verify/quant_bound.ts`) where equalities get a proof.
 *
 * A rule is data about one node form (what it matches, which input is the weight) plus a TypeScript
 * applier that packs the weight, because packing int4 blocks is beyond the rule language.
 *
 * Invariant of every rule: the nodes it returns compute, from the node's other inputs, exactly what
 * the node computed with its weight replaced by `dequantized` (up to float rounding) — so the error
 * measured with `dequantized` in place of the weight is the error of the rewrite.
 * @module
 */
import type { Node } from "../../ir/graph.ts";
import type { Tensor } from "../../ir/tensor.ts";

/** Precision a quantization rule produces. */
export type QuantBits = 4 | 8;

/** What a rule needs to rewrite a node. */
export interface QuantContext {
  /** values shared by one scale (4 bits; 8-bit rules quantize per output channel or row) */
  block: number;
  /** a fresh value name, never used in the model, starting with `base` */
  fresh(base: string): string;
  /** the node's constant inputs (initializers), by name */
  constant(name: string): Tensor | undefined;
  /** the version of the ONNX domain the model imports */
  opset: number;
}

/** A rewrite: the nodes that replace the matched one and the initializers they read. */
export interface QuantRewrite {
  nodes: Node[];
  initializers: Map<string, Tensor>;
  /** the weight as the new nodes see it, dequantized, in the original weight's layout and type */
  dequantized: Tensor;
}

/** One quantization rule. */
export interface QuantRule {
  /** unique among quantization rules; reported per layer and in `verify --all` */
  name: string;
  /** always `quant` */
  pack: "quant";
  /** one line: what it rewrites into what */
  comment: string;
  /** the precision it produces */
  bits: QuantBits;
  /** zero point fixed at the middle code (true) or one per block (false) */
  symmetric: boolean;
  /**
   * The input index of the weight this rule would quantize in `node`, or undefined when the rule
   * does not apply (wrong op or attributes, a weight that is not a constant of the right shape).
   */
  match(node: Node, ctx: QuantContext): number | undefined;
  /** The rewrite of a node `match` accepted. */
  rewrite(node: Node, ctx: QuantContext): QuantRewrite;
  /** A small node of the form it matches with its constant weight, for measuring its error bound. */
  example(seed: number, block: number): { node: Node; inputs: Map<string, Tensor>; weight: string };
}
