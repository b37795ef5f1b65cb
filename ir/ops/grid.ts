/**
 * Sampling at computed positions: GridSample (2-D and N-D; modes linear / nearest / cubic, and
 * the older names bilinear / bicubic; padding_mode zeros / border / reflection;
 * align_corners), AffineGrid (2-D and 3-D) and RoiAlign (avg and max modes,
 * half_pixel / output_half_pixel coordinates).
 *
 * All arithmetic is in float64, rounded once to the output type.
 * @module
 */
import { fromNumbers, sizeOf, type Tensor, toInts, toNumbers } from "../tensor.ts";
import { type Dim, tensorType, type ValueType } from "../types.ts";
import { freshDim } from "../dims.ts";
import type { RunContext } from "./run_context.ts";
import type { InferContext } from "./infer_context.ts";
import { type OpDef, registerOps } from "./registry.ts";

// ---- GridSample ----

/** Grid value in [-1, 1] → pixel coordinate. */
function unnormalize(g: number, size: number, alignCorners: boolean): number {
  return alignCorners ? (g + 1) / 2 * (size - 1) : ((g + 1) * size - 1) / 2;
}

/** Reflect x into [lo2/2, hi2/2] (bounds given doubled so that they stay integers). */
function reflect(x: number, lo2: number, hi2: number): number {
  if (lo2 === hi2) return 0;
  const min = lo2 / 2, span = (hi2 - lo2) / 2;
  const a = Math.abs(x - min);
  const extra = a % span;
  const flips = Math.floor(a / span);
  return flips % 2 === 0 ? extra + min : span - extra + min;
}

function clip(x: number, size: number): number {
  return Math.min(size - 1, Math.max(0, x));
}

/** Apply border / reflection padding to a coordinate (zeros leaves it). */
function padCoord(x: number, size: number, padding: string, alignCorners: boolean): number {
  if (padding === "border") return clip(x, size);
  if (padding === "reflection") {
    const r = alignCorners ? reflect(x, 0, 2 * (size - 1)) : reflect(x, -1, 2 * size - 1);
    return clip(r, size);
  }
  return x;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : (f % 2 === 0 ? f : f + 1);
}

function cubicCoeffs(t: number, out: Float64Array, off: number): void {
  const A = -0.75;
  const k = (x: number) => {
    const a = Math.abs(x);
    if (a <= 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
    if (a < 2) return ((A * a - 5 * A) * a + 8 * A) * a - 4 * A;
    return 0;
  };
  out[off] = k(t + 1);
  out[off + 1] = k(t);
  out[off + 2] = k(1 - t);
  out[off + 3] = k(2 - t);
}

/** GridSample's interpolation mode, its opset-16 names (bilinear, bicubic) mapped to the newer ones. */
export function gridMode(ctx: RunContext | InferContext): "linear" | "nearest" | "cubic" {
  const m = ctx.attrString("mode", ctx.opset >= 20 ? "linear" : "bilinear");
  if (m === "linear" || m === "bilinear") return "linear";
  if (m === "cubic" || m === "bicubic") return "cubic";
  if (m === "nearest") return "nearest";
  return ctx.fail(`unknown mode '${m}'`);
}

function runGridSample(ctx: RunContext): Tensor[] {
  const x = ctx.input(0), grid = ctx.input(1);
  const mode = gridMode(ctx);
  const padding = ctx.attrString("padding_mode", "zeros");
  if (!["zeros", "border", "reflection"].includes(padding)) ctx.fail(`unknown padding_mode '${padding}'`);
  const align = ctx.attrInt("align_corners", 0) !== 0;
  const r = x.dims.length - 2;
  if (r < 1) ctx.fail(`input must have rank 3 or more, is [${x.dims}]`);
  if (grid.dims.length !== r + 2 || grid.dims[0] !== x.dims[0] || grid.dims[r + 1] !== r) {
    ctx.fail(`grid of shape [${grid.dims}] does not fit input [${x.dims}]`);
  }
  const [N, C] = x.dims;
  const sp = x.dims.slice(2); // spatial sizes D1..Dr
  const outSp = grid.dims.slice(1, r + 1);
  const P = sizeOf(outSp), S = sizeOf(sp);
  const strides = new Array<number>(r);
  for (let d = r - 1, acc = 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= sp[d];
  }
  const T = mode === "nearest" ? 1 : mode === "linear" ? 2 : 4;
  const combos = T ** r;
  const xv = toNumbers(x), gv = toNumbers(grid);
  const out = new Float64Array(N * C * P);
  const tIdx = new Int32Array(r * T), tW = new Float64Array(r * T), tOk = new Uint8Array(r * T);
  const offs = new Int32Array(combos), ws = new Float64Array(combos);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      // per spatial dim d, its taps; grid's last axis lists coordinates innermost-first
      for (let d = 0; d < r; d++) {
        const size = sp[d];
        const g = gv[(n * P + p) * r + (r - 1 - d)];
        let c = unnormalize(g, size, align);
        if (mode !== "cubic") c = padCoord(c, size, padding, align);
        const b = d * T;
        if (mode === "nearest") {
          const i = roundHalfEven(c);
          tIdx[b] = i;
          tW[b] = 1;
        } else if (mode === "linear") {
          const i = Math.floor(c), t = c - i;
          tIdx[b] = i;
          tW[b] = 1 - t;
          tIdx[b + 1] = i + 1;
          tW[b + 1] = t;
        } else {
          const i = Math.floor(c);
          cubicCoeffs(c - i, tW, b);
          for (let k = 0; k < 4; k++) tIdx[b + k] = i - 1 + k;
        }
        for (let k = 0; k < T; k++) {
          let i = tIdx[b + k];
          if (mode === "cubic" && padding !== "zeros") i = Math.round(padCoord(i, size, padding, align));
          tOk[b + k] = i >= 0 && i < size ? 1 : 0;
          tIdx[b + k] = i;
        }
      }
      for (let m = 0; m < combos; m++) {
        let off = 0, w = 1, rest = m;
        for (let d = r - 1; d >= 0; d--) {
          const k = rest % T;
          rest = (rest - k) / T;
          const b = d * T + k;
          if (!tOk[b]) {
            w = 0;
            break;
          }
          off += tIdx[b] * strides[d];
          w *= tW[b];
        }
        offs[m] = off;
        ws[m] = w;
      }
      for (let ch = 0; ch < C; ch++) {
        const base = (n * C + ch) * S;
        let s = 0;
        for (let m = 0; m < combos; m++) if (ws[m] !== 0) s += ws[m] * xv[base + offs[m]];
        out[(n * C + ch) * P + p] = s;
      }
    }
  }
  return [fromNumbers(x.dtype, [N, C, ...outSp], out)];
}

