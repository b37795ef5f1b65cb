/**
 * Resampling: Resize (opsets 10 to 19: nearest / linear / cubic modes, every
 * coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside,
 * extrapolation_value, antialias, axes, keep_aspect_ratio_policy, scales or sizes) and the older
 * Upsample.
 *
 * Resampling is separable: each resized axis is processed in turn with precomputed taps
 * (input index and weight per output position), in float64, and the result is rounded once to
 * the input type. tf_crop_and_resize positions that fall outside the input take
 * extrapolation_value.
 * @module
 */
import { fromNumbers, sizeOf, type Tensor, toInts, toNumbers } from "../tensor.ts";
import { type Dim, tensorType, type ValueType } from "../types.ts";
import { freshDim, isStatic, normAxis } from "../dims.ts";
import type { NodeContext } from "./node_context.ts";
import type { RunContext } from "./run_context.ts";
import type { InferContext } from "./infer_context.ts";
import { type OpDef, registerOps } from "./registry.ts";

/** The node's attributes, read once per run with the defaults of its opset. */
export interface ResizeAttrs {
  mode: "nearest" | "linear" | "cubic";
  coord: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
  extrapolation: number;
  antialias: boolean;
  policy: string;
}

/** Resize/Upsample attributes with their opset's defaults; fails (OpError) on an unknown mode. */
export function readAttrs(ctx: NodeContext): ResizeAttrs {
  const legacy = ctx.node.opType === "Upsample" || ctx.opset < 11;
  let mode = ctx.attrString("mode", "nearest").toLowerCase();
  if (mode === "bilinear") mode = "linear";
  if (mode === "bicubic") mode = "cubic";
  if (mode !== "nearest" && mode !== "linear" && mode !== "cubic") ctx.fail(`unknown mode '${mode}'`);
  const coord = legacy ? "asymmetric" : ctx.attrString("coordinate_transformation_mode", "half_pixel");
  const coords = [
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
  ];
  if (!coords.includes(coord)) ctx.fail(`unknown coordinate_transformation_mode '${coord}'`);
  const nearest = legacy ? "floor" : ctx.attrString("nearest_mode", "round_prefer_floor");
  if (!["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"].includes(nearest)) {
    ctx.fail(`unknown nearest_mode '${nearest}'`);
  }
  const policy = ctx.attrString("keep_aspect_ratio_policy", "stretch");
  if (!["stretch", "not_larger", "not_smaller"].includes(policy)) {
    ctx.fail(`unknown keep_aspect_ratio_policy '${policy}'`);
  }
  return {
    mode,
    coord,
    nearest,
    cubicA: ctx.attrFloat("cubic_coeff_a", -0.75),
    excludeOutside: ctx.attrInt("exclude_outside", 0) !== 0,
    extrapolation: ctx.attrFloat("extrapolation_value", 0),
    antialias: ctx.attrInt("antialias", 0) !== 0,
    policy,
  };
}

/** The axes that scales/sizes/roi refer to (all of them unless the `axes` attribute says). */
function resizeAxes(ctx: NodeContext, rank: number): number[] {
  const axes = ctx.opset >= 18 ? ctx.attrInts("axes", []) : [];
  if (axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normAxis(a, rank, (m) => ctx.fail(m)));
}

/** Output sizes and the per-axis scales used to map coordinates. */
function plan(
  ctx: NodeContext,
  a: ResizeAttrs,
  inDims: readonly number[],
  axes: number[],
  scalesIn: number[] | undefined,
  sizesIn: number[] | undefined,
): { out: number[]; scales: number[]; lenF: number[] } {
  const rank = inDims.length;
  const out = [...inDims];
  const lenF = [...inDims];
  const scales = new Array<number>(rank).fill(1);
  if (sizesIn) {
    if (sizesIn.length !== axes.length) ctx.fail(`sizes has ${sizesIn.length} values for ${axes.length} axes`);
    if (a.policy === "stretch") {
      axes.forEach((ax, i) => {
        out[ax] = sizesIn[i];
        lenF[ax] = sizesIn[i];
        scales[ax] = sizesIn[i] / inDims[ax];
      });
    } else {
      const ratios = axes.map((ax, i) => sizesIn[i] / inDims[ax]);
      const s = a.policy === "not_larger" ? Math.min(...ratios) : Math.max(...ratios);
      for (const ax of axes) {
        out[ax] = Math.floor(s * inDims[ax] + 0.5);
        lenF[ax] = s * inDims[ax];
        scales[ax] = s;
      }
    }
  } else if (scalesIn) {
    if (scalesIn.length !== axes.length) ctx.fail(`scales has ${scalesIn.length} values for ${axes.length} axes`);
    axes.forEach((ax, i) => {
      if (!(scalesIn[i] > 0)) ctx.fail(`scales must be positive, got ${scalesIn[i]}`);
      scales[ax] = scalesIn[i];
      lenF[ax] = inDims[ax] * scalesIn[i];
      out[ax] = Math.floor(lenF[ax]);
    });
  } else ctx.fail("one of 'scales' and 'sizes' is required");
  return { out, scales, lenF };
}

