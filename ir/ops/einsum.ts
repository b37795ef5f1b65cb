/**
 * Einsum: explicit (`->`) and implicit output, repeated labels within an operand (diagonals),
 * ellipsis with broadcasting, and size-1 broadcasting of labelled dims. Sums products over
 * the contracted labels with precomputed per-operand offsets, accumulating in float64.
 * @module
 */
import { registerOps } from "./registry.ts";
import type { OpDef } from "./registry.ts";
import type { NodeContext } from "./node_context.ts";
import { fromNumbers, sizeOf, toNumbers } from "../tensor.ts";
import { isFloat, isInteger } from "../dtype.ts";
import { tensorType } from "../types.ts";
import type { Dim } from "../types.ts";
import { freshDim } from "../dims.ts";
import { gemm } from "./_gemm.ts";

/** A parsed equation: each operand's axes and the output's, as label ids. */
export interface Equation {
  /** label ids per operand axis */
  inputs: number[][];
  /** label ids of the output axes */
  output: number[];
  /** number of labels (ellipsis dims are ids 0…E−1, letters follow) */
  count: number;
}

interface Term {
  letters: string[];
  /** position of "..." among the letters, or -1 */
  ellipsisAt: number;
}

function parseTerm(ctx: NodeContext, t: string): Term {
  const letters: string[] = [];
  let ellipsisAt = -1;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (ch === ".") {
      if (t.slice(i, i + 3) !== "..." || ellipsisAt >= 0) ctx.fail(`bad ellipsis in einsum term '${t}'`);
      ellipsisAt = letters.length;
      i += 2;
    } else if (/[A-Za-z]/.test(ch)) letters.push(ch);
    else ctx.fail(`bad character '${ch}' in einsum equation`);
  }
  return { letters, ellipsisAt };
}

/** Parse an equation against the operand ranks. */
export function parseEquation(ctx: NodeContext, equation: string, ranks: readonly number[]): Equation {
  const eq = equation.replace(/\s+/g, "");
  const arrow = eq.indexOf("->");
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const terms = lhs.split(",").map((t) => parseTerm(ctx, t));
  if (terms.length !== ranks.length) ctx.fail(`equation has ${terms.length} operands, node has ${ranks.length} inputs`);
  let E = 0;
  terms.forEach((t, i) => {
    const e = ranks[i] - t.letters.length;
    if (t.ellipsisAt < 0 ? e !== 0 : e < 0) {
      ctx.fail(`einsum term ${i} ('${lhs.split(",")[i]}') does not match input rank ${ranks[i]}`);
    }
    E = Math.max(E, e);
  });
  const letterId = new Map<string, number>();
  const id = (ch: string): number => {
    let v = letterId.get(ch);
    if (v === undefined) letterId.set(ch, v = E + letterId.size);
    return v;
  };
  const counts = new Map<string, number>();
  const inputs = terms.map((t, i) => {
    const e = ranks[i] - t.letters.length;
    const ids: number[] = [];
    t.letters.forEach((ch, k) => {
      if (k === t.ellipsisAt) { for (let j = E - e; j < E; j++) ids.push(j); }
      ids.push(id(ch));
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
    });
    if (t.ellipsisAt === t.letters.length) { for (let j = E - e; j < E; j++) ids.push(j); }
    return ids;
  });
  const anyEllipsis = terms.some((t) => t.ellipsisAt >= 0);
  let output: number[];
  if (arrow >= 0) {
    const o = parseTerm(ctx, eq.slice(arrow + 2));
    if (o.ellipsisAt >= 0 && !anyEllipsis && E > 0) ctx.fail("output has an ellipsis the inputs lack");
    if (new Set(o.letters).size !== o.letters.length) ctx.fail("output repeats a label");
    output = [];
    o.letters.forEach((ch, k) => {
      if (k === o.ellipsisAt) { for (let j = 0; j < E; j++) output.push(j); }
      if (!letterId.has(ch)) ctx.fail(`output label '${ch}' is not in any input`);
      output.push(letterId.get(ch)!);
    });
    if (o.ellipsisAt === o.letters.length) { for (let j = 0; j < E; j++) output.push(j); }
  } else {
    output = Array.from({ length: E }, (_, j) => j);
    const once = [...counts].filter(([, c]) => c === 1).map(([ch]) => ch).sort();
    for (const ch of once) output.push(letterId.get(ch)!);
  }
  return { inputs, output, count: E + letterId.size };
}

