/**
 * Shape-changing ops that keep or permute the elements: Reshape, Flatten, Squeeze, Unsqueeze,
 * Transpose, Expand, plus Identity, Shape and Size. Reshape-like ops share the input's storage
 * (tensors are immutable by convention); Transpose and Expand copy elements bit-exactly.
 * @module
 */
import { registerOps } from "./registry.ts";
import type { OpDef } from "./registry.ts";
import type { NodeContext } from "./node_context.ts";
import { DataType } from "../dtype.ts";
import { sizeOf, stridesOf, Tensor, toInts } from "../tensor.ts";
import { broadcastShapes, dimDiv, dimProduct, freshDim, isStatic, normAxis } from "../dims.ts";
import { tensorType } from "../types.ts";
import type { Dim } from "../types.ts";
import { allocUnits, gatherAxes, linearOffsets, permuteUnits, unitsOf } from "./_layout.ts";
import { freshDims, knownDims, knownInts, staticLength } from "./_infer_util.ts";

// ---------------------------------------------------------------------------------------------
// Reshape

/** Resolve a Reshape target (0 = copy, -1 = infer) against concrete input dims. */
export function resolveReshape(
  ctx: NodeContext,
  inDims: readonly number[],
  shape: readonly number[],
  allowzero: boolean,
): number[] {
  const out = shape.slice();
  let neg = -1;
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 0 && !allowzero) {
      if (i >= inDims.length) ctx.fail(`shape[${i}] is 0 but the input has rank ${inDims.length}`);
      out[i] = inDims[i];
    } else if (out[i] === -1) {
      if (neg >= 0) ctx.fail("more than one -1 in the target shape");
      neg = i;
    } else if (out[i] < -1) ctx.fail(`invalid target dim ${out[i]}`);
  }
  if (allowzero && neg >= 0 && shape.includes(0)) ctx.fail("allowzero with both 0 and -1 in the target shape");
  const total = sizeOf(inDims);
  if (neg >= 0) {
    let rest = 1;
    for (let i = 0; i < out.length; i++) if (i !== neg) rest *= out[i];
    if (rest === 0 || total % rest !== 0) ctx.fail(`cannot reshape [${inDims}] to [${shape}]`);
    out[neg] = total / rest;
  }
  if (sizeOf(out) !== total) ctx.fail(`cannot reshape [${inDims}] (${total} elements) to [${out}]`);
  return out;
}

function reshapeShapeInput(ctx: NodeContext): "input" | "attr" {
  return ctx.opset >= 5 || ctx.hasInput(1) ? "input" : "attr";
}

const Reshape: OpDef = {
  opType: "Reshape",
  run(ctx) {
    const x = ctx.input(0);
    const shape = reshapeShapeInput(ctx) === "input" ? toInts(ctx.input(1)) : ctx.attrInts("shape");
    const out = resolveReshape(ctx, x.dims, shape, ctx.attrInt("allowzero", 0) !== 0);
    return [new Tensor(x.dtype, out, x.data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const inShape = ctx.shape(0);
    const allowzero = ctx.attrInt("allowzero", 0) !== 0;
    const target: Dim[] | undefined = reshapeShapeInput(ctx) === "input" ? knownDims(ctx, 1) : ctx.attrInts("shape");
    if (!target) {
      const n = staticLength(ctx, 1);
      return [tensorType(dt, n === undefined ? undefined : freshDims(n))];
    }
    const out: Dim[] = target.slice();
    let neg = -1;
    for (let i = 0; i < out.length; i++) {
      const d = out[i];
      if (d === 0 && !allowzero) out[i] = inShape && i < inShape.length ? inShape[i] : freshDim();
      else if (d === -1) {
        if (neg >= 0) ctx.fail("more than one -1 in the target shape");
        neg = i;
      } else if (typeof d === "number" && d < -1) ctx.fail(`invalid target dim ${d}`);
    }
    if (inShape && isStatic(dimProduct(inShape)) && out.every((d) => isStatic(d))) {
      // fully static: validate exactly
      return [tensorType(dt, resolveReshape(ctx, inShape as number[], target as number[], allowzero))];
    }
    if (neg >= 0) {
      if (!inShape) out[neg] = freshDim();
      else {
        const rest = dimProduct(out.filter((_, i) => i !== neg));
        out[neg] = dimDiv(dimProduct(inShape), rest);
      }
    }
    return [tensorType(dt, out)];
  },
};

// ---------------------------------------------------------------------------------------------
// Flatten

const Flatten: OpDef = {
  opType: "Flatten",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    let axis = ctx.attrInt("axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) ctx.fail(`axis ${ctx.attrInt("axis", 1)} out of range for rank ${r}`);
    return [new Tensor(x.dtype, [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))], x.data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt, [freshDim(), freshDim()])];
    let axis = ctx.attrInt("axis", 1);
    if (axis < 0) axis += s.length;
    if (axis < 0 || axis > s.length) ctx.fail(`axis ${ctx.attrInt("axis", 1)} out of range for rank ${s.length}`);
    return [tensorType(dt, [dimProduct(s.slice(0, axis)), dimProduct(s.slice(axis))])];
  },
};

