/**
 * Quantized embedding tables: Gather(T, ids) over a constant float32 table T [V, H] (axis 0),
 * rewritten to gather low-precision rows and dequantize only the rows gathered. Standard ONNX ops
 * only (opset ≥ 13), so ONNX Runtime, Saturn's reference and its WebGPU kernels all run them.
 * - `gather-int8-rows`: T → int8 codes [V, H] and one scale per row [V, 1] (symmetric);
 *   y = Cast(Gather(Q, ids)) · Gather(S, ids).
 * - `gather-int4-blocks`: T → 4-bit codes in blocks of `block` along H, two codes a byte with
 *   row position j in the low nibble and j + H/2 in the high one (so unpacking is one Concat), and
 *   float16 scales [V, H/block, 1]; y = (Concat(P mod 16, P >> 4) − 8) · scale, reshaped to
 *   ids' shape + [H]. Needs H divisible by the block (and the block even).
 * @module
 */
import { DataType } from "../../ir/dtype.ts";
import { f16ToNumber, numberToF16 } from "../../ir/floatbits.ts";
import { getAttr, type Node } from "../../ir/graph.ts";
import { fromNumbers, int64Tensor, Tensor } from "../../ir/tensor.ts";
import { dequantRows, quantizeRows } from "../../optimize/quant_pack.ts";
import type { QuantContext, QuantRewrite, QuantRule } from "./quant_rule.ts";

function table(node: Node, ctx: QuantContext): Tensor | undefined {
  if (node.opType !== "Gather" || node.domain !== "" || ctx.opset < 13) return undefined;
  const axis = getAttr(node, "axis");
  if (axis && !(axis.type === "int" && axis.value === 0)) return undefined;
  const t = ctx.constant(node.inputs[0]);
  if (!t || t.dtype !== DataType.FLOAT || t.dims.length !== 2 || ctx.constant(node.inputs[1])) return undefined;
  return t;
}

function mk(ctx: QuantContext, base: string, opType: string, inputs: string[], attrs: Node["attributes"] = []): Node {
  const out = ctx.fresh(`${base}_${opType.toLowerCase()}`);
  return { name: ctx.fresh(`${base}_${opType}`), opType, domain: "", inputs, outputs: [out], attributes: attrs };
}

function int8Rewrite(node: Node, ctx: QuantContext): QuantRewrite {
  const t = table(node, ctx)!;
  const [V, H] = t.dims, data = t.data as Float32Array;
  const q = quantizeRows((r, i) => data[r * H + i], V, H, { bits: 8, block: H, symmetric: true });
  const codes = new Int8Array(V * H);
  for (let i = 0; i < codes.length; i++) codes[i] = q.codes[i] - 128;
  const base = node.outputs[0];
  const qName = ctx.fresh(`${base}_q8_table`), sName = ctx.fresh(`${base}_q8_scales`);
  const ids = node.inputs[1];
  const g = mk(ctx, base, "Gather", [qName, ids]);
  const c = mk(ctx, base, "Cast", [g.outputs[0]], [{ name: "to", type: "int", value: DataType.FLOAT }]);
  const s = mk(ctx, base, "Gather", [sName, ids]);
  const y: Node = { ...mk(ctx, base, "Mul", [c.outputs[0], s.outputs[0]]), outputs: [node.outputs[0]] };
  return {
    nodes: [g, c, s, y],
    initializers: new Map([
      [qName, new Tensor(DataType.INT8, [V, H], codes)],
      [sName, new Tensor(DataType.FLOAT, [V, 1], q.scales)],
    ]),
    dequantized: new Tensor(DataType.FLOAT, [V, H], dequantRows(q)),
  };
}

function int4Match(node: Node, ctx: QuantContext): number | undefined {
  const t = table(node, ctx);
  if (!t) return undefined;
  const H = t.dims[1];
  return H % 2 === 0 && H % ctx.block === 0 && ctx.block % 2 === 0 ? 0 : undefined;
}

