/**
 * The analytical cost model (until the learned one exists): a roofline estimate per e-node.
 *
 * ```
 * cost(node) = LAUNCH_US + max(flops / PEAK_FLOPS, bytes / PEAK_BW)     (microseconds)
 * ```
 *
 * - `flops`: MatMul/Gemm 2·M·N·K (with batch), Conv 2·N·Cout·(Cin/groups)·k·out-spatial,
 *   elementwise ops output elements × a per-op factor (exp/erf/tanh dearer than add), reductions,
 *   normalizations and softmax a few ops per input element, attention from its two matmuls.
 * - `bytes`: every input read once plus every output written once, at the dtype's width
 *   (`bitsPerElement`); ops that touch only part of an input (Gather, Slice) read what they keep.
 * - Peaks are those of a generic mid-range GPU: 20 TFLOP/s, 500 GB/s, 4 µs per kernel launch.
 *
 * Invariants the extractors rely on:
 * - leaves and projections (`$in`, `$const`, `$none`, `$out`) cost 0; a constant is free, so a
 *   folded constant always beats computing it;
 * - every other node costs at least `VIEW_US` > 0, and every node that launches a kernel at least
 *   `LAUNCH_US`, so fewer nodes win when work is equal — which is what makes fusions pay (a Gemm
 *   is cheaper than the MatMul and Add it replaces);
 * - views that move no data (Reshape, Squeeze, Unsqueeze, Flatten, Identity, inference Dropout)
 *   cost `VIEW_US` only;
 * - a contraction (Conv, FusedConv, MatMul, Gemm and their kin, `CONTRACTIONS`) costs at least
 *   `LAUNCH_US` plus `CONTRACTION_FLOOR_PASSES` passes over its output's bytes: more than any
 *   elementwise op with an output of that size (at most three operand passes and the write). So
 *   recomputing a contraction to absorb an elementwise op that reads it never looks cheaper than
 *   that op: a second Conv with a hard-swish's +3 folded into its bias, or a `FusedConv(Sigmoid)`
 *   beside the Conv that a SiLU's Mul still reads. (The roofline of a generic GPU alone priced a
 *   1×1 Conv with few input channels below an Add over its output, and the ILP duplicated it.) A
 *   fused activation adds its own FLOPs, so a fusion never costs less than the Conv it extends;
 * - costs are finite: unknown types or shapes count as `DEFAULT_ELEMENTS` elements of 4 bytes and
 *   symbolic dims as `SYMBOLIC_DIM`.
 *
 * @example
 * ```ts
 * import { AnalyticalCost, LAUNCH_US } from "./analytical.ts";
 * import { EGraph } from "../egraph/egraph.ts";
 * import { makeENode } from "../egraph/enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const relu = makeENode("Relu", [x]);
 * const cost = new AnalyticalCost().nodeCost(eg, relu, eg.add(relu));
 * if (!(cost >= LAUNCH_US)) throw new Error("a kernel costs at least a launch");
 * ```
 * @module
 */
import type { CostModel } from "./cost_model.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import type { Attribute } from "../ir/graph.ts";
import type { ValueType } from "../ir/types.ts";
import { bitsPerElement } from "../ir/dtype.ts";

/** Peak arithmetic throughput of the generic GPU, FLOP per microsecond (20 TFLOP/s). */
export const PEAK_FLOPS_PER_US = 20e6;
/** Peak memory bandwidth of the generic GPU, bytes per microsecond (500 GB/s). */
export const PEAK_BYTES_PER_US = 500e3;
/** Fixed cost of launching one kernel, microseconds. */
export const LAUNCH_US = 4;
/** Cost of a view (a node that moves no data), microseconds. */
export const VIEW_US = 0.5;
/** What a symbolic dimension counts as. */
export const SYMBOLIC_DIM = 128;
/** Elements assumed for a tensor of unknown shape. */
export const DEFAULT_ELEMENTS = 128 * 128;
/** A contraction costs at least a launch plus this many passes over its output's bytes. */
export const CONTRACTION_FLOOR_PASSES = 4;

/** Ops that contract (a dot product per output element): never cheaper than an elementwise pass. */
export const CONTRACTIONS: ReadonlySet<string> = new Set([
  "Conv",
  "ConvInteger",
  "ConvTranspose",
  "FusedConv",
  "NhwcConv",
  "QLinearConv",
  "MatMul",
  "MatMulInteger",
  "FusedMatMul",
  "MatMulNBits",
  "QLinearMatMul",
  "Gemm",
  "FusedGemm",
  "Einsum",
  "Attention",
  "MultiHeadAttention",
  "GroupQueryAttention",
]);

