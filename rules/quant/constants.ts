/**
 * Large float constants that are not weights of a MatMul/Gemm/Gather: what folding leaves behind,
 * e.g. position embeddings gathered at constant positions, added to the token embeddings.
 * - `add-const-int8`: Add(x, C), C a float32 constant of rank ≥ 2 and ≥ 1024 elements →
 *   Add(x, DequantizeLinear(int8 C, one scale per index of C's second-to-last axis)); symmetric,
 *   standard ONNX from opset 13. Used at both precisions (int4 DequantizeLinear needs opset 21).
 * @module
 */
import { DataType } from "../../ir/dtype.ts";
import type { Node } from "../../ir/graph.ts";
import { fromNumbers, Tensor } from "../../ir/tensor.ts";
import { dequantRows, quantizeRows } from "../../optimize/quant_pack.ts";
import type { QuantContext, QuantRewrite, QuantRule } from "./quant_rule.ts";

const MIN_ELEMENTS = 1024;

function match(node: Node, ctx: QuantContext): number | undefined {
  if (node.opType !== "Add" || node.domain !== "" || ctx.opset < 13 || node.inputs.length !== 2) return undefined;
  for (const i of [1, 0]) {
    const t = ctx.constant(node.inputs[i]);
    if (
      t && t.dtype === DataType.FLOAT && t.dims.length >= 2 && t.size >= MIN_ELEMENTS &&
      !ctx.constant(node.inputs[1 - i])
    ) {
      return i;
    }
  }
  return undefined;
}

function rewrite(node: Node, ctx: QuantContext): QuantRewrite {
  const at = match(node, ctx)!;
  const t = ctx.constant(node.inputs[at])!;
  const r = t.dims.length;
  // rows: the index along axis r − 2 (outer dims folded in per row would need more scales)
  const inner = t.dims[r - 1], axisLen = t.dims[r - 2], outer = t.size / (inner * axisLen);
  const data = t.data as Float32Array;
  // one row per index of the axis: all outer × inner values of it
  const len = outer * inner;
  const get = (row: number, i: number) => data[(Math.floor(i / inner) * axisLen + row) * inner + (i % inner)];
  const q = quantizeRows(get, axisLen, len, { bits: 8, block: len, symmetric: true });
  const deq = dequantRows(q);
  const codes = new Int8Array(t.size), back = new Float32Array(t.size);
  for (let row = 0; row < axisLen; row++) {
    for (let i = 0; i < len; i++) {
      const flat = (Math.floor(i / inner) * axisLen + row) * inner + (i % inner);
      codes[flat] = q.codes[row * len + i] - 128;
      back[flat] = deq[row * len + i];
    }
  }
  const base = node.outputs[0];
  const qName = ctx.fresh(`${base}_q8_const`), sName = ctx.fresh(`${base}_q8_const_scale`);
  const dq = ctx.fresh(`${base}_q8_const_value`);
  return {
    nodes: [
      {
        name: ctx.fresh(`${node.name || base}_dequantize`),
        opType: "DequantizeLinear",
        domain: "",
        inputs: [qName, sName],
        outputs: [dq],
        attributes: [{ name: "axis", type: "int", value: r - 2 }],
      },
      { ...node, inputs: node.inputs.map((x, i) => (i === at ? dq : x)) },
    ],
    initializers: new Map([
      [qName, new Tensor(DataType.INT8, t.dims, codes)],
      [sName, new Tensor(DataType.FLOAT, [axisLen], q.scales)],
    ]),
    dequantized: new Tensor(DataType.FLOAT, t.dims, back),
  };
}

function example(seed: number, _block: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const dims = [2, 32, 64], n = 2 * 32 * 64;
  const inputs = new Map<string, Tensor>([
    ["x", fromNumbers(DataType.FLOAT, dims, Array.from({ length: n }, () => next() - 0.5))],
    ["c", fromNumbers(DataType.FLOAT, dims, Array.from({ length: n }, () => (next() - 0.5) * 0.1))],
  ]);
  const node: Node = { name: "a", opType: "Add", domain: "", inputs: ["x", "c"], outputs: ["y"], attributes: [] };
  return { node, inputs, weight: "c" };
}

/** Rules for constants other than weights. */
export const CONSTANT_RULES: readonly QuantRule[] = [{
  name: "add-const-int8",
  pack: "quant",
  comment: "Add(x, C) → Add(x, DequantizeLinear(int8 C, scale per row))",
  bits: 8,
  symmetric: true,
  match,
  rewrite,
  example,
}];
