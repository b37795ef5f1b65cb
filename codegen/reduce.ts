/**
 * Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceSumSquare, ReduceLogSum, ReduceLogSumExp over any set of axes (from the attribute or,
 * in newer opsets, a constant input), GlobalAveragePool / GlobalMaxPool, and ArgMax / ArgMin.
 * Long reductions take one workgroup per output (threads stride the reduced elements, then
 * combine in workgroup memory); short ones one thread per output.
 * @module
 */
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { rowWorkgroup } from "./rows.ts";
import {
  Bindings,
  coords,
  dot,
  f32Lit,
  grid,
  groupGrid,
  mainHeader,
  MAX_THREAD_TRIPS,
  nanMinMax,
  NEG_INF,
  workgroupReduce,
} from "./wgsl.ts";
import { copyKernel } from "./layout.ts";
import { wrapInt } from "./expr.ts";
import { toInts } from "../ir/tensor.ts";

type Comb = "sum" | "max" | "min" | "prod";

interface ReduceKind {
  comb: Comb;
  /** the value each element contributes */
  map?: (x: string) => string;
  /** the result from the combined value `a` and the count `n` */
  final?: (a: string, n: number) => string;
  /** floats only */
  floatOnly?: boolean;
}

/**
 * What a reduction over no axes (noop_with_empty_axes) does to each element, as ONNX's reference
 * and ONNX Runtime compute it; the identity for the others.
 */
const NOOP_ELEMENT: Record<string, (v: string) => string> = {
  ReduceL1: (v) => `abs(${v})`,
  ReduceL2: (v) => `abs(${v})`,
  ReduceSumSquare: (v) => `${v} * ${v}`,
  ReduceLogSum: (v) => `log(${v})`,
};

const KINDS: Record<string, ReduceKind> = {
  ReduceSum: { comb: "sum" },
  ReduceMean: { comb: "sum", final: (a, n) => `${a} / ${f32Lit(n)}`, floatOnly: true },
  ReduceMax: { comb: "max" },
  ReduceMin: { comb: "min" },
  ReduceProd: { comb: "prod" },
  ReduceL1: { comb: "sum", map: (x) => `abs(${x})` },
  ReduceL2: { comb: "sum", map: (x) => `${x} * ${x}`, final: (a) => `sqrt(${a})`, floatOnly: true },
  ReduceSumSquare: { comb: "sum", map: (x) => `${x} * ${x}` },
  ReduceLogSum: { comb: "sum", final: (a) => `log(${a})`, floatOnly: true },
  ReduceLogSumExp: { comb: "sum", floatOnly: true },
};

function identity(comb: Comb, t: "f32" | "i32"): string {
  if (t === "f32") {
    return comb === "sum"
      ? "0.0"
      : comb === "prod"
      ? "1.0"
      : comb === "max"
      ? NEG_INF
      : "bitcast<f32>(saturn_inf_bits)";
  }
  return comb === "sum" ? "0" : comb === "prod" ? "1" : comb === "max" ? "i32(-2147483647 - 1)" : "2147483647";
}

function combine(comb: Comb, a: string, b: string, t: "f32" | "i32"): string {
  if (comb === "sum" || comb === "prod") return comb === "sum" ? `${a} + ${b}` : `${a} * ${b}`;
  return t === "f32" ? nanMinMax(comb, a, b) : `${comb}(${a}, ${b})`;
}

