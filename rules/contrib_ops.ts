/**
 * The ONNX Runtime contrib ops that rule packs produce, registered with Saturn's op registry so
 * that the e-graph can type them and the reference interpreter can run optimized models:
 * `com.microsoft` Gelu, FastGelu, FusedConv (Conv, then an optional sum input Z, then an
 * activation) and FusedMatMul (a MatMul scaled by `alpha`, either operand transposed), and
 * SimplifiedLayerNormalization (which ONNX Runtime registers in the ONNX domain,
 * version 1; it is RMSNormalization under another name); MatMulNBits (block-quantized weights) is
 * defined in `ir/ops/matmul_nbits.ts` and registered by importing this file.
 * @module
 */
import "../ir/ops/all.ts";
import "../ir/ops/matmul_nbits.ts";
import { findOp, type OpDef, registerOps } from "../ir/ops/registry.ts";
import { erf, inferSame, requireDtype, unaryNumber } from "../ir/ops/_elementwise.ts";
import { isFloat } from "../ir/dtype.ts";
import { fromNumbers, Tensor, toNumbers } from "../ir/tensor.ts";
import { tensorType } from "../ir/types.ts";
import type { Dim } from "../ir/types.ts";
import { inferMatMulShape, matmulF64, planMatMul } from "../ir/ops/matmul.ts";
import { allocUnits, permuteUnits, unitsOf } from "../ir/ops/_layout.ts";
import type { RunContext } from "../ir/ops/run_context.ts";
import type { NodeContext } from "../ir/ops/node_context.ts";
import { fusedActivationFormula } from "../ir/ops/activation.ts";
import { attrF32, numberAlgebra } from "../ir/algebra.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function floatUnary(opType: string, f: (x: number) => number): OpDef {
  return {
    opType,
    domain: "com.microsoft",
    run(ctx) {
      const x = ctx.input(0);
      requireDtype(ctx, x.dtype, isFloat, "a float type");
      if (ctx.node.inputs.length > 1 && ctx.node.inputs[1] !== "") ctx.fail("a bias input is not supported");
      return [unaryNumber(x, x.dtype, f)];
    },
    infer: inferSame,
  };
}

const rms = findOp("", "RMSNormalization")!;
const conv = findOp("", "Conv")!;

/** The activation a FusedConv node names (fails on one ONNX Runtime does not know). */
export function fusedActivation(ctx: Pick<RunContext, "attrString" | "attrFloats" | "fail">): (x: number) => number {
  const name = ctx.attrString("activation", "");
  // the activation ops' own formulas (one definition, shared with the verifier)
  const f = fusedActivationFormula(numberAlgebra, name, ctx.attrFloats("activation_params", []));
  if (!f) ctx.fail(`unknown activation '${name}'`);
  return f;
}

const FusedConv: OpDef = {
  opType: "FusedConv",
  domain: "com.microsoft",
  run(ctx) {
    const f = fusedActivation(ctx);
    const [y] = conv.run(ctx) as [ReturnType<RunContext["input"]>];
    const z = ctx.optionalInput(3);
    const ys = toNumbers(y);
    if (z) {
      if (z.size !== y.size) ctx.fail(`Z has ${z.size} elements, the convolution ${y.size}`);
      const zs = toNumbers(z);
      for (let i = 0; i < ys.length; i++) ys[i] += zs[i];
    }
    for (let i = 0; i < ys.length; i++) ys[i] = f(ys[i]);
    return [fromNumbers(y.dtype, y.dims, ys)];
  },
  infer: conv.infer,
};

/** FusedMatMul's `transBatchA`/`transBatchB` (moving the batch dims) are not supported: fail on a nonzero one. */
function refuseTransBatch(ctx: NodeContext): void {
  for (const a of ["transBatchA", "transBatchB"]) {
    if (ctx.attrInt(a, 0) !== 0) ctx.fail(`${a} = ${ctx.attrInt(a, 0)} is not supported`);
  }
}

/** `x` with its last two dims swapped (a 1-D or 0-D `x` as it is: ONNX Runtime ignores transA/transB there). */
function swapLastTwo(x: Tensor): Tensor {
  const r = x.dims.length;
  if (r < 2) return x;
  const perm = Array.from({ length: r }, (_, i) => (i < r - 2 ? i : 2 * r - 3 - i));
  const { data, u } = allocUnits(x.dtype, x.size);
  permuteUnits(unitsOf(x), x.dims, perm, u);
  return new Tensor(x.dtype, perm.map((p) => x.dims[p]), data);
}

/** A shape with its last two dims swapped (rank < 2: as it is). */
function swapLastTwoDims(s: Dim[] | undefined): Dim[] | undefined {
  return s && s.length >= 2 ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
}

/**
 * `com.microsoft.FusedMatMul`: Y = alpha · op(A) @ op(B), where op transposes the last two dims
 * of an operand whose `transA`/`transB` is nonzero (a 1-D operand is never transposed, as in
 * ONNX Runtime) and the product is MatMul's (numpy broadcasting of batch dims, 1-D operands
 * promoted and squeezed). `alpha` (a float32, as ONNX stores it) defaults to 1, `transA`/`transB`
 * to 0. `transBatchA` and `transBatchB` must be 0 (or unset): a nonzero one fails (`ctx.fail`).
 * Float types only.
 * The product is MatMul's own (`planMatMul`, `matmulF64`: one definition of the matmul, the
 * shapes by MatMul's `inferMatMulShape`) on the transposed operands, scaled in float64 and
 * rounded once, as Gemm's alpha is. (ONNX Runtime's kernel scales float32 accumulators, so where
 * op(A) @ op(B) alone overflows float32 it gives inf where alpha · (A @ B) is finite.)
 */
const FusedMatMul: OpDef = {
  opType: "FusedMatMul",
  domain: "com.microsoft",
  run(ctx) {
    refuseTransBatch(ctx);
    let a = ctx.input(0), b = ctx.input(1);
    requireDtype(ctx, a.dtype, isFloat, "a float type");
    if (a.dtype !== b.dtype) ctx.fail(`operand types differ: ${a.dtype} and ${b.dtype}`);
    if (ctx.attrInt("transA", 0) !== 0) a = swapLastTwo(a);
    if (ctx.attrInt("transB", 0) !== 0) b = swapLastTwo(b);
    const p = planMatMul(ctx, a.dims, b.dims);
    const y = matmulF64(toNumbers(a), toNumbers(b), p);
    const alpha = attrF32(ctx, "alpha", 1);
    if (alpha !== 1) { for (let i = 0; i < y.length; i++) y[i] *= alpha; }
    return [fromNumbers(a.dtype, p.outDims, y)];
  },
  infer(ctx) {
    refuseTransBatch(ctx);
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    requireDtype(ctx, dt, isFloat, "a float type");
    const sa = ctx.attrInt("transA", 0) !== 0 ? swapLastTwoDims(ctx.shape(0)) : ctx.shape(0);
    const sb = ctx.attrInt("transB", 0) !== 0 ? swapLastTwoDims(ctx.shape(1)) : ctx.shape(1);
    return [tensorType(dt, inferMatMulShape(ctx, sa, sb))];
  },
};

registerOps([
  floatUnary("Gelu", (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))),
  floatUnary("FastGelu", (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))),
  FusedConv,
  FusedMatMul,
  { opType: "SimplifiedLayerNormalization", run: rms.run, infer: rms.infer },
]);
