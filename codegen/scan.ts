/**
 * CumSum and CumProd (exclusive, reverse) along a constant axis: one thread per element summing the
 * elements before it (the axis is short in the models Saturn targets; a parallel scan is a
 * later optimization).
 * @module
 */
import { stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { constInts, type LowerCtx, type Lowered, normAxis, registerLowerings } from "./lowering.ts";
import { copyKernel } from "./layout.ts";

function scan(prod: boolean) {
  return (ctx: LowerCtx): Lowered => cumulative(ctx, prod);
}

function cumulative(ctx: LowerCtx, prod: boolean): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const t = requireStorage(x.dtype);
  if (t === "u32") unsupported("unsigned inputs are not supported");
  const axis = normAxis(constInts(ctx, 1, "axis")[0], x.dims.length);
  const exclusive = ctx.attrs.attrInt("exclusive", 0) !== 0, reverse = ctx.attrs.attrInt("reverse", 0) !== 0;
  const D = x.dims[axis], st = stridesOf(x.dims)[axis];
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: ctx.node.opType,
      nodes: [ctx.node.name],
      dims: y.dims,
      out: y,
      value: (b, c) => {
        const X = b.read(x.name, t);
        const j = c[axis];
        const [lo, hi] = reverse ? [exclusive ? `${j} + 1u` : j, `${D}u`] : ["0u", exclusive ? j : `${j} + 1u`];
        return {
          code: `let base = i - ${j} * ${st}u;
  var acc = ${t === "f32" ? (prod ? "1.0" : "0.0") : (prod ? "1" : "0")};
  for (var k = ${lo}; k < ${hi}; k = k + 1u) { acc = acc ${prod ? "*" : "+"} ${X}[base + k * ${st}u]; }`,
          expr: "acc",
        };
      },
    })],
  };
}

registerLowerings("", {
  CumSum: { lower: scan(false), constInputs: [1] },
  CumProd: { lower: scan(true), constInputs: [1] },
});
