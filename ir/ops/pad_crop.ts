/**
 * Padding, cropping and block rearrangement: Pad (constant/reflect/edge/wrap), CenterCropPad,
 * DepthToSpace (DCR/CRD), SpaceToDepth, ReverseSequence, Trilu and Col2Im. All but Col2Im
 * (which sums overlapping patches in float64) move elements bit-exactly.
 * @module
 */
import { registerOps } from "./registry.ts";
import type { OpDef } from "./registry.ts";
import type { NodeContext } from "./node_context.ts";
import { fromNumbers, sizeOf, stridesOf, Tensor, toInts, toNumbers } from "../tensor.ts";
import type { DataType } from "../dtype.ts";
import { dimAdd, dimDiv, dimMul, freshDim, isStatic, normAxis } from "../dims.ts";
import { tensorType } from "../types.ts";
import type { Dim } from "../types.ts";
import { allocUnits, axisOffsets, copyElems, firstUnits, gatherAxes, permuteUnits, unitsOf } from "./_layout.ts";
import type { UnitArray } from "./_layout.ts";
import { freshDims, knownDims, knownInts } from "./_infer_util.ts";

// ---------------------------------------------------------------------------------------------
// Pad

type PadMode = "constant" | "reflect" | "edge" | "wrap";

/** Source coordinate of output coordinate `i` of an axis of size `d` padded by `pb` at its start. */
function padSource(mode: PadMode, d: number, pb: number, i: number): number {
  const c = i - pb;
  if (c >= 0 && c < d) return c;
  switch (mode) {
    case "constant":
      return -1;
    case "edge":
      return c < 0 ? 0 : d - 1;
    case "wrap":
      return ((c % d) + d) % d;
    case "reflect": {
      if (d === 1) return 0;
      const p = 2 * (d - 1);
      const m = ((c % p) + p) % p;
      return m < d ? m : p - m;
    }
  }
}

/** Pads for every axis ([begins…, ends…] of full rank) from the node's pads and axes. */
function fullPads(ctx: NodeContext, r: number, pads: number[], axes: number[] | undefined): number[] {
  const ax = axes ? axes.map((a) => normAxis(a, r, (m) => ctx.fail(m))) : Array.from({ length: r }, (_, i) => i);
  if (pads.length !== 2 * ax.length) ctx.fail(`pads has ${pads.length} entries, expected ${2 * ax.length}`);
  const out = new Array<number>(2 * r).fill(0);
  ax.forEach((a, k) => {
    out[a] = pads[k];
    out[a + r] = pads[k + ax.length];
  });
  return out;
}

function padMode(ctx: NodeContext): PadMode {
  const m = ctx.attrString("mode", "constant");
  if (m !== "constant" && m !== "reflect" && m !== "edge" && m !== "wrap") ctx.fail(`unknown mode '${m}'`);
  if (m === "wrap" && ctx.opset < 19) ctx.fail("mode 'wrap' needs opset 19");
  return m;
}

function padAttr(ctx: NodeContext): number[] {
  return ctx.hasAttr("pads") ? ctx.attrInts("pads") : ctx.attrInts("paddings");
}