const LEAVES = new Set(["$in", "$const", "$none", "$out"]);
const VIEWS = new Set(["Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Dropout"]);
/** Ops whose value depends only on shapes or attributes: a tiny kernel writing a small output. */
const SHAPE_OPS = new Set(["Shape", "Size", "ConstantOfShape", "Range", "EyeLike"]);
/** Ops that move data without arithmetic. */
const MOVES = new Set([
  "Transpose",
  "Concat",
  "Split",
  "Expand",
  "Tile",
  "Pad",
  "DepthToSpace",
  "SpaceToDepth",
  "Resize",
  "Upsample",
  "ScatterND",
  "ScatterElements",
  "Scatter",
  "ReverseSequence",
  "Compress",
  "Trilu",
  "Cast",
  "CastLike",
]);
/** Ops that read only the part of their first input they return (plus their other inputs). */
const PARTIAL_READS = new Set(["Gather", "GatherElements", "GatherND", "Slice"]);

/** FLOPs per output element of elementwise ops (default 1). */
const ELEMENTWISE: Record<string, number> = {
  Sqrt: 4,
  Reciprocal: 4,
  Div: 2,
  Pow: 8,
  Exp: 8,
  Log: 8,
  Erf: 10,
  Tanh: 10,
  Sigmoid: 10,
  HardSigmoid: 3,
  HardSwish: 4,
  Softplus: 12,
  Softsign: 4,
  Elu: 8,
  Selu: 9,
  Celu: 9,
  Mish: 20,
  Gelu: 14,
  FastGelu: 12,
  BiasGelu: 15,
  QuickGelu: 11,
  Sin: 8,
  Cos: 8,
  Tan: 10,
  Asin: 12,
  Acos: 12,
  Atan: 12,
  Sinh: 12,
  Cosh: 12,
  Asinh: 14,
  Acosh: 14,
  Atanh: 14,
  Round: 2,
  Mod: 4,
  BitShift: 1,
  Clip: 2,
  Where: 1,
  BiasAdd: 1,
  LeakyRelu: 2,
  PRelu: 2,
  ThresholdedRelu: 2,
  Shrink: 2,
  QuantizeLinear: 4,
  DequantizeLinear: 2,
  DynamicQuantizeLinear: 6,
};

/** FLOPs per input element of reductions, normalizations and softmax. */
const PER_INPUT_ELEMENT: Record<string, number> = {
  ReduceSum: 1,
  ReduceMean: 1,
  ReduceMax: 1,
  ReduceMin: 1,
  ReduceProd: 1,
  ReduceL1: 2,
  ReduceL2: 2,
  ReduceSumSquare: 2,
  ReduceLogSum: 1,
  ReduceLogSumExp: 10,
  ArgMax: 1,
  ArgMin: 1,
  CumSum: 1,
  TopK: 8,
  Softmax: 12,
  LogSoftmax: 14,
  Hardmax: 3,
  LayerNormalization: 8,
  SimplifiedLayerNormalization: 5,
  RMSNormalization: 5,
  SkipLayerNormalization: 9,
  SkipSimplifiedLayerNormalization: 6,
  EmbedLayerNormalization: 9,
  BatchNormalization: 2,
  InstanceNormalization: 8,
  GroupNormalization: 8,
  MeanVarianceNormalization: 8,
  LpNormalization: 4,
  LRN: 10,
};

/**
 * Roofline cost of e-nodes on a generic GPU, in microseconds (see the module doc).
 * @example
 * ```ts
 * import { AnalyticalCost, EGraph } from "../mod.ts";
 * import { makeENode } from "../egraph/enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const input = (name: string, shape: number[]) =>
 *   eg.add(makeENode("$in", [], [
 *     { name: "name", type: "string", value: name },
 *     { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape } },
 *   ]));
 * const a = input("a", [512, 512]), b = input("b", [512, 512]);
 * const cost = new AnalyticalCost();
 * const mm = makeENode("MatMul", [a, b]), add = makeENode("Add", [a, b]);
 * if (!(cost.nodeCost(eg, mm, eg.add(mm)) > cost.nodeCost(eg, add, eg.add(add)))) {
 *   throw new Error("a 512³ MatMul costs more than a 512² Add");
 * }
 * if (cost.nodeCost(eg, eg.eclass(a).nodes[0], a) !== 0) throw new Error("inputs are free");
 * ```
 */
export class AnalyticalCost implements CostModel {
  /** `"analytical"`. */
  readonly name: string = "analytical";

