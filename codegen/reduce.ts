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
import { Bindings, coords, dot, f32Lit, grid, groupGrid, mainHeader, NEG_INF, workgroupReduce } from "./wgsl.ts";
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
    return comb === "sum" ? "0.0" : comb === "prod" ? "1.0" : comb === "max" ? NEG_INF : "bitcast<f32>(0x7f800000u)";
  }
  return comb === "sum" ? "0" : comb === "prod" ? "1" : comb === "max" ? "i32(-2147483647 - 1)" : "2147483647";
}

function combine(comb: Comb, a: string, b: string): string {
  return comb === "sum" ? `${a} + ${b}` : comb === "prod" ? `${a} * ${b}` : `${comb}(${a}, ${b})`;
}

/** A reduction of `x` over `axes` into `y` (whose element order is the kept dims' order). */
export function reduceKernel(
  name: string,
  nodes: string[],
  x: TensorInfo,
  axes: readonly number[],
  y: TensorInfo,
  kind: ReduceKind,
): KernelSpec {
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
  const wide = t === "f32" && R >= 64;
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
var<workgroup> red: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = ${g.index};
  if (o >= ${O}u) { return; }
  ${coords("o", keptDims, "k")}
  let base = ${dot(kc, kept.map((a) => st[a]))};
  ${pre}
  var acc = ${identity(kind.comb, "f32")};
  ${loop(`acc = ${combine(kind.comb, "acc", mapped(`${X}[${off}]`))};`)}
  ${workgroupReduce(kind.comb, "acc", "total", wg)}
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
  ${loop(`acc = ${combine(kind.comb, "acc", mapped(`${X}[${off}]`))};`)}
  ${Y}[o] = ${fin("acc")};
}
`;
    dispatch = O === 0 ? [0, 1, 1] : g.dispatch;
  }
  return { name, nodes, wgsl, entryPoint: "main", bindings: b.list, dispatch };
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
            value: (b) => ({ expr: `${b.read(x.name, requireStorage(x.dtype))}[i]` }),
          })],
        };
      }
      axes = Array.from({ length: r }, (_, i) => i);
    }
    const norm = [...new Set(axes.map((a) => normAxis(a, r)))];
    return { kind: "kernels", kernels: [reduceKernel(op, [ctx.node.name], x, norm, y, KINDS[op])] };
  };
}

function globalPool(comb: "sum" | "max") {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    const axes = x.dims.map((_, a) => a).slice(2);
    const n = sizeOf(x.dims.slice(2));
    const kind: ReduceKind = comb === "sum" ? { comb, final: (a) => `${a} / ${f32Lit(n)}`, floatOnly: true } : { comb };
    return { kind: "kernels", kernels: [reduceKernel(ctx.node.opType, [ctx.node.name], x, axes, y, kind)] };
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
    const g = grid(O, 64);
    const cmp = max ? (last ? ">=" : ">") : (last ? "<=" : "<");
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
