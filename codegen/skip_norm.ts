/**
 * ONNX Runtime's com.microsoft SkipLayerNormalization and SkipSimplifiedLayerNormalization on the
 * WebGPU backend, as the reference defines them (`rules/contrib_ops.ts`): one elementwise kernel
 * writes s = (input + skip) + bias (f32, the skip broadcast over the input as [1, S, H] or
 * [S, H]) into output 3 (`input_skip_bias_sum`) or, where nothing reads that, a kernel-private
 * temporary; then LayerNormalization's or RMSNormalization's own row kernel (`norm.ts`) runs on
 * s, gamma (, beta) over the last axis with the node's `epsilon` (default 1e-12, ONNX
 * Runtime's). SkipLayerNormalization's mean and inv_std_var are that kernel's Mean and
 * InvStdDev; SkipSimplifiedLayerNormalization's are not supported (nor modelled by the
 * reference). Shapes are checked by the op's shape inference before lowering. Saturn's ort
 * target writes these ops; its webgpu target never does, so this runs ort-target outputs
 * (`saturn run`), not tuned ones.
 * @module
 */
import type { Node } from "../ir/graph.ts";
import { NodeContext } from "../ir/ops/node_context.ts";
import { sizeOf } from "../ir/tensor.ts";
import { SKIP_NORM_EPSILON } from "../rules/contrib_ops.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { findLowering, type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";
import { broadcastOffset } from "./wgsl.ts";
import "./norm.ts";

function lowerSkipNorm(simplified: boolean) {
  const op = simplified ? "SkipSimplifiedLayerNormalization" : "SkipLayerNormalization";
  const betaAt = simplified ? -1 : 3, biasAt = simplified ? 3 : 4;
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), skip = ctx.input(1), y = ctx.output(0);
    for (let i = 0; i <= biasAt; i++) {
      if (ctx.hasInput(i) && requireStorage(ctx.input(i).dtype) !== "f32") unsupported(`input ${i} must be float32`);
    }
    if (simplified && (ctx.hasOutput(1) || ctx.hasOutput(2))) unsupported("mean and inv_std_var are not supported");
    const h = x.dims[x.dims.length - 1];
    const sum: TensorInfo = ctx.hasOutput(3) ? ctx.output(3) : { name: `${y.name}::sum`, dtype: x.dtype, dims: x.dims };
    const add: KernelSpec = copyKernel({
      name: `${op}[sum]`,
      nodes: [ctx.node.name],
      dims: x.dims,
      out: sum,
      value: (b) => {
        let e = `(${b.read(x.name, "f32")}[i] + ${b.read(skip.name, "f32")}[${
          broadcastOffset(skip.dims, x.dims, "i")
        }])`;
        if (ctx.hasInput(biasAt)) e = `(${e} + ${b.read(ctx.input(biasAt).name, "f32")}[i % ${h}u])`;
        return { expr: e };
      },
    });
    if (!ctx.hasOutput(3)) add.temporaries = [{ name: sum.name, elements: sizeOf(x.dims) }];
    // the normalization's node: inputs s, gamma (, beta), outputs as the Skip op's first ones
    const hasBeta = !simplified && ctx.hasInput(betaAt);
    const node: Node = {
      ...ctx.node,
      opType: simplified ? "RMSNormalization" : "LayerNormalization",
      domain: "",
      inputs: [sum.name, ctx.node.inputs[2], ...(hasBeta ? [ctx.node.inputs[betaAt]] : [])],
      outputs: ctx.node.outputs.slice(0, simplified ? 1 : 3),
      attributes: [{ name: "epsilon", type: "float", value: ctx.attrs.attrFloat("epsilon", SKIP_NORM_EPSILON) }],
    };
    const from = [-1, 2, betaAt]; // the Skip op's input of each of the normalization's
    const inner: LowerCtx = {
      ...ctx,
      node,
      attrs: new NodeContext(node, ctx.opset),
      input: (i) => (i === 0 ? sum : ctx.input(from[i])),
      hasInput: (i) => i === 0 || i === 1 || (i === 2 && hasBeta),
      output: (i) => ctx.output(i),
      hasOutput: (i) => i < node.outputs.length && ctx.hasOutput(i),
      // s is computed here, never known at plan time
      constant: (i) => (i === 0 || from[i] === undefined || from[i] < 0 ? undefined : ctx.constant(from[i])),
    };
    const norm = findLowering("", node.opType)!.lower(inner);
    if (norm.kind !== "kernels") unsupported(`${node.opType}'s lowering is not kernels`);
    return { kind: "kernels", kernels: [add, ...norm.kernels] };
  };
}

registerLowerings("com.microsoft", {
  SkipLayerNormalization: { lower: lowerSkipNorm(false) },
  SkipSimplifiedLayerNormalization: { lower: lowerSkipNorm(true) },
});