/**
 * Map an output coordinate to the input's coordinate system. As in ONNX's definition, the
 * "resized length" in these formulas is lenIn·scale, which is fractional when scales are given
 * (half_pixel_symmetric also uses the integer output length).
 */
export function sourceCoord(
  coord: string,
  x: number,
  lenIn: number,
  lenOutInt: number,
  lenOut: number,
  scale: number,
  roiStart: number,
  roiEnd: number,
): number {
  switch (coord) {
    case "half_pixel":
      return (x + 0.5) / scale - 0.5;
    case "half_pixel_symmetric": {
      const adj = lenOutInt / lenOut;
      const offset = (lenIn / 2) * (1 - adj);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case "pytorch_half_pixel":
      return lenOut > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case "align_corners":
      return lenOut === 1 ? 0 : x * (lenIn - 1) / (lenOut - 1);
    case "asymmetric":
      return x / scale;
    case "tf_half_pixel_for_nn":
      return (x + 0.5) / scale;
    default: // tf_crop_and_resize
      return lenOut > 1
        ? roiStart * (lenIn - 1) + x * (roiEnd - roiStart) * (lenIn - 1) / (lenOut - 1)
        : 0.5 * (roiStart + roiEnd) * (lenIn - 1);
  }
}

/** The input index a nearest-mode coordinate rounds to. */
export function nearestIndex(mode: string, x: number): number {
  switch (mode) {
    case "round_prefer_floor":
      return x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
    case "round_prefer_ceil":
      return Math.round(x);
    case "floor":
      return Math.floor(x);
    default:
      return Math.ceil(x);
  }
}

/** Keys' cubic convolution kernel with coefficient A. */
export function cubicKernel(d: number, A: number): number {
  const x = Math.abs(d);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

/** Taps of one axis: `taps` (index, weight) pairs per output position, plus outside flags. */
interface AxisTaps {
  taps: number;
  idx: Int32Array;
  w: Float64Array;
  outside: Uint8Array | undefined;
}

function axisTaps(
  a: ResizeAttrs,
  lenIn: number,
  lenOut: number,
  lenOutF: number,
  scale: number,
  roiStart: number,
  roiEnd: number,
): AxisTaps {
  const crop = a.coord === "tf_crop_and_resize";
  const outside = crop ? new Uint8Array(lenOut) : undefined;
  if (a.mode === "nearest") {
    const idx = new Int32Array(lenOut);
    for (let j = 0; j < lenOut; j++) {
      const x = sourceCoord(a.coord, j, lenIn, lenOut, lenOutF, scale, roiStart, roiEnd);
      if (outside && (x < 0 || x > lenIn - 1)) outside[j] = 1;
      idx[j] = Math.min(lenIn - 1, Math.max(0, nearestIndex(a.nearest, x)));
    }
    return { taps: 1, idx, w: new Float64Array(lenOut).fill(1), outside };
  }
  const radius = a.mode === "linear" ? 1 : 2;
  const s = a.antialias && scale < 1 ? scale : 1;
  const kmin = Math.floor(-radius / s) + 1;
  const taps = 2 - 2 * kmin;
  const idx = new Int32Array(lenOut * taps), w = new Float64Array(lenOut * taps);
  const normalize = s !== 1 || a.excludeOutside;
  for (let j = 0; j < lenOut; j++) {
    const x = sourceCoord(a.coord, j, lenIn, lenOut, lenOutF, scale, roiStart, roiEnd);
    if (outside && (x < 0 || x > lenIn - 1)) outside[j] = 1;
    const base = Math.floor(x), t = x - base;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const i = base + kmin + k;
      const d = (kmin + k - t) * s;
      let wt = a.mode === "linear" ? Math.max(0, 1 - Math.abs(d)) : cubicKernel(d, a.cubicA);
      if (a.excludeOutside && (i < 0 || i >= lenIn)) wt = 0;
      idx[j * taps + k] = Math.min(lenIn - 1, Math.max(0, i));
      w[j * taps + k] = wt;
      sum += wt;
    }
    if (normalize && sum !== 0) { for (let k = 0; k < taps; k++) w[j * taps + k] /= sum; }
  }
  return { taps, idx, w, outside };
}

/** Resample `x` (dims `dims`) along `axis` to `lenOut` positions. */
function resampleAxis(x: Float64Array, dims: number[], axis: number, lenOut: number, t: AxisTaps): Float64Array {
  const lenIn = dims[axis];
  const outer = sizeOf(dims.slice(0, axis)), inner = sizeOf(dims.slice(axis + 1));
  const y = new Float64Array(outer * lenOut * inner);
  const { taps, idx, w } = t;
  for (let o = 0; o < outer; o++) {
    const src = o * lenIn * inner, dst = o * lenOut * inner;
    for (let j = 0; j < lenOut; j++) {
      const row = dst + j * inner;
      for (let k = 0; k < taps; k++) {
        const wt = w[j * taps + k];
        if (wt === 0) continue;
        const from = src + idx[j * taps + k] * inner;
        for (let i = 0; i < inner; i++) y[row + i] += wt * x[from + i];
      }
    }
  }
  return y;
}

function isIdentity(t: AxisTaps, lenIn: number, lenOut: number): boolean {
  if (lenIn !== lenOut || t.outside?.some((v) => v !== 0)) return false;
  for (let j = 0; j < lenOut; j++) {
    for (let k = 0; k < t.taps; k++) {
      const wt = t.w[j * t.taps + k];
      if (wt !== 0 && !(wt === 1 && t.idx[j * t.taps + k] === j)) return false;
    }
  }
  return true;
}

function readScalesSizes(ctx: RunContext): { scales?: number[]; sizes?: number[]; roi?: number[] } {
  if (ctx.node.opType === "Upsample") {
    const scales = ctx.opset >= 9 ? Array.from(toNumbers(ctx.input(1))) : ctx.attrFloats("scales");
    return { scales };
  }
  if (ctx.opset < 11) return { scales: Array.from(toNumbers(ctx.input(1))) };
  const roiT = ctx.hasInput(1) ? ctx.input(1) : undefined;
  const scalesT = ctx.hasInput(2) ? ctx.input(2) : undefined;
  const sizesT = ctx.hasInput(3) ? ctx.input(3) : undefined;
  const scales = scalesT && scalesT.size > 0 ? Array.from(toNumbers(scalesT)) : undefined;
  const sizes = sizesT && sizesT.size > 0 ? toInts(sizesT) : undefined;
  if (scales && sizes) ctx.fail("only one of 'scales' and 'sizes' may be given");
  const roi = roiT && roiT.size > 0 ? Array.from(toNumbers(roiT)) : undefined;
  return { scales, sizes, roi };
}

function runResize(ctx: RunContext): Tensor[] {
  const x = ctx.input(0);
  const a = readAttrs(ctx);
  const rank = x.dims.length;
  const axes = ctx.node.opType === "Upsample" ? Array.from({ length: rank }, (_, i) => i) : resizeAxes(ctx, rank);
  const { scales: sIn, sizes, roi } = readScalesSizes(ctx);
  const { out, scales, lenF } = plan(ctx, a, x.dims, axes, sIn, sizes);
  const roiStart = new Array<number>(rank).fill(0), roiEnd = new Array<number>(rank).fill(1);
  if (roi && a.coord === "tf_crop_and_resize") {
    if (roi.length !== 2 * axes.length) ctx.fail(`roi has ${roi.length} values for ${axes.length} axes`);
    axes.forEach((ax, i) => {
      roiStart[ax] = roi[i];
      roiEnd[ax] = roi[axes.length + i];
    });
  }
  let data = toNumbers(x);
  const dims = [...x.dims];
  const outsides: [number, Uint8Array][] = [];
  if (sizeOf(out) > 0) {
    for (let ax = 0; ax < rank; ax++) {
      const t = axisTaps(a, dims[ax], out[ax], lenF[ax], scales[ax], roiStart[ax], roiEnd[ax]);
      if (isIdentity(t, dims[ax], out[ax])) continue;
      if (dims[ax] === 0) ctx.fail(`cannot resize an empty axis ${ax} to ${out[ax]}`);
      data = resampleAxis(data, dims, ax, out[ax], t);
      dims[ax] = out[ax];
      if (t.outside?.some((v) => v !== 0)) outsides.push([ax, t.outside]);
    }
  }
  if (sizeOf(out) === 0) data = new Float64Array(0);
  for (const [ax, flags] of outsides) {
    const outer = sizeOf(out.slice(0, ax)), inner = sizeOf(out.slice(ax + 1)), len = out[ax];
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < len; j++) {
        if (flags[j]) data.fill(a.extrapolation, (o * len + j) * inner, (o * len + j + 1) * inner);
      }
    }
  }
  return [fromNumbers(x.dtype, out, data)];
}

