/**
 * ONNX Runtime's com.microsoft FusedMatMul (Y = alpha · op(A) @ op(B)) on the WebGPU backend, as
 * MatMul's own lowering (`matmul.ts`: the same kernels, epilogues included) with alpha applied to
 * each accumulator before the epilogue. An operand whose `transA`/`transB` is set (and whose rank
 * is at least 2: a 1-D operand is never transposed) is first copied, last two dims swapped, into
 * a kernel-private temporary by the Transpose kernel (`layout.ts`). `transBatchA`/`transBatchB`
 * are not supported. Saturn's ort target writes FusedMatMul; its webgpu target never does, so
 * this runs ort-target outputs (`saturn run`), not tuned ones.
 * @module
 */
import { sizeOf } from "../ir/tensor.ts";
import { type KernelSpec, unsupported } from "./kernel.ts";
import { transposeKernel } from "./layout.ts";
import {
  type Epilogue,
  findLowering,
  type LowerCtx,
  type Lowered,
  plainEpilogue,
  registerLowerings,
  type TensorInfo,
} from "./lowering.ts";
import { f32Lit } from "./wgsl.ts";
import "./matmul.ts";

function lowerFusedMatMul(ctx: LowerCtx): Lowered {
  for (const a of ["transBatchA", "transBatchB"]) {
    if (ctx.attrs.attrInt(a, 0) !== 0) unsupported(`${a} is not supported`);
  }
  const matMul = findLowering("", "MatMul")!;
  const alpha = Math.fround(ctx.attrs.attrFloat("alpha", 1));
  const y = ctx.output(0);
  const pre: KernelSpec[] = [];
  /** Input `i`, or its transposed copy (a temporary written by a kernel in `pre`). */
  const operand = (i: number, attr: string): TensorInfo => {
    const x = ctx.input(i);
    const r = x.dims.length;
    if (ctx.attrs.attrInt(attr, 0) === 0 || r < 2) return x;
    const perm = Array.from({ length: r }, (_, k) => (k < r - 2 ? k : 2 * r - 3 - k));
    const t: TensorInfo = { name: `${y.name}::${attr}`, dtype: x.dtype, dims: perm.map((p) => x.dims[p]) };
    const k = transposeKernel(`FusedMatMul[${attr}]`, [ctx.node.name], x, x.dims, perm, t);
    pre.push({ ...k, temporaries: [{ name: t.name, elements: sizeOf(t.dims) }] });
    return t;
  };
  const a = operand(0, "transA"), b = operand(1, "transB");
  const inner: LowerCtx = {
    ...ctx,
    input: (i) => (i === 0 ? a : i === 1 ? b : ctx.input(i)),
    // a transposed operand's value is the temporary's, not the graph input's
    constant: (i) => ((i === 0 && a !== ctx.input(0)) || (i === 1 && b !== ctx.input(1)) ? undefined : ctx.constant(i)),
  };
  const lowered = matMul.lower(inner);
  if (lowered.kind !== "gemm") unsupported("MatMul's lowering is not a GEMM");
  return {
    kind: "gemm",
    build(epilogue) {
      const e = epilogue ?? plainEpilogue(y);
      const scaled: Epilogue = alpha === 1
        ? e
        : { ...e, emit: (bb, idx, acc) => e.emit(bb, idx, `(${f32Lit(alpha)} * ${acc})`) };
      const ks = lowered.build(scaled);
      return [...pre, ...(Array.isArray(ks) ? ks : [ks])];
    },
  };
}

registerLowerings("com.microsoft", { FusedMatMul: { lower: lowerFusedMatMul } });