/** Size of every label, broadcasting size-1 dims; fails on a conflict. */
export function labelSizes(ctx: NodeContext, eq: Equation, shapes: readonly (readonly number[])[]): number[] {
  const sizes = new Array<number>(eq.count).fill(1);
  eq.inputs.forEach((ids, i) =>
    ids.forEach((l, ax) => {
      const d = shapes[i][ax];
      if (d === 1) return;
      if (sizes[l] !== 1 && sizes[l] !== d) ctx.fail(`einsum dimension mismatch: ${sizes[l]} vs ${d}`);
      sizes[l] = d;
    })
  );
  return sizes;
}

/** Offsets into an operand for every combination of `labels` (row-major over them). */
function offsetTable(labels: readonly number[], sizes: readonly number[], strides: readonly number[]): Int32Array {
  const n = sizeOf(labels.map((l) => sizes[l]));
  const out = new Int32Array(n);
  const idx = new Array<number>(labels.length).fill(0);
  let off = 0;
  for (let q = 0; q < n; q++) {
    out[q] = off;
    for (let a = labels.length - 1; a >= 0; a--) {
      const l = labels[a];
      off += strides[l];
      if (++idx[a] < sizes[l]) break;
      off -= strides[l] * idx[a];
      idx[a] = 0;
    }
  }
  return out;
}

/** Row-major strides of an operand per label (labels must be distinct within it). */
function stridesByLabel(labels: readonly number[], sizes: readonly number[], count: number): number[] {
  const s = new Array<number>(count).fill(0);
  let acc = 1;
  for (let ax = labels.length - 1; ax >= 0; ax--) {
    s[labels[ax]] = acc;
    acc *= sizes[labels[ax]];
  }
  return s;
}

/** `src` (axes labelled `from`) rearranged so its axes are labelled `to` (a permutation). */
function permute(
  src: Float64Array,
  from: readonly number[],
  to: readonly number[],
  sizes: readonly number[],
  count: number,
) {
  if (from.length === to.length && from.every((l, i) => l === to[i])) return src;
  const tab = offsetTable(to, sizes, stridesByLabel(from, sizes, count));
  const out = new Float64Array(tab.length);
  for (let i = 0; i < tab.length; i++) out[i] = src[tab[i]];
  return out;
}

/**
 * Two-operand contractions without diagonals, broadcasting or one-sided sums, as a batched
 * GEMM: A → [batch, A-kept, contracted], B → [batch, contracted, B-kept]. Undefined when the
 * equation does not have that form.
 */
function einsumAsGemm(
  eq: Equation,
  sizes: readonly number[],
  shapes: readonly (readonly number[])[],
  vals: Float64Array[],
) {
  if (vals.length !== 2) return undefined;
  const [la, lb] = eq.inputs;
  for (const [i, ls] of [la, lb].entries()) {
    if (new Set(ls).size !== ls.length) return undefined;
    if (ls.some((l, ax) => shapes[i][ax] !== sizes[l])) return undefined;
  }
  const inA = new Set(la), inB = new Set(lb), inOut = new Set(eq.output);
  if ([...la, ...lb].some((l) => !inOut.has(l) && !(inA.has(l) && inB.has(l)))) return undefined;
  const batch = eq.output.filter((l) => inA.has(l) && inB.has(l));
  const aKeep = eq.output.filter((l) => inA.has(l) && !inB.has(l));
  const bKeep = eq.output.filter((l) => inB.has(l) && !inA.has(l));
  const contr = la.filter((l) => inB.has(l) && !inOut.has(l));
  const prod = (ls: number[]) => ls.reduce((p, l) => p * sizes[l], 1);
  const nb = prod(batch), M = prod(aKeep), N = prod(bKeep), K = prod(contr);
  const A = permute(vals[0], la, [...batch, ...aKeep, ...contr], sizes, eq.count);
  const B = permute(vals[1], lb, [...batch, ...contr, ...bKeep], sizes, eq.count);
  const y = new Float64Array(nb * M * N);
  for (let b = 0; b < nb; b++) gemm(M, N, K, A, b * M * K, B, b * K * N, y, b * M * N);
  return permute(y, [...batch, ...aKeep, ...bKeep], eq.output, sizes, eq.count);
}