function inferGridSample(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  if (!t) return [undefined];
  gridMode(ctx);
  const xs = t.shape, gs = ctx.shape(1);
  if (!xs && !gs) return [tensorType(t.dtype)];
  const rank = xs?.length ?? gs!.length;
  const out: Dim[] = [
    xs?.[0] ?? gs?.[0] ?? freshDim("grid"),
    xs?.[1] ?? freshDim("grid"),
    ...Array.from({ length: rank - 2 }, (_, i) => gs?.[i + 1] ?? freshDim("grid")),
  ];
  return [tensorType(t.dtype, out)];
}

// ---- AffineGrid ----

function baseCoords(size: number, align: boolean): Float64Array {
  const v = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    v[i] = align ? (size === 1 ? -1 : -1 + 2 * i / (size - 1)) : (2 * i + 1) / size - 1;
  }
  return v;
}

function runAffineGrid(ctx: RunContext): Tensor[] {
  const theta = ctx.input(0);
  const size = toInts(ctx.input(1));
  const align = ctx.attrInt("align_corners", 0) !== 0;
  const r = size.length - 2;
  if (r !== 2 && r !== 3) ctx.fail(`size must have 4 or 5 values, has ${size.length}`);
  const N = size[0];
  if (theta.dims.join() !== [N, r, r + 1].join()) {
    ctx.fail(`theta of shape [${theta.dims}] does not match size [${size}]`);
  }
  const sp = size.slice(2);
  const coords = sp.map((s) => baseCoords(s, align)); // per spatial dim (D, H, W order)
  const P = sizeOf(sp);
  const tv = toNumbers(theta);
  const out = new Float64Array(N * P * r);
  const idx = new Array<number>(r).fill(0);
  const v = new Float64Array(r + 1);
  for (let n = 0; n < N; n++) {
    idx.fill(0);
    for (let p = 0; p < P; p++) {
      // homogeneous point (x, y[, z], 1): x runs over the last spatial dim
      for (let k = 0; k < r; k++) v[k] = coords[r - 1 - k][idx[r - 1 - k]];
      v[r] = 1;
      for (let row = 0; row < r; row++) {
        let s = 0;
        for (let col = 0; col <= r; col++) s += tv[(n * r + row) * (r + 1) + col] * v[col];
        out[(n * P + p) * r + row] = s;
      }
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d] < sp[d]) break;
        idx[d] = 0;
      }
    }
  }
  return [fromNumbers(theta.dtype, [N, ...sp, r], out)];
}

function inferAffineGrid(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  if (!t) return [undefined];
  const sv = ctx.shapeValue(1) ?? (ctx.constant(1) ? toInts(ctx.constant(1)!) : undefined);
  if (sv) return [tensorType(t.dtype, [sv[0], ...sv.slice(2), sv.length - 2])];
  const n = ctx.shape(1)?.[0];
  if (typeof n === "number") {
    return [
      tensorType(t.dtype, [
        t.shape?.[0] ?? freshDim("grid"),
        ...Array.from({ length: n - 2 }, () => freshDim("grid")),
        n - 2,
      ]),
    ];
  }
  return [tensorType(t.dtype)];
}