/** A reduction of `x` over `axes` into `y` (whose element order is the kept dims' order). */
export function reduceKernel(
  name: string,
  nodes: string[],
  x: TensorInfo,
  axes: readonly number[],
  y: TensorInfo,
  kind: ReduceKind,
): KernelSpec[] {
  const t = requireStorage(x.dtype);
  if (t === "u32" || (t === "i32" && (kind.floatOnly || kind.map))) unsupported("integer inputs are not supported");
  const st = stridesOf(x.dims);
  const kept = x.dims.map((_, a) => a).filter((a) => !axes.includes(a));
  const red = [...axes].sort((a, b) => a - b);
  const keptDims = kept.map((a) => x.dims[a]), redDims = red.map((a) => x.dims[a]);
  const R = sizeOf(redDims), O = sizeOf(keptDims);
  const trailing = red.every((a, k) => a === x.dims.length - red.length + k);
  const b = new Bindings();
  const X = b.read(x.name, t), Y = b.write(y.name, t);
  const kc = kept.map((_, k) => `k${k}`), rc = red.map((_, k) => `r${k}`);
  const off = trailing ? "base + r" : `base + ${dot(rc, red.map((a) => st[a]))}`;
  const redCoords = trailing ? "" : coords("r", redDims, "r");
  const lse = name === "ReduceLogSumExp";
  const mapped = (v: string) => (lse ? `exp(${v} - mx)` : kind.map ? kind.map(v) : v);
  const fin = (
    a: string,
  ) => (lse ? `mx + log(${a})` : kind.final ? kind.final(a, R) : t === "i32" ? wrapInt(y.dtype, a) : a);
  // ints too: one thread looping over a long row would pass llvmpipe's loop limit
  const wide = R >= 64;
  const trips = Math.ceil(R / rowWorkgroup(R)) * (lse ? 2 : 1);
  if (wide && trips > MAX_THREAD_TRIPS) {
    if (lse) unsupported(`ReduceLogSumExp over ${R} elements per output is not supported`);
    return partialReduce(name, nodes, x, red, y, kind);
  }
  let wgsl: string, dispatch: [number, number, number];
  if (wide) {
    const wg = rowWorkgroup(R);
    const g = groupGrid(O);
    const loop = (body: string) =>
      `for (var r = lid.x; r < ${R}u; r = r + ${wg}u) {
    ${redCoords}
    ${body}
  }`;
    const pre = lse
      ? `var m0 = ${NEG_INF};
  ${loop(`m0 = max(m0, ${X}[${off}]);`)}
  ${workgroupReduce("max", "m0", "mx", wg)}`
      : "";
    wgsl = `${b.decls}
var<workgroup> red: array<${t}, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kc, kept.map((a) => st[a]))};
  ${pre}
  var acc = ${identity(kind.comb, t)};
  ${loop(`acc = ${combine(kind.comb, "acc", mapped(`${X}[${off}]`), t)};`)}
  ${workgroupReduce(kind.comb, "acc", "total", wg, t)}
  if (lid.x == 0u) { ${Y}[o] = ${fin("total")}; }
}
`;
    dispatch = O === 0 ? [0, 1, 1] : g.dispatch;
  } else {
    const g = grid(O, 64);
    const loop = (body: string) =>
      `for (var r = 0u; r < ${R}u; r = r + 1u) {
    ${redCoords}
    ${body}
  }`;
    const pre = lse ? `var mx = ${NEG_INF};\n  ${loop(`mx = max(mx, ${X}[${off}]);`)}` : "";
    wgsl = `${b.decls}
${mainHeader(64)} {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kc, kept.map((a) => st[a]))};
  ${pre}
  var acc = ${identity(kind.comb, t)};
  ${loop(`acc = ${combine(kind.comb, "acc", mapped(`${X}[${off}]`), t)};`)}
  ${Y}[o] = ${fin("acc")};
}
`;
    dispatch = O === 0 ? [0, 1, 1] : g.dispatch;
  }
  return [{ name, nodes, wgsl, entryPoint: "main", bindings: b.list, dispatch }];
}

/**
 * A reduction whose rows are too long for one workgroup's threads (more than `MAX_THREAD_TRIPS`
 * elements each): partial results of `kind.map`ped values over chunks of the row, written to a
 * temporary [outputs, chunks] (the reduced axes moved last, by strides), then `reduceKernel` over
 * the chunks with the same combination and `kind.final` of the whole row's count.
 */
