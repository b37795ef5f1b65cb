/**
 * Templates of layout ops: Reshape, Transpose, Concat, Split, Slice, Gather, Squeeze, Unsqueeze,
 * Expand, Flatten, Tile, Pad and Shape, in the attribute or input form each opset defines (Split's
 * `split` and Squeeze/Unsqueeze's `axes` are inputs from 13; `num_outputs` from 18; Pad's `axes` from
 * 18 and mode `wrap` from 19). Axes are drawn negative as often as not.
 * @module
 */
import { attr, BOOL, FLOAT, type GraphBuilder, INT32, INT64, MAX_ELEMENTS, type Template } from "./builder.ts";
import { sizeOf } from "../ir/tensor.ts";
import type { Rand } from "./random.ts";

const any = () => true;

/** An axis of a rank-`rank` tensor, negative half the time. */
export function axisOf(r: Rand, rank: number): number {
  const a = r.int(0, rank - 1);
  return r.chance(0.5) ? a - rank : a;
}

/** A random factorization of `n` into `rank` factors (rank ≥ 1). */
function factorize(r: Rand, n: number, rank: number): number[] {
  const out: number[] = [];
  let left = n;
  for (let i = 0; i < rank - 1; i++) {
    const divs = [];
    for (let d = 1; d <= left; d++) if (left % d === 0) divs.push(d);
    const d = r.pick(divs);
    out.push(d);
    left /= d;
  }
  out.push(left);
  return r.shuffle(out);
}

function reshape(b: GraphBuilder): boolean {
  const x = b.pick(any);
  if (!x) return false;
  const target = factorize(b.rand, sizeOf(x.dims), b.rand.int(1, 4));
  const shape: number[] = [...target];
  if (b.rand.chance(0.4)) shape[b.rand.int(0, shape.length - 1)] = -1;
  // 0 copies the input's dim where allowzero is 0 (and the dims agree)
  for (let i = 0; i < shape.length; i++) {
    if (i < x.dims.length && x.dims[i] === target[i] && b.rand.chance(0.3)) shape[i] = 0;
  }
  const attrs = b.opset >= 14 && !shape.includes(0) && b.rand.chance(0.3) ? [attr("allowzero", 1)] : [];
  return b.emit("Reshape", [x.name, b.ints(shape)], attrs) !== undefined;
}

function transpose(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 2);
  if (!x) return false;
  const perm = b.rand.shuffle(x.dims.map((_, i) => i));
  return b.emit("Transpose", [x.name], b.rand.chance(0.8) ? [attr("perm", perm)] : []) !== undefined;
}

function concat(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1);
  if (!x) return false;
  const axis = axisOf(b.rand, x.dims.length);
  const a = axis < 0 ? axis + x.dims.length : axis;
  const ins = [x.name];
  for (let i = b.rand.int(1, 2); i > 0; i--) {
    const dims = [...x.dims];
    dims[a] = b.rand.int(1, 3);
    ins.push(b.operand(x.dtype, dims));
  }
  return b.emit("Concat", b.rand.shuffle(ins), [attr("axis", axis)]) !== undefined;
}

function split(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.some((d) => d >= 2));
  if (!x) return false;
  const axes = x.dims.map((d, i) => d >= 2 ? i : -1).filter((i) => i >= 0);
  const a = b.rand.pick(axes);
  const n = x.dims[a];
  const axis = b.rand.chance(0.5) ? a - x.dims.length : a;
  // 0: sizes as an input; 1: equal parts by the output count (before 18 only); 2: num_outputs (from 18)
  const form = b.opset >= 18 ? b.rand.pick([0, 2]) : b.rand.int(0, 1);
  if (form === 0) {
    const parts = b.rand.int(2, Math.min(3, n));
    const sizes: number[] = [];
    let left = n;
    for (let i = 0; i < parts - 1; i++) {
      const s = b.rand.int(1, left - (parts - 1 - i));
      sizes.push(s);
      left -= s;
    }
    sizes.push(left);
    return b.emit("Split", [x.name, b.ints(sizes)], [attr("axis", axis)], parts) !== undefined;
  }
  if (form === 1) {
    // equal parts: the number of outputs must divide the dim
    const divs = [2, 3].filter((k) => n % k === 0);
    if (!divs.length) return false;
    return b.emit("Split", [x.name], [attr("axis", axis)], b.rand.pick(divs)) !== undefined;
  }
  const k = b.rand.int(2, Math.min(3, n));
  return b.emit("Split", [x.name], [attr("axis", axis), attr("num_outputs", k)], k) !== undefined;
}

