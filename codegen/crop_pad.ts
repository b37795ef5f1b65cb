/**
 * CenterCropPad: one thread per output element, copying the input element it centers on or
 * writing zero. The target shape is a plan-time constant.
 *
 * Invariant: on each resized axis of input size `d` and target size `s`, output coordinate `i`
 * reads input coordinate `i + shift`, where `shift = ⌊(d−s)/2⌋` when cropping and
 * `−⌊(s−d)/2⌋` when padding (the reference's `ir/ops/pad_crop.ts`); a coordinate outside
 * `[0, d)` yields 0. Elements are copied unchanged, so every dtype with GPU storage works.
 * @module
 */
import { cropAxes } from "../ir/ops/pad_crop.ts";
import { stridesOf } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { constInts, type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { literal } from "./wgsl.ts";

/**
 * Per axis of an input of `dims` resized to `outDims`, the shift from output to input coordinate.
 * @param dims the input's dims
 * @param outDims the output's dims
 * @returns `shift[a]` with input coordinate = output coordinate + `shift[a]`
 */
export function centerShifts(dims: readonly number[], outDims: readonly number[]): number[] {
  return dims.map((d, a) => {
    const s = outDims[a];
    return d >= s ? Math.floor((d - s) / 2) : -Math.floor((s - d) / 2);
  });
}

function lowerCenterCropPad(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const shape = constInts(ctx, 1, "shape");
  const axes = cropAxes(ctx.attrs, x.dims.length, shape.length);
  const outDims = [...x.dims];
  axes.forEach((a, k) => {
    if (shape[k] < 0) unsupported(`negative target size ${shape[k]}`);
    outDims[a] = shape[k];
  });
  if (outDims.join() !== y.dims.join()) unsupported(`output shape [${y.dims}] is not [${outDims}]`);
  const shift = centerShifts(x.dims, outDims);
  const st = stridesOf(x.dims);
  const t = requireStorage(x.dtype);
  const kernel = copyKernel({
    name: "CenterCropPad",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const X = b.read(x.name, t);
      const conds: string[] = [];
      const terms: string[] = [];
      c.forEach((ci, a) => {
        if (y.dims[a] === 1 && x.dims[a] >= 1) {
          // a single coordinate (0): its input coordinate is the constant shift
          if (shift[a] > 0) terms.push(`${shift[a] * st[a]}u`);
          return;
        }
        let src = ci;
        if (shift[a] > 0) src = `(${ci} + ${shift[a]}u)`;
        else if (shift[a] < 0) {
          const p = -shift[a];
          // valid for p ≤ i < p + d; i − p stays unsigned there
          conds.push(`${ci} >= ${p}u && ${ci} < ${p + x.dims[a]}u`);
          src = `(${ci} - ${p}u)`;
        } else if (y.dims[a] > x.dims[a]) conds.push(`${ci} < ${x.dims[a]}u`);
        terms.push(st[a] === 1 ? src : `${src} * ${st[a]}u`);
      });
      const off = terms.join(" + ") || "0u";
      if (!conds.length) return { expr: `${X}[${off}]` };
      const ok = conds.join(" && ");
      // clamp the offset so the read stays in bounds where the value is not used
      return {
        code: `let ok = ${ok};\n  let v = ${X}[select(0u, ${off}, ok)];`,
        expr: `select(${literal(t, 0)}, v, ok)`,
      };
    },
  });
  return { kind: "kernels", kernels: [kernel] };
}

registerLowerings("", { CenterCropPad: { lower: lowerCenterCropPad, constInputs: [1] } });
