/**
 * The ONNX Runtime contrib ops that rule packs produce, registered with Saturn's op registry so
 * that the e-graph can type them and the reference interpreter can run optimized models:
 * `com.microsoft` Gelu, FastGelu, FusedConv (Conv, then an optional sum input Z, then an
 * activation), FusedMatMul (a MatMul scaled by `alpha`, either operand transposed),
 * SkipLayerNormalization and SkipSimplifiedLayerNormalization (LayerNormalization / RMS
 * normalization of input + skip (+ bias), that sum also an output), and
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
import { RunContext } from "../ir/ops/run_context.ts";
import type { NodeContext } from "../ir/ops/node_context.ts";
import type { InferContext } from "../ir/ops/infer_context.ts";
import type { Node } from "../ir/graph.ts";
import { broadcastIndex } from "../ir/ops/_broadcast.ts";
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
const layerNorm = findOp("", "LayerNormalization")!;
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

// ---------------------------------------------------------------------------------------------
// SkipLayerNormalization, SkipSimplifiedLayerNormalization

/** ONNX Runtime's default `epsilon` of both Skip normalizations (1e-12 as a float32; checked in onnxruntime-node). */
export const SKIP_NORM_EPSILON: number = Math.fround(1e-12);

/**
 * Fail unless the shapes are ones ONNX Runtime's CPU kernels of SkipLayerNormalization and
 * SkipSimplifiedLayerNormalization accept (onnxruntime-node 1.30, checked by running single-node
 * models): the input of rank 2 or 3; the skip of the input's shape or, for an input
 * [B, S, H], of [1, S, H] or [S, H] (broadcast over the batch; the output keeps the input's
 * shape); gamma, beta and bias of shape [H]. Unknown shapes (`undefined`) and dims that are
 * symbolic pass (ONNX Runtime checks them when it runs).
 */
function checkSkipShapes(
  ctx: Pick<NodeContext, "fail">,
  x: readonly Dim[] | undefined,
  skip: readonly Dim[] | undefined,
  vectors: [string, readonly Dim[] | undefined][],
): void {
  if (!x) return;
  if (x.length !== 2 && x.length !== 3) ctx.fail(`input must have rank 2 or 3, has rank ${x.length}`);
  const same = (a: Dim, b: Dim) => a === b || typeof a === "string" || typeof b === "string";
  if (skip) {
    // the last two dims the input's; a leading dim the input's, or 1 before [S, H]
    const tail = skip.length >= 2 && [1, 2].every((k) => same(skip[skip.length - k], x[x.length - k]));
    const ok = skip.length === x.length
      ? tail && (x.length === 2 || same(skip[0], x[0]) || skip[0] === 1)
      : x.length === 3 && skip.length === 2 && tail;
    if (!ok) {
      ctx.fail(`skip of shape [${skip}] is neither the input's [${x}] nor, for a 3-D input, [1, S, H] or [S, H]`);
    }
  }
  const h = x[x.length - 1];
  for (const [name, s] of vectors) {
    if (s && (s.length !== 1 || !same(s[0], h))) ctx.fail(`${name} must have shape [${h}], has [${s}]`);
  }
}

/**
 * Both Skip normalizations: the sum s = input + skip (+ bias), rounded to the input's element
 * type after each addition as ONNX Runtime adds them ((input + skip) + bias), then the
 * normalization over the last axis, which is LayerNormalization's own (gamma, beta) or
 * RMSNormalization's (gamma) run on s: the reference's one definition of each, with `epsilon`
 * (default 1e-12, ONNX Runtime's, not LayerNormalization's 1e-5). Outputs: 0 the normalized
 * value, 3 (`input_skip_bias_sum`) s itself, in the input's shape. Outputs 1 and 2 (mean and
 * inv_std_var, float32 of the input's shape with the last dim 1): SkipLayerNormalization's are
 * LayerNormalization's Mean and InvStdDev of s (as ONNX Runtime gives them); those of
 * SkipSimplifiedLayerNormalization are not modelled (ONNX Runtime writes zeros for its mean) and
 * come back absent (`undefined`), so a node that reads them fails on a missing input.
 * Float types only; every input of the input's type.
 */
