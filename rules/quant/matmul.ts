/**
 * Weight-only quantization of MatMul and Gemm with a constant float32 weight W [K, N]:
 * - `matmul-int4-nbits`, `matmul-int4-nbits-zp`, `gemm-int4-nbits`, `gemm-int4-nbits-zp`:
 *   x·W → com.microsoft MatMulNBits(x, B, scales[, zero_points]) with 4-bit codes in blocks of
 *   `block` along K (ONNX Runtime's layout: B uint8 [N, ⌈K/block⌉, block/2], low nibble first;
 *   scales float32 [N, ⌈K/block⌉]; zero points packed per row, absent when symmetric (8)); a
 *   Gemm's C becomes the bias input when it is a constant [N], an Add otherwise.
 * - `matmul-int8-channel`, `gemm-int8-channel`: the weight → DequantizeLinear(int8, scale per
 *   output channel, axis of N), symmetric (codes −127 … 127): standard ONNX from opset 13.
 * Gemm is rewritten only with transA = 0, alpha = 1, beta = 1 (what exporters write).
 * @module
 */
import { DataType } from "../../ir/dtype.ts";
import { getAttr, type Node } from "../../ir/graph.ts";
import { fromNumbers, Tensor } from "../../ir/tensor.ts";
import { dequantRows, packCodes, packZeroPoints, type QuantizedRows, quantizeRows } from "../../optimize/quant_pack.ts";
import type { QuantBits, QuantContext, QuantRewrite, QuantRule } from "./quant_rule.ts";

function intAttr(node: Node, name: string, dflt: number): number {
  const a = getAttr(node, name);
  return a?.type === "int" ? a.value : dflt;
}

function floatAttr(node: Node, name: string, dflt: number): number {
  const a = getAttr(node, name);
  return a?.type === "float" ? a.value : a?.type === "int" ? a.value : dflt;
}

/** The weight of a MatMul/Gemm node as K × N, and whether it is stored transposed ([N, K]). */
interface Weight {
  t: Tensor;
  K: number;
  N: number;
  transposed: boolean;
  data: Float32Array;
}

function weightOf(node: Node, ctx: QuantContext): Weight | undefined {
  const t = ctx.constant(node.inputs[1]);
  if (!t || t.dtype !== DataType.FLOAT || t.dims.length !== 2 || ctx.constant(node.inputs[0])) return undefined;
  const transposed = node.opType === "Gemm" && intAttr(node, "transB", 0) === 1;
  const [K, N] = transposed ? [t.dims[1], t.dims[0]] : [t.dims[0], t.dims[1]];
  if (K < 2 || N < 1) return undefined;
  return { t, K, N, transposed, data: t.data as Float32Array };
}

function matches(op: string) {
  return (node: Node, ctx: QuantContext): number | undefined => {
    if (node.opType !== op || node.domain !== "") return undefined;
    if (op === "Gemm") {
      if (intAttr(node, "transA", 0) !== 0 || floatAttr(node, "alpha", 1) !== 1 || floatAttr(node, "beta", 1) !== 1) {
        return undefined;
      }
    }
    return weightOf(node, ctx) ? 1 : undefined;
  };
}

/** Quantize W's columns (output channels) along K. */
function quantizeChannels(w: Weight, bits: QuantBits, block: number, symmetric: boolean): QuantizedRows {
  const { K, N, data, transposed } = w;
  const get = transposed ? (n: number, k: number) => data[n * K + k] : (n: number, k: number) => data[k * N + n];
  return quantizeRows(get, N, K, { bits, block, symmetric });
}

/** The dequantized weight in W's own layout. */
function dequantized(w: Weight, q: QuantizedRows): Tensor {
  const rows = dequantRows(q); // [N, K]
  if (w.transposed) return new Tensor(DataType.FLOAT, w.t.dims, rows);
  const out = new Float32Array(w.K * w.N);
  for (let n = 0; n < w.N; n++) for (let k = 0; k < w.K; k++) out[k * w.N + n] = rows[n * w.K + k];
  return new Tensor(DataType.FLOAT, w.t.dims, out);
}