function slice(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1);
  if (!x) return false;
  const rank = x.dims.length;
  const axes = b.rand.shuffle(x.dims.map((_, i) => i)).slice(0, b.rand.int(1, rank));
  const starts: number[] = [], ends: number[] = [], steps: number[] = [];
  for (const a of axes) {
    const d = x.dims[a];
    const step = b.rand.pick([1, 1, 1, 2, -1, -2]);
    let s = b.rand.int(0, d - 1), e: number;
    if (step > 0) e = b.rand.chance(0.2) ? 2 ** 31 - 1 : b.rand.int(s + 1, d);
    else e = b.rand.chance(0.2) ? -(2 ** 31) : b.rand.int(-1, s - 1);
    if (step < 0 && e === -1) e = -d - 1; // −1 would mean the last element: "before the first" is −d−1
    if (b.rand.chance(0.3)) s -= d; // the same start, counted from the end
    starts.push(s);
    ends.push(e);
    steps.push(step);
  }
  const ins = [x.name, b.ints(starts), b.ints(ends)];
  const withAxes = b.rand.chance(0.7) || axes.some((a, i) => a !== i);
  if (withAxes) ins.push(b.ints(axes.map((a) => b.rand.chance(0.5) ? a - rank : a)));
  if (withAxes && (steps.some((s) => s !== 1) || b.rand.chance(0.3))) ins.push(b.ints(steps));
  return b.emit("Slice", ins) !== undefined;
}

function gather(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1);
  if (!x) return false;
  const axis = axisOf(b.rand, x.dims.length);
  const d = x.dims[axis < 0 ? axis + x.dims.length : axis];
  const idims = b.rand.pick([[], [b.rand.int(1, 3)], [2, b.rand.int(1, 2)]]);
  const vals = Array.from({ length: sizeOf(idims) }, () => b.rand.int(-d, d - 1));
  const indices = b.constant(b.rand.chance(0.7) ? INT64 : INT32, idims, vals);
  return b.emit("Gather", [x.name, indices], [attr("axis", axis)]) !== undefined;
}

function squeeze(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.includes(1));
  if (!x) return false;
  const ones = x.dims.map((d, i) => d === 1 ? i : -1).filter((i) => i >= 0);
  if (b.rand.chance(0.3)) return b.emit("Squeeze", [x.name]) !== undefined;
  const axes = b.rand.shuffle(ones).slice(0, b.rand.int(1, ones.length)).map((a) =>
    b.rand.chance(0.5) ? a - x.dims.length : a
  );
  return b.emit("Squeeze", [x.name, b.ints(axes)]) !== undefined;
}

function unsqueeze(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length <= 3);
  if (!x) return false;
  const outRank = x.dims.length + b.rand.int(1, 2);
  const axes = b.rand.shuffle([...Array(outRank).keys()]).slice(0, outRank - x.dims.length);
  return b.emit("Unsqueeze", [x.name, b.ints(axes.map((a) => b.rand.chance(0.4) ? a - outRank : a))]) !== undefined;
}

function expand(b: GraphBuilder): boolean {
  const x = b.pick(any);
  if (!x) return false;
  // the shape broadcasts with x: 1s where x keeps its dim, x's 1s grown, maybe a leading dim
  const lead = b.rand.chance(0.3) ? [b.rand.int(1, 3)] : [];
  const shape = [...lead, ...x.dims.map((d) => d === 1 ? b.rand.int(1, 3) : b.rand.chance(0.4) ? 1 : d)];
  // the shape may be shorter than x's rank: it broadcasts like any operand
  const drop = b.rand.chance(0.3) ? b.rand.int(0, shape.length) : 0;
  return b.emit("Expand", [x.name, b.ints(shape.slice(drop))]) !== undefined;
}