function inferResize(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  if (!t) return [undefined];
  const shape = t.shape;
  if (!shape) return [tensorType(t.dtype)];
  const rank = shape.length;
  const a = readAttrs(ctx);
  const upsample = ctx.node.opType === "Upsample";
  const axes = upsample ? Array.from({ length: rank }, (_, i) => i) : resizeAxes(ctx, rank);
  let scales: number[] | undefined, sizes: Dim[] | undefined;
  let unknown = false;
  const readScales = (i: number) => {
    if (!ctx.hasInput(i)) return;
    const c = ctx.constant(i);
    if (!c) {
      if (ctx.shape(i)?.[0] !== 0) unknown = true;
      return;
    }
    if (c.size > 0) scales = Array.from(toNumbers(c));
  };
  if (upsample) {
    if (ctx.opset >= 9) readScales(1);
    else scales = ctx.attrFloats("scales");
  } else if (ctx.opset < 11) readScales(1);
  else {
    readScales(2);
    if (ctx.hasInput(3)) {
      const c = ctx.constant(3);
      if (c) sizes = c.size > 0 ? toInts(c) : undefined;
      else if (ctx.shapeValue(3)) sizes = ctx.shapeValue(3);
      else unknown = true;
    }
  }
  const out: Dim[] = [...shape];
  const fresh = () => {
    for (const ax of axes) out[ax] = freshDim("resize");
  };
  if (sizes) {
    if (sizes.length !== axes.length) ctx.fail(`sizes has ${sizes.length} values for ${axes.length} axes`);
    if (a.policy === "stretch") axes.forEach((ax, i) => out[ax] = sizes![i]);
    else if (isStaticIn(shape, axes) && sizes.every(isStatic)) {
      const inDims = shape.map((d) => isStatic(d) ? d : 1);
      const p = plan(ctx, a, inDims, axes, undefined, sizes as number[]);
      for (const ax of axes) out[ax] = p.out[ax];
    } else fresh();
  } else if (scales) {
    if (scales.length !== axes.length) ctx.fail(`scales has ${scales.length} values for ${axes.length} axes`);
    axes.forEach((ax, i) => {
      const d = shape[ax];
      out[ax] = scales![i] === 1 ? d : isStatic(d) ? Math.floor(d * scales![i]) : freshDim("resize");
    });
  } else if (unknown) fresh();
  else fresh();
  return [tensorType(t.dtype, out)];
}

function isStaticIn(shape: readonly Dim[], axes: number[]): boolean {
  return axes.every((ax) => isStatic(shape[ax]));
}

/** The op definitions of this file. */
export const resizeOps: OpDef[] = [
  { opType: "Resize", run: runResize, infer: inferResize },
  { opType: "Upsample", run: runResize, infer: inferResize },
];

registerOps(resizeOps);
