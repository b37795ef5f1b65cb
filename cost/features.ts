/**
 * Features of a node signature: the numbers the learned cost model reads. Each column has a name
 * (`FEATURE_NAMES`, in column order) so that a saved model states what it was fit on and a model
 * fit on other columns is refused (`featureSchema`).
 *
 * Columns, all finite numbers (sizes as log2 of 1 + the count, so 0 stays 0):
 * - `family:*` — one-hot op family (`opFamily`): matmul, gemm, conv, conv_transpose, pool,
 *   global_pool, binary, unary, unary_heavy, norm, softmax, reduce, transpose, view, concat, split,
 *   slice, gather, expand, pad, resize, cast, shape, attention, quant, other;
 * - `domain_contrib` — the node is a `com.microsoft` op (ONNX Runtime's own kernels);
 * - `dtype_bits`, `dtype_float`, `in_dtype_bits` — the output's and the first input's element types;
 * - `inputs`, `const_inputs`, `const_weight` (input 1 is a constant: Conv/MatMul weights that a
 *   runtime pre-packs), `outputs`, `small_const_values` (inputs given by value: shapes, axes);
 * - `log_in_elems`, `log_in0_elems`, `log_in1_elems`, `log_out_elems`, `out_rank`, `log_out_last`,
 *   `log_in0_last` (the innermost dims decide vectorization), `log_broadcast` (output over the
 *   smallest input: how much an input is reused);
 * - `log_flops`, `log_bytes`, `log_intensity` (FLOPs per byte), `flops_per_out`, `log_analytical_us`
 *   — from the analytical model's `work` (one definition of FLOPs and bytes);
 * - `log_m`, `log_n`, `log_k`, `log_batch` — MatMul/Gemm/attention problem sizes;
 * - `kernel_elems`, `stride_max`, `log_group`, `dilation_max`, `depthwise`, `log_cin`, `log_cout`,
 *   `pads_sum`, `log_spatial_out`, `has_bias` — Conv-like and pooling ops;
 * - `activation` — a fused activation's code (`ACTIVATIONS`; 0 none);
 * - `axis_last`, `log_axis_size`, `log_inner` — the op's axis (Softmax, reductions, Concat, Split,
 *   Gather, normalizations): whether it is the innermost, its size and the size inside it;
 * - `perm_moves_last` — a Transpose that changes the innermost dim (strided reads), `log_moved_prefix`.
 *
 * Invariant: `features(sig).length === FEATURE_NAMES.length` and every value is finite.
 *
 * @example
 * ```ts
 * import { FEATURE_NAMES, features } from "./features.ts";
 * const relu = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [{ dtype: 1, dims: [1, 64] }], outputs: [{ dtype: 1, dims: [1, 64] }] };
 * const f = features(relu);
 * if (f.length !== FEATURE_NAMES.length || f[FEATURE_NAMES.indexOf("family:unary")] !== 1) throw new Error("one-hot family");
 * ```
 * @module
 */
import type { NodeSignature, SignatureTensor } from "./signature.ts";
import { LAUNCH_US, PEAK_BYTES_PER_US, PEAK_FLOPS_PER_US, VIEW_US, work } from "./analytical.ts";
import { makeENode } from "../egraph/enode.ts";
import type { Attribute } from "../ir/graph.ts";
import type { ValueType } from "../ir/types.ts";
import { bitsPerElement, DataType } from "../ir/dtype.ts";

/** Op families, the one-hot columns. */
export const FAMILIES: readonly string[] = [
  "matmul",
  "gemm",
  "conv",
  "conv_transpose",
  "pool",
  "global_pool",
  "binary",
  "unary",
  "unary_heavy",
  "norm",
  "softmax",
  "reduce",
  "transpose",
  "view",
  "concat",
  "split",
  "slice",
  "gather",
  "expand",
  "pad",
  "resize",
  "cast",
  "shape",
  "attention",
  "quant",
  "other",
];

