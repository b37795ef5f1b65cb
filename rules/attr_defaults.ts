/**
 * ONNX's attribute defaults and required attributes, per opset: what a node means when it
 * leaves an attribute unset. Matching reads them twice: an attribute a pattern binds or gives
 * takes the default when the node leaves it unset, and an attribute a pattern does not mention
 * matches only when the node's value is the default at the node's opset (`egraph/pattern.ts`).
 * So a rule that says nothing about `alpha` is a rule about the default `alpha`, the only one
 * its verification instances build.
 *
 * Invariants: `GENERATED` is ONNX's own schemas over every version (ai.onnx; float defaults as
 * the float32 ONNX stores); at an opset where the op lacks an attribute there is no default
 * (except what the op did before it had it, `BEFORE`), so a copy of it is never written there;
 * an attribute without a default (`N`) never matches a
 * pattern that leaves it out when a node sets it. Defaults that ONNX computes from the inputs
 * (`Transpose`'s perm, `Conv`'s strides and pads) are written by hand in `FROM_INPUTS`;
 * attributes required until they became inputs (Unsqueeze's axes) in `REQUIRED_BELOW`.
 *
 * Regenerate `GENERATED` with onnx's Python package: for each op of `onnx.defs.
 * get_all_schemas_with_history()` in domain "", each attribute's value per version as change
 * points `[since, value, since, value…]`, where `R` is required, `N` optional without a
 * default (tensors and graphs included), `X` not an attribute of that version.
 * @module
 */

/** Required (no default). */
const R = Symbol("required");
/** Optional, no default. */
const N = Symbol("none");
/** Not an attribute of the op at that version. */
const X = Symbol("absent");
type Cell = unknown;

