/**
 * ScatterND, ScatterElements and the deprecated Scatter, with the reductions none/add/mul/max/min.
 *
 * Invariant: the result is race-free and equals the reference's, which applies updates in their
 * flat order. In general each thread owns one OUTPUT element and scans, in that order, the
 * updates that may target it (ScatterND: every index tuple; ScatterElements: the updates along the
 * axis at its other coordinates), combining each hit into its value — so duplicate indices reduce
 * exactly (and with reduction "none" the last one wins, as in the reference). Two cheaper forms
 * keep that result: with reduction "none" and more candidates than a short scan, a table of
 * winners (atomicMax of the update's position per target) picks the last update for each target;
 * when the indices are plan-time constants proven in range and unique, the output is a copy of the
 * data followed by one thread per UPDATE element writing `data[target] ⊕ update` (no two threads
 * share a target).
 *
 * Arithmetic is the element type's own: f32 rounded per step (max/min propagate NaN, as the
 * reference does), integers wrapping to their width, bool add/max as OR and mul/min as AND.
 * Negative indices count from the end; an out-of-range runtime index (the reference rejects it)
 * targets nothing.
 * @module
 */
import { DataType } from "../ir/dtype.ts";
import { sizeOf, stridesOf, toInts } from "../ir/tensor.ts";
import { wrapInt } from "./expr.ts";
import { fromEnd, requireIndices } from "./gather_nd.ts";
import { type ElemType, type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { Bindings, coords, dot, grid, mainHeader } from "./wgsl.ts";

type Reduction = "none" | "add" | "mul" | "max" | "min";

function reductionOf(ctx: LowerCtx): Reduction {
  const r = ctx.attrs.attrString("reduction", "none");
  if (r !== "none" && r !== "add" && r !== "mul" && r !== "max" && r !== "min") unsupported(`reduction '${r}'`);
  return r;
}

const isNaN32 = (e: string) => `((bitcast<u32>(${e}) & 0x7fffffffu) > 0x7f800000u)`;

/** `v ⊕ u` in the element type of `dtype` (stored as `t`), before wrapping to the type's width. */
function combine(red: Reduction, dtype: number, t: ElemType, v: string, u: string): string {
  if (red === "none") return u;
  if (dtype === DataType.BOOL) return red === "add" || red === "max" ? `(${v} | ${u})` : `(${v} & ${u})`;
  if (red === "add") return `(${v} + ${u})`;
  if (red === "mul") return `(${v} * ${u})`;
  if (t !== "f32") return `${red}(${v}, ${u})`;
  // reference: NaN when either is NaN, else (v > u ? v : u) for max, (v < u ? v : u) for min
  const pick = `select(${u}, ${v}, ${v} ${red === "max" ? ">" : "<"} ${u})`;
  return `select(${pick}, bitcast<f32>(saturn_nan_bits), ${isNaN32(v)} || ${isNaN32(u)})`;
}

/** The value stored after combining: narrow integers wrapped after add/mul. */
function finish(red: Reduction, dtype: number, t: ElemType, v: string): string {
  return t === "i32" && (red === "add" || red === "mul") ? wrapInt(dtype, v) : v;
}

/** Common checks: data, updates and output share an element type the GPU stores. */
function checkTypes(x: TensorInfo, upd: TensorInfo, y: TensorInfo): ElemType {
  if (upd.dtype !== x.dtype || y.dtype !== x.dtype) unsupported("updates and output must have data's element type");
  return requireStorage(x.dtype);
}

/** Whether no two updates share a target (the one-thread-per-update form needs it). */
function unique(targets: number[]): boolean {
  return new Set(targets).size === targets.length;
}

function copyOf(name: string, nodes: string[], x: TensorInfo, y: TensorInfo, t: ElemType): KernelSpec {
  return copyKernel({
    name: `${name}[copy]`,
    nodes,
    dims: [sizeOf(y.dims)],
    out: y,
    value: (b) => ({ expr: `${b.read(x.name, t)}[i]` }),
  });
}

/** Most candidates an output element scans before "none" switches to the winner table. */
const SCAN_MAX = 32;

/** Reduction "none" over many candidate updates, as the last update wins. */
interface LastWins {
  name: string;
  nodes: string[];
  x: TensorInfo;
  upd: TensorInfo;
  y: TensorInfo;
  t: ElemType;
  /** winner slots (index tuples' targets, or output elements) */
  slots: number;
  /** update units (index tuples, or update elements) */
  units: number;
  /** statements setting i32 `slot` (−1: out of range) for update unit `u` (u32) */
  slotOf(b: Bindings): string;
  /** the slot of output element `i` */
  outSlot: string;
  /** the update element for output element `i` when unit `w` (u32) won */
  updIndex(w: string): string;
}

/**
 * Three kernels: zero an i32 table of winners; one thread per update unit takes
 * atomicMax(table[slot], unit + 1), so the last unit in flat order wins whatever the schedule;
 * one thread per output element copies its winner's update, or the data where none targets it.
 */
function lastWins(g: LastWins): KernelSpec[] {
  const temp = `${g.y.name}::scatterWinners`;
  const table: TensorInfo = { name: temp, dtype: DataType.INT32, dims: [g.slots] };
  const zero = copyKernel({
    name: `${g.name}[clear]`,
    nodes: g.nodes,
    dims: [g.slots],
    out: table,
    value: () => ({ expr: "0i" }),
  });
  zero.temporaries = [{ name: temp, elements: Math.max(g.slots, 1) }];
  const b = new Bindings();
  const slot = g.slotOf(b);
  const W = b.write(temp, "atomic<i32>");
  const wg = 64, gr = grid(g.units, wg);
  const claim: KernelSpec = {
    name: `${g.name}[claim]`,
    nodes: g.nodes,
    wgsl: `${b.decls}
${mainHeader(wg)} {
  let u = ${gr.index};
  if (u >= ${g.units}u) { return; }
  ${slot}
  if (slot >= 0) { atomicMax(&${W}[u32(slot)], i32(u) + 1); }
}
`,
    entryPoint: "main",
    bindings: b.list,
    dispatch: g.units === 0 ? [0, 1, 1] : gr.dispatch,
  };
  const apply = copyKernel({
    name: g.name,
    nodes: g.nodes,
    dims: [sizeOf(g.y.dims)],
    out: g.y,
    value: (kb) => {
      const X = kb.read(g.x.name, g.t), U = kb.read(g.upd.name, g.t), T = kb.read(temp, "i32");
      return {
        code: `let w = ${T}[${g.outSlot}];`,
        expr: `select(${X}[i], ${U}[${g.updIndex("u32(w - 1)")}], w > 0)`,
      };
    },
  });
  return [zero, claim, apply];
}

function scatterND(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), ind = ctx.input(1), upd = ctx.input(2), y = ctx.output(0);
  requireIndices(ind);
  const t = checkTypes(x, upd, y);
  const red = reductionOf(ctx);
  const r = x.dims.length, q = ind.dims.length;
  if (q < 1) unsupported("indices must have rank ≥ 1");
  const k = ind.dims[q - 1];
  if (k > r) unsupported(`index depth ${k} exceeds data rank ${r}`);
  const want = [...ind.dims.slice(0, q - 1), ...x.dims.slice(k)];
  if (want.join() !== upd.dims.join()) unsupported(`updates shape [${upd.dims}] should be [${want}]`);
  const slice = Math.max(sizeOf(x.dims.slice(k)), 1);
  const n = sizeOf(ind.dims.slice(0, q - 1));
  const ds = stridesOf(x.dims);
  const nodes = [ctx.node.name];
  const known = ctx.constant(1);
  if (known) {
    const idx = toInts(known);
    const tuples: number[] = [];
    for (let i = 0; i < n; i++) {
      let off = 0;
      for (let j = 0; j < k; j++) {
        const d = x.dims[j], v = idx[i * k + j];
        if (v < -d || v >= d) unsupported(`index ${v} is out of range for an axis of size ${d}`);
        off += (v < 0 ? v + d : v) * ds[j];
      }
      tuples.push(off);
    }
    if (unique(tuples)) {
      const scatter = copyKernel({
        name: "ScatterND[scatter]",
        nodes,
        dims: [sizeOf(upd.dims)],
        out: y,
        value: (b) => {
          const I = b.read(ind.name, "i32"), X = b.read(x.name, t), U = b.read(upd.name, t);
          const lines = [`let tu = i / ${slice}u;`, `var off = i % ${slice}u;`];
          for (let j = 0; j < k; j++) {
            lines.push(`let j${j} = ${I}[tu * ${k}u + ${j}u];`);
            lines.push(`off = off + u32(${fromEnd(`j${j}`, x.dims[j])}) * ${ds[j]}u;`);
          }
          return {
            code: lines.join("\n  "),
            expr: finish(red, y.dtype, t, combine(red, y.dtype, t, `${X}[off]`, `${U}[i]`)),
          };
        },
        offset: () => "off",
      });
      return { kind: "kernels", kernels: [copyOf("ScatterND", nodes, x, y, t), scatter] };
    }
  }
  if (red === "none" && n > SCAN_MAX) {
    const prefix = x.dims.slice(0, k), ps = stridesOf(prefix);
    const kernels = lastWins({
      name: "ScatterND",
      nodes,
      x,
      upd,
      y,
      t,
      slots: sizeOf(prefix),
      units: n,
      slotOf: (b) => {
        const I = b.read(ind.name, "i32");
        const lines = ["var slot = 0;"];
        prefix.forEach((d, j) => {
          lines.push(`let q${j} = ${fromEnd(`${I}[u * ${k}u + ${j}u]`, d)};`);
          lines.push(`slot = select(-1, slot + q${j} * ${ps[j]}, slot >= 0 && q${j} >= 0 && q${j} < ${d});`);
        });
        return lines.join("\n  ");
      },
      outSlot: `i / ${slice}u`,
      updIndex: (w) => `${w} * ${slice}u + i % ${slice}u`,
    });
    return { kind: "kernels", kernels };
  }
  const scan = copyKernel({
    name: "ScatterND",
    nodes,
    dims: [sizeOf(y.dims)],
    out: y,
    value: (b) => {
      const I = b.read(ind.name, "i32"), X = b.read(x.name, t), U = b.read(upd.name, t);
      const prefix = x.dims.slice(0, k);
      // the tuple's components (loaded once per tuple) must equal this element's prefix coordinates
      const loads = prefix.map((_, j) => `let q${j} = ${I}[tu * ${k}u + ${j}u];`);
      const match = prefix.map((d, j) => `${fromEnd(`q${j}`, d)} == i32(p${j})`);
      const coordsOfP = prefix.map((d, j) => `let p${j} = (p / ${sizeOf(prefix.slice(j + 1))}u) % ${d}u;`);
      const code = `let p = i / ${slice}u;
  let e = i % ${slice}u;
  ${coordsOfP.join("\n  ")}
  var v = ${X}[i];
  for (var tu = 0u; tu < ${n}u; tu = tu + 1u) {
    ${loads.join("\n    ")}
    if (${match.join(" && ") || "true"}) {
      v = ${combine(red, y.dtype, t, "v", `${U}[tu * ${slice}u + e]`)};
    }
  }`;
      return { code, expr: finish(red, y.dtype, t, "v") };
    },
  });
  return { kind: "kernels", kernels: [scan] };
}

