/**
 * Error bounds of the quantization rules (`rules/quant/`). A quantization rule is not an equality,
 * so its verdict is a measurement: on each of the rule's instances (its example node on seeded
 * weights and inputs, at every int4 block size), the rewritten nodes run in Saturn's reference
 * interpreter against the exact node, and the bound is the worst relative error
 * max|exact − quantized| / max|exact| over them, with the worst cosine similarity beside it.
 * @module
 */
import type { Model, Node } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { runModel } from "../ir/interpreter.ts";
// the contrib ops the rules write (MatMulNBits), for the reference interpreter
import "../rules/contrib_ops.ts";
import { QUANT_RULES, type QuantRule } from "../rules/quant/mod.ts";
import { outputErrors } from "../optimize/quant_error.ts";

/** One rule's measured bound. */
export interface QuantBound {
  rule: string;
  bits: number;
  /** instances measured (seeds × block sizes) */
  instances: number;
  /** the worst max|exact − quantized| / max|exact| */
  maxRelError: number;
  /** the worst cosine similarity */
  minCosine: number;
}

const SEEDS = [1, 2, 3, 4];
const BLOCKS = [32, 64, 128];

function modelOf(nodes: Node[], inputs: Map<string, Tensor>, inits: Map<string, Tensor>, out: string): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: "", version: 17 }, { domain: "com.microsoft", version: 1 }],
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name: "instance",
      nodes,
      inputs: [...inputs].map(([name, t]) => ({ name, type: { kind: "tensor", dtype: t.dtype, shape: [...t.dims] } })),
      outputs: [{ name: out }],
      initializers: inits,
      sparseInitializers: [],
      valueInfo: [],
    },
  };
}

/**
 * Measure one rule's error bound.
 * @param rule a quantization rule
 * @returns its worst relative error and cosine over its instances
 * @example
 * ```ts
 * import { QUANT_RULES } from "../rules/quant/mod.ts";
 * import { quantBound } from "./quant_bound.ts";
 * const b = quantBound(QUANT_RULES.find((r) => r.name === "matmul-int8-channel")!);
 * if (!(b.maxRelError > 0 && b.maxRelError < 0.05)) throw new Error(`int8: ${b.maxRelError}`);
 * ```
 */
export function quantBound(rule: QuantRule): QuantBound {
  let maxRelError = 0, minCosine = 1, instances = 0;
  for (const block of rule.bits === 4 ? BLOCKS : [BLOCKS[0]]) {
    for (const seed of SEEDS) {
      const { node, inputs, weight } = rule.example(seed, block);
      const fed = new Map([...inputs].filter(([k]) => k !== weight && !(node.opType === "Gemm" && k === "c")));
      const consts = new Map([...inputs].filter(([k]) => !fed.has(k)));
      const used = new Set([...inputs.keys(), ...node.outputs, node.name]);
      const ctx = {
        block,
        opset: 17,
        constant: (n: string) => consts.get(n),
        fresh(base: string) {
          let n = base;
          for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
          used.add(n);
          return n;
        },
      };
      if (rule.match(node, ctx) === undefined) continue;
      const rw = rule.rewrite(node, ctx);
      const out = node.outputs[0];
      const feeds = new Map<string, Value>(fed);
      const exact = runModel(modelOf([node], fed, consts, out), feeds);
      const kept = new Map([...consts].filter(([k]) => k !== weight));
      const approx = runModel(modelOf(rw.nodes, fed, new Map([...kept, ...rw.initializers]), out), feeds);
      for (const e of outputErrors([exact], [approx])) {
        maxRelError = Math.max(maxRelError, e.maxRelError);
        minCosine = Math.min(minCosine, e.cosine);
      }
      instances++;
    }
  }
  return { rule: rule.name, bits: rule.bits, instances, maxRelError, minCosine };
}

/**
 * The error bound of every quantization rule.
 * @returns one bound per rule of `rules/quant/`, in the pack's order
 */
export function quantBounds(): QuantBound[] {
  return QUANT_RULES.map(quantBound);
}