const Pad: OpDef = {
  opType: "Pad",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    const mode = padMode(ctx);
    let pads: number[];
    let fill: UnitArray | undefined;
    if (ctx.opset < 11) {
      pads = fullPads(ctx, r, padAttr(ctx), undefined);
      const v = ctx.attrFloat("value", 0);
      if (v !== 0) fill = firstUnits(fromNumbers(x.dtype, [], [v]));
    } else {
      const axes = ctx.hasInput(3) ? toInts(ctx.input(3)) : undefined;
      pads = fullPads(ctx, r, toInts(ctx.input(1)), axes);
      const cv = ctx.optionalInput(2);
      if (cv && cv.size > 0) {
        if (cv.dtype !== x.dtype) ctx.fail("constant_value has another element type than data");
        fill = firstUnits(cv);
      }
    }
    const outDims = x.dims.map((d, a) => d + pads[a] + pads[a + r]);
    if (outDims.some((d) => d < 0)) ctx.fail(`pads [${pads}] crop more than the input [${x.dims}]`);
    x.dims.forEach((d, a) => {
      if (mode !== "constant" && d === 0 && outDims[a] > 0) ctx.fail(`cannot ${mode}-pad an empty axis ${a}`);
    });
    const strides = stridesOf(x.dims);
    const offs = outDims.map((od, a) => axisOffsets(od, strides[a], (i) => padSource(mode, x.dims[a], pads[a], i)));
    const { data, u } = allocUnits(x.dtype, sizeOf(outDims));
    gatherAxes(unitsOf(x), 0, offs, outDims, u, 0, fill);
    return [new Tensor(x.dtype, outDims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt)];
    const r = s.length;
    padMode(ctx);
    let pads: Dim[] | undefined;
    let axes: number[] | undefined;
    if (ctx.opset < 11) pads = padAttr(ctx);
    else {
      pads = knownDims(ctx, 1);
      axes = ctx.hasInput(3) ? knownInts(ctx, 3) : undefined;
      if (ctx.hasInput(3) && !axes) return [tensorType(dt, freshDims(r))];
    }
    const ax = axes ? axes.map((a) => normAxis(a, r, (m) => ctx.fail(m))) : Array.from({ length: r }, (_, i) => i);
    if (!pads) {
      const out = s.slice();
      for (const a of ax) out[a] = freshDim();
      return [tensorType(dt, out)];
    }
    if (pads.length !== 2 * ax.length) ctx.fail(`pads has ${pads.length} entries, expected ${2 * ax.length}`);
    const out = s.slice();
    ax.forEach((a, k) => {
      out[a] = dimAdd(dimAdd(s[a], pads![k]), pads![k + ax.length]);
      if (isStatic(out[a]) && out[a] < 0) ctx.fail(`pads crop axis ${a} below zero`);
    });
    return [tensorType(dt, out)];
  },
};

// ---------------------------------------------------------------------------------------------
// CenterCropPad

/** The normalized axes CenterCropPad resizes (all by default); fails unless there is one per `shape` entry. */
export function cropAxes(ctx: NodeContext, r: number, n: number): number[] {
  const axes = ctx.hasAttr("axes") ? ctx.attrInts("axes") : Array.from({ length: r }, (_, i) => i);
  if (axes.length !== n) ctx.fail(`shape has ${n} entries for ${axes.length} axes`);
  return axes.map((a) => normAxis(a, r, (m) => ctx.fail(m)));
}

const CenterCropPad: OpDef = {
  opType: "CenterCropPad",
  run(ctx) {
    const x = ctx.input(0);
    const shape = toInts(ctx.input(1));
    const axes = cropAxes(ctx, x.dims.length, shape.length);
    const outDims = x.dims.slice();
    axes.forEach((a, k) => {
      if (shape[k] < 0) ctx.fail(`negative target size ${shape[k]}`);
      outDims[a] = shape[k];
    });
    const strides = stridesOf(x.dims);
    const offs = outDims.map((s, a) => {
      const d = x.dims[a];
      // crop: start at floor((d-s)/2); pad: zeros before, floor((s-d)/2) of them
      const shift = d >= s ? Math.floor((d - s) / 2) : -Math.floor((s - d) / 2);
      return axisOffsets(s, strides[a], (i) => (i + shift >= 0 && i + shift < d ? i + shift : -1));
    });
    const { data, u } = allocUnits(x.dtype, sizeOf(outDims));
    gatherAxes(unitsOf(x), 0, offs, outDims, u);
    return [new Tensor(x.dtype, outDims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt)];
    const shape = knownDims(ctx, 1);
    const out = s.slice();
    if (!shape) {
      const axes = ctx.hasAttr("axes") ? ctx.attrInts("axes") : undefined;
      if (!axes) return [tensorType(dt, freshDims(s.length))];
      for (const a of axes) out[normAxis(a, s.length, (m) => ctx.fail(m))] = freshDim();
      return [tensorType(dt, out)];
    }
    cropAxes(ctx, s.length, shape.length).forEach((a, k) => out[a] = shape[k]);
    return [tensorType(dt, out)];
  },
};

// ---------------------------------------------------------------------------------------------
// DepthToSpace / SpaceToDepth

function check4d(ctx: NodeContext, dims: readonly Dim[]): void {
  if (dims.length !== 4) ctx.fail(`input must be 4-D, has shape [${dims}]`);
}

