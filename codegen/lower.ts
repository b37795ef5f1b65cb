/**
 * Every op family of the WebGPU backend, registered with `lowering.ts` on import: elementwise
 * (fused chains), views, MatMul/Gemm, Conv/FusedConv, ConvTranspose, pooling, reductions,
 * Softmax, normalizations (incl. LRN, GroupNormalization, MVN), data movement, Resize,
 * generators and scans, TopK, Einsum, Lp pooling, gather/scatter, quantization and integer
 * matmuls and convolutions, one-hot, RotaryEmbedding, GridSample, CenterCropPad, BitShift, the
 * ONNX Attention op, com.microsoft MatMulNBits (packed weights dequantized in the kernel),
 * FusedMatMul (MatMul's kernels scaled by alpha, transposed operands copied first) and
 * SkipLayerNormalization / SkipSimplifiedLayerNormalization (the sum, then the norm's kernel).
 * @module
 */
import "./elementwise.ts";
import "./views.ts";
import "./matmul.ts";
import "./conv.ts";
import "./conv_transpose.ts";
import "./pool.ts";
import "./reduce.ts";
import "./softmax.ts";
import "./norm.ts";
import "./layout.ts";
import "./resize.ts";
import "./generate.ts";
import "./scan.ts";
import "./topk.ts";
import "./norm_more.ts";
import "./einsum.ts";
import "./lp_pool.ts";
import "./gather_nd.ts";
import "./scatter.ts";
import "./quant.ts";
import "./qmatmul.ts";
import "./onehot.ts";
export { findLowering, loweredOps } from "./lowering.ts";
import "./attention_op.ts";
import "./rotary.ts";
import "./grid_sample.ts";
import "./crop_pad.ts";
import "./bitshift.ts";
import "./qconv.ts";
import "./matmul_nbits.ts";
import "./fused_matmul.ts";
import "./skip_norm.ts";
