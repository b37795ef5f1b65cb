/**
 * Joining and cutting tensors along axes: Concat, Split, Tile and Slice. Kernels copy
 * contiguous blocks of elements bit-exactly (any dtype); `infer` follows symbolic dims.
 * @module
 */
import { registerOps } from "./registry.ts";
import type { OpDef } from "./registry.ts";
import type { NodeContext } from "./node_context.ts";
import type { InferContext } from "./infer_context.ts";
import { sizeOf, stridesOf, Tensor, toInts } from "../tensor.ts";
import { dimAdd, dimDiv, dimMul, dimSub, freshDim, isStatic, normAxis } from "../dims.ts";
import { tensorType } from "../types.ts";
import type { Dim } from "../types.ts";
import { allocUnits, axisOffsets, copyElems, gatherAxes, linearOffsets, unitsOf } from "./_layout.ts";
import { freshDims, knownDims, knownInts } from "./_infer_util.ts";

// ---------------------------------------------------------------------------------------------
// Concat

function concatAxis(ctx: NodeContext): number {
  return ctx.opset < 4 ? ctx.attrInt("axis", 1) : ctx.attrInt("axis");
}

const Concat: OpDef = {
  opType: "Concat",
  run(ctx) {
    const all: Tensor[] = [];
    for (let i = 0; i < ctx.numInputs; i++) if (ctx.hasInput(i)) all.push(ctx.input(i));
    if (all.length === 0) ctx.fail("no inputs");
    const rank = Math.max(...all.map((t) => t.dims.length));
    // tolerate empty 1-D tensors of another rank (exporters emit them for empty shape pieces)
    const xs = all.filter((t) => t.dims.length === rank || t.size !== 0);
    const first = xs[0];
    const r = first.dims.length;
    if (r === 0) ctx.fail("cannot concatenate scalars");
    const axis = normAxis(concatAxis(ctx), r, (m) => ctx.fail(m));
    let total = 0;
    for (const t of xs) {
      if (t.dtype !== first.dtype) ctx.fail("inputs have different element types");
      if (t.dims.length !== r) ctx.fail(`inputs have different ranks: [${first.dims}] and [${t.dims}]`);
      for (let a = 0; a < r; a++) {
        if (a !== axis && t.dims[a] !== first.dims[a]) {
          ctx.fail(`input shapes [${first.dims}] and [${t.dims}] differ off the concat axis`);
        }
      }
      total += t.dims[axis];
    }
    const outDims = first.dims.slice();
    outDims[axis] = total;
    const outer = sizeOf(first.dims.slice(0, axis));
    const inner = sizeOf(first.dims.slice(axis + 1));
    const { data, u } = allocUnits(first.dtype, sizeOf(outDims));
    const rowOut = total * inner;
    let col = 0;
    for (const t of xs) {
      const block = t.dims[axis] * inner;
      const src = unitsOf(t);
      for (let o = 0; o < outer; o++) copyElems(src, o * block, u, o * rowOut + col, block);
      col += block;
    }
    return [new Tensor(first.dtype, outDims, data)];
  },
  infer(ctx) {
    const present: number[] = [];
    for (let i = 0; i < ctx.numInputs; i++) if (ctx.hasInput(i)) present.push(i);
    const dt = present.map((i) => ctx.dtype(i)).find((d) => d !== undefined);
    if (dt === undefined) return [undefined];
    const shapes = present.map((i) => ctx.shape(i));
    const known = shapes.filter((s): s is Dim[] => s !== undefined);
    if (known.length === 0) return [tensorType(dt)];
    const r = Math.max(...known.map((s) => s.length));
    const axis = normAxis(concatAxis(ctx), r, (m) => ctx.fail(m));
    const out: Dim[] = [];
    for (let a = 0; a < r; a++) {
      if (a === axis) continue;
      const ds = known.filter((s) => s.length === r).map((s) => s[a]);
      const st = ds.filter(isStatic);
      if (st.length && st.some((d) => d !== st[0])) ctx.fail(`input shapes differ on axis ${a}: ${st.join(" vs ")}`);
      out[a] = st.length ? st[0] : ds[0];
    }
    let sum: Dim = 0;
    for (const s of shapes) {
      if (!s) {
        sum = freshDim();
        break;
      }
      if (s.length !== r) {
        if (s.length === 1 && s[0] === 0) continue;
        ctx.fail(`inputs have different ranks: ${r} and ${s.length}`);
      }
      sum = dimAdd(sum, s[axis]);
    }
    out[axis] = sum;
    return [tensorType(dt, out)];
  },
};

