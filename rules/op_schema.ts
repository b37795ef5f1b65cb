/**
 * What ONNX says each op takes, as far as rule files need it: how many inputs and outputs, and
 * each attribute's kind. The rule parser and the plugin loader check patterns against it, so a
 * misspelt attribute, a list where a number belongs or a missing input is refused when a rule
 * file is read, not discovered as a rule that never matches or a node that cannot run.
 *
 * Invariants: every op Saturn registers (ai.onnx, ai.onnx.ml, training) has an entry, taken
 * from ONNX's operator schemas over all versions (the union of their input and output counts;
 * an attribute of several versions has its latest version's kind); `dtype` marks int attributes
 * whose value is an element type (`to`, `dtype`, `output_dtype`, `stash_type`…), which rules may
 * write by name (`:to "float32"`). The `com.microsoft` ops of `MS_OPS` are written by hand from
 * ONNX Runtime's contrib schemas; the attention family is `open` (attributes not listed are not
 * refused), since its attributes grow with every ONNX Runtime release.
 *
 * Regenerate the generated part with onnx's Python package (`onnx.defs.get_all_schemas_with_history`):
 * for each registered op, `[min inputs, max inputs, max outputs, "attr:kind …"]` (N: unbounded; `!`
 * after a kind: the latest version requires the attribute).
 * @module
 */

/** The kind of value an attribute holds (ONNX's AttributeType, with `dtype` for element types). */
export type AttrKind =
  | "int"
  | "float"
  | "string"
  | "ints"
  | "floats"
  | "strings"
  | "tensor"
  | "graph"
  | "tensors"
  | "graphs"
  | "sparse_tensor"
  | "sparse_tensors"
  | "type_proto"
  | "type_protos"
  | "dtype";

/** One op's signature. */
export interface OpSchema {
  /** Fewest inputs any version requires. */
  minInputs: number;
  /** Most inputs any version takes (Infinity: variadic). */
  maxInputs: number;
  /** Most outputs any version has (Infinity: variadic). */
  maxOutputs: number;
  /** Every attribute any version has, with its kind. */
  attrs: ReadonlyMap<string, AttrKind>;
  /** Attributes the op's latest version requires (a node built without one is invalid). */
  required: ReadonlySet<string>;
  /** Attributes missing from `attrs` are not refused (schemas written by hand, still growing). */
  open?: boolean;
}

const N = Infinity;

type Row = [number, number, number, string] | [number, number, number, string, "open"];

