/**
 * Resize and Upsample (nearest, linear, cubic; every coordinate_transformation_mode and
 * nearest_mode, exclude_outside, extrapolation, antialias, axes, keep_aspect_ratio_policy).
 * Resizing is separable: the taps of each resized axis (input index and weight per output
 * position) are computed on the CPU at plan time, exactly as the reference defines them, and
 * travel with the kernel as a constant buffer; the kernel sums the tap products per element.
 * @module
 */
import { float32Tensor, sizeOf, stridesOf, toInts, toNumbers } from "../ir/tensor.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings } from "./lowering.ts";
import { copyKernel } from "./layout.ts";
import { f32Lit } from "./wgsl.ts";
import {
  cubicKernel,
  nearestIndex,
  readAttrs as readResizeAttrs,
  type ResizeAttrs,
  sourceCoord,
} from "../ir/ops/resize.ts";

type Attrs = ResizeAttrs;

/** The reference op's attribute reading; an unknown value makes the node unsupported here. */
function readAttrs(ctx: LowerCtx): Attrs {
  try {
    return readResizeAttrs(ctx.attrs);
  } catch (e) {
    return unsupported((e as Error).message);
  }
}

/** One axis's table: per output position, [outside, (index, weight) × taps]. */
function axisTable(a: Attrs, lenIn: number, lenOut: number, lenF: number, scale: number, r0: number, r1: number) {
  const crop = a.coord === "tf_crop_and_resize";
  if (a.mode === "nearest") {
    const t: number[] = [];
    for (let j = 0; j < lenOut; j++) {
      const x = sourceCoord(a.coord, j, lenIn, lenOut, lenF, scale, r0, r1);
      t.push(crop && (x < 0 || x > lenIn - 1) ? 1 : 0, Math.min(lenIn - 1, Math.max(0, nearestIndex(a.nearest, x))), 1);
    }
    return { taps: 1, table: t };
  }
  const radius = a.mode === "linear" ? 1 : 2;
  const s = a.antialias && scale < 1 ? scale : 1;
  const kmin = Math.floor(-radius / s) + 1;
  const taps = 2 - 2 * kmin;
  const normalize = s !== 1 || a.excludeOutside;
  const t: number[] = [];
  for (let j = 0; j < lenOut; j++) {
    const x = sourceCoord(a.coord, j, lenIn, lenOut, lenF, scale, r0, r1);
    t.push(crop && (x < 0 || x > lenIn - 1) ? 1 : 0);
    const base = Math.floor(x), f = x - base;
    const idx: number[] = [], w: number[] = [];
    for (let k = 0; k < taps; k++) {
      const i = base + kmin + k, d = (kmin + k - f) * s;
      let wt = a.mode === "linear" ? Math.max(0, 1 - Math.abs(d)) : cubicKernel(d, a.cubicA);
      if (a.excludeOutside && (i < 0 || i >= lenIn)) wt = 0;
      idx.push(Math.min(lenIn - 1, Math.max(0, i)));
      w.push(wt);
    }
    const sum = w.reduce((p, q) => p + q, 0);
    for (let k = 0; k < taps; k++) t.push(idx[k], normalize && sum !== 0 ? w[k] / sum : w[k]);
  }
  return { taps, table: t };
}