function partialReduce(
  name: string,
  nodes: string[],
  x: TensorInfo,
  axes: readonly number[],
  y: TensorInfo,
  kind: ReduceKind,
): KernelSpec[] {
  const t = requireStorage(x.dtype);
  if (t === "u32") unsupported("unsigned inputs are not supported");
  const st = stridesOf(x.dims);
  const kept = x.dims.map((_, a) => a).filter((a) => !axes.includes(a));
  const keptDims = kept.map((a) => x.dims[a]), redDims = axes.map((a) => x.dims[a]);
  const R = sizeOf(redDims), O = sizeOf(keptDims), wg = 256;
  const chunk = wg * MAX_THREAD_TRIPS, P = Math.ceil(R / chunk);
  const temp = `${y.name}::${name}::partial`;
  const b = new Bindings();
  const X = b.read(x.name, t), T = b.write(temp, t);
  const g = groupGrid(O * P);
  const rc = axes.map((_, k) => `r${k}`), kc = kept.map((_, k) => `k${k}`);
  const mapped = (v: string) => (kind.map ? kind.map(v) : v);
  const wgsl = `${b.decls}
var<workgroup> red: array<${t}, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let q = ${g.index};
  if (q >= ${O * P}u) { return; }
  let o = q / ${P}u;
  let p = q % ${P}u;
  ${coords("o", keptDims, "k")}
  let base = ${dot(kc, kept.map((a) => st[a]))};
  let end = min(${R}u, (p + 1u) * ${chunk}u);
  var acc = ${identity(kind.comb, t)};
  for (var r = p * ${chunk}u + lid.x; r < end; r = r + ${wg}u) {
    ${coords("r", redDims, "r")}
    acc = ${combine(kind.comb, "acc", mapped(`${X}[base + ${dot(rc, axes.map((a) => st[a]))}]`), t)};
  }
  ${workgroupReduce(kind.comb, "acc", "total", wg, t)}
  if (lid.x == 0u) { ${T}[q] = total; }
}
`;
  const first: KernelSpec = {
    name: `${name}[partial]`,
    nodes,
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: g.dispatch,
    temporaries: [{ name: temp, elements: O * P }],
  };
  const rest: ReduceKind = { comb: kind.comb, final: kind.final && ((a) => kind.final!(a, R)) };
  return [first, ...reduceKernel(name, nodes, { name: temp, dtype: x.dtype, dims: [O, P] }, [1], y, rest)];
}

function reduce(op: string) {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    const r = x.dims.length;
    const fromInput = ctx.opset >= 18 || (op === "ReduceSum" && ctx.opset >= 13);
    let axes: number[] | undefined;
    if (fromInput) {
      if (ctx.hasInput(1)) {
        const c = ctx.constant(1);
        if (!c) unsupported("axes must be a constant");
        axes = toInts(c);
      }
    } else if (ctx.attrs.hasAttr("axes")) axes = ctx.attrs.attrInts("axes");
    if (!axes || axes.length === 0) {
      if (ctx.attrs.attrInt("noop_with_empty_axes", 0) !== 0) {
        return {
          kind: "kernels",
          kernels: [copyKernel({
            name: op,
            nodes: [ctx.node.name],
            dims: y.dims,
            out: y,
            value: (b) => ({
              expr: (NOOP_ELEMENT[op] ?? ((v: string) => v))(`${b.read(x.name, requireStorage(x.dtype))}[i]`),
            }),
          })],
        };
      }
      axes = Array.from({ length: r }, (_, i) => i);
    }
    const norm = [...new Set(axes.map((a) => normAxis(a, r)))];
    return { kind: "kernels", kernels: reduceKernel(op, [ctx.node.name], x, norm, y, KINDS[op]) };
  };
}

function globalPool(comb: "sum" | "max") {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    const axes = x.dims.map((_, a) => a).slice(2);
    const n = sizeOf(x.dims.slice(2));
    const kind: ReduceKind = comb === "sum" ? { comb, final: (a) => `${a} / ${f32Lit(n)}`, floatOnly: true } : { comb };
    return { kind: "kernels", kernels: reduceKernel(ctx.node.opType, [ctx.node.name], x, axes, y, kind) };
  };
}

