/**
 * Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceLogSum, ReduceLogSumExp, ReduceSumSquare (axes as an attribute or, from ReduceSum-13
 * and the others' opset 18, as an input; keepdims; noop_with_empty_axes), and ArgMax / ArgMin
 * (keepdims, select_last_index).
 *
 * Float types reduce in float64 and round once to the output type. Integer types are exact:
 * int64/uint64 (and products or sums of squares of narrower ints) accumulate in BigInt and wrap
 * to the type's width. A reduction over an empty set gives the operation's identity: 0 for
 * sums, 1 for products, -inf / the type's minimum for max, +inf / the maximum for min.
 * @module
 */
import { DataType, intRange, isBigInt, isFloat, isInteger } from "../dtype.ts";
import { allocate, fromNumbers, sizeOf, Tensor, toInts, toNumbers } from "../tensor.ts";
import { type Dim, tensorType, type ValueType } from "../types.ts";
import { freshDim, normAxis } from "../dims.ts";
import type { NodeContext } from "./node_context.ts";
import type { RunContext } from "./run_context.ts";
import type { InferContext } from "./infer_context.ts";
import { type OpDef, registerOps } from "./registry.ts";

type Kind = "sum" | "mean" | "max" | "min" | "prod" | "l1" | "l2" | "logsum" | "logsumexp" | "sumsquare";

const KINDS: [string, Kind][] = [
  ["ReduceSum", "sum"],
  ["ReduceMean", "mean"],
  ["ReduceMax", "max"],
  ["ReduceMin", "min"],
  ["ReduceProd", "prod"],
  ["ReduceL1", "l1"],
  ["ReduceL2", "l2"],
  ["ReduceLogSum", "logsum"],
  ["ReduceLogSumExp", "logsumexp"],
  ["ReduceSumSquare", "sumsquare"],
];

/** True when this op version takes its axes as input 1 rather than as an attribute. */
function axesFromInput(ctx: NodeContext): boolean {
  return ctx.node.opType === "ReduceSum" ? ctx.opset >= 13 : ctx.opset >= 18;
}

/**
 * The normalized, sorted, de-duplicated reduced axes; "noop" when the node reduces no axis
 * (empty axes with noop_with_empty_axes): its output has the input's shape.
 */
function resolveAxes(ctx: NodeContext, axes: number[], rank: number): number[] | "noop" {
  if (axes.length === 0) {
    if (axesFromInput(ctx) && ctx.attrInt("noop_with_empty_axes", 0) !== 0) return "noop";
    return Array.from({ length: rank }, (_, i) => i);
  }
  const set = new Set<number>();
  for (const a of axes) set.add(normAxis(a, rank, (m) => ctx.fail(m)));
  return [...set].sort((a, b) => a - b);
}

function runAxes(ctx: RunContext): number[] {
  if (axesFromInput(ctx)) return ctx.hasInput(1) ? toInts(ctx.input(1)) : [];
  return ctx.attrInts("axes", []);
}

/** For each flat input index, the flat index of the output element it reduces into. */
function reduceMap(dims: readonly number[], reduced: readonly boolean[]): Int32Array {
  const rank = dims.length;
  const n = sizeOf(dims);
  const map = new Int32Array(n);
  // output strides per input axis (0 on reduced axes)
  const s = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let a = rank - 1; a >= 0; a--) {
    if (!reduced[a]) {
      s[a] = acc;
      acc *= dims[a];
    }
  }
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  for (let k = 0; k < n; k++) {
    map[k] = o;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]++;
      o += s[a];
      if (idx[a] < dims[a]) break;
      o -= s[a] * idx[a];
      idx[a] = 0;
    }
  }
  return map;
}

function outDims(dims: readonly number[], reduced: readonly boolean[], keep: boolean): number[] {
  const out: number[] = [];
  for (let a = 0; a < dims.length; a++) {
    if (!reduced[a]) out.push(dims[a]);
    else if (keep) out.push(1);
  }
  return out;
}