// ---------------------------------------------------------------------------------------------
// Squeeze / Unsqueeze

function axesOf(ctx: NodeContext, fromInput: () => number[] | undefined): number[] | undefined {
  if (ctx.opset >= 13) return fromInput();
  return ctx.hasAttr("axes") ? ctx.attrInts("axes") : undefined;
}

function squeezeDims(ctx: NodeContext, dims: readonly Dim[], axes: number[] | undefined): Dim[] | undefined {
  const r = dims.length;
  if (axes === undefined) {
    if (dims.some((d) => !isStatic(d))) return undefined;
    return dims.filter((d) => d !== 1);
  }
  const drop = new Set<number>();
  for (const a of axes) {
    const n = normAxis(a, r, (m) => ctx.fail(m));
    const d = dims[n];
    if (isStatic(d) && d !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${d}`);
    drop.add(n);
  }
  return dims.filter((_, i) => !drop.has(i));
}

const Squeeze: OpDef = {
  opType: "Squeeze",
  run(ctx) {
    const x = ctx.input(0);
    const axes = axesOf(ctx, () => ctx.hasInput(1) ? toInts(ctx.input(1)) : undefined);
    return [new Tensor(x.dtype, squeezeDims(ctx, x.dims, axes) as number[], x.data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    const hasAxes = ctx.opset >= 13 ? ctx.hasInput(1) : ctx.hasAttr("axes");
    const axes = axesOf(ctx, () => knownInts(ctx, 1));
    if (!s || (hasAxes && !axes)) return [tensorType(dt)];
    return [tensorType(dt, squeezeDims(ctx, s, axes))];
  },
};

function unsqueezeDims(ctx: NodeContext, dims: readonly Dim[], axes: number[]): Dim[] {
  const r = dims.length + axes.length;
  const ins = new Set<number>();
  for (const a of axes) {
    const n = normAxis(a, r, (m) => ctx.fail(m));
    if (ins.has(n)) ctx.fail(`axis ${a} repeated`);
    ins.add(n);
  }
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(ins.has(i) ? 1 : dims[k++]);
  return out;
}

const Unsqueeze: OpDef = {
  opType: "Unsqueeze",
  run(ctx) {
    const x = ctx.input(0);
    const axes = ctx.opset >= 13 ? toInts(ctx.input(1)) : ctx.attrInts("axes");
    return [new Tensor(x.dtype, unsqueezeDims(ctx, x.dims, axes) as number[], x.data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    const axes = ctx.opset >= 13 ? knownInts(ctx, 1) : ctx.attrInts("axes");
    if (!s) return [tensorType(dt)];
    if (!axes) {
      const n = staticLength(ctx, 1);
      return [tensorType(dt, n === undefined ? undefined : freshDims(s.length + n))];
    }
    return [tensorType(dt, unsqueezeDims(ctx, s, axes))];
  },
};

// ---------------------------------------------------------------------------------------------
// Transpose

function permOf(ctx: NodeContext, r: number): number[] {
  const perm = ctx.hasAttr("perm") ? ctx.attrInts("perm") : Array.from({ length: r }, (_, i) => r - 1 - i);
  if (perm.length !== r) ctx.fail(`perm [${perm}] does not match rank ${r}`);
  const seen = new Set<number>();
  const out = perm.map((p) => {
    const a = normAxis(p, r, (m) => ctx.fail(m));
    if (seen.has(a)) ctx.fail(`perm [${perm}] is not a permutation`);
    seen.add(a);
    return a;
  });
  return out;
}

const Transpose: OpDef = {
  opType: "Transpose",
  run(ctx) {
    const x = ctx.input(0);
    const perm = permOf(ctx, x.dims.length);
    const outDims = perm.map((p) => x.dims[p]);
    if (perm.every((p, i) => p === i)) return [new Tensor(x.dtype, outDims, x.data)];
    const { data, u } = allocUnits(x.dtype, x.size);
    permuteUnits(unitsOf(x), x.dims, perm, u);
    return [new Tensor(x.dtype, outDims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) {
      if (ctx.hasAttr("perm")) return [tensorType(dt, freshDims(ctx.attrInts("perm").length))];
      return [tensorType(dt)];
    }
    return [tensorType(dt, permOf(ctx, s.length).map((p) => s[p]))];
  },
};

// ---------------------------------------------------------------------------------------------
// Expand

/** Broadcast `x` to `outDims` (which it must broadcast to), copying elements. */
export function expandTo(x: Tensor, outDims: readonly number[]): Tensor {
  const r = outDims.length;
  const off = r - x.dims.length;
  const strides = stridesOf(x.dims);
  const offs = outDims.map((d, a) => {
    const ia = a - off;
    const stride = ia < 0 || x.dims[ia] === 1 ? 0 : strides[ia];
    return linearOffsets(d, stride);
  });
  const { data, u } = allocUnits(x.dtype, sizeOf(outDims));
  gatherAxes(unitsOf(x), 0, offs, outDims, u);
  return new Tensor(x.dtype, outDims, data);
}

const Expand: OpDef = {
  opType: "Expand",
  run(ctx) {
    const x = ctx.input(0);
    const shape = toInts(ctx.input(1));
    if (shape.some((d) => d < 0)) ctx.fail(`invalid shape [${shape}]`);
    const out = broadcastShapes([x.dims, shape], (m) => ctx.fail(m)) as number[];
    return [expandTo(x, out)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    const target = knownDims(ctx, 1);
    if (!target) {
      const n = staticLength(ctx, 1);
      if (n === undefined || !s) return [tensorType(dt)];
      const r = Math.max(n, s.length);
      const out = freshDims(r);
      // known dims of the input that are not 1 survive the broadcast (a symbolic one may be 1)
      for (let i = 0; i < s.length; i++) if (typeof s[i] === "number" && s[i] !== 1) out[r - s.length + i] = s[i];
      return [tensorType(dt, out)];
    }
    if (!s) return [tensorType(dt)];
    return [tensorType(dt, broadcastShapes([s, target], (m) => ctx.fail(m)))];
  },
};

// ---------------------------------------------------------------------------------------------
// Identity, Shape, Size

const Identity: OpDef = {
  opType: "Identity",
  run(ctx) {
    return [ctx.value(0)];
  },
  infer(ctx) {
    return [ctx.type(0)];
  },
};

function shapeRange(ctx: NodeContext, r: number): [number, number] {
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.attrInt("start", 0));
  const end = ctx.hasAttr("end") ? clamp(ctx.attrInt("end")) : r;
  return [start, Math.max(end, start)];
}

const Shape: OpDef = {
  opType: "Shape",
  run(ctx) {
    const v = ctx.input(0);
    const [s, e] = shapeRange(ctx, v.dims.length);
    const dims = v.dims.slice(s, e);
    return [new Tensor(DataType.INT64, [dims.length], BigInt64Array.from(dims, (d) => BigInt(d)))];
  },
  infer(ctx) {
    const s = ctx.shape(0);
    if (!s) return [tensorType(DataType.INT64, [freshDim()])];
    const [a, b] = shapeRange(ctx, s.length);
    return [tensorType(DataType.INT64, [b - a])];
  },
};

const Size: OpDef = {
  opType: "Size",
  run(ctx) {
    return [new Tensor(DataType.INT64, [], BigInt64Array.of(BigInt(ctx.input(0).size)))];
  },
  infer() {
    return [tensorType(DataType.INT64, [])];
  },
};

registerOps([Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Expand, Identity, Shape, Size]);
