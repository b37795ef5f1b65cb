/**
 * Templates of the heavier ops: MatMul (batched, broadcast, rank 1), Gemm (transposes, alpha, beta,
 * a broadcast C), small Conv (1-D and 2-D: strides, pads, dilations, groups, auto_pad), the Reduce
 * family (axes an attribute before opset 18 — 13 for ReduceSum — and an input after), ArgMax/ArgMin,
 * Softmax/LogSoftmax and LayerNormalization (opset 17).
 * @module
 */
import { attr, FLOAT, type GraphBuilder, INT32, INT64, type Template, type Val } from "./builder.ts";
import { axisOf } from "./ops_shape.ts";

const isFloat = (v: Val) => v.dtype === FLOAT;

function matmul(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1 && v.dims.length <= 4 && (isFloat(v) || b.rand.chance(0.2)));
  if (!x || (x.dtype !== FLOAT && x.dtype !== INT32 && x.dtype !== INT64)) return false;
  const k = x.dims[x.dims.length - 1];
  const n = b.rand.int(1, 4);
  let ydims: number[];
  if (x.dims.length <= 2 || b.rand.chance(0.5)) ydims = b.rand.chance(0.15) ? [k] : [k, n];
  else ydims = [...x.dims.slice(0, -2).map((d) => b.rand.chance(0.3) ? 1 : d), k, n];
  const y = b.operand(x.dtype, ydims);
  return b.emit("MatMul", [x.name, y]) !== undefined;
}

function gemm(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length === 2 && isFloat(v));
  if (!x) return false;
  const transA = b.rand.chance(0.3) ? 1 : 0, transB = b.rand.chance(0.4) ? 1 : 0;
  const [m, k] = transA ? [x.dims[1], x.dims[0]] : x.dims;
  const n = b.rand.int(1, 4);
  const attrs = [];
  if (transA) attrs.push(attr("transA", 1));
  if (transB || b.rand.chance(0.2)) attrs.push(attr("transB", transB));
  if (b.rand.chance(0.3)) attrs.push(attr("alpha", 0.25 + b.rand.float() * 1.5, true));
  if (b.rand.chance(0.3)) attrs.push(attr("beta", 0.25 + b.rand.float() * 1.5, true));
  const ins = [x.name, b.operand(FLOAT, transB ? [n, k] : [k, n])];
  if (b.rand.chance(0.7)) ins.push(b.operand(FLOAT, b.rand.pick([[m, n], [n], [1, n], [m, 1], [], [1]])));
  return b.emit("Gemm", ins, attrs) !== undefined;
}

function conv(b: GraphBuilder): boolean {
  const x = b.pick((v) => (v.dims.length === 3 || v.dims.length === 4) && isFloat(v));
  if (!x) return false;
  const spatial = x.dims.slice(2);
  const c = x.dims[1];
  const groups = [1, 2, 3].filter((g) => c % g === 0);
  const group = b.rand.chance(0.3) ? b.rand.pick(groups) : 1;
  const m = group * b.rand.int(1, 2);
  const kernel = spatial.map((d) => b.rand.int(1, Math.min(3, d)));
  const attrs = [];
  const strides = spatial.map(() => b.rand.int(1, 2));
  const dilations = spatial.map((_, i) => kernel[i] > 1 || b.rand.chance(0.5) ? 1 : b.rand.int(1, 2));
  if (strides.some((s) => s > 1) || b.rand.chance(0.3)) attrs.push(attr("strides", strides));
  if (dilations.some((d) => d > 1)) attrs.push(attr("dilations", dilations));
  if (group > 1) attrs.push(attr("group", group));
  if (b.rand.chance(0.2)) attrs.push(attr("auto_pad", b.rand.pick(["SAME_UPPER", "SAME_LOWER", "VALID"])));
  else if (b.rand.chance(0.5)) {
    attrs.push(attr("pads", [...spatial.map(() => b.rand.int(0, 1)), ...spatial.map(() => b.rand.int(0, 1))]));
  }
  if (b.rand.chance(0.3)) attrs.push(attr("kernel_shape", kernel));
  const ins = [x.name, b.floats([m, c / group, ...kernel])];
  if (b.rand.chance(0.5)) ins.push(b.floats([m]));
  return b.emit("Conv", ins, attrs) !== undefined;
}

const REDUCE = [
  "ReduceSum",
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceSumSquare",
  "ReduceLogSumExp",
];

function reduce(op: string): Template {
  return {
    op,
    build(b) {
      const ints = op === "ReduceSum" || op === "ReduceMax" || op === "ReduceMin" || op === "ReduceProd";
      const x = b.pick((v) => v.dims.length >= 1 && (isFloat(v) || (ints && (v.dtype === INT64 || v.dtype === INT32))));
      if (!x) return false;
      const rank = x.dims.length;
      const axes = b.rand.chance(0.2)
        ? []
        : b.rand.shuffle([...Array(rank).keys()]).slice(0, b.rand.int(1, rank)).map((a) =>
          b.rand.chance(0.4) ? a - rank : a
        );
      const attrs = [];
      if (b.rand.chance(0.5)) attrs.push(attr("keepdims", b.rand.int(0, 1)));
      const axesInput = op === "ReduceSum" ? b.opset >= 13 : b.opset >= 18;
      const ins = [x.name];
      if (axesInput) {
        if (axes.length) ins.push(b.ints(axes));
        if (!axes.length && b.rand.chance(0.3)) attrs.push(attr("noop_with_empty_axes", 1));
      } else if (axes.length) attrs.push(attr("axes", axes));
      return b.emit(op, ins, attrs) !== undefined;
    },
  };
}

function argReduce(op: string): Template {
  return {
    op,
    build(b) {
      const x = b.pick((v) => v.dims.length >= 1 && v.dtype !== 9);
      if (!x) return false;
      const attrs = [attr("axis", axisOf(b.rand, x.dims.length))];
      if (b.rand.chance(0.5)) attrs.push(attr("keepdims", b.rand.int(0, 1)));
      if (b.rand.chance(0.3)) attrs.push(attr("select_last_index", 1));
      return b.emit(op, [x.name], attrs) !== undefined;
    },
  };
}

function softmax(op: string): Template {
  return {
    op,
    build(b) {
      const x = b.pick((v) => v.dims.length >= 1 && isFloat(v));
      if (!x) return false;
      return b.emit(op, [x.name], b.rand.chance(0.7) ? [attr("axis", axisOf(b.rand, x.dims.length))] : []) !==
        undefined;
    },
  };
}

function layerNorm(b: GraphBuilder): boolean {
  const x = b.pick((v) => v.dims.length >= 1 && isFloat(v));
  if (!x) return false;
  const axis = axisOf(b.rand, x.dims.length);
  const normDims = x.dims.slice(axis < 0 ? axis + x.dims.length : axis);
  const attrs = [attr("axis", axis)];
  if (b.rand.chance(0.3)) attrs.push(attr("epsilon", 1e-3, true));
  const ins = [x.name, b.floats(normDims, 0.5, 1.5)];
  if (b.rand.chance(0.6)) ins.push(b.floats(normDims));
  return b.emit("LayerNormalization", ins, attrs) !== undefined;
}

/** The heavier templates. */
export const NN: Template[] = [
  { op: "MatMul", weight: 2, build: matmul },
  { op: "Gemm", build: gemm },
  { op: "Conv", build: conv },
  ...REDUCE.map(reduce),
  argReduce("ArgMax"),
  argReduce("ArgMin"),
  softmax("Softmax"),
  softmax("LogSoftmax"),
  { op: "LayerNormalization", minOpset: 17, build: layerNorm },
];