const FAMILY_OPS: Record<string, string[]> = {
  matmul: ["MatMul", "FusedMatMul", "MatMulInteger", "MatMulNBits", "Einsum", "QLinearMatMul"],
  gemm: ["Gemm"],
  conv: ["Conv", "FusedConv", "ConvInteger", "QLinearConv", "NhwcConv"],
  conv_transpose: ["ConvTranspose"],
  pool: ["MaxPool", "AveragePool", "LpPool"],
  global_pool: ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"],
  binary: [
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Mod",
    "Sum",
    "Mean",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "And",
    "Or",
    "Xor",
    "Where",
    "PRelu",
    "BiasAdd",
    "BitShift",
  ],
  unary: [
    "Relu",
    "Neg",
    "Abs",
    "Clip",
    "LeakyRelu",
    "HardSigmoid",
    "HardSwish",
    "Floor",
    "Ceil",
    "Sign",
    "Not",
    "Round",
    "IsNaN",
    "IsInf",
    "ThresholdedRelu",
    "Shrink",
  ],
  unary_heavy: [
    "Exp",
    "Log",
    "Sigmoid",
    "Tanh",
    "Erf",
    "Gelu",
    "FastGelu",
    "BiasGelu",
    "QuickGelu",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Reciprocal",
    "Sin",
    "Cos",
    "Tan",
    "Mish",
    "Elu",
    "Selu",
    "Celu",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
  ],
  norm: [
    "LayerNormalization",
    "BatchNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "SkipLayerNormalization",
    "SimplifiedLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "RMSNormalization",
    "EmbedLayerNormalization",
    "LpNormalization",
    "MeanVarianceNormalization",
    "LRN",
  ],
  softmax: ["Softmax", "LogSoftmax", "Hardmax"],
  reduce: [
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ArgMax",
    "ArgMin",
    "CumSum",
    "TopK",
  ],
  transpose: ["Transpose", "DepthToSpace", "SpaceToDepth"],
  view: ["Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Dropout"],
  concat: ["Concat"],
  split: ["Split"],
  slice: ["Slice"],
  gather: ["Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Scatter", "Compress"],
  expand: ["Expand", "Tile", "Trilu", "ReverseSequence"],
  pad: ["Pad"],
  resize: ["Resize", "Upsample"],
  cast: ["Cast", "CastLike"],
  shape: ["Shape", "Size", "ConstantOfShape", "Range", "EyeLike"],
  attention: ["Attention", "MultiHeadAttention", "GroupQueryAttention"],
  quant: ["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"],
};

const FAMILY_OF = new Map<string, string>();
for (const [fam, ops] of Object.entries(FAMILY_OPS)) for (const op of ops) FAMILY_OF.set(op, fam);

/**
 * The family of an op type (`"other"` for ops no family names).
 * @param op the ONNX op type
 * @returns one of `FAMILIES`
 */
export function opFamily(op: string): string {
  return FAMILY_OF.get(op) ?? "other";
}

/** Fused activations by code (index + 1; 0 means none). */
export const ACTIVATIONS: readonly string[] = ["Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid"];

const NUMERIC = [
  "domain_contrib",
  "dtype_bits",
  "dtype_float",
  "in_dtype_bits",
  "inputs",
  "const_inputs",
  "const_weight",
  "outputs",
  "small_const_values",
  "log_in_elems",
  "log_in0_elems",
  "log_in1_elems",
  "log_out_elems",
  "out_rank",
  "log_out_last",
  "log_in0_last",
  "log_broadcast",
  "log_flops",
  "log_bytes",
  "log_intensity",
  "flops_per_out",
  "log_analytical_us",
  "log_m",
  "log_n",
  "log_k",
  "log_batch",
  "kernel_elems",
  "stride_max",
  "log_group",
  "dilation_max",
  "depthwise",
  "log_cin",
  "log_cout",
  "pads_sum",
  "log_spatial_out",
  "has_bias",
  "activation",
  "axis_last",
  "log_axis_size",
  "log_inner",
  "perm_moves_last",
  "log_moved_prefix",
];

/** Column names, in the order `features` returns them. */
export const FEATURE_NAMES: readonly string[] = [...FAMILIES.map((f) => `family:${f}`), ...NUMERIC];

/**
 * An identity of the feature columns (their names joined): a saved model records it, and a model
 * whose schema differs from this code's is not used.
 */
export function featureSchema(): string {
  return `v1:${FEATURE_NAMES.join(",")}`;
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

const lg = (v: number): number => Math.log2(1 + Math.max(0, v));
const prod = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);

