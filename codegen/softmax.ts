/**
 * Softmax, LogSoftmax and Hardmax: one workgroup per row (the axis since opset 13, the flattened
 * trailing dims before), max and sum reduced in workgroup memory, exp(x − max) / sum written back.
 * @module
 */
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings } from "./lowering.ts";
import { axisRows, rowKernel, rowLoop, rowWorkgroup, trailingRows } from "./rows.ts";
import { Bindings, NEG_INF, workgroupReduce } from "./wgsl.ts";

function softmax(log: boolean) {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    if (requireStorage(x.dtype) !== "f32") unsupported("input must be float32");
    const r = x.dims.length;
    const axis = normAxis(ctx.attrs.attrInt("axis", ctx.opset < 13 ? 1 : -1), r);
    const layout = ctx.opset < 13 ? trailingRows(x.dims, axis) : axisRows(x.dims, axis);
    const wg = rowWorkgroup(layout.len);
    const b = new Bindings();
    const X = b.read(x.name, "f32"), Y = b.write(y.name, "f32");
    const out = log ? `${X}[at] - mx - log(sum)` : `exp(${X}[at] - mx) / sum`;
    const body = `var m = ${NEG_INF};
  ${rowLoop(layout, wg, `m = max(m, ${X}[at]);`)}
  ${workgroupReduce("max", "m", "mx", wg)}
  var s = 0.0;
  ${rowLoop(layout, wg, `s = s + exp(${X}[at] - mx);`)}
  ${workgroupReduce("sum", "s", "sum", wg)}
  ${rowLoop(layout, wg, `${Y}[at] = ${out};`)}`;
    return {
      kind: "kernels",
      kernels: [rowKernel({ name: ctx.node.opType, nodes: [ctx.node.name], layout, wg, b, body })],
    };
  };
}

/** Hardmax: 1 at the first maximum of each row, 0 elsewhere. */
function hardmax(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  if (requireStorage(x.dtype) !== "f32") unsupported("input must be float32");
  const axis = normAxis(ctx.attrs.attrInt("axis", ctx.opset < 13 ? 1 : -1), x.dims.length);
  const layout = ctx.opset < 13 ? trailingRows(x.dims, axis) : axisRows(x.dims, axis);
  const wg = rowWorkgroup(layout.len);
  const b = new Bindings();
  const X = b.read(x.name, "f32"), Y = b.write(y.name, "f32");
  // the first index of the maximum: the minimum index whose value is the maximum (exact in f32 below 2^24)
  const body = `var m = ${NEG_INF};
  ${rowLoop(layout, wg, `m = max(m, ${X}[at]);`)}
  ${workgroupReduce("max", "m", "mx", wg)}
  var first = ${layout.len}.0;
  ${rowLoop(layout, wg, `if (${X}[at] == mx) { first = min(first, f32(j)); }`)}
  ${workgroupReduce("min", "first", "fi", wg)}
  ${rowLoop(layout, wg, `${Y}[at] = select(0.0, 1.0, f32(j) == fi);`)}`;
  return { kind: "kernels", kernels: [rowKernel({ name: "Hardmax", nodes: [ctx.node.name], layout, wg, b, body })] };
}

registerLowerings("", {
  Softmax: { lower: softmax(false) },
  LogSoftmax: { lower: softmax(true) },
  Hardmax: { lower: hardmax },
});
