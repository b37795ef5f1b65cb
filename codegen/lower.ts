/**
 * Every op family of the WebGPU backend, registered with `lowering.ts` on import: elementwise
 * (fused chains), views, MatMul/Gemm, Conv/FusedConv, ConvTranspose, pooling, reductions,
 * Softmax, normalizations, data movement, Resize, generators and scans.
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
export { findLowering, loweredOps } from "./lowering.ts";