function toAttrs(attrs: NodeSignature["attrs"]): Attribute[] {
  const out: Attribute[] = [];
  for (const [name, v] of Object.entries(attrs)) {
    if (typeof v === "string") out.push({ name, type: "string", value: v });
    else if (typeof v === "number") {
      out.push(Number.isInteger(v) ? { name, type: "int", value: v } : { name, type: "float", value: v });
    } else if (v.every((x) => typeof x === "number")) out.push({ name, type: "ints", value: v as number[] });
    else out.push({ name, type: "strings", value: v as string[] });
  }
  return out;
}

const typeOf = (t: SignatureTensor): ValueType => ({ kind: "tensor", dtype: t.dtype as DataType, shape: t.dims });

function numAttr(sig: NodeSignature, name: string, def: number): number {
  const v = sig.attrs[name];
  return typeof v === "number" ? v : def;
}

function intsAttr(sig: NodeSignature, name: string): number[] | undefined {
  const v = sig.attrs[name];
  return Array.isArray(v) && v.every((x) => typeof x === "number") ? v as number[] : undefined;
}

/** The axis an op works along, normalized, or undefined. */
function axisOf(sig: NodeSignature, rank: number): number | undefined {
  const fam = opFamily(sig.op);
  let axis: number | undefined;
  const a = sig.attrs.axis;
  if (typeof a === "number") axis = a;
  else if (fam === "softmax") axis = sig.opset >= 13 ? -1 : 1;
  else if (fam === "norm" && sig.op.includes("LayerNorm")) axis = -1;
  else if (fam === "reduce") {
    const axes = intsAttr(sig, "axes") ?? sig.inputs[1]?.values;
    axis = axes && axes.length ? axes[axes.length - 1] : undefined;
  } else if (fam === "gather" || fam === "concat" || fam === "split") axis = 0;
  if (axis === undefined || rank === 0) return undefined;
  return axis < 0 ? axis + rank : axis;
}

/**
 * The features of a signature, in `FEATURE_NAMES` order.
 * @param sig the node signature
 * @returns finite numbers, one per column
 */
