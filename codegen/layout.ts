/**
 * Data movement: Transpose, Slice, Concat, Split, Pad, Tile, Gather, GatherElements,
 * DepthToSpace and SpaceToDepth. Each is one thread per element, decomposing its flat index
 * into coordinates with the shape's strides as constants and reading the element it copies.
 * Concat writes each input into its slice of the output (one kernel per input); Split reads each
 * output's slice (one kernel per output).
 * @module
 */
import { sliceRange, splitSizes } from "../ir/ops/concat_split.ts";
import { fromNumbers, sizeOf, stridesOf, toInts, toNumbers } from "../ir/tensor.ts";
import { DataType } from "../ir/dtype.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { constInts, type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { Bindings, coords, dot, grid, literal, mainHeader } from "./wgsl.ts";

/** What an element-copy kernel computes at coordinates `c` of its iteration space. */
interface CopySpec {
  name: string;
  nodes: string[];
  /** the iteration space (the output's dims, or an input's for Concat) */
  dims: readonly number[];
  out: TensorInfo;
  /** statements and the value expression at coordinates `c0…` (names in `c`) */
  value(b: Bindings, c: string[]): { code?: string; expr: string };
  /** where in `out` the value goes (default: the flat iteration index) */
  offset?(c: string[]): string;
}

/** One thread per element of `spec.dims`. */
export function copyKernel(spec: CopySpec): KernelSpec {
  const b = new Bindings();
  const n = sizeOf(spec.dims);
  const wg = 256;
  const g = grid(n, wg);
  const c = spec.dims.map((_, i) => `c${i}`);
  const v = spec.value(b, c);
  const out = b.write(spec.out.name, requireStorage(spec.out.dtype));
  const wgsl = `${b.decls}
${mainHeader(wg)} {
  let i = ${g.index};
  if (i >= ${n}u) { return; }
  ${coords("i", spec.dims, "c")}
  ${v.code ?? ""}
  ${out}[${spec.offset ? spec.offset(c) : "i"}] = ${v.expr};
}
`;
  return {
    name: spec.name,
    nodes: spec.nodes,
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
  };
}

/** A kernel permuting `input` (seen as `inDims`) by `perm` into `out`. */
export function transposeKernel(
  name: string,
  nodes: string[],
  input: TensorInfo,
  inDims: readonly number[],
  perm: readonly number[],
  out: TensorInfo,
): KernelSpec {
  const inStr = stridesOf(inDims);
  const dims = perm.map((p) => inDims[p]);
  return copyKernel({
    name,
    nodes,
    dims,
    out,
    value: (b, c) => ({
      expr: `${b.read(input.name, requireStorage(input.dtype))}[${dot(c, perm.map((p) => inStr[p]))}]`,
    }),
  });
}

function kernels(...k: KernelSpec[]): Lowered {
  return { kind: "kernels", kernels: k };
}

function transpose(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const r = x.dims.length;
  const perm = ctx.attrs.attrInts("perm", Array.from({ length: r }, (_, i) => r - 1 - i));
  return kernels(transposeKernel("Transpose", [ctx.node.name], x, x.dims, perm, y));
}

function slice(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const r = x.dims.length;
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = ctx.attrs.attrInts("starts");
    ends = ctx.attrs.attrInts("ends");
    axes = ctx.attrs.hasAttr("axes") ? ctx.attrs.attrInts("axes") : undefined;
  } else {
    starts = constInts(ctx, 1, "starts");
    ends = constInts(ctx, 2, "ends");
    axes = ctx.hasInput(3) ? constInts(ctx, 3, "axes") : undefined;
    steps = ctx.hasInput(4) ? constInts(ctx, 4, "steps") : undefined;
  }
  axes = (axes ?? starts.map((_, i) => i)).map((a) => normAxis(a, r));
  steps ??= starts.map(() => 1);
  const start = new Array<number>(r).fill(0), step = new Array<number>(r).fill(1);
  axes.forEach((a, k) => {
    if (steps![k] === 0) unsupported("step 0");
    start[a] = sliceRange(x.dims[a], starts[k], ends[k], steps![k])[0];
    step[a] = steps![k];
  });
  const st = stridesOf(x.dims);
  return kernels(copyKernel({
    name: "Slice",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const terms = c.map((ci, a) => {
        if (y.dims[a] === 1) return `${start[a] * st[a]}`;
        const coord = step[a] === 1 ? `(${ci} + ${start[a]}u)` : `u32(${start[a]} + i32(${ci}) * ${step[a]})`;
        return st[a] === 1 ? coord : `${coord} * ${st[a]}u`;
      });
      const off = terms.map((t) => (/^\d+$/.test(t) ? `${t}u` : t)).join(" + ") || "0u";
      return { expr: `${b.read(x.name, requireStorage(x.dtype))}[${off}]` };
    },
  }));
}