// generated from onnx 1.23.1 (see the module doc)
const GENERATED: Record<string, Record<string, readonly Cell[]>> = {
  Abs: { consumed_inputs: [1, N, 6, X] },
  Add: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X], consumed_inputs: [1, N, 6, X] },
  AffineGrid: { align_corners: [20, 0] },
  And: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  ArgMax: { axis: [1, 0], keepdims: [1, 1], select_last_index: [1, X, 12, 0] },
  ArgMin: { axis: [1, 0], keepdims: [1, 1], select_last_index: [1, X, 12, 0] },
  Attention: {
    is_causal: [23, 0],
    kv_num_heads: [23, N],
    left_window_size: [23, X, 25, -1],
    q_num_heads: [23, N],
    qk_matmul_output_mode: [23, 0],
    right_window_size: [23, X, 25, -1],
    scale: [23, N],
    softcap: [23, 0.0],
    softmax_precision: [23, N],
  },
  AveragePool: {
    auto_pad: [1, "NOTSET"],
    ceil_mode: [1, X, 10, 0],
    count_include_pad: [1, X, 7, 0],
    dilations: [1, X, 19, N],
    kernel_shape: [1, R],
    pads: [1, N],
    strides: [1, N],
  },
  BatchNormalization: {
    consumed_inputs: [1, R, 6, X],
    epsilon: [1, 9.999999747378752e-06],
    is_test: [1, 0, 7, X],
    momentum: [1, 0.8999999761581421],
    spatial: [1, 1, 9, X],
    training_mode: [1, X, 14, 0],
  },
  Bernoulli: { dtype: [15, N], seed: [15, N] },
  BitCast: { to: [26, R] },
  BitShift: { direction: [11, R] },
  BlackmanWindow: { output_datatype: [17, 1], periodic: [17, 1] },
  Cast: { round_mode: [1, X, 24, "up"], saturate: [1, X, 19, 1], to: [1, R] },
  CastLike: { round_mode: [15, X, 24, "up"], saturate: [15, X, 19, 1] },
  CausalConvWithState: { activation: [27, "none"] },
  Ceil: { consumed_inputs: [1, N, 6, X] },
  Celu: { alpha: [12, 1.0] },
  CenterCropPad: { axes: [18, N] },
  Clip: {
    consumed_inputs: [1, N, 6, X],
    max: [1, N, 6, 3.4028234663852886e+38, 11, X],
    min: [1, N, 6, -3.4028234663852886e+38, 11, X],
  },
  Col2Im: { dilations: [18, N], pads: [18, N], strides: [18, N] },
  Compress: { axis: [9, N] },
  Concat: { axis: [1, N, 4, R] },
  ConcatFromSequence: { axis: [11, R], new_axis: [11, 0] },
  Constant: {
    sparse_value: [1, X, 11, N],
    value: [1, R, 11, N],
    value_float: [1, X, 12, N],
    value_floats: [1, X, 12, N],
    value_int: [1, X, 12, N],
    value_ints: [1, X, 12, N],
    value_string: [1, X, 12, N],
    value_strings: [1, X, 12, N],
  },
  ConstantOfShape: { value: [9, N] },
  Conv: {
    auto_pad: [1, "NOTSET"],
    dilations: [1, N],
    group: [1, 1],
    kernel_shape: [1, N],
    pads: [1, N],
    strides: [1, N],
  },
  ConvInteger: {
    auto_pad: [10, "NOTSET"],
    dilations: [10, N],
    group: [10, 1],
    kernel_shape: [10, N],
    pads: [10, N],
    strides: [10, N],
  },
  ConvTranspose: {
    auto_pad: [1, "NOTSET"],
    dilations: [1, N],
    group: [1, 1],
    kernel_shape: [1, N],
    output_padding: [1, N],
    output_shape: [1, N],
    pads: [1, N],
    strides: [1, N],
  },
  CumProd: { exclusive: [26, 0], reverse: [26, 0] },
  CumSum: { exclusive: [11, 0], reverse: [11, 0] },
  DFT: { axis: [17, 1, 20, X], inverse: [17, 0], onesided: [17, 0] },
  DeformConv: {
    dilations: [19, N],
    group: [19, 1],
    kernel_shape: [19, N],
    offset_group: [19, 1],
    pads: [19, N],
    strides: [19, N],
  },
  DepthToSpace: { blocksize: [1, R], mode: [1, X, 11, "DCR"] },
  DequantizeLinear: { axis: [10, X, 13, 1], block_size: [10, X, 21, 0], output_dtype: [10, X, 23, 0] },
  Div: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X], consumed_inputs: [1, N, 6, X] },
  Dropout: { consumed_inputs: [1, N, 6, X], is_test: [1, 0, 7, X], ratio: [1, 0.5, 12, X], seed: [1, X, 12, N] },
  Einsum: { equation: [12, R] },
  Elu: { alpha: [1, 1.0], consumed_inputs: [1, N, 6, X] },
  Equal: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  Exp: { consumed_inputs: [1, N, 6, X] },
  EyeLike: { dtype: [9, N], k: [9, 0] },
  Flatten: { axis: [1, 1] },
  Floor: { consumed_inputs: [1, N, 6, X] },
  GRU: {
    activation_alpha: [1, N],
    activation_beta: [1, N],
    activations: [1, N],
    clip: [1, N],
    direction: [1, "foward", 3, "forward"],
    hidden_size: [1, N],
    layout: [1, X, 14, 0],
    linear_before_reset: [1, X, 3, 0],
    output_sequence: [1, 0, 7, X],
  },
  Gather: { axis: [1, 0] },
  GatherElements: { axis: [11, 0] },
  GatherND: { batch_dims: [11, X, 12, 0] },
  Gelu: { approximate: [20, "none"] },
  Gemm: { alpha: [1, 1.0], beta: [1, 1.0], broadcast: [1, 0, 7, X], transA: [1, 0], transB: [1, 0] },
  GlobalLpPool: { p: [1, 2.0, 2, 2] },
  Greater: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  GridSample: { align_corners: [16, 0], mode: [16, "bilinear", 20, "linear"], padding_mode: [16, "zeros"] },
  GroupNormalization: { epsilon: [18, 9.999999747378752e-06], num_groups: [18, R], stash_type: [18, X, 21, 1] },
  HammingWindow: { output_datatype: [17, 1], periodic: [17, 1] },
  HannWindow: { output_datatype: [17, 1], periodic: [17, 1] },
  HardSigmoid: { alpha: [1, 0.20000000298023224], beta: [1, 0.5], consumed_inputs: [1, N, 6, X] },
  Hardmax: { axis: [1, 1, 13, -1] },
  If: { else_branch: [1, R], then_branch: [1, R] },
  ImageDecoder: { pixel_format: [20, "RGB"] },
  InstanceNormalization: { consumed_inputs: [1, N, 6, X], epsilon: [1, 9.999999747378752e-06] },
  IsInf: { detect_negative: [10, 1], detect_positive: [10, 1] },
  LRN: { alpha: [1, 9.999999747378752e-05], beta: [1, 0.75], bias: [1, 1.0], size: [1, R] },
  LSTM: {
    activation_alpha: [1, N],
    activation_beta: [1, N],
    activations: [1, N],
    clip: [1, N],
    direction: [1, "forward"],
    hidden_size: [1, N],
    input_forget: [1, 0],
    layout: [1, X, 14, 0],
    output_sequence: [1, 0, 7, X],
  },
  LayerNormalization: { axis: [17, -1], epsilon: [17, 9.999999747378752e-06], stash_type: [17, 1] },
  LeakyRelu: { alpha: [1, 0.009999999776482582], consumed_inputs: [1, N, 6, X] },
  Less: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  LinearAttention: {
    chunk_size: [27, 64],
    kv_num_heads: [27, R],
    q_num_heads: [27, R],
    scale: [27, 0.0],
    update_rule: [27, "gated_delta"],
  },
  Log: { consumed_inputs: [1, N, 6, X] },
  LogSoftmax: { axis: [1, 1, 13, -1] },
  Loop: { body: [1, R] },
  LpNormalization: { axis: [1, -1], p: [1, 2] },
  LpPool: {
    auto_pad: [1, "NOTSET"],
    ceil_mode: [1, X, 18, 0],
    dilations: [1, X, 18, N],
    kernel_shape: [1, N, 2, R],
    p: [1, 2.0, 2, 2],
    pads: [1, N],
    strides: [1, N],
  },
  Max: { consumed_inputs: [1, N, 6, X] },
  MaxPool: {
    auto_pad: [1, "NOTSET"],
    ceil_mode: [1, X, 10, 0],
    dilations: [1, X, 10, N],
    kernel_shape: [1, R],
    pads: [1, N],
    storage_order: [1, X, 8, 0],
    strides: [1, N],
  },
  MaxRoiPool: { pooled_shape: [1, R], spatial_scale: [1, 1.0] },
  MaxUnpool: { kernel_shape: [9, R], pads: [9, N], strides: [9, N] },
  Mean: { consumed_inputs: [1, N, 6, X] },
  MeanVarianceNormalization: { axes: [9, [0, 2, 3]] },
  MelWeightMatrix: { output_datatype: [17, 1] },
  Min: { consumed_inputs: [1, N, 6, X] },
  Mod: { fmod: [10, 0] },
  Mul: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X], consumed_inputs: [1, N, 6, X] },
  Multinomial: { dtype: [7, 6], sample_size: [7, 1], seed: [7, N] },
  Neg: { consumed_inputs: [1, N, 6, X] },
  NegativeLogLikelihoodLoss: { ignore_index: [12, N], reduction: [12, "mean"] },
  NonMaxSuppression: { center_point_box: [10, 0] },
  OneHot: { axis: [9, -1] },
  Optional: { type: [15, N] },
  Or: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  PRelu: { consumed_inputs: [1, N, 6, X] },
  Pad: { mode: [1, "constant"], paddings: [1, R, 2, X], pads: [1, X, 2, R, 11, X], value: [1, 0.0, 11, X] },
  Pow: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
  QLinearConv: {
    auto_pad: [10, "NOTSET"],
    dilations: [10, N],
    group: [10, 1],
    kernel_shape: [10, N],
    pads: [10, N],
    strides: [10, N],
  },
  QuantizeLinear: {
    axis: [10, X, 13, 1],
    block_size: [10, X, 21, 0],
    output_dtype: [10, X, 21, 0],
    precision: [10, X, 23, 0],
    saturate: [10, X, 19, 1],
  },
  RMSNormalization: { axis: [23, -1], epsilon: [23, 9.999999747378752e-06], stash_type: [23, 1] },
  RNN: {
    activation_alpha: [1, N],
    activation_beta: [1, N],
    activations: [1, ["Tanh", "Tanh"]],
    clip: [1, N],
    direction: [1, "forward"],
    hidden_size: [1, N],
    layout: [1, X, 14, 0],
    output_sequence: [1, 0, 7, X],
  },
  RandomNormal: { dtype: [1, 1], mean: [1, 0.0], scale: [1, 1.0], seed: [1, N], shape: [1, R] },
  RandomNormalLike: { dtype: [1, N], mean: [1, 0.0], scale: [1, 1.0], seed: [1, N] },
  RandomUniform: { dtype: [1, 1], high: [1, 1.0], low: [1, 0.0], seed: [1, N], shape: [1, R] },
  RandomUniformLike: { dtype: [1, N], high: [1, 1.0], low: [1, 0.0], seed: [1, N] },
  Range: { stash_type: [11, X, 27, 1] },
  Reciprocal: { consumed_inputs: [1, N, 6, X] },
  ReduceL1: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceL2: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceLogSum: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceLogSumExp: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceMax: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceMean: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceMin: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceProd: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  ReduceSum: { axes: [1, N, 13, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 13, 0] },
  ReduceSumSquare: { axes: [1, N, 18, X], keepdims: [1, 1], noop_with_empty_axes: [1, X, 18, 0] },
  RegexFullMatch: { pattern: [20, N] },
  Relu: { consumed_inputs: [1, N, 6, X] },
  Reshape: { allowzero: [1, X, 14, 0], consumed_inputs: [1, N, 5, X], shape: [1, N, 5, X] },
  Resize: {
    antialias: [10, X, 18, 0],
    axes: [10, X, 18, N],
    coordinate_transformation_mode: [10, X, 11, "half_pixel"],
    cubic_coeff_a: [10, X, 11, -0.75],
    exclude_outside: [10, X, 11, 0],
    extrapolation_value: [10, X, 11, 0.0],
    keep_aspect_ratio_policy: [10, X, 18, "stretch"],
    mode: [10, "nearest"],
    nearest_mode: [10, X, 11, "round_prefer_floor"],
  },
  ReverseSequence: { batch_axis: [10, 1], time_axis: [10, 0] },
  RoiAlign: {
    coordinate_transformation_mode: [10, X, 16, "half_pixel"],
    mode: [10, "avg"],
    output_height: [10, 1],
    output_width: [10, 1],
    sampling_ratio: [10, 0],
    spatial_scale: [10, 1.0],
  },
  RotaryEmbedding: { interleaved: [23, 0], num_heads: [23, N], rotary_embedding_dim: [23, 0] },
  STFT: { onesided: [17, 1] },
  Scan: {
    body: [8, R],
    directions: [8, N, 9, X],
    num_scan_inputs: [8, R],
    scan_input_axes: [8, X, 9, N],
    scan_input_directions: [8, X, 9, N],
    scan_output_axes: [8, X, 9, N],
    scan_output_directions: [8, X, 9, N],
  },
  Scatter: { axis: [9, 0] },
  ScatterElements: { axis: [11, 0], reduction: [11, X, 16, "none"] },
  ScatterND: { reduction: [11, X, 16, "none"] },
  Selu: {
    alpha: [1, 1.673200011253357, 6, 1.6732631921768188],
    consumed_inputs: [1, N, 6, X],
    gamma: [1, 1.0506999492645264, 6, 1.0507010221481323],
  },
  SequenceEmpty: { dtype: [11, N] },
  SequenceMap: { body: [17, R] },
  Shape: { end: [1, X, 15, N], start: [1, X, 15, 0] },
  Shrink: { bias: [9, 0.0], lambd: [9, 0.5] },
  Sigmoid: { consumed_inputs: [1, N, 6, X] },
  Slice: { axes: [1, N, 10, X], ends: [1, R, 10, X], starts: [1, R, 10, X] },
  Softmax: { axis: [1, 1, 13, -1] },
  SoftmaxCrossEntropyLoss: { ignore_index: [12, N], reduction: [12, "mean"] },
  SpaceToDepth: { blocksize: [1, R], mode: [1, X, 28, "DCR"] },
  Split: { axis: [1, N, 2, 0], num_outputs: [1, X, 18, N], split: [1, N, 13, X] },
  SplitToSequence: { axis: [11, 0], keepdims: [11, 1] },
  Sqrt: { consumed_inputs: [1, N, 6, X] },
  Squeeze: { axes: [1, N, 13, X] },
  StringNormalizer: {
    case_change_action: [10, "NONE"],
    is_case_sensitive: [10, 0],
    locale: [10, N],
    stopwords: [10, N],
  },
  StringSplit: { delimiter: [20, N], maxsplit: [20, N] },
  Sub: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X], consumed_inputs: [1, N, 6, X] },
  Sum: { consumed_inputs: [1, N, 6, X] },
  SwiGLU: { alpha: [28, 1.0] },
  Swish: { alpha: [24, 1.0] },
  Tanh: { consumed_inputs: [1, N, 6, X] },
  TensorScatter: { axis: [24, -2], mode: [24, "linear"] },
  TfIdfVectorizer: {
    max_gram_length: [9, R],
    max_skip_count: [9, R],
    min_gram_length: [9, R],
    mode: [9, R],
    ngram_counts: [9, R],
    ngram_indexes: [9, R],
    pool_int64s: [9, N],
    pool_strings: [9, N],
    weights: [9, N],
  },
  ThresholdedRelu: { alpha: [10, 1.0] },
  TopK: { axis: [1, -1], k: [1, R, 10, X], largest: [1, X, 11, 1], sorted: [1, X, 11, 1] },
  Transpose: { perm: [1, N] },
  Trilu: { upper: [14, 1] },
  Unique: { axis: [11, N], sorted: [11, 1] },
  Unsqueeze: { axes: [1, R, 13, X] },
  Upsample: { height_scale: [1, R, 7, X], mode: [1, "nearest"], scales: [1, X, 7, R, 9, X], width_scale: [1, R, 7, X] },
  Xor: { axis: [1, N, 7, X], broadcast: [1, 0, 7, X] },
};

