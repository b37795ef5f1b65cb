/**
 * Shared machinery of the elementwise op families (unary, binary, activation, cast):
 * multidirectional broadcasting of concrete tensors, number and BigInt kernels over flat typed
 * arrays, dtype checks, and the usual `infer` shapes (same as input, broadcast of inputs).
 *
 * Number kernels compute in float64 and store into the output dtype: float32/float64 and the
 * 8/16/32-bit integer arrays are written directly (a typed-array store rounds to nearest even,
 * or truncates and wraps modulo 2^bits, exactly as a cast would); every other dtype (float16,
 * bfloat16, float8, 4/2-bit ints, bool) goes through `fromNumbers`.
 * @module
 */
import { DataType, dtypeName, isBigInt, isFloat, isInteger } from "../dtype.ts";
import { allocate, fromNumbers, sizeOf, Tensor, toNumbers } from "../tensor.ts";
import type { TensorData } from "../tensor.ts";
import { broadcastShapes } from "../dims.ts";
import { tensorType } from "../types.ts";
import type { Dim, ValueType } from "../types.ts";
import type { NodeContext } from "./node_context.ts";
import type { InferContext } from "./infer_context.ts";
import type { RunContext } from "./run_context.ts";
import { broadcastDims, broadcastIndex } from "./_broadcast.ts";

/** Typed arrays whose elements are plain numbers. */
export type NumArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** A unary number function. */
export type NumFn = (x: number) => number;
/** A binary number function. */
export type NumFn2 = (x: number, y: number) => number;
/** A binary BigInt function. */
export type BigFn2 = (x: bigint, y: bigint) => bigint;

// ---------------------------------------------------------------------------------------------
// dtype classes

/** Integer types of at most 32 bits, and bool: their elements are exact plain numbers. */
export function isSmallInt(dtype: number): boolean {
  return (isInteger(dtype) && !isBigInt(dtype)) || dtype === DataType.BOOL;
}

/** float, double, float16, bfloat16: the types ONNX's float math ops accept. */
export function isStdFloat(dtype: number): boolean {
  return dtype === DataType.FLOAT || dtype === DataType.DOUBLE || dtype === DataType.FLOAT16 ||
    dtype === DataType.BFLOAT16;
}

/** Real numeric types (floats of every width, integers); bool, string and complex excluded. */
export function isNumeric(dtype: number): boolean {
  return isFloat(dtype) || isInteger(dtype);
}

/** Fail unless `pred(t.dtype)`; `what` names the accepted types in the message. */
export function requireDtype(ctx: NodeContext, dtype: number, pred: (d: number) => boolean, what: string): void {
  if (!pred(dtype)) ctx.fail(`element type ${dtypeName(dtype)} is not supported (expects ${what})`);
}