  /**
   * Cost of one e-node in microseconds.
   * @param eg the e-graph (for the children's and the result's types)
   * @param node the e-node
   * @param classId the class the node lives in
   * @returns 0 for leaves, `VIEW_US` for views, else launch + roofline time
   */
  nodeCost(eg: EGraph, node: ENode, classId: ClassId): number {
    if (LEAVES.has(node.op)) return 0;
    if (VIEWS.has(node.op)) return VIEW_US;
    const outs = eg.eclass(classId).data.types.slice(0, node.outputs);
    while (outs.length < node.outputs) outs.push(undefined);
    const ins = node.children.map((c) => (isNone(eg, c) ? null : eg.eclass(c).data.types[0]));
    const { flops, bytes } = work(node, ins, outs);
    const roofline = Math.max(flops / PEAK_FLOPS_PER_US, bytes / PEAK_BYTES_PER_US);
    if (!CONTRACTIONS.has(node.op)) return LAUNCH_US + roofline;
    const outBytes = outs.reduce((s, t) => s + sizeBytes(t), 0);
    return LAUNCH_US + Math.max(roofline, CONTRACTION_FLOOR_PASSES * outBytes / PEAK_BYTES_PER_US);
  }
}

/**
 * Every node that is not a leaf or projection costs 1: extraction then minimizes the node count.
 * @example
 * ```ts
 * import { EGraph, NodeCountCost } from "../mod.ts";
 * import { makeENode } from "../egraph/enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const relu = makeENode("Relu", [x]);
 * const cost = new NodeCountCost();
 * if (cost.nodeCost(eg, relu, eg.add(relu)) !== 1) throw new Error("an op costs 1");
 * if (cost.nodeCost(eg, eg.eclass(x).nodes[0], x) !== 0) throw new Error("a leaf costs 0");
 * ```
 */
export class NodeCountCost implements CostModel {
  /** `"node-count"`. */
  readonly name: string = "node-count";

  /**
   * Cost of one e-node: 1 for an op, 0 for a leaf or projection.
   * @param _eg unused
   * @param node the e-node
   * @param _classId unused
   * @returns 0 for `$in`, `$const`, `$none`, `$out`; 1 otherwise
   */
  nodeCost(_eg: EGraph, node: ENode, _classId: ClassId): number {
    return LEAVES.has(node.op) ? 0 : 1;
  }
}

function isNone(eg: EGraph, c: ClassId): boolean {
  return eg.eclass(c).nodes.every((n) => n.op === "$none");
}

/** The estimated work of a node: FLOPs and bytes moved. `null` marks an omitted input. */
export function work(
  node: ENode,
  ins: (ValueType | undefined | null)[],
  outs: (ValueType | undefined)[],
): { flops: number; bytes: number } {
  const present = ins.filter((t): t is ValueType | undefined => t !== null);
  const outElems = outs.reduce((s, t) => s + elements(t), 0);
  const outBytes = outs.reduce((s, t) => s + sizeBytes(t), 0);
  const inBytes = present.reduce((s, t) => s + sizeBytes(t), 0);
  const op = node.op;
  if (SHAPE_OPS.has(op)) return { flops: outElems, bytes: outBytes };
  if (PARTIAL_READS.has(op)) {
    const rest = present.slice(1).reduce((s, t) => s + sizeBytes(t), 0);
    return { flops: 0, bytes: Math.min(sizeBytes(present[0]), outBytes) + rest + outBytes };
  }
  const bytes = inBytes + outBytes;
  if (MOVES.has(op)) return { flops: 0, bytes };
  return { flops: flopsOf(op, node.attrs, ins, outs, outElems), bytes };
}

function flopsOf(
  op: string,
  attrs: Attribute[],
  ins: (ValueType | undefined | null)[],
  outs: (ValueType | undefined)[],
  outElems: number,
): number {
  const a = ins[0] ?? undefined, b = ins[1] ?? undefined;
  switch (op) {
    case "MatMul":
    case "MatMulInteger":
    case "FusedMatMul":
    case "MatMulNBits": {
      const k = lastDim(a, -1);
      return 2 * outElems * k;
    }
    case "Gemm": {
      const transA = intAttr(attrs, "transA", 0);
      const k = lastDim(a, transA ? -2 : -1);
      return outElems * (2 * k + (ins[2] ? 1 : 0));
    }
    case "Conv":
    case "ConvInteger":
    case "FusedConv":
    case "QLinearConv": {
      // W is [Cout, Cin/groups, k...]: each output element takes (Cin/groups)·k multiply-adds
      const w = op === "QLinearConv" ? ins[3] ?? undefined : b;
      const act = op === "FusedConv" ? (ELEMENTWISE[stringAttr(attrs, "activation") ?? ""] ?? 1) * outElems : 0;
      return 2 * outElems * tailElements(w, 1) + (ins[2] ? outElems : 0) + act;
    }
    case "ConvTranspose": {
      // W is [Cin, Cout/groups, k...]: each input element scatters into (Cout/groups)·k outputs
      return 2 * elements(a) * tailElements(b, 1);
    }
    case "MaxPool":
    case "AveragePool":
    case "LpPool": {
      const k = (ints(attrs, "kernel_shape") ?? [3, 3]).reduce((x, y) => x * y, 1);
      return outElems * k;
    }
    case "GlobalAveragePool":
    case "GlobalMaxPool":
    case "GlobalLpPool":
      return elements(a);
    case "Einsum":
      // a contraction: at least the largest operand times the output's inner size
      return 2 * Math.max(outElems, ...ins.map((t) => elements(t ?? undefined)));
    case "Attention":
    case "MultiHeadAttention":
    case "GroupQueryAttention":
      return attentionFlops(op, ins, outs);
  }
  const perIn = PER_INPUT_ELEMENT[op];
  if (perIn !== undefined) return perIn * elements(a);
  if (op in ELEMENTWISE) return ELEMENTWISE[op] * outElems;
  return outElems;
}

