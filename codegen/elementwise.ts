/**
 * The elementwise op family: unary math and activations, binary arithmetic and comparisons with
 * broadcasting, Where, Cast, Clip, the variadic Sum/Mean/Max/Min, Expand (a broadcast copy) and
 * ONNX Runtime's com.microsoft Gelu/FastGelu. Each lowers to an `EwOp` that `fusion.ts` chains.
 * @module
 */
import { elementwiseOp } from "./expr.ts";
import { unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, type OpLowering, registerLowerings } from "./lowering.ts";

function lowerElementwise(ctx: LowerCtx): Lowered {
  const op = elementwiseOp({
    node: ctx.node,
    attrs: ctx.attrs,
    opset: ctx.opset,
    inDtypes: ctx.node.inputs.map((_, i) => (ctx.hasInput(i) ? ctx.input(i).dtype : undefined)),
    outDtype: ctx.output(0).dtype,
    constant: (i) => ctx.constant(i),
  });
  if (!op) unsupported("the op is not implemented");
  return { kind: "elementwise", op };
}

const ew: OpLowering = { lower: lowerElementwise };

/** Ops of the default domain lowered as elementwise. */
export const ELEMENTWISE_OPS: string[] = [
  "Abs",
  "Neg",
  "Reciprocal",
  "Sqrt",
  "Exp",
  "Log",
  "Ceil",
  "Floor",
  "Round",
  "Sign",
  "Sin",
  "Cos",
  "Tan",
  "Asin",
  "Acos",
  "Atan",
  "Sinh",
  "Cosh",
  "Asinh",
  "Acosh",
  "Atanh",
  "Erf",
  "Tanh",
  "Sigmoid",
  "Relu",
  "LeakyRelu",
  "Elu",
  "Selu",
  "Celu",
  "HardSigmoid",
  "HardSwish",
  "Softplus",
  "Softsign",
  "Mish",
  "ThresholdedRelu",
  "Shrink",
  "Gelu",
  "IsNaN",
  "IsInf",
  "Not",
  "BitwiseNot",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Pow",
  "Mod",
  "PRelu",
  "BitwiseAnd",
  "BitwiseOr",
  "BitwiseXor",
  "And",
  "Or",
  "Xor",
  "Equal",
  "Greater",
  "Less",
  "GreaterOrEqual",
  "LessOrEqual",
  "Where",
  "Cast",
  "CastLike",
  "Clip",
  "Sum",
  "Mean",
  "Max",
  "Min",
];

registerLowerings("", Object.fromEntries(ELEMENTWISE_OPS.map((op) => [op, ew])));
registerLowerings("", { Expand: { lower: lowerElementwise, constInputs: [1] } });
registerLowerings("com.microsoft", { Gelu: ew, FastGelu: ew });