/** What ONNX computes a default from: the rank and static shape of input `i`. */
export interface InputFacts {
  /** Rank of input `i`, when known. */
  rank(i: number): number | undefined;
  /** Static shape of input `i`, when every dim is a number. */
  shape(i: number): number[] | undefined;
}

function spatial(f: InputFacts, make: (n: number) => number[]): number[] | undefined {
  const r = f.rank(0);
  return r === undefined || r < 2 ? undefined : make(r - 2);
}
const ones = (f: InputFacts) => spatial(f, (n) => new Array(n).fill(1));
const zeros = (f: InputFacts) => spatial(f, (n) => new Array(n).fill(0));
const pads = (f: InputFacts) => spatial(f, (n) => new Array(2 * n).fill(0));
const convLike = { dilations: ones, strides: ones, pads, kernel_shape: (f: InputFacts) => f.shape(1)?.slice(2) };
const poolLike = { dilations: ones, strides: ones, pads };

/**
 * Defaults ONNX states in words, from the inputs: a pool or convolution's dilations and strides
 * are 1 per spatial axis, its pads 0, Conv's kernel the weight's spatial dims; Transpose's perm
 * reverses the axes. Applied only where the op has the attribute at that opset.
 */
const FROM_INPUTS: Record<string, Record<string, (f: InputFacts) => unknown>> = {
  AveragePool: poolLike,
  Conv: convLike,
  ConvInteger: convLike,
  ConvTranspose: { ...convLike, output_padding: zeros },
  LpPool: poolLike,
  MaxPool: poolLike,
  QLinearConv: convLike,
  Transpose: {
    perm: (f) => {
      const r = f.rank(0);
      return r === undefined ? undefined : Array.from({ length: r }, (_, i) => r - 1 - i);
    },
  },
};

