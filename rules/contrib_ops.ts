/**
 * The ONNX Runtime contrib ops that rule packs produce, registered with Saturn's op registry so
 * that the e-graph can type them and the reference interpreter can run optimized models:
 * `com.microsoft` Gelu, FastGelu and FusedConv (Conv, then an optional sum input Z, then an
 * activation), and SimplifiedLayerNormalization (which ONNX Runtime registers in the ONNX domain,
 * version 1; it is RMSNormalization under another name); MatMulNBits (block-quantized weights) is
 * defined in `ir/ops/matmul_nbits.ts` and registered by importing this file.
 * @module
 */
import "../ir/ops/all.ts";
import "../ir/ops/matmul_nbits.ts";
import { findOp, type OpDef, registerOps } from "../ir/ops/registry.ts";
import { erf, inferSame, requireDtype, unaryNumber } from "../ir/ops/_elementwise.ts";
import { isFloat } from "../ir/dtype.ts";
import { fromNumbers, toNumbers } from "../ir/tensor.ts";
import type { RunContext } from "../ir/ops/run_context.ts";
import { fusedActivationFormula } from "../ir/ops/activation.ts";
import { numberAlgebra } from "../ir/algebra.ts";

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

registerOps([
  floatUnary("Gelu", (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))),
  floatUnary("FastGelu", (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))),
  FusedConv,
  { opType: "SimplifiedLayerNormalization", run: rms.run, infer: rms.infer },
]);