// generated from onnx 1.23.1 (see the module doc); keys are `domain::Op`, ai.onnx's domain empty
const GENERATED: Record<string, Row> = {
  "::Abs": [1, 1, 1, "consumed_inputs:ints"],
  "::Acos": [1, 1, 1, ""],
  "::Acosh": [1, 1, 1, ""],
  "::Add": [2, 2, 1, "axis:int broadcast:int consumed_inputs:ints"],
  "::AffineGrid": [2, 2, 1, "align_corners:int"],
  "::And": [2, 2, 1, "axis:int broadcast:int"],
  "::ArgMax": [1, 1, 1, "axis:int keepdims:int select_last_index:int"],
  "::ArgMin": [1, 1, 1, "axis:int keepdims:int select_last_index:int"],
  "::Asin": [1, 1, 1, ""],
  "::Asinh": [1, 1, 1, ""],
  "::Atan": [1, 1, 1, ""],
  "::Atanh": [1, 1, 1, ""],
  "::Attention": [
    3,
    7,
    4,
    "is_causal:int kv_num_heads:int left_window_size:int q_num_heads:int qk_matmul_output_mode:int right_window_size:int scale:float softcap:float softmax_precision:int",
  ],
  "::AveragePool": [
    1,
    1,
    1,
    "auto_pad:string ceil_mode:int count_include_pad:int dilations:ints kernel_shape:ints! pads:ints strides:ints",
  ],
  "::BatchNormalization": [
    5,
    5,
    5,
    "consumed_inputs:ints epsilon:float is_test:int momentum:float spatial:int training_mode:int",
  ],
  "::Bernoulli": [1, 1, 1, "dtype:dtype seed:float"],
  "::BitCast": [1, 1, 1, "to:dtype!"],
  "::BitShift": [2, 2, 1, "direction:string!"],
  "::BitwiseAnd": [2, 2, 1, ""],
  "::BitwiseNot": [1, 1, 1, ""],
  "::BitwiseOr": [2, 2, 1, ""],
  "::BitwiseXor": [2, 2, 1, ""],
  "::BlackmanWindow": [1, 1, 1, "output_datatype:dtype periodic:int"],
  "::Cast": [1, 1, 1, "round_mode:string saturate:int to:dtype!"],
  "::CastLike": [2, 2, 1, "round_mode:string saturate:int"],
  "::CausalConvWithState": [2, 4, 2, "activation:string"],
  "::Ceil": [1, 1, 1, "consumed_inputs:ints"],
  "::Celu": [1, 1, 1, "alpha:float"],
  "::CenterCropPad": [2, 2, 1, "axes:ints"],
  "::Clip": [1, 3, 1, "consumed_inputs:ints max:float min:float"],
  "::Col2Im": [3, 3, 1, "dilations:ints pads:ints strides:ints"],
  "::Compress": [2, 2, 1, "axis:int"],
  "::Concat": [1, N, 1, "axis:int!"],
  "::ConcatFromSequence": [1, 1, 1, "axis:int! new_axis:int"],
  "::Constant": [
    0,
    0,
    1,
    "sparse_value:sparse_tensor value:tensor value_float:float value_floats:floats value_int:int value_ints:ints value_string:string value_strings:strings",
  ],
  "::ConstantOfShape": [1, 1, 1, "value:tensor"],
  "::Conv": [2, 3, 1, "auto_pad:string dilations:ints group:int kernel_shape:ints pads:ints strides:ints"],
  "::ConvInteger": [2, 4, 1, "auto_pad:string dilations:ints group:int kernel_shape:ints pads:ints strides:ints"],
  "::ConvTranspose": [
    2,
    3,
    1,
    "auto_pad:string dilations:ints group:int kernel_shape:ints output_padding:ints output_shape:ints pads:ints strides:ints",
  ],
  "::Cos": [1, 1, 1, ""],
  "::Cosh": [1, 1, 1, ""],
  "::CumProd": [2, 2, 1, "exclusive:int reverse:int"],
  "::CumSum": [2, 2, 1, "exclusive:int reverse:int"],
  "::DFT": [1, 3, 1, "axis:int inverse:int onesided:int"],
  "::DeformConv": [3, 5, 1, "dilations:ints group:int kernel_shape:ints offset_group:int pads:ints strides:ints"],
  "::DepthToSpace": [1, 1, 1, "blocksize:int! mode:string"],
  "::DequantizeLinear": [2, 3, 1, "axis:int block_size:int output_dtype:dtype"],
  "::Det": [1, 1, 1, ""],
  "::Div": [2, 2, 1, "axis:int broadcast:int consumed_inputs:ints"],
  "::Dropout": [1, 3, 2, "consumed_inputs:ints is_test:int ratio:float seed:int"],
  "::DynamicQuantizeLinear": [1, 1, 3, ""],
  "::Einsum": [1, N, 1, "equation:string!"],
  "::Elu": [1, 1, 1, "alpha:float consumed_inputs:ints"],
  "::Equal": [2, 2, 1, "axis:int broadcast:int"],
  "::Erf": [1, 1, 1, ""],
  "::Exp": [1, 1, 1, "consumed_inputs:ints"],
  "::Expand": [2, 2, 1, ""],
  "::EyeLike": [1, 1, 1, "dtype:dtype k:int"],
  "::Flatten": [1, 1, 1, "axis:int"],
  "::Floor": [1, 1, 1, "consumed_inputs:ints"],
  "::GRU": [
    3,
    6,
    2,
    "activation_alpha:floats activation_beta:floats activations:strings clip:float direction:string hidden_size:int layout:int linear_before_reset:int output_sequence:int",
  ],
  "::Gather": [2, 2, 1, "axis:int"],
  "::GatherElements": [2, 2, 1, "axis:int"],
  "::GatherND": [2, 2, 1, "batch_dims:int"],
  "::Gelu": [1, 1, 1, "approximate:string"],
  "::Gemm": [2, 3, 1, "alpha:float beta:float broadcast:int transA:int transB:int"],
  "::GlobalAveragePool": [1, 1, 1, ""],
  "::GlobalLpPool": [1, 1, 1, "p:int"],
  "::GlobalMaxPool": [1, 1, 1, ""],
  "::Greater": [2, 2, 1, "axis:int broadcast:int"],
  "::GreaterOrEqual": [2, 2, 1, ""],
  "::GridSample": [2, 2, 1, "align_corners:int mode:string padding_mode:string"],
  "::GroupNormalization": [3, 3, 1, "epsilon:float num_groups:int! stash_type:dtype"],
  "::HammingWindow": [1, 1, 1, "output_datatype:dtype periodic:int"],
  "::HannWindow": [1, 1, 1, "output_datatype:dtype periodic:int"],
  "::HardSigmoid": [1, 1, 1, "alpha:float beta:float consumed_inputs:ints"],
  "::HardSwish": [1, 1, 1, ""],
  "::Hardmax": [1, 1, 1, "axis:int"],
  "::Identity": [1, 1, 1, ""],
  "::If": [1, 1, N, "else_branch:graph! then_branch:graph!"],
  "::InstanceNormalization": [3, 3, 1, "consumed_inputs:ints epsilon:float"],
  "::IsInf": [1, 1, 1, "detect_negative:int detect_positive:int"],
  "::IsNaN": [1, 1, 1, ""],
  "::LRN": [1, 1, 1, "alpha:float beta:float bias:float size:int!"],
  "::LSTM": [
    3,
    8,
    3,
    "activation_alpha:floats activation_beta:floats activations:strings clip:float direction:string hidden_size:int input_forget:int layout:int output_sequence:int",
  ],
  "::LayerNormalization": [2, 3, 3, "axis:int epsilon:float stash_type:dtype"],
  "::LeakyRelu": [1, 1, 1, "alpha:float consumed_inputs:ints"],
  "::Less": [2, 2, 1, "axis:int broadcast:int"],
  "::LessOrEqual": [2, 2, 1, ""],
  "::LinearAttention": [3, 6, 2, "chunk_size:int kv_num_heads:int! q_num_heads:int! scale:float update_rule:string"],
  "::Log": [1, 1, 1, "consumed_inputs:ints"],
  "::LogSoftmax": [1, 1, 1, "axis:int"],
  "::Loop": [2, N, N, "body:graph!"],
  "::LpNormalization": [1, 1, 1, "axis:int p:int"],
  "::LpPool": [1, 1, 1, "auto_pad:string ceil_mode:int dilations:ints kernel_shape:ints! p:int pads:ints strides:ints"],
  "::MatMul": [2, 2, 1, ""],
  "::MatMulInteger": [2, 4, 1, ""],
  "::Max": [1, N, 1, "consumed_inputs:ints"],
  "::MaxPool": [
    1,
    1,
    2,
    "auto_pad:string ceil_mode:int dilations:ints kernel_shape:ints! pads:ints storage_order:int strides:ints",
  ],
  "::MaxUnpool": [2, 3, 1, "kernel_shape:ints! pads:ints strides:ints"],
  "::Mean": [1, N, 1, "consumed_inputs:ints"],
  "::MeanVarianceNormalization": [1, 1, 1, "axes:ints"],
  "::MelWeightMatrix": [5, 5, 1, "output_datatype:dtype"],
  "::Min": [1, N, 1, "consumed_inputs:ints"],
  "::Mish": [1, 1, 1, ""],
  "::Mod": [2, 2, 1, "fmod:int"],
  "::Mul": [2, 2, 1, "axis:int broadcast:int consumed_inputs:ints"],
  "::Multinomial": [1, 1, 1, "dtype:dtype sample_size:int seed:float"],
  "::Neg": [1, 1, 1, "consumed_inputs:ints"],
  "::NegativeLogLikelihoodLoss": [2, 3, 1, "ignore_index:int reduction:string"],
  "::NonMaxSuppression": [2, 5, 1, "center_point_box:int"],
  "::NonZero": [1, 1, 1, ""],
  "::Not": [1, 1, 1, ""],
  "::OneHot": [3, 3, 1, "axis:int"],
  "::Optional": [0, 1, 1, "type:type_proto"],
  "::OptionalGetElement": [1, 1, 1, ""],
  "::OptionalHasElement": [0, 1, 1, ""],
  "::Or": [2, 2, 1, "axis:int broadcast:int"],
  "::PRelu": [2, 2, 1, "consumed_inputs:ints"],
  "::Pad": [1, 4, 1, "mode:string paddings:ints pads:ints value:float"],
  "::Pow": [2, 2, 1, "axis:int broadcast:int"],
  "::QLinearConv": [8, 9, 1, "auto_pad:string dilations:ints group:int kernel_shape:ints pads:ints strides:ints"],
  "::QLinearMatMul": [8, 8, 1, ""],
  "::QuantizeLinear": [2, 3, 1, "axis:int block_size:int output_dtype:dtype precision:int saturate:int"],
  "::RMSNormalization": [2, 2, 1, "axis:int epsilon:float stash_type:dtype"],
  "::RNN": [
    3,
    6,
    2,
    "activation_alpha:floats activation_beta:floats activations:strings clip:float direction:string hidden_size:int layout:int output_sequence:int",
  ],
  "::RandomNormal": [0, 0, 1, "dtype:dtype mean:float scale:float seed:float shape:ints!"],
  "::RandomNormalLike": [1, 1, 1, "dtype:dtype mean:float scale:float seed:float"],
  "::RandomUniform": [0, 0, 1, "dtype:dtype high:float low:float seed:float shape:ints!"],
  "::RandomUniformLike": [1, 1, 1, "dtype:dtype high:float low:float seed:float"],
  "::Range": [3, 3, 1, "stash_type:dtype"],
  "::Reciprocal": [1, 1, 1, "consumed_inputs:ints"],
  "::ReduceL1": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceL2": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceLogSum": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceLogSumExp": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceMax": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceMean": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceMin": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceProd": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceSum": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::ReduceSumSquare": [1, 2, 1, "axes:ints keepdims:int noop_with_empty_axes:int"],
  "::RegexFullMatch": [1, 1, 1, "pattern:string"],
  "::Relu": [1, 1, 1, "consumed_inputs:ints"],
  "::Reshape": [1, 2, 1, "allowzero:int consumed_inputs:ints shape:ints"],
  "::Resize": [
    1,
    4,
    1,
    "antialias:int axes:ints coordinate_transformation_mode:string cubic_coeff_a:float exclude_outside:int extrapolation_value:float keep_aspect_ratio_policy:string mode:string nearest_mode:string",
  ],
  "::ReverseSequence": [2, 2, 1, "batch_axis:int time_axis:int"],
  "::RoiAlign": [
    3,
    3,
    1,
    "coordinate_transformation_mode:string mode:string output_height:int output_width:int sampling_ratio:int spatial_scale:float",
  ],
  "::RotaryEmbedding": [3, 4, 1, "interleaved:int num_heads:int rotary_embedding_dim:int"],
  "::Round": [1, 1, 1, ""],
  "::STFT": [2, 4, 1, "onesided:int"],
  "::Scan": [
    1,
    N,
    N,
    "body:graph! directions:ints num_scan_inputs:int! scan_input_axes:ints scan_input_directions:ints scan_output_axes:ints scan_output_directions:ints",
  ],
  "::Scatter": [3, 3, 1, "axis:int"],
  "::ScatterElements": [3, 3, 1, "axis:int reduction:string"],
  "::ScatterND": [3, 3, 1, "reduction:string"],
  "::Selu": [1, 1, 1, "alpha:float consumed_inputs:ints gamma:float"],
  "::SequenceAt": [2, 2, 1, ""],
  "::SequenceConstruct": [1, N, 1, ""],
  "::SequenceEmpty": [0, 0, 1, "dtype:dtype"],
  "::SequenceErase": [1, 2, 1, ""],
  "::SequenceInsert": [2, 3, 1, ""],
  "::SequenceLength": [1, 1, 1, ""],
  "::SequenceMap": [1, N, N, "body:graph!"],
  "::Shape": [1, 1, 1, "end:int start:int"],
  "::Shrink": [1, 1, 1, "bias:float lambd:float"],
  "::Sigmoid": [1, 1, 1, "consumed_inputs:ints"],
  "::Sign": [1, 1, 1, ""],
  "::Sin": [1, 1, 1, ""],
  "::Sinh": [1, 1, 1, ""],
  "::Size": [1, 1, 1, ""],
  "::Slice": [1, 5, 1, "axes:ints ends:ints starts:ints"],
  "::Softmax": [1, 1, 1, "axis:int"],
  "::SoftmaxCrossEntropyLoss": [2, 3, 2, "ignore_index:int reduction:string"],
  "::Softplus": [1, 1, 1, ""],
  "::Softsign": [1, 1, 1, ""],
  "::SpaceToDepth": [1, 1, 1, "blocksize:int! mode:string"],
  "::Split": [1, 2, N, "axis:int num_outputs:int split:ints"],
  "::SplitToSequence": [1, 2, 1, "axis:int keepdims:int"],
  "::Sqrt": [1, 1, 1, "consumed_inputs:ints"],
  "::Squeeze": [1, 2, 1, "axes:ints"],
  "::StringConcat": [2, 2, 1, ""],
  "::StringNormalizer": [1, 1, 1, "case_change_action:string is_case_sensitive:int locale:string stopwords:strings"],
  "::StringSplit": [1, 1, 2, "delimiter:string maxsplit:int"],
  "::Sub": [2, 2, 1, "axis:int broadcast:int consumed_inputs:ints"],
  "::Sum": [1, N, 1, "consumed_inputs:ints"],
  "::Swish": [1, 1, 1, "alpha:float"],
  "::Tan": [1, 1, 1, ""],
  "::Tanh": [1, 1, 1, "consumed_inputs:ints"],
  "::TensorScatter": [2, 3, 1, "axis:int mode:string"],
  "::ThresholdedRelu": [1, 1, 1, "alpha:float"],
  "::Tile": [2, 3, 1, ""],
  "::TopK": [1, 2, 2, "axis:int k:int largest:int sorted:int"],
  "::Transpose": [1, 1, 1, "perm:ints"],
  "::Trilu": [1, 2, 1, "upper:int"],
  "::Unique": [1, 1, 4, "axis:int sorted:int"],
  "::Unsqueeze": [1, 2, 1, "axes:ints"],
  "::Upsample": [1, 2, 1, "height_scale:float mode:string scales:floats width_scale:float"],
  "::Where": [3, 3, 1, ""],
  "::Xor": [2, 2, 1, "axis:int broadcast:int"],
  "ai.onnx.ml::ArrayFeatureExtractor": [2, 2, 1, ""],
  "ai.onnx.ml::Binarizer": [1, 1, 1, "threshold:float"],
  "ai.onnx.ml::LabelEncoder": [
    1,
    1,
    1,
    "classes_strings:strings default_float:float default_int64:int default_string:string default_tensor:tensor keys_floats:floats keys_int64s:ints keys_strings:strings keys_tensor:tensor values_floats:floats values_int64s:ints values_strings:strings values_tensor:tensor",
  ],
  "ai.onnx.ml::TreeEnsemble": [
    1,
    1,
    1,
    "aggregate_function:int leaf_targetids:ints! leaf_weights:tensor! membership_values:tensor n_targets:int nodes_falseleafs:ints! nodes_falsenodeids:ints! nodes_featureids:ints! nodes_hitrates:tensor nodes_missing_value_tracks_true:ints nodes_modes:tensor! nodes_splits:tensor! nodes_trueleafs:ints! nodes_truenodeids:ints! post_transform:int tree_roots:ints!",
  ],
  "ai.onnx.preview.training::Adagrad": [3, N, N, "decay_factor:float epsilon:float norm_coefficient:float"],
  "ai.onnx.preview.training::Adam": [
    3,
    N,
    N,
    "alpha:float beta:float epsilon:float norm_coefficient:float norm_coefficient_post:float",
  ],
  "ai.onnx.preview.training::Momentum": [3, N, N, "alpha:float! beta:float! mode:string! norm_coefficient:float!"],
  "ai.onnx.preview::FlexAttention": [3, 3, 1, "prob_mod:graph scale:float score_mod:graph softmax_precision:int"],
};