// ---------------------------------------------------------------------------------------------
// Split

/** The split sizes as given (input or attribute), or undefined for an even split. */
function givenSplit(ctx: NodeContext, fromInput: () => number[] | undefined): number[] | undefined | null {
  if (ctx.hasInput(1)) return fromInput() ?? null; // null: given but not known statically
  if (ctx.opset < 13 && ctx.hasAttr("split")) return ctx.attrInts("split");
  return undefined;
}

/** Even split sizes of a dim of size `d` into the node's outputs. */
function evenSplit(ctx: NodeContext, d: number): number[] {
  const n = ctx.numOutputs;
  if (ctx.opset >= 18 && ctx.hasAttr("num_outputs")) {
    const k = ctx.attrInt("num_outputs");
    if (k < 1) ctx.fail(`num_outputs ${k} must be positive`);
    if (k !== n) ctx.fail(`num_outputs is ${k} but the node has ${n} outputs`);
    const chunk = Math.ceil(d / k);
    return Array.from({ length: k }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk)));
  }
  if (d % n !== 0) ctx.fail(`dim ${d} cannot be split evenly into ${n} outputs`);
  return new Array<number>(n).fill(d / n);
}

/**
 * Split's sizes along its axis of size `d` (the `split` input, through `given`, or the attribute,
 * or an even split into the node's outputs); null when the input is given but not known.
 * @param ctx the Split node's context
 * @param d the size of the split axis
 * @param given the `split` input's values, when known
 * @returns one size per output, or null
 * @example
 * ```ts
 * import { NodeContext } from "./node_context.ts";
 * import { splitSizes } from "./concat_split.ts";
 * const node = { name: "s", opType: "Split", domain: "", inputs: ["x"], outputs: ["a", "b", "c"], attributes: [] };
 * const sizes = splitSizes(new NodeContext(node, 17), 6, () => undefined);
 * if (sizes?.join() !== "2,2,2") throw new Error(`${sizes}`);
 * ```
 */
export function splitSizes(ctx: NodeContext, d: number, given: () => number[] | undefined): number[] | null {
  const g = givenSplit(ctx, given);
  return g === null ? null : g ?? evenSplit(ctx, d);
}

const Split: OpDef = {
  opType: "Split",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    const axis = normAxis(ctx.attrInt("axis", 0), r, (m) => ctx.fail(m));
    const d = x.dims[axis];
    const sizes = givenSplit(ctx, () => toInts(ctx.input(1))) ?? evenSplit(ctx, d);
    if (sizes.length !== ctx.numOutputs) ctx.fail(`${sizes.length} split sizes for ${ctx.numOutputs} outputs`);
    if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== d) {
      ctx.fail(`split sizes [${sizes}] do not sum to dim ${d}`);
    }
    const outer = sizeOf(x.dims.slice(0, axis));
    const inner = sizeOf(x.dims.slice(axis + 1));
    const src = unitsOf(x);
    const outs: (Tensor | undefined)[] = [];
    let start = 0;
    for (let k = 0; k < sizes.length; k++) {
      const dims = x.dims.slice();
      dims[axis] = sizes[k];
      if (ctx.hasOutput(k)) {
        const { data, u } = allocUnits(x.dtype, sizeOf(dims));
        const block = sizes[k] * inner;
        for (let o = 0; o < outer; o++) copyElems(src, o * d * inner + start * inner, u, o * block, block);
        outs.push(new Tensor(x.dtype, dims, data));
      } else outs.push(undefined);
      start += sizes[k];
    }
    return outs;
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    const n = ctx.numOutputs;
    if (dt === undefined) return new Array(n).fill(undefined);
    const s = ctx.shape(0);
    if (!s) return new Array(n).fill(tensorType(dt));
    const axis = normAxis(ctx.attrInt("axis", 0), s.length, (m) => ctx.fail(m));
    const d = s[axis];
    const given = givenSplit(ctx, () => knownInts(ctx, 1));
    let sizes: Dim[];
    if (given) sizes = given;
    else if (given === null) sizes = freshDims(n);
    else if (isStatic(d)) sizes = evenSplit(ctx, d);
    else if (ctx.opset >= 18 && ctx.hasAttr("num_outputs")) {
      const k = ctx.attrInt("num_outputs");
      sizes = k === 1 ? [d] : freshDims(n);
    } else sizes = new Array<Dim>(n).fill(dimDiv(d, n));
    if (sizes.length !== n) ctx.fail(`${sizes.length} split sizes for ${n} outputs`);
    if (isStatic(d) && sizes.every(isStatic) && (sizes as number[]).reduce((a, b) => a + b, 0) !== d) {
      ctx.fail(`split sizes [${sizes}] do not sum to dim ${d}`);
    }
    return sizes.map((sz) => {
      const o = s.slice();
      o[axis] = sz;
      return tensorType(dt, o);
    });
  },
};