/** Attributes required until they became inputs: required while a node has fewer inputs than this. */
const REQUIRED_BELOW: Record<string, Record<string, number>> = {
  Pad: { pads: 2 },
  Slice: { starts: 3, ends: 3 },
  TopK: { k: 2 },
  Unsqueeze: { axes: 2 },
  Upsample: { scales: 2 },
};

const noEmpty = { noop_with_empty_axes: 0 };
/**
 * What an op did before it had an attribute, where that is one of the attribute's values: a
 * single-output BatchNormalization before opset 14 is `training_mode` 0, a Reshape before 14 is
 * `allowzero` 0, and so on. Matching reads these as the default at such opsets (so `:training_mode
 * 0` matches an opset-9 BatchNormalization); a copy equal to one is left unset, never written
 * where the op lacks the attribute.
 */
const BEFORE: Record<string, Record<string, unknown>> = {
  AveragePool: { ceil_mode: 0 },
  BatchNormalization: { training_mode: 0 },
  Cast: { saturate: 1, round_mode: "up" },
  CastLike: { saturate: 1, round_mode: "up" },
  DepthToSpace: { mode: "DCR" },
  DequantizeLinear: { block_size: 0, output_dtype: 0 },
  LpPool: { ceil_mode: 0 },
  MaxPool: { ceil_mode: 0, storage_order: 0 },
  QuantizeLinear: { saturate: 1, block_size: 0, output_dtype: 0, precision: 0 },
  ReduceL1: noEmpty,
  ReduceL2: noEmpty,
  ReduceLogSum: noEmpty,
  ReduceLogSumExp: noEmpty,
  ReduceMax: noEmpty,
  ReduceMean: noEmpty,
  ReduceMin: noEmpty,
  ReduceProd: noEmpty,
  ReduceSum: noEmpty,
  ReduceSumSquare: noEmpty,
  Reshape: { allowzero: 0 },
  Resize: { coordinate_transformation_mode: "asymmetric" },
  Shape: { start: 0 },
};