/** Reduction of float (or narrow-int, exactness permitting) values in float64. */
function reduceFloat(kind: Kind, x: Float64Array, map: Int32Array, m: number, count: number, lo: number, hi: number) {
  const n = x.length;
  const acc = new Float64Array(m);
  switch (kind) {
    case "sum":
    case "mean":
    case "logsum":
      for (let i = 0; i < n; i++) acc[map[i]] += x[i];
      break;
    case "sumsquare":
    case "l2":
      for (let i = 0; i < n; i++) acc[map[i]] += x[i] * x[i];
      break;
    case "l1":
      for (let i = 0; i < n; i++) acc[map[i]] += Math.abs(x[i]);
      break;
    case "prod":
      acc.fill(1);
      for (let i = 0; i < n; i++) acc[map[i]] *= x[i];
      break;
    case "max":
      acc.fill(lo);
      for (let i = 0; i < n; i++) {
        const o = map[i], a = acc[o], v = x[i];
        if (a === a && !(v <= a)) acc[o] = v;
      }
      break;
    case "min":
      acc.fill(hi);
      for (let i = 0; i < n; i++) {
        const o = map[i], a = acc[o], v = x[i];
        if (a === a && !(v >= a)) acc[o] = v;
      }
      break;
    case "logsumexp": {
      const mx = new Float64Array(m).fill(-Infinity);
      for (let i = 0; i < n; i++) {
        const o = map[i], a = mx[o], v = x[i];
        if (a === a && !(v <= a)) mx[o] = v;
      }
      for (let o = 0; o < m; o++) if (!Number.isFinite(mx[o])) mx[o] = Number.isNaN(mx[o]) ? NaN : 0;
      for (let i = 0; i < n; i++) acc[map[i]] += Math.exp(x[i] - mx[map[i]]);
      for (let o = 0; o < m; o++) acc[o] = mx[o] + Math.log(acc[o]);
      break;
    }
  }
  if (kind === "mean") { for (let o = 0; o < m; o++) acc[o] /= count; }
  else if (kind === "l2") { for (let o = 0; o < m; o++) acc[o] = Math.sqrt(acc[o]); }
  else if (kind === "logsum") { for (let o = 0; o < m; o++) acc[o] = Math.log(acc[o]); }
  return acc;
}

/** Exact integer reduction in BigInt; undefined for the kinds that leave the integers. */
function reduceBig(kind: Kind, x: Tensor, map: Int32Array, m: number, count: number): bigint[] | undefined {
  const d = x.data as ArrayLike<number | bigint>;
  const n = x.size;
  const acc = new Array<bigint>(m);
  const init = kind === "prod" ? 1n : 0n;
  acc.fill(init);
  const [lo, hi] = intRange(x.dtype);
  switch (kind) {
    case "sum":
    case "mean":
      for (let i = 0; i < n; i++) acc[map[i]] += BigInt(d[i]);
      break;
    case "sumsquare":
      for (let i = 0; i < n; i++) {
        const v = BigInt(d[i]);
        acc[map[i]] += v * v;
      }
      break;
    case "l1":
      for (let i = 0; i < n; i++) {
        const v = BigInt(d[i]);
        acc[map[i]] += v < 0n ? -v : v;
      }
      break;
    case "prod":
      for (let i = 0; i < n; i++) acc[map[i]] *= BigInt(d[i]);
      break;
    case "max":
    case "min": {
      const isMax = kind === "max";
      const seen = new Uint8Array(m);
      for (let i = 0; i < n; i++) {
        const o = map[i], v = BigInt(d[i]);
        if (!seen[o] || (isMax ? v > acc[o] : v < acc[o])) {
          acc[o] = v;
          seen[o] = 1;
        }
      }
      for (let o = 0; o < m; o++) {
        if (!seen[o]) acc[o] = isMax ? bigOf(x.dtype, lo, "lo") : bigOf(x.dtype, hi, "hi");
      }
      break;
    }
    default:
      return undefined;
  }
  if (kind === "mean") { for (let o = 0; o < m; o++) acc[o] = count === 0 ? 0n : acc[o] / BigInt(count); }
  return acc;
}

function bigOf(dtype: number, v: number, end: "lo" | "hi"): bigint {
  if (dtype === DataType.INT64) return end === "lo" ? -(2n ** 63n) : 2n ** 63n - 1n;
  if (dtype === DataType.UINT64) return end === "lo" ? 0n : 2n ** 64n - 1n;
  return BigInt(v);
}

/** Integer results wrapped to the type's width. */
function bigToTensor(dtype: DataType, dims: number[], vals: bigint[]): Tensor {
  const out = allocate(dtype, vals.length);
  if (dtype === DataType.INT64) {
    for (let i = 0; i < vals.length; i++) (out as BigInt64Array)[i] = BigInt.asIntN(64, vals[i]);
  } else if (dtype === DataType.UINT64) {
    for (let i = 0; i < vals.length; i++) (out as BigUint64Array)[i] = BigInt.asUintN(64, vals[i]);
  } else {
    // 8/16/32-bit stores wrap modulo 2^bits; reduce to 32 bits first so Number() is exact
    for (let i = 0; i < vals.length; i++) (out as Int32Array)[i] = Number(BigInt.asIntN(32, vals[i]));
  }
  return new Tensor(dtype, dims, out);
}