/**
 * Attention: QKᵀ and PV are 2·Sq·Sk·D each, softmax ≈ 12 per score. The contrib `Attention`
 * takes the packed input [B, S, hidden] and a [hidden, 3·hidden] weight, so add its projection.
 */
function attentionFlops(op: string, ins: (ValueType | undefined | null)[], outs: (ValueType | undefined)[]): number {
  const q = ins[0] ?? undefined;
  const qShape = dims(q), qElems = elements(q);
  let project = 0, sk: number;
  if (op === "Attention" && dims(ins[1] ?? undefined)?.length === 2) {
    // com.microsoft Attention: input [B, S, hidden], weights [hidden, 3·hidden]
    const w = ins[1] ?? undefined;
    project = 2 * qElems * lastDim(w, -1);
    sk = qShape && qShape.length >= 2 ? dimValue(qShape[qShape.length - 2]) : SYMBOLIC_DIM;
    const out = elements(outs[0]);
    return project + 4 * out * sk + 12 * (out / Math.max(1, lastDim(q, -1))) * sk;
  }
  const k = ins[1] ?? undefined, kShape = dims(k);
  // ONNX Attention takes 4-D [B, H, S, Dh] or 3-D [B, S, H·Dh]; both keep the key length at -2
  sk = kShape && kShape.length >= 2 ? dimValue(kShape[kShape.length - 2]) : SYMBOLIC_DIM;
  const scores = qElems / Math.max(1, lastDim(q, -1)) * sk;
  return 4 * qElems * sk + 12 * scores;
}

function dims(t: ValueType | undefined): (number | string)[] | undefined {
  return t && (t.kind === "tensor" || t.kind === "sparse_tensor") ? t.shape : undefined;
}

function dimValue(d: number | string): number {
  return typeof d === "number" ? d : SYMBOLIC_DIM;
}

/** Elements of a tensor type (symbolic dims count as `SYMBOLIC_DIM`, unknown shapes as `DEFAULT_ELEMENTS`). */
export function elements(t: ValueType | undefined): number {
  const s = dims(t);
  if (!s) return DEFAULT_ELEMENTS;
  let n = 1;
  for (const d of s) n *= dimValue(d);
  return n;
}

/** Elements of the dims after the first `skip` (1 when the shape is unknown: a conservative guess). */
function tailElements(t: ValueType | undefined, skip: number): number {
  const s = dims(t);
  if (!s) return 9;
  let n = 1;
  for (const d of s.slice(skip)) n *= dimValue(d);
  return n;
}

/** A dimension counted from the end (`SYMBOLIC_DIM` when unknown). */
function lastDim(t: ValueType | undefined, fromEnd: number): number {
  const s = dims(t);
  if (!s || s.length < -fromEnd) return SYMBOLIC_DIM;
  return dimValue(s[s.length + fromEnd]);
}

/** Bytes a value takes (unknown dtypes as 4 bytes, strings as 16). */
export function sizeBytes(t: ValueType | undefined): number {
  if (!t || (t.kind !== "tensor" && t.kind !== "sparse_tensor")) return DEFAULT_ELEMENTS * 4;
  const bits = bitsPerElement(t.dtype);
  return elements(t) * (bits === 0 ? 16 : bits / 8);
}

function intAttr(attrs: Attribute[], name: string, def: number): number {
  const a = attrs.find((x) => x.name === name);
  return a?.type === "int" ? a.value : def;
}

function stringAttr(attrs: Attribute[], name: string): string | undefined {
  const a = attrs.find((x) => x.name === name);
  return a?.type === "string" ? a.value : undefined;
}

function ints(attrs: Attribute[], name: string): number[] | undefined {
  const a = attrs.find((x) => x.name === name);
  return a?.type === "ints" ? a.value : undefined;
}