// ---------------------------------------------------------------------------------------------
// Tile

const Tile: OpDef = {
  opType: "Tile",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    let reps: number[];
    if (ctx.opset < 6) {
      // Tile-1: a scalar tile count and the axis to tile along
      reps = new Array<number>(r).fill(1);
      reps[normAxis(toInts(ctx.input(2))[0], r, (m) => ctx.fail(m))] = toInts(ctx.input(1))[0];
    } else reps = toInts(ctx.input(1));
    if (reps.length !== r) ctx.fail(`repeats has ${reps.length} entries for rank ${r}`);
    if (reps.some((v) => v < 0)) ctx.fail(`negative repeats [${reps}]`);
    const outDims = x.dims.map((d, a) => d * reps[a]);
    const strides = stridesOf(x.dims);
    const offs = outDims.map((od, a) => axisOffsets(od, strides[a], (i) => i % x.dims[a]));
    const { data, u } = allocUnits(x.dtype, sizeOf(outDims));
    gatherAxes(unitsOf(x), 0, offs, outDims, u);
    return [new Tensor(x.dtype, outDims, data)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt)];
    if (ctx.opset < 6) {
      const axis = knownInts(ctx, 2), t = knownDims(ctx, 1);
      if (!axis || !t) return [tensorType(dt, freshDims(s.length))];
      const o = s.slice();
      const a = normAxis(axis[0], s.length, (m) => ctx.fail(m));
      o[a] = dimMul(o[a], t[0]);
      return [tensorType(dt, o)];
    }
    const reps = knownDims(ctx, 1);
    if (!reps) return [tensorType(dt, freshDims(s.length))];
    if (reps.length !== s.length) ctx.fail(`repeats has ${reps.length} entries for rank ${s.length}`);
    return [tensorType(dt, s.map((d, a) => dimMul(d, reps[a])))];
  },
};

// ---------------------------------------------------------------------------------------------
// Slice

/** Clamped start and output length of a slice of a dim of size `d`. */
export function sliceRange(d: number, start: number, end: number, step: number): [number, number] {
  if (step > 0) {
    const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d);
    const e = Math.min(Math.max(end < 0 ? end + d : end, 0), d);
    return [s, Math.max(0, Math.ceil((e - s) / step))];
  }
  const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d - 1);
  const e = Math.min(Math.max(end < 0 ? end + d : end, -1), d - 1);
  return [s, Math.max(0, Math.ceil((s - e) / -step))];
}

interface SliceSpec {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
}