function scatterElements(ctx: LowerCtx, reduce: boolean): Lowered {
  const x = ctx.input(0), ind = ctx.input(1), upd = ctx.input(2), y = ctx.output(0);
  requireIndices(ind);
  const t = checkTypes(x, upd, y);
  const red = reduce ? reductionOf(ctx) : "none";
  const r = x.dims.length;
  if (ind.dims.length !== r || ind.dims.join() !== upd.dims.join()) {
    unsupported(`indices [${ind.dims}] and updates [${upd.dims}] must have one shape of data's rank ${r}`);
  }
  const axis = normAxis(ctx.attrs.attrInt("axis", 0), r);
  if (ind.dims.some((d, a) => a !== axis && d > x.dims[a])) {
    unsupported(`indices shape [${ind.dims}] exceeds data shape [${x.dims}]`);
  }
  const ds = stridesOf(x.dims), is = stridesOf(ind.dims);
  const da = x.dims[axis];
  const nodes = [ctx.node.name];
  const name = ctx.node.opType;
  const known = ctx.constant(1);
  if (known) {
    const idx = toInts(known);
    const targets: number[] = [];
    const pos = new Array<number>(r).fill(0);
    for (let u = 0; u < idx.length; u++) {
      const v = idx[u];
      if (v < -da || v >= da) unsupported(`index ${v} is out of range for an axis of size ${da}`);
      targets.push(pos.reduce((s, p, a) => s + (a === axis ? (v < 0 ? v + da : v) : p) * ds[a], 0));
      for (let a = r - 1; a >= 0; a--) {
        if (++pos[a] < ind.dims[a]) break;
        pos[a] = 0;
      }
    }
    if (unique(targets)) {
      const scatter = copyKernel({
        name: `${name}[scatter]`,
        nodes,
        dims: upd.dims,
        out: y,
        value: (b, c) => {
          const I = b.read(ind.name, "i32"), X = b.read(x.name, t), U = b.read(upd.name, t);
          const xc = c.map((ci, a) => (a === axis ? "j" : ci));
          return {
            code: `let q = ${I}[i];\n  let j = u32(${fromEnd("q", da)});\n  let off = ${dot(xc, ds)};`,
            expr: finish(red, y.dtype, t, combine(red, y.dtype, t, `${X}[off]`, `${U}[i]`)),
          };
        },
        offset: () => "off",
      });
      return { kind: "kernels", kernels: [copyOf(name, nodes, x, y, t), scatter] };
    }
  }
  if (red === "none" && ind.dims[axis] > SCAN_MAX) {
    const kernels = lastWins({
      name,
      nodes,
      x,
      upd,
      y,
      t,
      slots: sizeOf(y.dims),
      units: sizeOf(ind.dims),
      slotOf: (b) => {
        const I = b.read(ind.name, "i32");
        const c = ind.dims.map((_, a) => (a === axis ? "u32(q)" : `c${a}`));
        return `${coords("u", ind.dims, "c")}
  let q = ${fromEnd(`${I}[u]`, da)};
  var slot = -1;
  if (q >= 0 && q < ${da}) { slot = i32(${dot(c, ds)}); }`;
      },
      outSlot: "i",
      updIndex: (w) => w,
    });
    return { kind: "kernels", kernels };
  }
  const scan = copyKernel({
    name,
    nodes,
    dims: y.dims,
    out: y,
    value: (b, c) => {
      const I = b.read(ind.name, "i32"), X = b.read(x.name, t), U = b.read(upd.name, t);
      // this element has updates only where its other coordinates lie inside the indices' shape
      const inside = c.flatMap((ci, a) => (a !== axis && ind.dims[a] < x.dims[a] ? [`${ci} < ${ind.dims[a]}u`] : []));
      const base = dot(c.map((ci, a) => (a === axis ? "0u" : ci)), is);
      const code = `var v = ${X}[i];
  if (${inside.join(" && ") || "true"}) {
    let base = ${base};
    for (var j = 0u; j < ${ind.dims[axis]}u; j = j + 1u) {
      let u = base + j * ${is[axis]}u;
      let q = ${I}[u];
      if (${fromEnd("q", da)} == i32(${c[axis]})) {
        v = ${combine(red, y.dtype, t, "v", `${U}[u]`)};
      }
    }
  }`;
      return { code, expr: finish(red, y.dtype, t, "v") };
    },
  });
  return { kind: "kernels", kernels: [scan] };
}

registerLowerings("", {
  ScatterND: { lower: scatterND },
  ScatterElements: { lower: (ctx) => scatterElements(ctx, true) },
  Scatter: { lower: (ctx) => scatterElements(ctx, false) },
});
