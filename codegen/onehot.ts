/**
 * OneHot and EyeLike, one thread per output element.
 *
 * OneHot: the element at depth position `d` of index `k` takes `values[1]` (on) when index `k`
 * (negative counted from `depth`; float indices truncated toward zero, NaN matching nothing)
 * equals `d`, else `values[0]` (off); out-of-range indices give an all-off row, as in the
 * reference. `depth` must be known at plan time (it fixes the output shape).
 * EyeLike: 1 where column − row = k, else 0, in the output dtype (the `dtype` attribute or the
 * input's); only the input's shape is read.
 * @module
 */
import { DataType } from "../ir/dtype.ts";
import { sizeOf, toNumbers } from "../ir/tensor.ts";
import { fromEnd } from "./gather_nd.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings } from "./lowering.ts";
import { i32Lit, literal } from "./wgsl.ts";

function oneHot(ctx: LowerCtx): Lowered {
  const ind = ctx.input(0), values = ctx.input(2), y = ctx.output(0);
  const depthT = ctx.constant(1);
  if (!depthT || depthT.size !== 1) unsupported("depth must be a one-element constant");
  const depth = Math.trunc(toNumbers(depthT)[0]);
  if (sizeOf(values.dims) !== 2) unsupported(`values must hold [off, on], has shape [${values.dims}]`);
  const r = ind.dims.length;
  const axis = normAxis(ctx.attrs.attrInt("axis", -1), r + 1);
  if (!(depth >= 1) || y.dims[axis] !== depth) unsupported(`depth ${depth} does not match the output [${y.dims}]`);
  if (y.dtype !== values.dtype) unsupported("the output must have values' element type");
  const inner = Math.max(sizeOf(ind.dims.slice(axis)), 1);
  const it = requireStorage(ind.dtype), vt = requireStorage(values.dtype);
  if (ind.dtype === DataType.BOOL) unsupported("bool indices");
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "OneHot",
      nodes: [ctx.node.name],
      dims: [sizeOf(y.dims)],
      out: y,
      value: (b) => {
        const I = b.read(ind.name, it), V = b.read(values.name, vt);
        let hit: string;
        if (it === "u32") hit = `q == d`;
        else if (it === "i32") hit = `${fromEnd("q", depth)} == i32(d)`;
        else {
          // truncate toward zero; NaN matches nothing
          hit = `(bitcast<u32>(q) & 0x7fffffffu) <= 0x7f800000u && ${fromEnd("i32(q)", depth)} == i32(d)`;
        }
        const code = `let d = (i / ${inner}u) % ${depth}u;
  let q = ${I}[(i / ${depth * inner}u) * ${inner}u + i % ${inner}u];`;
        return { code, expr: `select(${V}[0], ${V}[1], ${hit})` };
      },
    })],
  };
}

function eyeLike(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  if (x.dims.length !== 2) unsupported(`input must be 2-D, has shape [${x.dims}]`);
  const t = requireStorage(y.dtype);
  const k = ctx.attrs.attrInt("k", 0);
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "EyeLike",
      nodes: [ctx.node.name],
      dims: y.dims,
      out: y,
      value: (_b, c) => ({
        expr: `select(${literal(t, 0)}, ${literal(t, 1)}, i32(${c[1]}) - i32(${c[0]}) == ${i32Lit(k)})`,
      }),
    })],
  };
}

registerLowerings("", {
  OneHot: { lower: oneHot, constInputs: [1] },
  EyeLike: { lower: eyeLike },
});