function runReduce(kind: Kind, ctx: RunContext): Tensor[] {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const resolved = resolveAxes(ctx, runAxes(ctx), rank);
  // no axes reduced: each element is reduced alone, so the element function still applies
  // (ReduceSumSquare gives x², ReduceL1 |x|, ReduceLogSum log x), as in ONNX's reference and ONNX Runtime
  const axes = resolved === "noop" ? [] : resolved;
  const reduced = new Array<boolean>(rank).fill(false);
  for (const a of axes) reduced[a] = true;
  const keep = ctx.attrInt("keepdims", 1) !== 0;
  const dims = outDims(x.dims, reduced, keep);
  const m = sizeOf(dims);
  const map = reduceMap(x.dims, reduced);
  const count = m === 0 ? 0 : x.size / m;
  const dt = x.dtype;
  if (dt === DataType.STRING || dt === DataType.COMPLEX64 || dt === DataType.COMPLEX128) {
    ctx.fail(`unsupported input type ${dt}`);
  }
  if (isInteger(dt)) {
    const needBig = isBigInt(dt) || kind === "prod" || kind === "sumsquare" || x.size > (1 << 20);
    if (needBig) {
      const big = reduceBig(kind, x, map, m, count);
      if (big) return [bigToTensor(dt, dims, big)];
    }
  }
  let lo = -Infinity, hi = Infinity;
  if (!isFloat(dt)) [lo, hi] = intRange(dt);
  return [fromNumbers(dt, dims, reduceFloat(kind, toNumbers(x), map, m, count, lo, hi))];
}

function inferReduce(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  if (!t) return [undefined];
  const shape = t.shape;
  if (!shape) return [tensorType(t.dtype)];
  const keep = ctx.attrInt("keepdims", 1) !== 0;
  let axes: number[] | undefined;
  if (!axesFromInput(ctx)) axes = ctx.attrInts("axes", []);
  else if (!ctx.hasInput(1)) axes = [];
  else {
    const c = ctx.constant(1);
    if (c) axes = toInts(c);
  }
  if (axes === undefined) {
    return [keep ? tensorType(t.dtype, shape.map((d) => d === 1 ? 1 : freshDim("reduce"))) : tensorType(t.dtype)];
  }
  const r = resolveAxes(ctx, axes, shape.length);
  if (r === "noop") return [tensorType(t.dtype, [...shape])];
  const out: Dim[] = [];
  for (let a = 0; a < shape.length; a++) {
    if (!r.includes(a)) out.push(shape[a]);
    else if (keep) out.push(1);
  }
  return [tensorType(t.dtype, out)];
}

// ---- ArgMax / ArgMin ----

function runArg(isMax: boolean, ctx: RunContext): Tensor[] {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const axis = normAxis(ctx.attrInt("axis", 0), Math.max(rank, 1), (m) => ctx.fail(m));
  const keep = ctx.attrInt("keepdims", 1) !== 0;
  const last = ctx.attrInt("select_last_index", 0) !== 0;
  const dims = rank === 0 ? [1] : x.dims;
  const len = dims[axis];
  const outer = sizeOf(dims.slice(0, axis)), inner = sizeOf(dims.slice(axis + 1));
  const od = keep ? dims.map((d, i) => i === axis ? 1 : d) : dims.filter((_, i) => i !== axis);
  const out = new BigInt64Array(outer * inner);
  if (out.length > 0 && len === 0) ctx.fail(`cannot take arg${isMax ? "max" : "min"} over an empty axis`);
  const big = isBigInt(x.dtype);
  const vals: ArrayLike<number | bigint> = big ? x.data as BigInt64Array : toNumbers(x);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let best = vals[base], bi = 0;
      for (let k = 1; k < len; k++) {
        const v = vals[base + k * inner];
        if (best !== best) break; // the first NaN wins, as numpy does
        const better = v !== v || (isMax ? (last ? v >= best : v > best) : (last ? v <= best : v < best));
        if (better) {
          best = v;
          bi = k;
        }
      }
      out[o * inner + i] = BigInt(bi);
    }
  }
  return [new Tensor(DataType.INT64, od, out)];
}

function inferArg(ctx: InferContext): (ValueType | undefined)[] {
  const shape = ctx.shape(0);
  if (!shape) return [tensorType(DataType.INT64)];
  const s = shape.length === 0 ? [1] : shape;
  const axis = normAxis(ctx.attrInt("axis", 0), s.length, (m) => ctx.fail(m));
  const keep = ctx.attrInt("keepdims", 1) !== 0;
  const out = keep ? s.map((d, i) => i === axis ? 1 : d) : s.filter((_, i) => i !== axis);
  return [tensorType(DataType.INT64, out)];
}

/** The op definitions of this file. */
export const reduceOps: OpDef[] = [
  ...KINDS.map(([opType, kind]): OpDef => ({
    opType,
    run: (ctx) => runReduce(kind, ctx),
    infer: inferReduce,
  })),
  { opType: "ArgMax", run: (ctx) => runArg(true, ctx), infer: inferArg },
  { opType: "ArgMin", run: (ctx) => runArg(false, ctx), infer: inferArg },
];

registerOps(reduceOps);