/** ONNX Runtime's contrib ops (their own schemas), by domain ("" for those it registers in ai.onnx's). */
const CONTRIB: Record<string, Record<string, Record<string, unknown>>> = {
  "": { SimplifiedLayerNormalization: { axis: -1, epsilon: 1e-5, stash_type: 1 } },
  "com.microsoft": {
    FusedConv: { auto_pad: "NOTSET", group: 1 },
    QuickGelu: { alpha: 1.702 },
    SimplifiedLayerNormalization: { axis: -1, epsilon: 1e-5, stash_type: 1 },
  },
};

/** The generated cell of `op`'s `attr` at `opset` (no opset: the newest); undefined: op or attribute unknown. */
function cellAt(op: string, attr: string, opset: number | undefined): Cell | undefined {
  const seq = GENERATED[op]?.[attr];
  if (!seq) return undefined;
  let out: Cell = X;
  for (let i = 0; i < seq.length; i += 2) if (opset === undefined || opset >= (seq[i] as number)) out = seq[i + 1];
  return out;
}

/** The first opset at which `op` has `attr`. */
function firstSince(op: string, attr: string): number {
  const seq = GENERATED[op][attr];
  for (let i = 0; i < seq.length; i += 2) if (seq[i + 1] !== X) return seq[i] as number;
  return Infinity;
}