function skipNorm(simplified: boolean): OpDef {
  const norm = simplified ? rms : layerNorm;
  const betaAt = simplified ? -1 : 3, biasAt = simplified ? 3 : 4;
  /** The node the normalization runs as: inputs s, gamma (, beta); ONNX Runtime's epsilon; axis -1. */
  const normNode = (ctx: NodeContext): Node => ({
    ...ctx.node,
    opType: norm.opType,
    domain: "",
    inputs: [
      "input_skip_bias_sum",
      ctx.node.inputs[2],
      ...(simplified ? [] : [ctx.hasInput(3) ? ctx.node.inputs[3] : ""]),
    ],
    outputs: ctx.node.outputs.slice(0, simplified ? 1 : 3),
    attributes: [{ name: "epsilon", type: "float", value: ctx.attrFloat("epsilon", SKIP_NORM_EPSILON) }],
  });
  return {
    opType: simplified ? "SkipSimplifiedLayerNormalization" : "SkipLayerNormalization",
    domain: "com.microsoft",
    run(ctx) {
      const x = ctx.input(0), skip = ctx.input(1), gamma = ctx.input(2);
      const beta = simplified ? undefined : ctx.optionalInput(betaAt);
      const bias = ctx.optionalInput(biasAt);
      requireDtype(ctx, x.dtype, isFloat, "a float type");
      for (const t of [skip, gamma, beta, bias]) {
        if (t && t.dtype !== x.dtype) ctx.fail("every input must have the input's element type");
      }
      checkSkipShapes(ctx, x.dims, skip.dims, [["gamma", gamma.dims], ["beta", beta?.dims], ["bias", bias?.dims]]);
      const xs = toNumbers(x), ss = toNumbers(skip);
      const idx = broadcastIndex(skip.dims, x.dims);
      for (let i = 0; i < xs.length; i++) xs[i] += ss[idx ? idx[i] : i];
      let sum = fromNumbers(x.dtype, x.dims, xs);
      if (bias) {
        const s = toNumbers(sum), b = toNumbers(bias), h = b.length;
        for (let i = 0; i < s.length; i++) s[i] += b[i % h];
        sum = fromNumbers(x.dtype, x.dims, s);
      }
      const inner = new RunContext(normNode(ctx), ctx.opset, [sum, gamma, beta], () => ctx.fail("no subgraph"));
      const outs = norm.run(inner);
      return [outs[0], outs[1], outs[2], ctx.hasOutput(3) ? sum : undefined].slice(0, ctx.numOutputs);
    },
    infer(ctx) {
      const dt = ctx.dtype(0);
      if (dt !== undefined) requireDtype(ctx, dt, isFloat, "a float type");
      const vec = (i: number): [string, Dim[] | undefined] => [
        ["", "", "gamma", betaAt === 3 ? "beta" : "bias", "bias"][i],
        ctx.hasInput(i) ? ctx.shape(i) : undefined,
      ];
      checkSkipShapes(ctx, ctx.shape(0), ctx.shape(1), [vec(2), ...(simplified ? [vec(3)] : [vec(3), vec(4)])]);
      // the output and the statistics' types are LayerNormalization's (axis -1, stash type float)
      const [y, mean, inv] = layerNorm.infer!(ctx as InferContext);
      return [y, mean, inv, ctx.hasOutput(3) ? y : undefined].slice(0, ctx.numOutputs);
    },
  };
}

registerOps([
  floatUnary("Gelu", (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))),
  floatUnary("FastGelu", (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))),
  FusedConv,
  FusedMatMul,
  skipNorm(false),
  skipNorm(true),
  { opType: "SimplifiedLayerNormalization", run: rms.run, infer: rms.infer },
]);