/**
 * Past this many inputs, a Concat's kernels read their offset along the axis from a one-element
 * constant instead of having it in their source, so inputs of one shape share one pipeline (a
 * Concat of thousands of inputs would otherwise compile thousands of shaders).
 */
const CONCAT_SHARED_SOURCE = 16;

function concat(ctx: LowerCtx): Lowered {
  const y = ctx.output(0);
  const axis = normAxis(ctx.attrs.attrInt("axis"), y.dims.length);
  const outStr = stridesOf(y.dims);
  const ks: KernelSpec[] = [];
  const shared = ctx.node.inputs.length > CONCAT_SHARED_SOURCE;
  let off = 0;
  ctx.node.inputs.forEach((name, i) => {
    if (name === "") return;
    const x = ctx.input(i);
    const o = off;
    off += x.dims[axis];
    if (sizeOf(x.dims) === 0) return;
    const offsetName = `${y.name}::concat_offset${i}`;
    let at = o ? `${o}u` : "";
    const k = copyKernel({
      name: "Concat",
      nodes: [ctx.node.name],
      dims: x.dims,
      out: y,
      value: (b) => {
        if (shared) at = `u32(${b.read(offsetName, "i32")}[0])`;
        return { expr: `${b.read(x.name, requireStorage(x.dtype))}[i]` };
      },
      offset: (c) => dot(c.map((ci, a) => (a === axis && at ? `(${ci} + ${at})` : ci)), outStr),
    });
    if (shared) k.constants = new Map([[offsetName, fromNumbers(DataType.INT32, [1], [o])]]);
    ks.push(k);
  });
  return kernels(...ks);
}

function split(ctx: LowerCtx): Lowered {
  const x = ctx.input(0);
  const axis = normAxis(ctx.attrs.attrInt("axis", 0), x.dims.length);
  const inStr = stridesOf(x.dims);
  const ks: KernelSpec[] = [];
  const split = ctx.hasInput(1) ? ctx.constant(1) : undefined;
  const sizes = splitSizes(ctx.attrs, x.dims[axis], () => (split ? toInts(split) : undefined));
  if (!sizes) unsupported("split sizes must be known at plan time");
  let off = 0;
  ctx.node.outputs.forEach((_, k) => {
    const o = off;
    off += sizes[k];
    // an output nothing reads is not written, but its part still moves the next one's offset
    if (!ctx.hasOutput(k)) return;
    const y = ctx.output(k);
    ks.push(copyKernel({
      name: "Split",
      nodes: [ctx.node.name],
      dims: y.dims,
      out: y,
      value: (b, c) => ({
        expr: `${b.read(x.name, requireStorage(x.dtype))}[${
          dot(c.map((ci, a) => (a === axis && o ? `(${ci} + ${o}u)` : ci)), inStr)
        }]`,
      }),
    }));
  });
  return kernels(...ks);
}

function pad(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const r = x.dims.length;
  const mode = ctx.attrs.attrString("mode", "constant");
  if (!["constant", "reflect", "edge", "wrap"].includes(mode)) unsupported(`mode '${mode}'`);
  let pads: number[], value = 0;
  let axes: number[] | undefined;
  if (ctx.opset < 11) {
    pads = ctx.attrs.hasAttr("pads") ? ctx.attrs.attrInts("pads") : ctx.attrs.attrInts("paddings");
    value = ctx.attrs.attrFloat("value", 0);
  } else {
    pads = constInts(ctx, 1, "pads");
    const cv = ctx.constant(2);
    if (ctx.hasInput(2) && !cv) unsupported("constant_value must be a constant");
    if (cv && cv.size > 0) value = toNumbers(cv)[0];
    axes = ctx.hasInput(3) ? constInts(ctx, 3, "axes").map((a) => normAxis(a, r)) : undefined;
  }
  const ax = axes ?? Array.from({ length: r }, (_, i) => i);
  const begin = new Array<number>(r).fill(0);
  ax.forEach((a, k) => (begin[a] = pads[k]));
  const st = stridesOf(x.dims);
  const t = requireStorage(x.dtype);
  return kernels(copyKernel({
    name: "Pad",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const X = b.read(x.name, t);
      const lines: string[] = [];
      const inside: string[] = [];
      c.forEach((ci, a) => {
        const d = x.dims[a];
        // a non-negative modulus of s ≥ -begin: shift by a multiple of the period first (signed %
        // of negative values is unreliable on some drivers)
        const pmod = (p: number) => `i32(u32(s${a} + ${p * (Math.ceil(begin[a] / p) + 1)}) % ${p}u)`;
        lines.push(`var s${a} = i32(${ci}) - ${begin[a]};`);
        if (mode === "constant") inside.push(`s${a} >= 0 && s${a} < ${d}`);
        else if (mode === "edge") lines.push(`s${a} = clamp(s${a}, 0, ${d - 1});`);
        else if (mode === "wrap") lines.push(`s${a} = ${pmod(d)};`);
        else if (d === 1) lines.push(`s${a} = 0;`);
        else {
          const p = 2 * (d - 1);
          lines.push(`s${a} = ${pmod(p)}; s${a} = select(s${a}, ${p} - s${a}, s${a} >= ${d});`);
        }
      });
      const off = c.map((_, a) => `s${a} * ${st[a]}`).join(" + ") || "0";
      if (mode !== "constant" || !inside.length) return { code: lines.join("\n  "), expr: `${X}[u32(${off})]` };
      lines.push(`var v = ${literal(t, value)};`);
      lines.push(`if (${inside.join(" && ")}) { v = ${X}[u32(${off})]; }`);
      return { code: lines.join("\n  "), expr: "v" };
    },
  }));
}