/**
 * The default of `op`'s attribute `attr` at `opset` (none: the newest opset's), in `domain`
 * (ai.onnx is ""). Undefined: the attribute is required, has no default, is not the op's at
 * that opset, or is computed from inputs that `inputs` does not give.
 * @example
 * ```ts
 * import { onnxAttrDefault } from "./attr_defaults.ts";
 * if (onnxAttrDefault("", "Softmax", "axis", 11) !== 1) throw new Error("axis 1 before opset 13");
 * if (onnxAttrDefault("", "Softmax", "axis", 13) !== -1) throw new Error("and -1 from 13");
 * if (onnxAttrDefault("", "Concat", "axis", 13) !== undefined) throw new Error("Concat's axis is required");
 * if (onnxAttrDefault("", "Reshape", "allowzero", 13) !== 0) throw new Error("a Reshape before 14 is allowzero 0");
 * if (onnxAttrDefault("", "Dropout", "ratio", 13) !== undefined) throw new Error("ratio is an input from 12");
 * ```
 */
export function onnxAttrDefault(
  domain: string,
  op: string,
  attr: string,
  opset?: number,
  inputs?: InputFacts,
): unknown {
  const contrib = CONTRIB[domain]?.[op];
  if (contrib) return contrib[attr];
  if (domain !== "") return undefined;
  const cell = cellAt(op, attr, opset);
  if (cell === X && GENERATED[op][attr][1] === X && opset !== undefined && opset < firstSince(op, attr)) {
    return BEFORE[op]?.[attr];
  }
  if (cell === X || cell === R || cell === undefined) return undefined;
  const computed = FROM_INPUTS[op]?.[attr];
  if (computed) return inputs ? computed(inputs) : undefined;
  return cell === N ? undefined : cell;
}

