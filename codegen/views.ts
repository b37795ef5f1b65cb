/**
 * Views: ops whose output is their input's elements in the same order under another shape.
 * They compile to nothing: the output aliases the input's buffer (`plan.ts`).
 * @module
 */
import { toNumbers } from "../ir/tensor.ts";
import { unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";

function view(ctx: LowerCtx): Lowered {
  if (ctx.input(0).dtype !== ctx.output(0).dtype) unsupported("the output type differs from the input type");
  return { kind: "view" };
}

function dropout(ctx: LowerCtx): Lowered {
  if (ctx.hasOutput(1)) unsupported("the mask output is not supported");
  // training mode with ratio 0 keeps every element (PyTorch exports attention dropout so)
  const training = ctx.constant(2), ratio = ctx.constant(1);
  const zeroRatio = ratio !== undefined && toNumbers(ratio)[0] === 0;
  if (ctx.hasInput(2) && (!training || (training.data as Uint8Array)[0] !== 0) && !zeroRatio) {
    unsupported("training mode is not supported");
  }
  if (ctx.attrs.hasAttr("seed") && ctx.opset < 12) unsupported("a seeded dropout is not supported");
  return view(ctx);
}

registerLowerings("", {
  Reshape: { lower: view, constInputs: [1] },
  Squeeze: { lower: view, constInputs: [1] },
  Unsqueeze: { lower: view, constInputs: [1] },
  Flatten: { lower: view },
  Identity: { lower: view },
  Dropout: { lower: dropout, constInputs: [1, 2] },
});