export function features(sig: NodeSignature): number[] {
  const fam = opFamily(sig.op);
  const ins = sig.inputs.filter((t): t is SignatureTensor => t !== null);
  const in0 = sig.inputs[0] ?? undefined, in1 = sig.inputs[1] ?? undefined, out0 = sig.outputs[0];
  const inElems = ins.map((t) => prod(t.dims));
  const outElems = sig.outputs.reduce((s, t) => s + prod(t.dims), 0);
  const node = makeENode(sig.op, [], toAttrs(sig.attrs), { domain: sig.domain, outputs: sig.outputs.length });
  const w = work(node, sig.inputs.map((t) => (t ? typeOf(t) : null)), sig.outputs.map(typeOf));
  const analyticalUs = fam === "view"
    ? VIEW_US
    : LAUNCH_US + Math.max(w.flops / PEAK_FLOPS_PER_US, w.bytes / PEAK_BYTES_PER_US);
  const f: Record<string, number> = {};
  for (const fm of FAMILIES) f[`family:${fm}`] = fm === fam ? 1 : 0;
  f.domain_contrib = sig.domain === "com.microsoft" ? 1 : 0;
  f.dtype_bits = out0 ? bitsPerElement(out0.dtype) : 0;
  f.dtype_float = out0 && FLOATS.has(out0.dtype) ? 1 : 0;
  f.in_dtype_bits = in0 ? bitsPerElement(in0.dtype) : 0;
  f.inputs = ins.length;
  f.const_inputs = ins.filter((t) => t.constant).length;
  f.const_weight = in1?.constant ? 1 : 0;
  f.outputs = sig.outputs.length;
  f.small_const_values = ins.filter((t) => t.values).length;
  f.log_in_elems = lg(inElems.reduce((a, b) => a + b, 0));
  f.log_in0_elems = lg(in0 ? prod(in0.dims) : 0);
  f.log_in1_elems = lg(in1 ? prod(in1.dims) : 0);
  f.log_out_elems = lg(outElems);
  f.out_rank = out0?.dims.length ?? 0;
  f.log_out_last = lg(out0?.dims.at(-1) ?? 1);
  f.log_in0_last = lg(in0?.dims.at(-1) ?? 1);
  f.log_broadcast = inElems.length ? lg(outElems / Math.max(1, Math.min(...inElems))) : 0;
  f.log_flops = lg(w.flops);
  f.log_bytes = lg(w.bytes);
  f.log_intensity = Math.log2((w.flops + 1) / (w.bytes + 1));
  f.flops_per_out = w.flops / Math.max(1, outElems);
  f.log_analytical_us = Math.log2(analyticalUs);
  // matmul-like problem sizes
  let m = 0, n = 0, k = 0, batch = 0;
  if ((fam === "matmul" || fam === "gemm") && in0 && in1 && out0) {
    const a = in0.dims, b = in1.dims;
    const transA = numAttr(sig, "transA", 0), transB = numAttr(sig, "transB", 0);
    k = a.length ? (transA ? a.at(-2) ?? 1 : a.at(-1)!) : 1;
    m = a.length >= 2 ? (transA ? a.at(-1)! : a.at(-2)!) : 1;
    n = b.length ? (transB ? b.at(-2) ?? 1 : b.at(-1)!) : 1;
    batch = prod(out0.dims) / Math.max(1, m * n);
  } else if (fam === "attention" && in0) {
    m = in0.dims.at(-2) ?? 1;
    k = in0.dims.at(-1) ?? 1;
    n = (in1 ?? in0).dims.at(-2) ?? m;
    batch = prod(in0.dims) / Math.max(1, m * k);
  }
  f.log_m = lg(m), f.log_n = lg(n), f.log_k = lg(k), f.log_batch = lg(batch);
  // conv-like and pooling
  const convLike = fam === "conv" || fam === "conv_transpose" || fam === "pool";
  const wIdx = sig.op === "QLinearConv" ? 3 : 1;
  const weight = sig.inputs[wIdx] ?? undefined;
  const kernel = intsAttr(sig, "kernel_shape") ?? (fam !== "pool" ? weight?.dims.slice(2) : undefined) ?? [];
  const group = numAttr(sig, "group", 1);
  const cin = in0?.dims[1] ?? 0;
  f.kernel_elems = convLike ? prod(kernel) : 0;
  f.stride_max = convLike ? Math.max(1, ...(intsAttr(sig, "strides") ?? [1])) : 0;
  f.log_group = convLike ? lg(group) : 0;
  f.dilation_max = convLike ? Math.max(1, ...(intsAttr(sig, "dilations") ?? [1])) : 0;
  f.depthwise = convLike && fam !== "pool" && group > 1 && group === cin ? 1 : 0;
  f.log_cin = convLike ? lg(cin) : 0;
  f.log_cout = convLike ? lg(out0?.dims[1] ?? 0) : 0;
  f.pads_sum = convLike ? (intsAttr(sig, "pads") ?? []).reduce((a, b) => a + b, 0) : 0;
  f.log_spatial_out = convLike && out0 ? lg(prod(out0.dims.slice(2))) : 0;
  const biasIdx = sig.op === "QLinearConv" ? 8 : 2;
  f.has_bias = (fam === "conv" || fam === "conv_transpose" || fam === "gemm") && sig.inputs[biasIdx] ? 1 : 0;
  const act = sig.attrs.activation;
  f.activation = typeof act === "string" ? (ACTIVATIONS.indexOf(act) + 1 || ACTIVATIONS.length + 1) : 0;
  // the axis an op works along
  const rank = in0?.dims.length ?? 0;
  const axis = in0 ? axisOf(sig, rank) : undefined;
  const axisOk = axis !== undefined && axis >= 0 && axis < rank;
  f.axis_last = axisOk ? (axis === rank - 1 ? 1 : 0) : 0;
  f.log_axis_size = axisOk ? lg(in0!.dims[axis!]) : 0;
  f.log_inner = axisOk ? lg(prod(in0!.dims.slice(axis! + 1))) : 0;
  // transposes
  const perm = intsAttr(sig, "perm");
  let movesLast = 0, prefix = 0;
  if (sig.op === "Transpose" && in0) {
    const p = perm ?? in0.dims.map((_, i) => rank - 1 - i);
    movesLast = p.at(-1) !== rank - 1 ? 1 : 0;
    // the dims before the innermost moved one: how far apart consecutive reads are
    let i = 0;
    while (i < p.length && p[i] === i) i++;
    prefix = prod(in0.dims.slice(i + 1));
  }
  f.perm_moves_last = movesLast;
  f.log_moved_prefix = lg(prefix);
  return FEATURE_NAMES.map((name) => (Number.isFinite(f[name]) ? f[name] : 0));
}