/**
 * Whether `op` has attribute `attr` at `opset` (ai.onnx; other domains and unknown ops: true),
 * so that a sampler never sets an attribute the op lacks there (Reshape's `allowzero` before 14).
 * @example
 * ```ts
 * import { opHasAttr } from "./attr_defaults.ts";
 * if (opHasAttr("", "Reshape", "allowzero", 13) || !opHasAttr("", "Reshape", "allowzero", 14)) throw new Error("from 14");
 * ```
 */
export function opHasAttr(domain: string, op: string, attr: string, opset: number): boolean {
  if (domain !== "" || !GENERATED[op]) return true;
  const cell = cellAt(op, attr, opset);
  return cell !== undefined && cell !== X;
}

/**
 * The attributes ONNX requires of `op` that a pattern with `inputs` children and the
 * attributes `named` leaves out: such a pattern can never match a valid node (left side) or
 * builds an invalid one (right side). Required means required at the newest opset that has
 * the attribute (Concat's axis; not Constant's value, optional from opset 11), or while the
 * node has fewer inputs than the version that made it an input (Unsqueeze's axes).
 * @example
 * ```ts
 * import { missingRequiredAttrs } from "./attr_defaults.ts";
 * if (missingRequiredAttrs("", "Concat", 1, []).join() !== "axis") throw new Error("Concat needs axis");
 * if (missingRequiredAttrs("", "Unsqueeze", 2, []).length) throw new Error("axes is an input from opset 13");
 * if (missingRequiredAttrs("", "Unsqueeze", 1, []).join() !== "axes") throw new Error("and an attribute before");
 * ```
 */
export function missingRequiredAttrs(domain: string, op: string, inputs: number, named: readonly string[]): string[] {
  if (domain !== "" || CONTRIB[domain]?.[op]) return [];
  const out: string[] = [];
  for (const [name, seq] of Object.entries(GENERATED[op] ?? {})) {
    if (named.includes(name)) continue;
    const below = REQUIRED_BELOW[op]?.[name];
    if (below !== undefined ? inputs < below : seq[seq.length - 1] === R) out.push(name);
  }
  return out;
}