// by hand, from ONNX Runtime's contrib op schemas (com.microsoft, and SimplifiedLayerNormalization in ai.onnx)
const BY_HAND: Record<string, Row> = {
  "::SimplifiedLayerNormalization": [2, 2, 2, "axis:int epsilon:float stash_type:dtype"],
  "com.microsoft::Gelu": [1, 1, 1, ""],
  "com.microsoft::FastGelu": [1, 2, 1, ""],
  "com.microsoft::BiasGelu": [2, 2, 1, ""],
  "com.microsoft::QuickGelu": [1, 1, 1, "alpha:float"],
  "com.microsoft::SimplifiedLayerNormalization": [2, 2, 2, "axis:int epsilon:float stash_type:dtype"],
  "com.microsoft::SkipLayerNormalization": [3, 5, 4, "epsilon:float"],
  "com.microsoft::SkipSimplifiedLayerNormalization": [3, 4, 4, "epsilon:float"],
  "com.microsoft::FusedMatMul": [2, 2, 1, "alpha:float transA:int transB:int transBatchA:int transBatchB:int"],
  "com.microsoft::FusedConv": [
    2,
    4,
    1,
    "activation:string activation_params:floats auto_pad:string dilations:ints group:int kernel_shape:ints " +
    "pads:ints strides:ints",
  ],
  "com.microsoft::FusedGemm": [
    2,
    3,
    1,
    "activation:string activation_alpha:float activation_beta:float activation_gamma:float alpha:float " +
    "beta:float transA:int transB:int",
  ],
  "com.microsoft::Attention": [
    1,
    N,
    N,
    "do_rotary:int mask_filter_value:float num_heads:int past_present_share_buffer:int qkv_hidden_sizes:ints " +
    "rotary_embedding_dim:int scale:float unidirectional:int",
    "open",
  ],
  "com.microsoft::MultiHeadAttention": [
    1,
    N,
    N,
    "mask_filter_value:float num_heads:int scale:float unidirectional:int",
    "open",
  ],
  "com.microsoft::GroupQueryAttention": [
    1,
    N,
    N,
    "do_rotary:int kv_num_heads:int local_window_size:int num_heads:int rotary_interleaved:int scale:float " +
    "smooth_softmax:int softcap:float",
    "open",
  ],
  "com.microsoft::RotaryEmbedding": [
    2,
    N,
    1,
    "interleaved:int is_packed_batching:int num_heads:int rotary_embedding_dim:int scale:float",
    "open",
  ],
  "com.microsoft::BiasAdd": [3, 3, 1, ""],
  "com.microsoft::BiasSoftmax": [2, 2, 1, "axis:int is_inner_broadcast:int"],
  "com.microsoft::BiasSplitGelu": [2, 2, 1, ""],
};