function int4Rewrite(node: Node, ctx: QuantContext): QuantRewrite {
  const t = table(node, ctx)!;
  const [V, H] = t.dims, data = t.data as Float32Array, block = ctx.block, half = H / 2;
  const q = quantizeRows((r, i) => data[r * H + i], V, H, { bits: 4, block, symmetric: true });
  const halfScales = new Uint16Array(q.scales.length);
  for (let i = 0; i < q.scales.length; i++) {
    halfScales[i] = numberToF16(q.scales[i]);
    q.scales[i] = f16ToNumber(halfScales[i]);
  }
  const packed = new Uint8Array(V * half);
  for (let r = 0; r < V; r++) {
    for (let j = 0; j < half; j++) packed[r * half + j] = q.codes[r * H + j] | (q.codes[r * H + j + half] << 4);
  }
  const base = node.outputs[0];
  const name = (s: string) => ctx.fresh(`${base}_${s}`);
  const pName = name("q4_table"), sName = name("q4_scales");
  const flatShape = name("q4_flat"), sixteen = name("q4_16"), four = name("q4_4"), eight = name("q4_8");
  const blockShape = name("q4_blocks"), width = name("q4_width");
  const ids = node.inputs[1];
  const flat = mk(ctx, base, "Reshape", [ids, flatShape]);
  const g = mk(ctx, base, "Gather", [pName, flat.outputs[0]]);
  const lo = mk(ctx, base, "Mod", [g.outputs[0], sixteen]);
  const hi = mk(ctx, base, "BitShift", [g.outputs[0], four], [{ name: "direction", type: "string", value: "RIGHT" }]);
  const cat = mk(ctx, base, "Concat", [lo.outputs[0], hi.outputs[0]], [{ name: "axis", type: "int", value: 1 }]);
  const blocks = mk(ctx, base, "Reshape", [cat.outputs[0], blockShape]);
  const toFloat = [{ name: "to", type: "int" as const, value: DataType.FLOAT }];
  const f = mk(ctx, base, "Cast", [blocks.outputs[0]], toFloat);
  const centered = mk(ctx, base, "Sub", [f.outputs[0], eight]);
  const sg = mk(ctx, base, "Gather", [sName, flat.outputs[0]]);
  const sf = mk(ctx, base, "Cast", [sg.outputs[0]], toFloat);
  const scaled = mk(ctx, base, "Mul", [centered.outputs[0], sf.outputs[0]]);
  const shape = mk(ctx, base, "Shape", [ids]);
  const full = mk(ctx, base, "Concat", [shape.outputs[0], width], [{ name: "axis", type: "int", value: 0 }]);
  const y: Node = { ...mk(ctx, base, "Reshape", [scaled.outputs[0], full.outputs[0]]), outputs: [node.outputs[0]] };
  return {
    nodes: [flat, g, lo, hi, cat, blocks, f, centered, sg, sf, scaled, shape, full, y],
    initializers: new Map<string, Tensor>([
      [pName, fromNumbers(DataType.UINT8, [V, half], packed)],
      [sName, new Tensor(DataType.FLOAT16, [V, q.blocks, 1], halfScales)],
      [flatShape, int64Tensor([1], [-1])],
      [sixteen, fromNumbers(DataType.UINT8, [], [16])],
      [four, fromNumbers(DataType.UINT8, [], [4])],
      [eight, fromNumbers(DataType.FLOAT, [], [8])],
      [blockShape, int64Tensor([3], [-1, q.blocks, block])],
      [width, int64Tensor([1], [H])],
    ]),
    dequantized: new Tensor(DataType.FLOAT, [V, H], dequantRows(q)),
  };
}

function example(seed: number, _block: number) {
  const V = 64, H = 128;
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const inputs = new Map<string, Tensor>([
    ["t", fromNumbers(DataType.FLOAT, [V, H], Array.from({ length: V * H }, () => (next() - 0.5) * 0.2))],
    ["ids", int64Tensor([2, 8], Array.from({ length: 16 }, () => Math.floor(next() * V)))],
  ]);
  const node: Node = { name: "g", opType: "Gather", domain: "", inputs: ["t", "ids"], outputs: ["y"], attributes: [] };
  return { node, inputs, weight: "t" };
}

/** The embedding-table quantization rules. */
export const GATHER_RULES: readonly QuantRule[] = [
  {
    name: "gather-int8-rows",
    pack: "quant",
    comment: "Gather(T, ids) → Cast(Gather(int8 T, ids)) · Gather(row scales, ids)",
    bits: 8,
    symmetric: true,
    match: (node, ctx) => (table(node, ctx) ? 0 : undefined),
    rewrite: int8Rewrite,
    example,
  },
  {
    name: "gather-int4-blocks",
    pack: "quant",
    comment: "Gather(T, ids) → (unpacked Gather(int4 T, ids) − 8) · Gather(block scales, ids)",
    bits: 4,
    symmetric: true,
    match: int4Match,
    rewrite: int4Rewrite,
    example,
  },
];