function blocksize(ctx: NodeContext): number {
  const b = ctx.attrInt("blocksize");
  if (b < 1) ctx.fail(`blocksize ${b} must be positive`);
  return b;
}

const DepthToSpace: OpDef = {
  opType: "DepthToSpace",
  run(ctx) {
    const x = ctx.input(0);
    check4d(ctx, x.dims);
    const b = blocksize(ctx);
    const [n, c, h, w] = x.dims;
    if (c % (b * b) !== 0) ctx.fail(`channels ${c} not divisible by blocksize² ${b * b}`);
    const c2 = c / (b * b);
    const crd = ctx.attrString("mode", "DCR") === "CRD";
    const view = crd ? [n, c2, b, b, h, w] : [n, b, b, c2, h, w];
    const perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
    const { data, u } = allocUnits(x.dtype, x.size);
    permuteUnits(unitsOf(x), view, perm, u);
    return [new Tensor(x.dtype, [n, c2, h * b, w * b], data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt, freshDims(4))];
    check4d(ctx, s);
    const b = blocksize(ctx);
    return [tensorType(dt, [s[0], dimDiv(s[1], b * b), dimMul(s[2], b), dimMul(s[3], b)])];
  },
};

const SpaceToDepth: OpDef = {
  opType: "SpaceToDepth",
  run(ctx) {
    const x = ctx.input(0);
    check4d(ctx, x.dims);
    const b = blocksize(ctx);
    const [n, c, h, w] = x.dims;
    if (h % b !== 0 || w % b !== 0) ctx.fail(`spatial dims ${h}×${w} not divisible by blocksize ${b}`);
    const { data, u } = allocUnits(x.dtype, x.size);
    permuteUnits(unitsOf(x), [n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4], u);
    return [new Tensor(x.dtype, [n, c * b * b, h / b, w / b], data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt, freshDims(4))];
    check4d(ctx, s);
    const b = blocksize(ctx);
    return [tensorType(dt, [s[0], dimMul(s[1], b * b), dimDiv(s[2], b), dimDiv(s[3], b)])];
  },
};

// ---------------------------------------------------------------------------------------------
// ReverseSequence