const cache = new Map<string, OpSchema>();

/**
 * The schema of an op, or undefined for an op no table knows (such ops are not checked).
 * @param domain the op's domain (`""` or `"ai.onnx"` for ONNX's own)
 * @param op the op type
 * @returns its input and output counts and attribute kinds
 * @example
 * ```ts
 * import { opSchema } from "./op_schema.ts";
 * const cast = opSchema("", "Cast")!;
 * if (cast.attrs.get("to") !== "dtype" || cast.maxInputs !== 1) throw new Error("Cast takes one input and a dtype");
 * if (opSchema("ai.onnx", "Split")!.maxOutputs !== Infinity) throw new Error("Split has any number of outputs");
 * if (opSchema("", "NoSuchOp") !== undefined) throw new Error("unknown");
 * ```
 */
export function opSchema(domain: string, op: string): OpSchema | undefined {
  const key = `${domain === "ai.onnx" ? "" : domain}::${op}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const row = Object.hasOwn(BY_HAND, key) ? BY_HAND[key] : Object.hasOwn(GENERATED, key) ? GENERATED[key] : undefined;
  if (!row) return undefined;
  const attrs = new Map<string, AttrKind>(), required = new Set<string>();
  for (const a of row[3].split(" ").filter(Boolean)) {
    const [name, kind] = a.split(":");
    attrs.set(name, kind.replace("!", "") as AttrKind);
    if (kind.endsWith("!")) required.add(name);
  }
  const s: OpSchema = { minInputs: row[0], maxInputs: row[1], maxOutputs: row[2], attrs, required };
  if (row[4] === "open") s.open = true;
  cache.set(key, s);
  return s;
}