function tile(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const st = stridesOf(x.dims);
  return kernels(copyKernel({
    name: "Tile",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => ({
      expr: `${b.read(x.name, requireStorage(x.dtype))}[${
        dot(c.map((ci, a) => (x.dims[a] === y.dims[a] ? ci : x.dims[a] === 1 ? "0u" : `(${ci} % ${x.dims[a]}u)`)), st)
      }]`,
    }),
  }));
}

/** The index read from an i32 index buffer, made non-negative for an axis of size `d`. */
function indexValue(expr: string, d: number): string {
  return `u32(clamp(select(${expr}, ${expr} + ${d}, ${expr} < 0), 0, ${Math.max(d - 1, 0)}))`;
}

function gather(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), ind = ctx.input(1), y = ctx.output(0);
  if (requireStorage(ind.dtype) !== "i32") unsupported("indices must be an integer type");
  const axis = normAxis(ctx.attrs.attrInt("axis", 0), x.dims.length);
  const q = ind.dims.length;
  const st = stridesOf(x.dims), ist = stridesOf(ind.dims);
  return kernels(copyKernel({
    name: "Gather",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const I = b.read(ind.name, "i32");
      const j = indexValue(`${I}[${dot(c.slice(axis, axis + q), ist)}]`, x.dims[axis]);
      const xc = [...c.slice(0, axis), "j", ...c.slice(axis + q)];
      return { code: `let j = ${j};`, expr: `${b.read(x.name, requireStorage(x.dtype))}[${dot(xc, st)}]` };
    },
  }));
}

function gatherElements(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), ind = ctx.input(1), y = ctx.output(0);
  if (requireStorage(ind.dtype) !== "i32") unsupported("indices must be an integer type");
  const axis = normAxis(ctx.attrs.attrInt("axis", 0), x.dims.length);
  const st = stridesOf(x.dims);
  return kernels(copyKernel({
    name: "GatherElements",
    nodes: [ctx.node.name],
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const I = b.read(ind.name, "i32");
      const xc = c.map((ci, a) => (a === axis ? "j" : ci));
      return {
        code: `let j = ${indexValue(`${I}[i]`, x.dims[axis])};`,
        expr: `${b.read(x.name, requireStorage(x.dtype))}[${dot(xc, st)}]`,
      };
    },
  }));
}

function depthToSpace(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const bs = ctx.attrs.attrInt("blocksize");
  const [n, c, h, w] = x.dims;
  const c2 = c / (bs * bs);
  const crd = ctx.attrs.attrString("mode", "DCR") === "CRD";
  const view = crd ? [n, c2, bs, bs, h, w] : [n, bs, bs, c2, h, w];
  const perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
  return kernels(transposeKernel("DepthToSpace", [ctx.node.name], x, view, perm, y));
}

function spaceToDepth(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  const bs = ctx.attrs.attrInt("blocksize");
  const [n, c, h, w] = x.dims;
  return kernels(
    transposeKernel("SpaceToDepth", [ctx.node.name], x, [n, c, h / bs, bs, w / bs, bs], [0, 3, 5, 1, 2, 4], y),
  );
}

registerLowerings("", {
  Transpose: { lower: transpose },
  Slice: { lower: slice, constInputs: [1, 2, 3, 4] },
  Concat: { lower: concat },
  Split: { lower: split, constInputs: [1] },
  Pad: { lower: pad, constInputs: [1, 2, 3] },
  Tile: { lower: tile, constInputs: [1] },
  Gather: { lower: gather },
  GatherElements: { lower: gatherElements },
  DepthToSpace: { lower: depthToSpace },
  SpaceToDepth: { lower: spaceToDepth },
});