function flatten(b: GraphBuilder): boolean {
  const x = b.pick(any);
  if (!x) return false;
  const axis = b.rand.int(-x.dims.length, x.dims.length);
  return b.emit("Flatten", [x.name], b.rand.chance(0.8) ? [attr("axis", axis)] : []) !== undefined;
}

function tile(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1 && sizeOf(v.dims) * 2 <= MAX_ELEMENTS);
  if (!x) return false;
  return b.emit("Tile", [x.name, b.ints(x.dims.map(() => b.rand.int(1, 2)))]) !== undefined;
}

function pad(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1 && v.dtype !== BOOL);
  if (!x) return false;
  const rank = x.dims.length;
  const modes = b.opset >= 19 ? ["constant", "reflect", "edge", "wrap"] : ["constant", "reflect", "edge"];
  const mode = b.rand.pick(modes);
  const useAxes = b.opset >= 18 && b.rand.chance(0.4);
  const axes = useAxes
    ? b.rand.shuffle([...Array(rank).keys()]).slice(0, b.rand.int(1, rank))
    : [...Array(rank).keys()];
  const begins: number[] = [], ends: number[] = [];
  for (const a of axes) {
    const d = x.dims[a];
    // reflect needs pads below the dim; a negative pad crops (constant mode only)
    const hi = mode === "reflect" ? d - 1 : mode === "wrap" ? d : 2;
    const lo = mode === "constant" && d >= 2 ? -1 : 0;
    begins.push(b.rand.int(lo, hi));
    ends.push(b.rand.int(lo, hi));
  }
  const ins = [x.name, b.ints([...begins, ...ends])];
  if (mode === "constant" && b.rand.chance(0.5)) {
    ins.push(b.constant(x.dtype, [], [x.dtype === FLOAT ? b.rand.float() : 3]));
  }
  if (useAxes) {
    if (ins.length === 2) ins.push("");
    ins.push(b.ints(axes.map((a) => b.rand.chance(0.5) ? a - rank : a)));
  }
  return b.emit("Pad", ins, mode === "constant" && b.rand.chance(0.5) ? [] : [attr("mode", mode)]) !== undefined;
}

function shape(b: GraphBuilder): boolean {
  const x = b.pick(any);
  if (!x) return false;
  const attrs = [];
  if (b.opset >= 15 && b.rand.chance(0.4)) attrs.push(attr("start", b.rand.int(-x.dims.length, x.dims.length)));
  if (b.opset >= 15 && b.rand.chance(0.3)) attrs.push(attr("end", b.rand.int(-x.dims.length, x.dims.length)));
  // Shape's output is constant: Cast(Shape) + data keeps it from folding away the whole graph
  const s = b.emit("Shape", [x.name], attrs);
  if (!s || s[0].dims[0] === 0) return false;
  return b.emit("Mul", [s[0].name, b.operand(INT64, s[0].dims)]) !== undefined;
}

/** Layout templates; Reshape and Transpose weigh more, as real graphs are full of them. */
export const SHAPE: Template[] = [
  { op: "Reshape", weight: 2, build: reshape },
  { op: "Transpose", weight: 2, build: transpose },
  { op: "Concat", weight: 1.5, build: concat },
  { op: "Split", build: split },
  { op: "Slice", weight: 1.5, build: slice },
  { op: "Gather", build: gather },
  { op: "Squeeze", build: squeeze },
  { op: "Unsqueeze", build: unsqueeze },
  { op: "Expand", build: expand },
  { op: "Flatten", build: flatten },
  { op: "Tile", build: tile },
  { op: "Pad", build: pad },
  { op: "Shape", weight: 0.5, build: shape },
];