function nbitsRewrite(symmetric: boolean) {
  return (node: Node, ctx: QuantContext): QuantRewrite => {
    const w = weightOf(node, ctx)!;
    const { K, N } = w, block = ctx.block;
    const q = quantizeChannels(w, 4, block, symmetric);
    const base = node.outputs[0];
    const bName = ctx.fresh(`${base}_q4`), sName = ctx.fresh(`${base}_q4_scales`);
    const inits = new Map<string, Tensor>([
      [bName, fromNumbers(DataType.UINT8, [N, q.blocks, block / 2], packCodes(q.codes, 4))],
      [sName, new Tensor(DataType.FLOAT, [N, q.blocks], q.scales)],
    ]);
    const inputs = [node.inputs[0], bName, sName];
    if (!symmetric) {
      const zName = ctx.fresh(`${base}_q4_zp`);
      const zp = packZeroPoints(q);
      inits.set(zName, fromNumbers(DataType.UINT8, [zp.length], zp));
      inputs.push(zName);
    }
    const nodes: Node[] = [];
    const c = node.opType === "Gemm" ? node.inputs[2] ?? "" : "";
    const cT = c ? ctx.constant(c) : undefined;
    let out = node.outputs[0];
    if (c && cT && cT.dtype === DataType.FLOAT && cT.dims.length === 1 && cT.dims[0] === N) {
      while (inputs.length < 5) inputs.push("");
      inputs.push(c);
    } else if (c) {
      out = ctx.fresh(`${base}_q4_mm`);
    }
    nodes.push({
      name: ctx.fresh(`${node.name || base}_q4`),
      opType: "MatMulNBits",
      domain: "com.microsoft",
      inputs,
      outputs: [out],
      attributes: [
        { name: "K", type: "int", value: K },
        { name: "N", type: "int", value: N },
        { name: "bits", type: "int", value: 4 },
        { name: "block_size", type: "int", value: block },
      ],
    });
    if (out !== node.outputs[0]) {
      nodes.push({
        name: ctx.fresh(`${node.name || base}_q4_bias`),
        opType: "Add",
        domain: "",
        inputs: [out, c],
        outputs: [node.outputs[0]],
        attributes: [],
      });
    }
    return { nodes, initializers: inits, dequantized: dequantized(w, q) };
  };
}

function int8Rewrite(node: Node, ctx: QuantContext): QuantRewrite {
  const w = weightOf(node, ctx)!;
  const q = quantizeChannels(w, 8, w.K, true);
  // int8 codes in W's layout: code − 128
  const codes = new Int8Array(w.K * w.N);
  for (let n = 0; n < w.N; n++) {
    for (let k = 0; k < w.K; k++) codes[w.transposed ? n * w.K + k : k * w.N + n] = q.codes[n * w.K + k] - 128;
  }
  const base = node.outputs[0];
  const qName = ctx.fresh(`${base}_q8`), sName = ctx.fresh(`${base}_q8_scale`), dq = ctx.fresh(`${base}_q8_weight`);
  return {
    nodes: [
      {
        name: ctx.fresh(`${node.name || base}_dequantize`),
        opType: "DequantizeLinear",
        domain: "",
        inputs: [qName, sName],
        outputs: [dq],
        attributes: [{ name: "axis", type: "int", value: w.transposed ? 0 : 1 }],
      },
      { ...node, inputs: node.inputs.map((x, i) => (i === 1 ? dq : x)) },
    ],
    initializers: new Map([
      [qName, new Tensor(DataType.INT8, w.t.dims, codes)],
      [sName, new Tensor(DataType.FLOAT, [w.N], q.scales)],
    ]),
    dequantized: dequantized(w, q),
  };
}

function example(op: "MatMul" | "Gemm") {
  return (seed: number, _block: number) => {
    const K = 128, N = 48, M = 4;
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    // weights like a trained layer's: mostly small, a few large (outliers set the scale)
    const w = Array.from({ length: K * N }, () => (next() - 0.5) * (next() < 0.02 ? 8 : 1) / Math.sqrt(K));
    const x = Array.from({ length: M * K }, () => next() * 2 - 1);
    const inputs = new Map<string, Tensor>([
      ["x", fromNumbers(DataType.FLOAT, [M, K], x)],
      ["w", fromNumbers(DataType.FLOAT, [K, N], w)],
    ]);
    const node: Node = { name: "n", opType: op, domain: "", inputs: ["x", "w"], outputs: ["y"], attributes: [] };
    if (op === "Gemm") {
      inputs.set("c", fromNumbers(DataType.FLOAT, [N], Array.from({ length: N }, () => next() - 0.5)));
      node.inputs.push("c");
    }
    return { node, inputs, weight: "w" };
  };
}

function rule(
  name: string,
  op: "MatMul" | "Gemm",
  bits: QuantBits,
  symmetric: boolean,
  comment: string,
): QuantRule {
  return {
    name,
    pack: "quant",
    comment,
    bits,
    symmetric,
    match: matches(op),
    rewrite: bits === 4 ? nbitsRewrite(symmetric) : int8Rewrite,
    example: example(op),
  };
}

/** The MatMul and Gemm quantization rules. */
export const MATMUL_RULES: readonly QuantRule[] = [
  rule("matmul-int4-nbits", "MatMul", 4, true, "x·W → MatMulNBits(x, int4 blocks of W, scales)"),
  rule("matmul-int4-nbits-zp", "MatMul", 4, false, "x·W → MatMulNBits(x, uint4 blocks of W, scales, zero points)"),
  rule("gemm-int4-nbits", "Gemm", 4, true, "Gemm(x, W, c) → MatMulNBits(x, int4 blocks of W, scales, bias c)"),
  rule("gemm-int4-nbits-zp", "Gemm", 4, false, "Gemm(x, W, c) → MatMulNBits(x, uint4 blocks, scales, zero points, c)"),
  rule("matmul-int8-channel", "MatMul", 8, true, "x·W → x·DequantizeLinear(int8 W, scale per column)"),
  rule("gemm-int8-channel", "Gemm", 8, true, "Gemm(x, W, c) → Gemm(x, DequantizeLinear(int8 W, scale per column), c)"),
];