const Einsum: OpDef = {
  opType: "Einsum",
  run(ctx) {
    const ts = Array.from({ length: ctx.numInputs }, (_, i) => ctx.input(i));
    if (ts.length === 0) ctx.fail("Einsum needs at least one input");
    const dt = ts[0].dtype;
    if (!isFloat(dt) && !isInteger(dt)) ctx.fail(`unsupported type ${dt}`);
    if (ts.some((t) => t.dtype !== dt)) ctx.fail("inputs have different types");
    const eq = parseEquation(ctx, ctx.attrString("equation"), ts.map((t) => t.dims.length));
    const sizes = labelSizes(ctx, eq, ts.map((t) => t.dims));
    const vals = ts.map((t) => toNumbers(t));
    const outDims = eq.output.map((l) => sizes[l]);
    const fast = einsumAsGemm(eq, sizes, ts.map((t) => t.dims), vals);
    if (fast) return [fromNumbers(dt, outDims, fast)];
    const reduced: number[] = [];
    for (let l = 0; l < eq.count; l++) if (!eq.output.includes(l)) reduced.push(l);
    // per operand: stride of each label (summed over repeated axes; 0 where broadcast)
    const labelStrides = ts.map((t, i) => {
      const s = new Array<number>(eq.count).fill(0);
      let acc = 1;
      for (let ax = t.dims.length - 1; ax >= 0; ax--) {
        if (t.dims[ax] !== 1) s[eq.inputs[i][ax]] += acc;
        acc *= t.dims[ax];
      }
      return s;
    });
    const outTabs = labelStrides.map((s) => offsetTable(eq.output, sizes, s));
    const redTabs = labelStrides.map((s) => offsetTable(reduced, sizes, s));
    const nOut = sizeOf(outDims), nRed = sizeOf(reduced.map((l) => sizes[l]));
    const y = new Float64Array(nOut);
    const nOps = ts.length;
    if (nOps === 2) {
      const [A, B] = vals, [ao, bo] = outTabs, [ar, br] = redTabs;
      for (let o = 0; o < nOut; o++) {
        const a0 = ao[o], b0 = bo[o];
        let s = 0;
        for (let r = 0; r < nRed; r++) s += A[a0 + ar[r]] * B[b0 + br[r]];
        y[o] = s;
      }
    } else {
      for (let o = 0; o < nOut; o++) {
        let s = 0;
        for (let r = 0; r < nRed; r++) {
          let p = 1;
          for (let k = 0; k < nOps; k++) p *= vals[k][outTabs[k][o] + redTabs[k][r]];
          s += p;
        }
        y[o] = s;
      }
    }
    return [fromNumbers(dt, outDims, y)];
  },
  infer(ctx) {
    const dt = ctx.dtype(0);
    if (dt === undefined) return [undefined];
    const shapes = Array.from({ length: ctx.numInputs }, (_, i) => ctx.shape(i));
    if (shapes.some((s) => s === undefined)) return [tensorType(dt)];
    const eq = parseEquation(ctx, ctx.attrString("equation"), shapes.map((s) => s!.length));
    const dims = new Array<Dim | undefined>(eq.count).fill(undefined);
    eq.inputs.forEach((ids, i) =>
      ids.forEach((l, ax) => {
        const d = shapes[i]![ax];
        const cur = dims[l];
        if (cur === undefined || cur === 1) dims[l] = d;
        else if (typeof cur === "number" && typeof d === "number" && d !== 1 && d !== cur) {
          ctx.fail(`einsum dimension mismatch: ${cur} vs ${d}`);
        } else if (typeof cur === "string" && typeof d === "number" && d !== 1) dims[l] = d;
      })
    );
    return [tensorType(dt, eq.output.map((l) => dims[l] ?? freshDim("einsum")))];
  },
};

registerOps([Einsum]);