function lowerResize(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  if (requireStorage(x.dtype) !== "f32") unsupported("input must be float32");
  const a = readAttrs(ctx);
  const rank = x.dims.length;
  const upsample = ctx.node.opType === "Upsample";
  const axesAttr = !upsample && ctx.opset >= 18 ? ctx.attrs.attrInts("axes", []) : [];
  const axes = axesAttr.length ? axesAttr.map((ax) => normAxis(ax, rank)) : Array.from({ length: rank }, (_, i) => i);
  const read = (i: number) => {
    if (!ctx.hasInput(i)) return undefined;
    const c = ctx.constant(i);
    if (!c) unsupported(`input ${i} must be a constant`);
    return c.size > 0 ? c : undefined;
  };
  let scalesIn: number[] | undefined, sizesIn: number[] | undefined, roi: number[] | undefined;
  if (upsample) scalesIn = ctx.opset >= 9 ? Array.from(toNumbers(read(1)!)) : ctx.attrs.attrFloats("scales");
  else if (ctx.opset < 11) scalesIn = Array.from(toNumbers(read(1)!));
  else {
    const s = read(2), z = read(3), r = read(1);
    scalesIn = s && Array.from(toNumbers(s));
    sizesIn = z && toInts(z);
    roi = r && Array.from(toNumbers(r));
  }
  const scales = new Array<number>(rank).fill(1), lenF = [...x.dims];
  if (sizesIn) {
    const ratios = axes.map((ax, i) => sizesIn![i] / x.dims[ax]);
    const s = a.policy === "not_larger" ? Math.min(...ratios) : a.policy === "not_smaller" ? Math.max(...ratios) : 0;
    axes.forEach((ax, i) => {
      scales[ax] = a.policy === "stretch" ? ratios[i] : s;
      lenF[ax] = a.policy === "stretch" ? sizesIn![i] : s * x.dims[ax];
    });
  } else if (scalesIn) {
    axes.forEach((ax, i) => {
      scales[ax] = scalesIn![i];
      lenF[ax] = x.dims[ax] * scalesIn![i];
    });
  } else unsupported("one of scales and sizes is required");
  const r0 = new Array<number>(rank).fill(0), r1 = new Array<number>(rank).fill(1);
  if (roi && a.coord === "tf_crop_and_resize") {
    axes.forEach((ax, i) => {
      r0[ax] = roi![i];
      r1[ax] = roi![axes.length + i];
    });
  }
  // the resized axes and their tables, concatenated into one constant
  const resized: { axis: number; taps: number; offset: number }[] = [];
  const all: number[] = [];
  for (let ax = 0; ax < rank; ax++) {
    if (x.dims[ax] === y.dims[ax] && scales[ax] === 1 && a.coord !== "tf_crop_and_resize") continue;
    const t = axisTable(a, x.dims[ax], y.dims[ax], lenF[ax], scales[ax], r0[ax], r1[ax]);
    resized.push({ axis: ax, taps: t.taps, offset: all.length });
    all.push(...t.table);
  }
  const tableName = `${ctx.node.name || y.name}#resize_taps`;
  const table = float32Tensor([Math.max(all.length, 1)], all.length ? all : [0]);
  const st = stridesOf(x.dims);
  const kernel = copyKernel({
    name: ctx.node.opType,
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const X = b.read(x.name, "f32");
      if (!resized.length) return { expr: `${X}[i]` };
      const T = b.read(tableName, "f32");
      const lines: string[] = ["var outside = false;"];
      for (const r of resized) {
        lines.push(`let e${r.axis} = ${r.offset}u + ${c[r.axis]} * ${1 + 2 * r.taps}u;`);
        lines.push(`outside = outside || ${T}[e${r.axis}] != 0.0;`);
      }
      const fixed = c.map((ci, ax) => (resized.some((r) => r.axis === ax) ? "" : `${ci} * ${st[ax]}u`)).filter((s) =>
        s
      );
      let body = `acc = acc + w * ${X}[${["off", ...fixed].join(" + ")}];`;
      for (let k = resized.length - 1; k >= 0; k--) {
        const r = resized[k];
        const prev = k === 0 ? { w: "1.0", off: "0u" } : { w: `w${k - 1}`, off: `off${k - 1}` };
        const wv = k === resized.length - 1 ? "w" : `w${k}`, ov = k === resized.length - 1 ? "off" : `off${k}`;
        body = `for (var t${k} = 0u; t${k} < ${r.taps}u; t${k} = t${k} + 1u) {
    let p${k} = e${r.axis} + 1u + 2u * t${k};
    let ${wv} = ${prev.w} * ${T}[p${k} + 1u];
    let ${ov} = ${prev.off} + u32(${T}[p${k}]) * ${st[r.axis]}u;
    ${body}
  }`;
      }
      lines.push("var acc = 0.0;", body);
      return { code: lines.join("\n  "), expr: `select(acc, ${f32Lit(a.extrapolation)}, outside)` };
    },
  });
  if (resized.length) kernel.constants = new Map([[tableName, table]]);
  if (sizeOf(y.dims) > 0 && sizeOf(x.dims) === 0) unsupported("cannot resize an empty tensor");
  return { kind: "kernels", kernels: [kernel] };
}

registerLowerings("", {
  Resize: { lower: lowerResize, constInputs: [1, 2, 3] },
  Upsample: { lower: lowerResize, constInputs: [1] },
});