/** Starts/ends/axes/steps as given, from attributes (opset < 10) or inputs; undefined parts unknown. */
function sliceSpec(ctx: NodeContext, r: number, read: (i: number) => number[] | undefined): SliceSpec | undefined {
  let starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.attrInts("starts");
    ends = ctx.attrInts("ends");
    axes = ctx.hasAttr("axes") ? ctx.attrInts("axes") : undefined;
  } else {
    starts = read(1);
    ends = read(2);
    axes = ctx.hasInput(3) ? read(3) : undefined;
    steps = ctx.hasInput(4) ? read(4) : undefined;
    if (!starts || !ends || (ctx.hasInput(3) && !axes) || (ctx.hasInput(4) && !steps)) return undefined;
  }
  if (starts.length !== ends.length) ctx.fail(`starts has ${starts.length} entries, ends ${ends.length}`);
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (axes.length !== starts.length || steps.length !== starts.length) {
    ctx.fail("starts, ends, axes and steps must have the same length");
  }
  const seen = new Set<number>();
  axes = axes.map((a) => {
    const n = normAxis(a, r, (m) => ctx.fail(m));
    if (seen.has(n)) ctx.fail(`axis ${a} repeated`);
    seen.add(n);
    return n;
  });
  if (steps.some((s) => s === 0)) ctx.fail("step 0");
  return { starts, ends, axes, steps };
}

const BIG = 2 ** 31 - 1;

/** Output length of a slice of a symbolic dim, when it follows from the usual patterns. */
function symbolicSliceLen(d: Dim, start: number, end: number, step: number): Dim {
  if (step === 1) {
    if (start >= 0 && end >= BIG) return dimSub(d, start);
    // x[-k:] and x[-k:-j] have min(k, d)-based lengths: k only when d ≥ k, so no number is true at every size
    if (start >= 0 && end < 0) return dimSub(d, start - end);
  } else if (step === -1 && (start === -1 || start >= BIG) && end <= -BIG) return d;
  return freshDim();
}

const Slice: OpDef = {
  opType: "Slice",
  run(ctx) {
    const x = ctx.input(0);
    const r = x.dims.length;
    const spec = sliceSpec(ctx, r, (i) => toInts(ctx.input(i)))!;
    const strides = stridesOf(x.dims);
    const outDims = x.dims.slice();
    const offs = x.dims.map((d, a) => linearOffsets(d, strides[a]));
    let base = 0;
    spec.axes.forEach((a, k) => {
      const step = spec.steps[k];
      const [s, len] = sliceRange(x.dims[a], spec.starts[k], spec.ends[k], step);
      outDims[a] = len;
      offs[a] = linearOffsets(len, strides[a] * step);
      base += s * strides[a];
    });
    const { data, u } = allocUnits(x.dtype, sizeOf(outDims));
    gatherAxes(unitsOf(x), base, offs, outDims, u);
    return [new Tensor(x.dtype, outDims, data)];
  },
  infer(ctx: InferContext) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const s = ctx.shape(0);
    if (!s) return [tensorType(dt)];
    const spec = sliceSpec(ctx, s.length, (i) => knownInts(ctx, i));
    if (!spec) {
      const axes = ctx.hasInput(3) ? knownInts(ctx, 3) : undefined;
      if (!axes && ctx.hasInput(3)) return [tensorType(dt, freshDims(s.length))];
      const out = s.slice();
      const which = axes ? axes.map((a) => normAxis(a, s.length, (m) => ctx.fail(m))) : undefined;
      for (let a = 0; a < s.length; a++) {
        if (!which) {
          // without axes the first len(starts) axes are sliced
          const n = ctx.shape(1)?.[0];
          if (!isStatic(n) || a < n) out[a] = freshDim();
        } else if (which.includes(a)) out[a] = freshDim();
      }
      return [tensorType(dt, out)];
    }
    const out = s.slice();
    spec.axes.forEach((a, k) => {
      const d = s[a];
      out[a] = isStatic(d)
        ? sliceRange(d, spec.starts[k], spec.ends[k], spec.steps[k])[1]
        : symbolicSliceLen(d, spec.starts[k], spec.ends[k], spec.steps[k]);
    });
    return [tensorType(dt, out)];
  },
};

registerOps([Concat, Split, Tile, Slice]);