const ReverseSequence: OpDef = {
  opType: "ReverseSequence",
  run(ctx) {
    const x = ctx.input(0);
    const lens = toInts(ctx.input(1));
    const r = x.dims.length;
    if (r < 2) ctx.fail(`input must have rank ≥ 2, has shape [${x.dims}]`);
    const bAxis = ctx.attrInt("batch_axis", 1), tAxis = ctx.attrInt("time_axis", 0);
    if (!((bAxis === 0 && tAxis === 1) || (bAxis === 1 && tAxis === 0))) {
      ctx.fail(`batch_axis ${bAxis} and time_axis ${tAxis} must be 0 and 1`);
    }
    const nb = x.dims[bAxis], nt = x.dims[tAxis];
    if (lens.length !== nb) ctx.fail(`sequence_lens has ${lens.length} entries for batch ${nb}`);
    const inner = sizeOf(x.dims.slice(2));
    const strides = stridesOf(x.dims);
    const src = unitsOf(x);
    const { data, u } = allocUnits(x.dtype, x.size);
    for (let b = 0; b < nb; b++) {
      const len = lens[b];
      if (len < 0 || len > nt) ctx.fail(`sequence length ${len} out of range [0, ${nt}]`);
      for (let t = 0; t < nt; t++) {
        const st = t < len ? len - 1 - t : t;
        const from = b * strides[bAxis] + st * strides[tAxis];
        const to = b * strides[bAxis] + t * strides[tAxis];
        copyElems(src, from, u, to, inner);
      }
    }
    return [new Tensor(x.dtype, x.dims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    return [dt === undefined ? undefined : tensorType(dt, ctx.shape(0))];
  },
};

// ---------------------------------------------------------------------------------------------
// Trilu

const Trilu: OpDef = {
  opType: "Trilu",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    if (r < 2) ctx.fail(`input must have rank ≥ 2, has shape [${x.dims}]`);
    const k = ctx.hasInput(1) ? toInts(ctx.input(1))[0] : 0;
    const upper = ctx.attrInt("upper", 1) !== 0;
    const rows = x.dims[r - 2], cols = x.dims[r - 1];
    const count = sizeOf(x.dims.slice(0, -2));
    const src = unitsOf(x);
    const { data, u } = allocUnits(x.dtype, x.size);
    for (let m = 0; m < count; m++) {
      for (let i = 0; i < rows; i++) {
        const lo = upper ? Math.max(0, Math.min(cols, i + k)) : 0;
        const hi = upper ? cols : Math.max(0, Math.min(cols, i + k + 1));
        const row = (m * rows + i) * cols;
        copyElems(src, row + lo, u, row + lo, hi - lo);
      }
    }
    return [new Tensor(x.dtype, x.dims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    return [dt === undefined ? undefined : tensorType(dt, ctx.shape(0))];
  },
};

// ---------------------------------------------------------------------------------------------
// Col2Im

const Col2Im: OpDef = {
  opType: "Col2Im",
  run(ctx) {
    const x = ctx.input(0);
    const image = toInts(ctx.input(1));
    const block = toInts(ctx.input(2));
    const nd = image.length;
    if (block.length !== nd) ctx.fail(`block_shape has ${block.length} entries, image_shape ${nd}`);
    if (x.dims.length !== 3) ctx.fail(`input must be [N, C·∏block, L], has shape [${x.dims}]`);
    const dil = ctx.attrInts("dilations", new Array(nd).fill(1));
    const pads = ctx.attrInts("pads", new Array(2 * nd).fill(0));
    const str = ctx.attrInts("strides", new Array(nd).fill(1));
    if (dil.length !== nd || str.length !== nd || pads.length !== 2 * nd) ctx.fail("attribute lengths do not match");
    const [n, cb, l] = x.dims;
    const kSize = sizeOf(block);
    if (kSize === 0 || cb % kSize !== 0) ctx.fail(`channels ${cb} not divisible by the block size ${kSize}`);
    const c = cb / kSize;
    const grid = image.map((d, i) =>
      Math.floor((d + pads[i] + pads[i + nd] - (dil[i] * (block[i] - 1) + 1)) / str[i]) + 1
    );
    if (grid.some((g) => g < 0) || sizeOf(grid) !== l) ctx.fail(`L = ${l} does not match the block grid [${grid}]`);
    const v = toNumbers(x);
    const imgSize = sizeOf(image);
    const out = new Float64Array(n * c * imgSize);
    const imgStrides = stridesOf(image);
    const kIdx = new Array<number>(nd).fill(0);
    const gIdx = new Array<number>(nd).fill(0);
    for (let kk = 0; kk < kSize; kk++) {
      let rem = kk;
      for (let d = nd - 1; d >= 0; d--) {
        kIdx[d] = rem % block[d];
        rem = Math.floor(rem / block[d]);
      }
      for (let li = 0; li < l; li++) {
        let g = li, at = 0, inside = true;
        for (let d = nd - 1; d >= 0; d--) {
          gIdx[d] = g % grid[d];
          g = Math.floor(g / grid[d]);
          const p = gIdx[d] * str[d] - pads[d] + kIdx[d] * dil[d];
          if (p < 0 || p >= image[d]) inside = false;
          at += p * imgStrides[d];
        }
        if (!inside) continue;
        for (let b = 0; b < n; b++) {
          for (let ch = 0; ch < c; ch++) {
            out[(b * c + ch) * imgSize + at] += v[(b * cb + ch * kSize + kk) * l + li];
          }
        }
      }
    }
    return [fromNumbers(x.dtype, [n, c, ...image], out)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    const image = knownDims(ctx, 1);
    const block = knownInts(ctx, 2);
    const nd = image?.length ?? ctx.shape(1)?.[0];
    if (!isStatic(nd)) return [tensorType(dt as DataType)];
    const c = s && block ? dimDiv(s[1], sizeOf(block)) : freshDim();
    return [tensorType(dt, [s ? s[0] : freshDim(), c, ...(image ?? freshDims(nd))])];
  },
};

registerOps([Pad, CenterCropPad, DepthToSpace, SpaceToDepth, ReverseSequence, Trilu, Col2Im]);
