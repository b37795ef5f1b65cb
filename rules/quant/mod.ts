/**
 * The quantization pack (`rules/quant/`): weight-only rules for MatMul and Gemm and quantized
 * embedding tables, large constant addends (int8 at both precisions), each with its precision and zero-point style. See `quant_rule.ts` for why
 * they are measured rather than proved.
 * @module
 */
import { CONSTANT_RULES } from "./constants.ts";
import { GATHER_RULES } from "./gather.ts";
import { MATMUL_RULES } from "./matmul.ts";
import type { QuantRule } from "./quant_rule.ts";

export type { QuantBits, QuantContext, QuantRewrite, QuantRule } from "./quant_rule.ts";

/** Every quantization rule, in the order the pass tries them on a node. */
export const QUANT_RULES: readonly QuantRule[] = [...MATMUL_RULES, ...GATHER_RULES, ...CONSTANT_RULES];