function argReduce(max: boolean) {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    const t = requireStorage(x.dtype);
    if (t === "u32") unsupported("unsigned inputs are not supported");
    const axis = normAxis(ctx.attrs.attrInt("axis", 0), x.dims.length);
    const last = ctx.attrs.attrInt("select_last_index", 0) !== 0;
    const st = stridesOf(x.dims);
    const keptDims = x.dims.filter((_, a) => a !== axis);
    const kept = x.dims.map((_, a) => a).filter((a) => a !== axis);
    const D = x.dims[axis], O = sizeOf(keptDims);
    const b = new Bindings();
    const X = b.read(x.name, t), Y = b.write(y.name, "i32");
    const cmp = max ? (last ? ">=" : ">") : (last ? "<=" : "<");
    if (D > ARG_ROW_THREAD_MAX) {
      const spec = wideArgReduce(ctx.node.opType, [ctx.node.name], b, X, Y, t, D, O, keptDims, kept, st, axis, cmp);
      return { kind: "kernels", kernels: [spec] };
    }
    const g = grid(O, 64);
    const wgsl = `${b.decls}
${mainHeader(64)} {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kept.map((_, k) => `k${k}`), kept.map((a) => st[a]))};
  var best = ${X}[base];
  var bi = 0;
  for (var j = 1u; j < ${D}u; j = j + 1u) {
    let v = ${X}[base + j * ${st[axis]}u];
    if (v ${cmp} best) { best = v; bi = i32(j); }
  }
  ${Y}[o] = bi;
}
`;
    return {
      kind: "kernels",
      kernels: [{
        name: ctx.node.opType,
        nodes: [ctx.node.name],
        wgsl,
        entryPoint: "main",
        bindings: b.list,
        dispatch: O === 0 || D === 0 ? [0, 1, 1] : g.dispatch,
      }],
    };
  };
}

/** Rows longer than this are scanned by a workgroup per output instead of one thread. */
const ARG_ROW_THREAD_MAX = 4096;

/**
 * ArgMax/ArgMin with one workgroup per output: each thread scans a strided part of the row with
 * `cmp` (strict for the first index, non-strict for the last), then pairs (value, index) are
 * combined so that a better value wins and a tie goes to the lower index (or, with
 * `select_last_index`, the higher) — the index a sequential scan finds, for rows of any length.
 */
function wideArgReduce(
  name: string,
  nodes: string[],
  b: Bindings,
  X: string,
  Y: string,
  t: "f32" | "i32",
  D: number,
  O: number,
  keptDims: number[],
  kept: number[],
  st: number[],
  axis: number,
  cmp: string,
): KernelSpec {
  const wg = 256;
  if (Math.ceil(D / wg) > MAX_THREAD_TRIPS) unsupported(`${name} over ${D} elements per output is not supported`);
  const g = groupGrid(O);
  const strict = cmp.length === 1 ? cmp : cmp[0];
  const lastWins = cmp.length === 2;
  const better = (v1: string, i1: string, v2: string, i2: string) =>
    `(${v2} ${strict} ${v1} || (${v2} == ${v1} && ${i2} ${lastWins ? ">" : "<"} ${i1}))`;
  const wgsl = `${b.decls}
var<workgroup> redv: array<${t}, ${wg}>;
var<workgroup> redi: array<i32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kept.map((_, k) => `k${k}`), kept.map((a) => st[a]))};
  var best = ${X}[base + min(lid.x, ${D - 1}u) * ${st[axis]}u];
  var bi = i32(min(lid.x, ${D - 1}u));
  for (var j = lid.x + ${wg}u; j < ${D}u; j = j + ${wg}u) {
    let v = ${X}[base + j * ${st[axis]}u];
    if (v ${cmp} best) { best = v; bi = i32(j); }
  }
  redv[lid.x] = best;
  redi[lid.x] = bi;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      let v2 = redv[lid.x + s];
      let i2 = redi[lid.x + s];
      if (${better("redv[lid.x]", "redi[lid.x]", "v2", "i2")}) {
        redv[lid.x] = v2;
        redi[lid.x] = i2;
      }
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) { ${Y}[o] = redi[0]; }
}
`;
  return { name, nodes, wgsl, entryPoint: "main", bindings: b.list, dispatch: O === 0 ? [0, 1, 1] : g.dispatch };
}

registerLowerings(
  "",
  Object.fromEntries(Object.keys(KINDS).map((op) => [op, { lower: reduce(op), constInputs: [1] }])),
);
registerLowerings("", {
  GlobalAveragePool: { lower: globalPool("sum") },
  GlobalMaxPool: { lower: globalPool("max") },
  ArgMax: { lower: argReduce(true) },
  ArgMin: { lower: argReduce(false) },
});
