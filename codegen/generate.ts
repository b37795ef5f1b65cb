/**
 * Ops that make tensors from constants: Range and ConstantOfShape (fill kernels, for the sizes
 * `inferModel` does not fold on the CPU), and Trilu (a masked copy of the last two dims).
 * @module
 */
import { toNumbers } from "../ir/tensor.ts";
import { DataType } from "../ir/dtype.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { constInts, type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { copyKernel } from "./layout.ts";
import { literal } from "./wgsl.ts";

function range(ctx: LowerCtx): Lowered {
  const y = ctx.output(0);
  const t = requireStorage(y.dtype);
  const [start, delta] = [0, 2].map((i) => {
    const c = ctx.constant(i);
    if (!c) unsupported("start, limit and delta must be constants");
    return toNumbers(c)[0];
  });
  const expr = t === "f32"
    ? `${literal(t, start)} + f32(i) * ${literal(t, delta)}`
    : `${literal(t, start)} + i32(i) * ${literal(t, delta)}`;
  return {
    kind: "kernels",
    kernels: [copyKernel({ name: "Range", nodes: [ctx.node.name], dims: y.dims, out: y, value: () => ({ expr }) })],
  };
}

function constantOfShape(ctx: LowerCtx): Lowered {
  const y = ctx.output(0);
  const t = requireStorage(y.dtype);
  const a = ctx.attrs.attrTensor("value");
  const v = a ? toNumbers(a)[0] : 0;
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "ConstantOfShape",
      nodes: [ctx.node.name],
      dims: y.dims,
      out: y,
      value: () => ({ expr: literal(t, y.dtype === DataType.BOOL ? (v ? 1 : 0) : v) }),
    })],
  };
}

function trilu(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const r = x.dims.length;
  if (r < 2) unsupported("input must have rank ≥ 2");
  const k = ctx.hasInput(1) ? constInts(ctx, 1, "k")[0] : 0;
  const upper = ctx.attrs.attrInt("upper", 1) !== 0;
  const t = requireStorage(x.dtype);
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "Trilu",
      nodes: [ctx.node.name],
      dims: y.dims,
      out: y,
      value: (b, c) => {
        const d = `i32(${c[r - 1]}) - i32(${c[r - 2]})`;
        const keep = upper ? `${d} >= ${k}` : `${d} <= ${k}`;
        return { expr: `select(${literal(t, 0)}, ${b.read(x.name, t)}[i], ${keep})` };
      },
    })],
  };
}

registerLowerings("", {
  Range: { lower: range, constInputs: [0, 1, 2] },
  ConstantOfShape: { lower: constantOfShape, constInputs: [0] },
  Trilu: { lower: trilu, constInputs: [1] },
});