/** Fail unless every tensor has the dtype of the first. */
export function requireSameDtype(ctx: NodeContext, tensors: readonly Tensor[]): void {
  for (let i = 1; i < tensors.length; i++) {
    if (tensors[i].dtype !== tensors[0].dtype) {
      const [a, b] = [dtypeName(tensors[0].dtype), dtypeName(tensors[i].dtype)];
      ctx.fail(`inputs have different element types (${a} and ${b})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// element access

/** True when a typed array of `dtype` can hold kernel results by a plain store. */
function directStore(dtype: number): boolean {
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.INT32:
    case DataType.UINT32:
      return true;
    default:
      return false;
  }
}

/**
 * Elements as numbers without copying where the storage already holds them (float32/64, small
 * ints, bool); float16, bfloat16, float8/4 are decoded; int64/uint64 are rounded to doubles.
 */
export function numView(t: Tensor): ArrayLike<number> {
  const d = t.data;
  if (directStore(t.dtype) || t.dtype === DataType.BOOL || isSmallInt(t.dtype)) return d as NumArray;
  return toNumbers(t);
}

/** Elements of an int64/uint64 tensor (as bigint). */
export function bigView(t: Tensor): BigInt64Array | BigUint64Array {
  return t.data as BigInt64Array | BigUint64Array;
}

/** Storage for `n` number results of `dtype` (a Float64Array where no direct store exists). */
export function numberOutput(dtype: number, n: number): NumArray {
  return directStore(dtype) ? allocate(dtype, n) as NumArray : new Float64Array(n);
}

/** The tensor of `numberOutput` storage once filled. */
export function finishNumbers(dtype: DataType, dims: readonly number[], out: NumArray): Tensor {
  return directStore(dtype) ? new Tensor(dtype, dims, out) : fromNumbers(dtype, dims, out);
}

/** Wrap BigInt results into the width of an int64/uint64 array. */
export function bigOutput(dtype: number, n: number): BigInt64Array | BigUint64Array {
  return dtype === DataType.UINT64 ? new BigUint64Array(n) : new BigInt64Array(n);
}

// ---------------------------------------------------------------------------------------------
// broadcasting

/** The broadcast output dims and, per input, the input element of each output element. */
export interface Broadcast {
  dims: number[];
  size: number;
  /** per input: flat input index of each output index (undefined when the shapes are equal) */
  maps: (Int32Array | undefined)[];
}

/** Broadcast concrete tensors (numpy rules); fails when the shapes are incompatible. */
export function broadcastTensors(ctx: NodeContext, tensors: readonly Tensor[]): Broadcast {
  const dims = broadcastDims(...tensors.map((t) => t.dims));
  if (!dims) ctx.fail(`cannot broadcast shapes ${tensors.map((t) => `[${t.dims}]`).join(", ")}`);
  return { dims, size: sizeOf(dims), maps: tensors.map((t) => broadcastIndex(t.dims, dims)) };
}

// ---------------------------------------------------------------------------------------------
// kernels

/** y = f(x) over numbers, stored as `outDtype`. */
export function unaryNumber(x: Tensor, outDtype: DataType, f: NumFn): Tensor {
  const n = x.size;
  const v = numView(x);
  const out = numberOutput(outDtype, n);
  for (let i = 0; i < n; i++) out[i] = f(v[i]);
  return finishNumbers(outDtype, x.dims, out);
}

/** y = f(x) over int64/uint64 elements, wrapped to the input's width. */
export function unaryBigInt(x: Tensor, f: (x: bigint) => bigint): Tensor {
  const n = x.size;
  const v = bigView(x);
  const out = bigOutput(x.dtype, n);
  const unsigned = x.dtype === DataType.UINT64;
  for (let i = 0; i < n; i++) out[i] = unsigned ? BigInt.asUintN(64, f(v[i])) : BigInt.asIntN(64, f(v[i]));
  return new Tensor(x.dtype, x.dims, out);
}

/** y = pred(x) as a bool tensor, over any non-string tensor (int64 read as bigint). */
export function unaryPredicate(x: Tensor, numPred: (x: number) => boolean): Tensor {
  const n = x.size;
  const v = numView(x);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = numPred(v[i]) ? 1 : 0;
  return new Tensor(DataType.BOOL, x.dims, out);
}

/** c = f(a, b) over numbers with broadcasting, stored as `outDtype`. */
export function binaryNumber(ctx: NodeContext, a: Tensor, b: Tensor, outDtype: DataType, f: NumFn2): Tensor {
  const { dims, size: n, maps: [ma, mb] } = broadcastTensors(ctx, [a, b]);
  const va = numView(a), vb = numView(b);
  const out = numberOutput(outDtype, n);
  if (!ma && !mb) { for (let i = 0; i < n; i++) out[i] = f(va[i], vb[i]); }
  else if (!ma) { for (let i = 0; i < n; i++) out[i] = f(va[i], vb[mb![i]]); }
  else if (!mb) { for (let i = 0; i < n; i++) out[i] = f(va[ma[i]], vb[i]); }
  else for (let i = 0; i < n; i++) out[i] = f(va[ma[i]], vb[mb[i]]);
  return finishNumbers(outDtype, dims, out);
}

/** c = f(a, b) over int64/uint64 with broadcasting, wrapped to 64 bits of `outDtype`. */
export function binaryBigInt(ctx: NodeContext, a: Tensor, b: Tensor, outDtype: DataType, f: BigFn2): Tensor {
  const { dims, size: n, maps: [ma, mb] } = broadcastTensors(ctx, [a, b]);
  const va = bigView(a), vb = bigView(b);
  const out = bigOutput(outDtype, n);
  const unsigned = outDtype === DataType.UINT64;
  for (let i = 0; i < n; i++) {
    const r = f(va[ma ? ma[i] : i], vb[mb ? mb[i] : i]);
    out[i] = unsigned ? BigInt.asUintN(64, r) : BigInt.asIntN(64, r);
  }
  return new Tensor(outDtype, dims, out);
}

/** c = pred(a, b) as bool with broadcasting, over the raw elements (bigint, string or number). */
export function binaryRawPredicate<T>(
  ctx: NodeContext,
  a: Tensor,
  b: Tensor,
  va: ArrayLike<T>,
  vb: ArrayLike<T>,
  pred: (x: T, y: T) => boolean,
): Tensor {
  const { dims, size: n, maps: [ma, mb] } = broadcastTensors(ctx, [a, b]);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = pred(va[ma ? ma[i] : i], vb[mb ? mb[i] : i]) ? 1 : 0;
  return new Tensor(DataType.BOOL, dims, out);
}

/**
 * Fold variadic inputs with broadcasting: `acc = f(acc, x)` starting from the first input,
 * in float64 (numbers) and rounded once to `outDtype` at the end, or in BigInt for int64/uint64.
 * `finish` maps each accumulated number before storing (Mean divides by the count).
 */
export function foldVariadic(
  ctx: NodeContext,
  xs: readonly Tensor[],
  num: NumFn2,
  big: BigFn2 | undefined,
  finish?: NumFn,
): Tensor {
  if (xs.length === 0) ctx.fail("needs at least one input");
  requireSameDtype(ctx, xs);
  const dtype = xs[0].dtype;
  const { dims, size: n, maps } = broadcastTensors(ctx, xs);
  if (isBigInt(dtype)) {
    if (!big) ctx.fail(`element type ${dtypeName(dtype)} is not supported`);
    const acc = bigOutput(dtype, n);
    const unsigned = dtype === DataType.UINT64;
    const v0 = bigView(xs[0]), m0 = maps[0];
    for (let i = 0; i < n; i++) acc[i] = v0[m0 ? m0[i] : i];
    for (let k = 1; k < xs.length; k++) {
      const v = bigView(xs[k]), m = maps[k];
      for (let i = 0; i < n; i++) {
        const r = big(acc[i], v[m ? m[i] : i]);
        acc[i] = unsigned ? BigInt.asUintN(64, r) : BigInt.asIntN(64, r);
      }
    }
    return new Tensor(dtype, dims, acc);
  }
  const acc = new Float64Array(n);
  const v0 = numView(xs[0]), m0 = maps[0];
  for (let i = 0; i < n; i++) acc[i] = v0[m0 ? m0[i] : i];
  for (let k = 1; k < xs.length; k++) {
    const v = numView(xs[k]), m = maps[k];
    for (let i = 0; i < n; i++) acc[i] = num(acc[i], v[m ? m[i] : i]);
  }
  if (finish) { for (let i = 0; i < n; i++) acc[i] = finish(acc[i]); }
  return fromNumbers(dtype, dims, acc);
}

/**
 * Select elements with broadcasting: out[i] = sel(cond, x, y), over raw storage of any dtype
 * (`sel` is Where's formula with numbers: `c ? x : y`).
 */
export function selectRaw(
  ctx: NodeContext,
  cond: Tensor,
  x: Tensor,
  y: Tensor,
  sel: <X extends number | boolean>(c: boolean, a: X, b: X) => X,
): Tensor {
  const { dims, size: n, maps: [mc, mx, my] } = broadcastTensors(ctx, [cond, x, y]);
  const c = cond.data as Uint8Array;
  const vx = x.data as ArrayLike<number>, vy = y.data as ArrayLike<number>;
  const out = allocate(x.dtype, n) as unknown as unknown[];
  for (let i = 0; i < n; i++) {
    out[i] = sel(c[mc ? mc[i] : i] !== 0, vx[mx ? mx[i] : i], vy[my ? my[i] : i]);
  }
  return new Tensor(x.dtype, dims, out as unknown as TensorData);
}

// ---------------------------------------------------------------------------------------------
// op-definition helpers

/** All inputs of a variadic node as tensors (omitted ones skipped). */
export function variadicInputs(ctx: RunContext): Tensor[] {
  const xs: Tensor[] = [];
  for (let i = 0; i < ctx.numInputs; i++) if (ctx.hasInput(i)) xs.push(ctx.input(i));
  return xs;
}

/** Output type: input 0's type (elementwise unary ops). */
export function inferSame(ctx: InferContext): (ValueType | undefined)[] {
  const t = ctx.tensorType(0);
  return [t ? tensorType(t.dtype, t.shape ? [...t.shape] : undefined) : undefined];
}

/** Output type: input 0's shape with dtype `dtype`. */
export function inferSameShape(ctx: InferContext, dtype: DataType): (ValueType | undefined)[] {
  const s = ctx.shape(0);
  return [tensorType(dtype, s ? [...s] : undefined)];
}

/** The broadcast of the shapes of the listed (present) inputs; undefined when a rank is unknown. */
export function broadcastInputShapes(ctx: InferContext, inputs?: readonly number[]): Dim[] | undefined {
  const idx = inputs ?? [...Array(ctx.numInputs).keys()];
  const shapes: (Dim[] | undefined)[] = [];
  for (const i of idx) if (ctx.hasInput(i)) shapes.push(ctx.shape(i));
  if (ctx.opset < 7 && shapes.length === 2 && shapes[0] && shapes[1]) {
    shapes[1] = [...legacyBDims(ctx, shapes[0].length, shapes[1])];
  }
  return broadcastShapes(shapes, (m) => ctx.fail(m));
}

/** Output type of a broadcasting op: dtype `dtype` (input 0's when omitted), broadcast shape. */
export function inferBroadcast(
  ctx: InferContext,
  dtype?: DataType,
  inputs?: readonly number[],
): (ValueType | undefined)[] {
  const dt = dtype ?? ctx.dtype(inputs?.[0] ?? 0);
  if (dt === undefined) return [undefined];
  return [tensorType(dt, broadcastInputShapes(ctx, inputs))];
}

// ---------------------------------------------------------------------------------------------
// math helpers

/** Round half to even (IEEE roundTiesToEven), as ONNX Round and numpy's rint. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half toward +∞
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/**
 * The error function to double precision: its Maclaurin series for |x| < 2.5, and the continued
 * fraction of erfc beyond.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  if (a > 6) return x > 0 ? 1 : -1;
  return x > 0 ? 1 - erfcLarge(a) : erfcLarge(a) - 1;
}

/** erfc(a) for a ≥ 2.5: exp(-a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))). */
function erfcLarge(a: number): number {
  let f = a;
  for (let k = 80; k >= 1; k--) f = a + (k / 2) / f;
  return Math.exp(-a * a) / (Math.sqrt(Math.PI) * f);
}

// ---------------------------------------------------------------------------------------------
// opset < 7 broadcasting

/**
 * Before opset 7, binary ops broadcast only with `broadcast=1`, aligning B's dims with A's
 * starting at `axis` (default: trailing dims, as numpy). Returns B's dims placed in A's rank so
 * that numpy broadcasting then gives the legacy result; B's dims unchanged otherwise.
 */
export function legacyBDims<D extends Dim>(ctx: NodeContext, aRank: number, bDims: readonly D[]): readonly (D | 1)[] {
  if (ctx.opset >= 7 || ctx.attrInt("broadcast", 0) === 0 || !ctx.hasAttr("axis")) return bDims;
  let axis = ctx.attrInt("axis");
  if (axis < 0) axis += aRank;
  if (axis < 0 || axis + bDims.length > aRank) {
    ctx.fail(`axis ${ctx.attrInt("axis")} does not place B (rank ${bDims.length}) inside A (rank ${aRank})`);
  }
  const out: (D | 1)[] = [...bDims];
  for (let i = axis + bDims.length; i < aRank; i++) out.push(1);
  return out;
}

/** B with its dims arranged for legacy (opset < 7) broadcasting against A; B itself otherwise. */
export function legacyB(ctx: NodeContext, a: Tensor, b: Tensor): Tensor {
  const dims = legacyBDims(ctx, a.dims.length, b.dims) as number[];
  return dims === b.dims ? b : new Tensor(b.dtype, dims, b.data);
}