// ---- RoiAlign ----

function runRoiAlign(ctx: RunContext): Tensor[] {
  const x = ctx.input(0), rois = ctx.input(1), bi = ctx.input(2);
  if (x.dims.length !== 4) ctx.fail(`input must be 4-D, is [${x.dims}]`);
  const [N, C, H, W] = x.dims;
  const R = rois.dims[0];
  if (rois.dims.length !== 2 || rois.dims[1] !== 4) ctx.fail(`rois must have shape [n, 4], is [${rois.dims}]`);
  if (bi.size !== R) ctx.fail(`batch_indices has ${bi.size} values for ${R} rois`);
  const mode = ctx.attrString("mode", "avg");
  if (mode !== "avg" && mode !== "max") ctx.fail(`unknown mode '${mode}'`);
  const oh = ctx.attrInt("output_height", 1), ow = ctx.attrInt("output_width", 1);
  const ratio = ctx.attrInt("sampling_ratio", 0);
  const scale = ctx.attrFloat("spatial_scale", 1);
  const ctm = ctx.opset >= 16 ? ctx.attrString("coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
  if (ctm !== "half_pixel" && ctm !== "output_half_pixel") ctx.fail(`unknown coordinate_transformation_mode '${ctm}'`);
  const halfPixel = ctm === "half_pixel";
  const xv = toNumbers(x), rv = toNumbers(rois), bv = toInts(bi);
  const out = new Float64Array(R * C * oh * ow);
  const off = halfPixel ? 0.5 : 0;
  for (let r = 0; r < R; r++) {
    const b = bv[r];
    if (b < 0 || b >= N) ctx.fail(`batch index ${b} is out of range for batch ${N}`);
    const sw = rv[4 * r] * scale - off, sh = rv[4 * r + 1] * scale - off;
    const ew = rv[4 * r + 2] * scale - off, eh = rv[4 * r + 3] * scale - off;
    let rw = ew - sw, rh = eh - sh;
    if (!halfPixel) {
      rw = Math.max(rw, 1);
      rh = Math.max(rh, 1);
    }
    const bh = rh / oh, bw = rw / ow;
    const gh = ratio > 0 ? ratio : Math.ceil(rh / oh), gw = ratio > 0 ? ratio : Math.ceil(rw / ow);
    const count = Math.max(gh * gw, 1);
    for (let c = 0; c < C; c++) {
      const img = (b * C + c) * H * W;
      for (let ph = 0; ph < oh; ph++) {
        for (let pw = 0; pw < ow; pw++) {
          let acc = mode === "avg" ? 0 : -Infinity;
          let any = false;
          for (let iy = 0; iy < gh; iy++) {
            let y = sh + ph * bh + (iy + 0.5) * bh / gh;
            for (let ix = 0; ix < gw; ix++) {
              let xx = sw + pw * bw + (ix + 0.5) * bw / gw;
              if (y < -1 || y > H || xx < -1 || xx > W) {
                if (mode === "max") {
                  acc = Math.max(acc, 0);
                  any = true;
                }
                continue;
              }
              if (y < 0) y = 0;
              if (xx < 0) xx = 0;
              let yl = Math.floor(y), xl = Math.floor(xx), yh: number, xh: number;
              let yy = y;
              if (yl >= H - 1) {
                yh = yl = H - 1;
                yy = yl;
              } else yh = yl + 1;
              if (xl >= W - 1) {
                xh = xl = W - 1;
                xx = xl;
              } else xh = xl + 1;
              const ly = yy - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
              const w1 = hy * hx * xv[img + yl * W + xl], w2 = hy * lx * xv[img + yl * W + xh];
              const w3 = ly * hx * xv[img + yh * W + xl], w4 = ly * lx * xv[img + yh * W + xh];
              if (mode === "avg") acc += w1 + w2 + w3 + w4;
              else {
                // the max of the weighted corner values, as the reference kernels define it
                acc = Math.max(acc, w1, w2, w3, w4);
                any = true;
              }
            }
          }
          out[((r * C + c) * oh + ph) * ow + pw] = mode === "avg" ? acc / count : any ? acc : 0;
        }
      }
    }
  }
  return [fromNumbers(x.dtype, [R, C, oh, ow], out)];
}

function inferRoiAlign(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  if (!t) return [undefined];
  const R = ctx.shape(1)?.[0] ?? ctx.shape(2)?.[0] ?? freshDim("roi");
  const C = t.shape?.[1] ?? freshDim("roi");
  return [tensorType(t.dtype, [R, C, ctx.attrInt("output_height", 1), ctx.attrInt("output_width", 1)])];
}

/** The op definitions of this file. */
export const gridOps: OpDef[] = [
  { opType: "GridSample", run: runGridSample, infer: inferGridSample },
  { opType: "AffineGrid", run: runAffineGrid, infer: inferAffineGrid },
  { opType: "RoiAlign", run: runRoiAlign, infer: inferRoiAlign },
];

registerOps(gridOps);
