/**
 * Rule instances: a rewrite rule made concrete over small shapes, as a model whose outputs are
 * both sides.
 *
 * Each try samples shapes (ranks up to 4, dims 1–3, broadcasting variants), attribute values and
 * constants for the rule's variables, builds the left-hand side in a fresh e-graph, and keeps the
 * try only when the rule itself would fire there: the left side is typed, the rule's own pattern
 * matches it, the rule's own guard holds, and its own right-hand side (builders, attribute
 * functions, plugin appliers) instantiates. So what is verified is exactly what `optimize` would
 * do on such a graph. Both sides are then written out as one model: outputs `lhs0`, `rhs0`, …,
 * symbolic data as graph inputs, constants as initializers; values the e-graph folded are
 * recomputed by their ops (never taken from a float32 fold), so a proof sees exact arithmetic.
 * @module
 */
import { EGraph } from "../egraph/egraph.ts";
import { type ClassId, type ENode, makeENode } from "../egraph/enode.ts";
import {
  type AttrTerm,
  instantiate,
  type Library,
  type MatchEnv,
  type Pattern,
  searchPatterns,
} from "../egraph/pattern.ts";
import { extractionToGraph } from "../egraph/to_graph.ts";
import type { CostModel } from "../cost/cost_model.ts";
import { extractGreedy } from "../egraph/extract_greedy.ts";
import type { Attribute, AttrType, Model, ValueInfo } from "../ir/graph.ts";
import { DataType, dtypeFromName, dtypeName, isFloat } from "../ir/dtype.ts";
import { fromNumbers, int64Tensor, Tensor, toNumbers } from "../ir/tensor.ts";
import type { Dim, TensorType } from "../ir/types.ts";
import type { Rule } from "../rules/rule.ts";
import type { GuardArg, GuardCall } from "../rules/guards.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { rng as makeRng } from "./inputs.ts";
import { schemaViolation, sharesType } from "./op_types.ts";

/** One concrete instance of a rule. */
export interface RuleInstance {
  /** Inputs: the rule's data variables; initializers: its constants; outputs `lhs<i>`, `rhs<i>`. */
  model: Model;
  /** Output pairs that must be equal. */
  pairs: [string, string][];
  /** Graph inputs that hold data (the rest are constants). */
  dataInputs: string[];
  /** Shapes and values of the variables, for reports: `?x: float32[2,3]; ?p = [1,0]`. */
  bindings: string;
  /** Shape of every variable class (for coverage reports). */
  shapes: Map<string, number[]>;
  /** Element types of the instance's leaves (data and constants), e.g. `["float32", "int64"]`. */
  dtypes: string[];
  /** Values of the rule's attribute variables in this instance (`null`: left unset, the default). */
  attrs: Record<string, unknown>;
  /** ai.onnx opset of the instance. */
  opset: number;
  /** Element types of the data inputs (what Z3 sees as symbols). */
  dataDtypes: string[];
  /** A constant sits at the edge of an `approx` guard's tolerance (compared at float32's tolerance). */
  approxEdge?: boolean;
  /**
   * A constant took an extreme value (tiny, denormal or huge): the instance is not also fed huge
   * data, whose products with such a constant overflow where no model's values go (one extreme at a time).
   */
  extremeConstants?: boolean;
}

/** Why sampling tries were thrown away, by reason, with how many tries each. */
export type Rejections = Map<string, number>;

/** What `sampleInstances` found: the instances, and why the other tries were thrown away. */
export interface Sample {
  /** Distinct instances on which the rule fires. */
  instances: RuleInstance[];
  /** Tries thrown away, by reason (a schema violation names the op and input). */
  rejected: Rejections;
  /** Tries made. */
  tries: number;
}

/** Options for `ruleInstances`. */
export interface InstanceOptions {
  /** ai.onnx opset of the instance graphs (default: each try picks one of 11, 13, 17, 18, 21). */
  opset?: number;
  /** Seed of the sampler (default 1): the same seed gives the same instances. */
  seed?: number;
  /** How many distinct instances to return at most (default 6). */
  want?: number;
  /** Sampling tries (default 400). */
  tries?: number;
  /** Builders and attribute functions for the right-hand sides (default `ruleLibrary`). */
  library?: Library;
}

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const DIMS = [1, 2, 3, 2, 3];
/** ONNX's largest int64, Slice's "to the end" (exact: a JavaScript number cannot hold it). */
const INT64_MAX = 9223372036854775807n;

/**
 * Element types a try gives its data (float32 most often; float16, float64 and integers so that
 * integer Div truncation, Mod, casts between widths and half precision are exercised). Ops the
 * type does not suit are thrown away by the schema check (`op_types.ts`), never run.
 */
const DATA_DTYPES: readonly DataType[] = [
  ...new Array(12).fill(DataType.FLOAT),
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
];

/** Element types an input draws when its type is its own (CastLike's target, Pow's exponent). */
const OWN_DTYPES: readonly DataType[] = [
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.DOUBLE,
  DataType.INT32,
  DataType.INT64,
];

/** A sampling try given up, with the reason (tallied for the rule's author). */
class Reject extends Error {}

/** A number a guard compares a variable with: exactly (`all`, `eq`) or within a relative tolerance (`approx`). */
interface Hint {
  value: number;
  rtol?: number;
}

/** Per-try sampling state. */
interface Try {
  r: Rng;
  eg: EGraph;
  /** class variables → classes; attribute variables → values (undefined: left unset) */
  classes: Map<string, ClassId>;
  attrs: Map<string, unknown>;
  leaves: Map<ClassId, { name: string; input: boolean }>;
  notes: string[];
  shapes: Map<string, number[]>;
  /** a shape most data variables share (elementwise rules need equal shapes to fire) */
  base: number[];
  /** the element type of this try's data variables */
  dtype: DataType;
  /** element types of the leaves made so far */
  dtypes: Set<string>;
  /** variables that guards require to be constants, and numbers guards mention per variable */
  constVars: Set<string>;
  hints: Map<string, Hint[]>;
  /** the group a Conv weight was sampled for, read by the Conv's :group */
  group?: number;
  /** the block size a DepthToSpace/SpaceToDepth input was shaped for */
  block?: number;
  /** the axis this try's Slices cut */
  slice?: { axis: number; step?: number };
  /** a constant was drawn at the edge of an approx guard's tolerance */
  approxEdge?: boolean;
  /** a constant was drawn extreme (tiny, denormal, huge) */
  extremeConstants?: boolean;
  /** values of the parameter inputs drawn (shapes, axes, steps: new values count as new ground) */
  params: string[];
  /** element types guards name per variable (`(dtype ?x "int8")`) */
  dtypeHints: Map<string, DataType>;
  /** ai.onnx opset of the try */
  opset: number;
  /** variables a `scalar` guard wants of one element */
  scalarVars: Set<string>;
  /** outputs of this try's Split nodes (one count, so a Split read at two indices is one node) */
  splitParts: number;
}

function tensorTypeAttr(name: string, dtype: DataType, shape: number[]): Attribute[] {
  return [
    { name: "name", type: "string", value: name },
    { name: "type", type: "type_proto", value: { kind: "tensor", dtype, shape } } as Attribute,
  ];
}

function shapeOf(t: Try, id: ClassId): number[] | undefined {
  const ty = t.eg.typeOf(id);
  if (ty?.kind !== "tensor" || !ty.shape || !ty.shape.every((d) => typeof d === "number")) return undefined;
  return ty.shape as number[];
}

function addInput(t: Try, v: string, shape: number[], dtype: DataType = t.dtype): ClassId {
  const name = `x_${v}`;
  const id = t.eg.add(makeENode("$in", [], tensorTypeAttr(name, dtype, shape)));
  t.leaves.set(id, { name, input: true });
  t.shapes.set(v, shape);
  t.dtypes.add(dtypeName(dtype));
  t.notes.push(`?${v}: ${dtypeName(dtype)}[${shape}]`);
  return id;
}

function addConst(t: Try, label: string, value: Tensor): ClassId {
  const id = t.eg.add(makeENode("$const", [], [], { value }));
  if (!t.leaves.has(id)) t.leaves.set(id, { name: `c_${label.replace(/\W/g, "_")}_${t.leaves.size}`, input: false });
  t.shapes.set(label, [...value.dims]);
  t.dtypes.add(dtypeName(value.dtype));
  const xs = value.size <= 8 ? `[${Array.from(numbersOf(value)).map((x) => +x.toPrecision(6))}]` : `…`;
  t.notes.push(`?${label} = ${dtypeName(value.dtype)}[${value.dims}] ${xs}`);
  return id;
}

function numbersOf(v: Tensor): number[] {
  if (isFloat(v.dtype)) return Array.from(toNumbers(v)); // float16 data is stored as bits
  return Array.from({ length: v.size }, (_, i) => Number((v.data as ArrayLike<number | bigint>)[i]));
}

function sizeOf(s: number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

function randomShape(t: Try, rank?: number): number[] {
  const k = rank ?? pick(t.r, [0, 1, 2, 2, 3, 3, 4]);
  const s = Array.from({ length: k }, () => pick(t.r, DIMS));
  // now and then one dim past 3 (4, 6: channel multiples, blocks of 2 and 3)
  if (k && t.r() < 0.1) s[Math.floor(t.r() * k)] = pick(t.r, [4, 6]);
  return s;
}

/** A shape that broadcasts against `s`: a suffix of it with some dims set to 1. */
function broadcastShape(t: Try, s: number[]): number[] {
  const k = Math.floor(t.r() * (s.length + 1));
  return s.slice(s.length - k).map((d) => (t.r() < 0.3 ? 1 : d));
}

/** A shape `s` broadcasts to: a larger or higher-rank one (the second operand the bigger). */
function widerShape(t: Try, s: number[]): number[] {
  const extra = s.length < 4 && (t.r() < 0.5 || !s.includes(1)) ? [pick(t.r, [2, 3])] : [];
  return [...extra, ...s.map((d) => (d === 1 ? pick(t.r, [2, 3]) : d))];
}

/**
 * Values for a constant variable of element type `dtype`: a number a guard names (exactly, or
 * at either edge of an `approx` tolerance as often as at its centre), else small values.
 */
function constValues(t: Try, v: string, n: number, dtype: DataType, positive = false): number[] {
  const hints = t.hints.get(v) ?? [];
  if (hints.length && t.r() < 0.75) {
    const h = pick(t.r, hints);
    const edge = h.rtol ? pick(t.r, [0, 1, -1]) * h.rtol * 0.999 * Math.abs(h.value) : 0;
    if (edge) t.approxEdge = true;
    return new Array(n).fill(h.value + edge);
  }
  if (!isFloat(dtype)) {
    const ints = positive ? [1, 2, 3] : [-3, -2, -1, 0, 1, 2, 3];
    return Array.from({ length: n }, () => pick(t.r, ints));
  }
  const x = () => Math.round((t.r() * 4 - 2) * 64) / 64 || 0.5;
  // now and then extreme constants of the type: tiny, denormal, zero, huge (a constant that
  // absorbs what it is added to, a reciprocal that overflows, a variance that eps decides)
  if (t.r() < 0.35) {
    const ext = EXTREME[dtype] ?? EXTREME[DataType.FLOAT];
    // the denormal twice: a reciprocal that overflows is the subtlest of these
    const pool = [...ext.tiny, ext.tiny[1], ...ext.huge, 0, ...(positive ? [] : [-0])];
    const all = t.r() < 0.5;
    const v = pick(t.r, pool), sign = positive ? 1 : pick(t.r, [1, -1]);
    t.params.push(`${v}`); // an extreme constant is new ground for the sampler
    if (v !== 0) t.extremeConstants = true;
    return Array.from({ length: n }, () => all || t.r() < 0.5 ? sign * v : (positive ? Math.abs(x()) + 0.25 : x()));
  }
  return Array.from({ length: n }, () => (positive ? Math.abs(x()) + 0.25 : x()));
}

/** Extreme constants per float type: tiny (normal and denormal) and huge magnitudes. */
const EXTREME: Record<number, { tiny: number[]; huge: number[] }> = {
  [DataType.FLOAT16]: { tiny: [1e-4, 6e-8], huge: [300, 1e4] },
  [DataType.BFLOAT16]: { tiny: [1e-6, 1e-39], huge: [1e8, 1e20, 1e30] },
  [DataType.FLOAT]: { tiny: [1e-6, 1e-39], huge: [1e8, 1e20, 1e30] },
  [DataType.DOUBLE]: { tiny: [1e-10, 1e-310], huge: [1e17, 1e100, 1e300] },
};

/** Constants that are positive in any model that makes sense (a BatchNormalization's variance). */
function positiveSlot(op: string, slot: number): boolean {
  return op === "BatchNormalization" && slot === 4;
}

/** The shape a data variable gets in child slot `slot` of `op`, given its earlier siblings. */
function dataShape(
  t: Try,
  op: string,
  slot: number,
  sib: (number[] | undefined)[],
  node?: Extract<Pattern, { kind: "op" }>,
): number[] {
  const x = sib[0];
  switch (op) {
    case "Conv":
    case "FusedConv":
      if (slot === 0) return [pick(t.r, [1, 2]), pick(t.r, [1, 2, 3]), ...randomShape(t, pick(t.r, [1, 2]))];
      if (slot === 1 && x) {
        const c = x[1], g = c > 1 && t.r() < 0.25 ? c : 1;
        t.group = g;
        return [g > 1 ? c : pick(t.r, [1, 2, 3]), c / g, ...x.slice(2).map((d) => Math.min(d, pick(t.r, [1, 2])))];
      }
      if (slot === 2 && sib[1]) return [sib[1][0]];
      break;
    case "MatMul":
    case "FusedMatMul":
      if (slot === 1 && x) {
        // 1-D (a vector), 2-D, the same batch, or a higher-rank batch than the first operand's
        const k = x[x.length - 1], n = pick(t.r, DIMS), u = t.r();
        if (u < 0.15) return [k];
        if (u < 0.55) return [k, n];
        if (u < 0.85 || x.length >= 4) return [...x.slice(0, -2), k, n];
        return [pick(t.r, [2, 3]), ...x.slice(0, -2), k, n];
      }
      if (slot === 0) return randomShape(t, pick(t.r, [1, 2, 2, 3, 4]));
      break;
    case "DepthToSpace":
    case "SpaceToDepth":
      if (slot === 0) {
        const b = t.block = pick(t.r, [2, 2, 3]);
        return op === "DepthToSpace"
          ? [1, b * b * pick(t.r, [1, 2]), pick(t.r, [1, 2]), pick(t.r, [1, 2])]
          : [1, pick(t.r, [1, 2]), b * pick(t.r, [1, 2]), b * pick(t.r, [1, 2])];
      }
      break;
    case "Gemm":
      if (slot === 0) return randomShape(t, 2);
      if (slot === 1 && x) return t.r() < 0.5 ? [x[1], pick(t.r, DIMS)] : [pick(t.r, DIMS), x[1]];
      if (slot === 2) return randomShape(t, pick(t.r, [1, 2]));
      break;
    case "BatchNormalization":
    case "InstanceNormalization":
      if (slot === 0) return [pick(t.r, [1, 2]), pick(t.r, [1, 2, 3]), ...randomShape(t, pick(t.r, [1, 2]))];
      if (x) return [x[1]];
      break;
    case "Reshape":
      // now and then an empty input (a 0 dim): what Reshape's allowzero decides
      if (slot === 0 && t.r() < (node?.attrs.some((a) => a.name === "allowzero") ? 0.4 : 0.15)) {
        const s = randomShape(t, pick(t.r, [1, 2, 3]));
        s[Math.floor(t.r() * s.length)] = 0;
        return s;
      }
      break;
    case "Slice":
      // the cut axis now and then long (4–6), so that two cuts of it can overlap in part
      if (slot === 0 && t.r() < 0.5) {
        const s = randomShape(t, pick(t.r, [1, 2, 2, 3]));
        const axis = Math.floor(t.r() * s.length);
        s[axis] = pick(t.r, [4, 5, 6]);
        t.slice ??= { axis, step: pick(t.r, [1, 1, 1, 2, -1, -2]) };
        return s;
      }
      break;
    case "Split":
      // the split axis long enough for every part
      if (slot === 0) {
        const s = [...t.base];
        if (!s.length) s.push(t.splitParts);
        return s.map((d) => d < t.splitParts && t.r() < 0.7 ? t.splitParts + Math.floor(t.r() * 2) : d);
      }
      break;
    case "SkipLayerNormalization":
    case "SkipSimplifiedLayerNormalization":
      // the input of rank 2 or 3 (ONNX Runtime's kernels), the skip of its shape, then vectors
      if (slot === 0) return randomShape(t, pick(t.r, [2, 3, 3]));
      if (slot === 1 && x) return [...x];
      if (slot > 1 && x && x.length) return [x[x.length - 1]];
      break;
    case "LayerNormalization":
    case "SimplifiedLayerNormalization":
    case "RMSNormalization":
      if (slot > 0 && x && x.length) return [x[x.length - 1]];
      break;
  }
  if (slot === 0 || !x) {
    // the first operand: the shared shape, one smaller than it (the later operand the larger), or any
    const u = t.r();
    return u < 0.55 ? [...t.base] : u < 0.75 ? smallerShape(t, t.base) : randomShape(t);
  }
  // later operands of elementwise ops: the same shape, one that broadcasts to the first, or one
  // the first broadcasts to (the second operand the larger or higher-rank one)
  const u = t.r();
  if (broadcastsTo(x, t.base) && x.join() !== t.base.join()) {
    // the first operand was drawn smaller than the shared shape: the later one is often that shape
    return u < 0.4 ? [...x] : u < 0.8 ? [...t.base] : widerShape(t, x);
  }
  if (u < 0.5) return [...x];
  if (u < 0.7) return broadcastShape(t, x);
  return widerShape(t, x);
}

/** Ops whose later operand is a scale that rules fold into an attribute (`alpha`). */
const SCALING = new Set(["Mul", "Div"]);

/**
 * A one-element shape for a `scalar` variable: rank 0 or [1]; and now and then, as the later
 * operand of a Mul or Div (a scale), all ones of one rank more than the first operand's: a
 * one-element constant that still broadcasts that operand up a rank (`x · ones[1,1,1]` is of
 * rank 3 for a 2-D `x`), which a rule folding it into an attribute must guard against.
 * (Only there: drawing it elsewhere would only reshuffle other rules' samples.)
 */
function scalarShape(t: Try, op: string, slot: number, sib: (number[] | undefined)[]): number[] {
  const x = sib[0];
  if (slot > 0 && x && SCALING.has(op) && x.length < 4 && t.r() < 0.2) return new Array(x.length + 1).fill(1);
  return pick(t.r, [[], [1]]);
}

/** A shape that broadcasts to `s` and is smaller: the same rank with dims set to 1, or a suffix. */
function smallerShape(t: Try, s: number[]): number[] {
  if (t.r() < 0.5) return broadcastShape(t, s);
  const out = s.map((d) => (t.r() < 0.4 ? 1 : d));
  const big = s.map((d, i) => (d > 1 ? i : -1)).filter((i) => i >= 0);
  if (out.join() === s.join() && big.length) out[pick(t.r, big)] = 1;
  return out;
}

/** Whether shape `a` broadcasts to shape `b` (numpy rules, `b` unchanged). */
function broadcastsTo(a: number[], b: number[]): boolean {
  if (a.length > b.length) return false;
  return a.every((d, i) => d === 1 || d === b[b.length - a.length + i]);
}

/** A constant for a parameter input (a shape, axes, sizes, bounds…) of `op`, or undefined when the slot holds data. */
function paramInput(
  t: Try,
  op: string,
  slot: number,
  sib: (number[] | undefined)[],
  dt0: DataType | undefined,
  node?: Extract<Pattern, { kind: "op" }>,
): Tensor | undefined {
  const x = sib[0];
  if (!x) return undefined;
  const r = x.length;
  const axis = () => Math.floor(t.r() * r) - (t.r() < 0.3 ? r : 0);
  const like = dt0 !== undefined && dt0 !== DataType.BOOL ? dt0 : t.dtype;
  switch (op) {
    case "Reshape":
      if (slot !== 1) return undefined;
      return reshapeTarget(t, x);
    case "Expand":
      if (slot !== 1) return undefined;
      return int64Tensor([r + (t.r() < 0.3 ? 1 : 0)], [
        ...(t.r() < 0.3 ? [2] : []),
        ...x.map((d) => (d === 1 ? pick(t.r, [1, 2]) : d)),
      ]);
    case "Squeeze": {
      if (slot !== 1) return undefined;
      const ones = x.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
      if (!ones.length) return int64Tensor([0], []);
      const a = pick(t.r, ones);
      return int64Tensor([1], [t.r() < 0.3 ? a - r : a]);
    }
    case "Unsqueeze":
      if (slot !== 1) return undefined;
      return int64Tensor([1], [t.r() < 0.25 ? -1 - Math.floor(t.r() * (r + 1)) : Math.floor(t.r() * (r + 1))]);
    case "ReduceMean":
    case "ReduceSum":
    case "ReduceMax":
    case "ReduceMin":
    case "ReduceProd":
    case "ReduceL1":
    case "ReduceL2":
    case "ReduceSumSquare":
    case "ReduceLogSum":
    case "ReduceLogSumExp": {
      if (slot !== 1 || r === 0) return undefined;
      const u = t.r();
      // empty axes: every axis, or none with noop_with_empty_axes
      if (u < 0.1) return int64Tensor([0], []);
      if (u < 0.25 && r > 1) return int64Tensor([2], [0, r - 1]);
      return int64Tensor([1], [u < 0.6 ? -1 : axis()]);
    }
    case "Slice": {
      if (r === 0) return undefined;
      const ax = t.slice ??= { axis: Math.floor(t.r() * r), step: pick(t.r, [1, 1, 1, 2, -1, -2]) };
      const d = x[ax.axis], step = ax.step ?? 1, k = Math.floor(t.r() * d);
      const i64 = (v: bigint) => new Tensor(DataType.INT64, [1], BigInt64Array.of(v));
      if (slot === 1) {
        if (step > 0) return int64Tensor([1], [pick(t.r, [0, 0, k, k - d])]);
        return t.r() < 0.3 ? i64(INT64_MAX) : int64Tensor([1], [pick(t.r, [d - 1, -1, k])]);
      }
      if (slot === 2) {
        // ends past the dim, at it, inside it, negative (counted from the end) and -1
        if (step > 0) return t.r() < 0.3 ? i64(INT64_MAX) : int64Tensor([1], [pick(t.r, [1 + k, k - d, d, -1])]);
        return t.r() < 0.4 ? i64(-INT64_MAX - 1n) : int64Tensor([1], [pick(t.r, [-d - 1, k - d - 1, 0])]);
      }
      if (slot === 3) return int64Tensor([1], [t.r() < 0.3 ? ax.axis - r : ax.axis]);
      if (slot === 4) return int64Tensor([1], [step]);
      return undefined;
    }
    case "Pad":
      // pads within the dims (reflect needs pad < dim), now and then a negative one (a crop)
      if (slot === 1) {
        const pads = [...x, ...x].map((d) => d > 1 && t.r() < 0.5 ? pick(t.r, [1, 1, d - 1, -1]) : 0);
        return int64Tensor([2 * r], pads);
      }
      if (slot === 2) return fromNumbers(like, [], [pick(t.r, [0, 1.5, -2])]);
      if (slot === 3) return int64Tensor([r], x.map((_, i) => i));
      return undefined;
    case "Split": {
      if (slot !== 1 || r === 0) return undefined;
      // sizes in int64, one per output, summing to the axis' dim
      const ax = splitAxis(t, node, r), d = x[ax], n = t.splitParts;
      if (d < n) throw new Reject("the split axis is shorter than the parts");
      const sizes = new Array(n).fill(1);
      for (let left = d - n; left > 0; left--) sizes[Math.floor(t.r() * n)]++;
      return int64Tensor([n], sizes);
    }
    case "Tile":
      return slot === 1 ? int64Tensor([r], x.map(() => pick(t.r, [1, 2]))) : undefined;
    case "Gather": {
      if (slot !== 1 || r === 0) return undefined;
      // in range for any axis: [-m, m - 1] with m the smallest dim
      const m = Math.min(...x), shape = pick(t.r, [[], [1], [2], [2, 2]]);
      return int64Tensor(shape, Array.from({ length: sizeOf(shape) }, () => Math.floor(t.r() * 2 * m) - m));
    }
    case "Dropout":
      if (slot === 1) return fromNumbers(DataType.FLOAT, [], [pick(t.r, [0, 0.5])]);
      if (slot === 2) return fromNumbers(DataType.BOOL, [], [pick(t.r, [0, 0, 1])]);
      return undefined;
    case "Clip":
      // bounds in either order (min > max makes every element max)
      if (slot === 1) return fromNumbers(like, [], [pick(t.r, [0, -1, -0.5, 6, 1])]);
      if (slot === 2) return fromNumbers(like, [], [pick(t.r, [6, 1, 0.5, 0, -1])]);
      return undefined;
  }
  return undefined;
}

/** The axis a Split pattern cuts (its literal, its variable's value, drawn now when unset), non-negative. */
function splitAxis(t: Try, node: Extract<Pattern, { kind: "op" }> | undefined, r: number): number {
  const a = node?.attrs.find((x) => x.name === "axis");
  let v: unknown = 0;
  if (a && a.term !== "absent" && a.term.kind === "lit") v = a.term.value;
  else if (a && a.term !== "absent" && a.term.kind === "var") {
    if (t.attrs.has(a.term.name)) v = t.attrs.get(a.term.name) ?? 0;
    else {
      v = Math.floor(t.r() * r) - (t.r() < 0.3 ? r : 0);
      t.attrs.set(a.term.name, v);
      t.notes.push(`?${a.term.name} = ${v}`);
    }
  }
  const ax = Number(v);
  return ax < 0 ? ax + r : ax;
}

function reshapeTarget(t: Try, x: number[]): Tensor {
  const n = sizeOf(x);
  const shapes: number[][] = [[n], [1, n], [n, 1], [...x].reverse(), [...x, 1], x.filter((d) => d !== 1)];
  for (let a = 1; a <= n; a++) if (n % a === 0) shapes.push([a, n / a]);
  const s = [...pick(t.r, shapes)];
  // an empty input: its own shape with a non-zero dim written 0 (a copy of that dim with
  // allowzero = 0, a 0 dim with allowzero = 1: two different shapes, both valid)
  const big = x.map((d, i) => (d !== 0 ? i : -1)).filter((i) => i >= 0);
  if (n === 0 && big.length && t.r() < 0.6) {
    const e = [...x];
    e[pick(t.r, big)] = 0;
    return int64Tensor([e.length], e);
  }
  // 0 copies the input's dim at that index (with allowzero = 0; with allowzero = 1 it is a 0
  // dim, which only an empty input allows); -1 takes what is left (never beside a 0 size)
  const zeros = s.map((d, i) => (i < x.length && d === x[i] ? i : -1)).filter((i) => i >= 0);
  if (zeros.length && t.r() < (n === 0 ? 0.8 : 0.45)) s[pick(t.r, zeros)] = 0;
  if (s.length && n > 0 && t.r() < 0.3) {
    const free = s.map((d, i) => (d !== 0 ? i : -1)).filter((i) => i >= 0);
    if (free.length) s[pick(t.r, free)] = -1;
  }
  return int64Tensor([s.length], s);
}

/** A value for attribute `name` of `op` given its children's shapes (undefined: leave unset). */
function attrValue(t: Try, op: string, name: string, kids: (number[] | undefined)[]): unknown {
  const x = kids[0] ?? [];
  const r = x.length;
  const anAxis = (extra = 0) => Math.floor(t.r() * (r + extra)) - (t.r() < 0.3 ? r + extra : 0);
  switch (name) {
    case "perm": {
      const p = Array.from({ length: r }, (_, i) => i);
      for (let i = r - 1; i > 0; i--) {
        const j = Math.floor(t.r() * (i + 1));
        [p[i], p[j]] = [p[j], p[i]];
      }
      return t.r() < 0.15 ? undefined : p;
    }
    case "axis":
      if (op === "Flatten") return Math.floor(t.r() * (r + 1));
      if (op === "Concat" || op === "Softmax" || op === "LogSoftmax" || op === "Split" || op === "Gather") {
        return r ? anAxis() : undefined;
      }
      if (op === "LayerNormalization") return t.r() < 0.6 ? -1 : (r ? anAxis() : undefined);
      return r ? anAxis() : undefined;
    case "axes":
      return r ? [t.r() < 0.5 ? -1 : anAxis()] : undefined;
    case "keepdims":
      return pick(t.r, [0, 1, undefined]);
    case "group":
      return t.group && t.group > 1 ? t.group : undefined;
    case "kernel_shape":
      return t.r() < 0.5 && kids[1] ? kids[1].slice(2) : undefined;
    case "pads":
      return r > 2 && t.r() < 0.5 ? new Array(2 * (r - 2)).fill(0).map(() => pick(t.r, [0, 1])) : undefined;
    case "strides":
      return r > 2 && t.r() < 0.4 ? new Array(r - 2).fill(0).map(() => pick(t.r, [1, 2])) : undefined;
    case "dilations":
      return r > 2 && t.r() < 0.2 ? new Array(r - 2).fill(2) : undefined;
    case "auto_pad":
      return undefined;
    case "transA":
    case "transB":
      return t.r() < 0.5 ? 1 : undefined;
    case "alpha":
    case "beta":
      return t.r() < 0.5 ? undefined : pick(t.r, [0.5, 2, -1.5]);
    case "epsilon":
      return t.r() < 0.5 ? undefined : pick(t.r, [1e-5, 0.01, 0.5]);
    case "to":
      return pick(t.r, CAST_TARGETS);
    case "blocksize":
      return t.block ?? pick(t.r, [2, 3]);
    case "mode":
      if (op === "Pad") {
        return pick(t.r, ["constant", "reflect", "edge", undefined, ...(t.opset >= 19 ? ["wrap"] : [])]);
      }
      return op === "DepthToSpace" ? pick(t.r, ["DCR", "CRD", undefined]) : undefined;
    case "allowzero":
    case "training_mode":
    case "noop_with_empty_axes":
    case "fmod":
    case "select_last_index":
    case "exclusive":
    case "reverse":
    case "saturate":
    case "largest":
    case "sorted":
    case "upper":
      return pick(t.r, [0, 1, undefined]);
    case "start":
    case "end":
      return op === "Shape" ? pick(t.r, [undefined, 0, 1, -1, -2]) : undefined;
    case "approximate":
      return pick(t.r, ["none", "tanh"]);
    case "gamma":
    case "lambd":
    case "bias":
      return t.r() < 0.4 ? undefined : pick(t.r, [0.5, 2, -1.5, 0]);
  }
  return otherAttr(t, op, name);
}

/** Targets a Cast variable takes: floats of every width, integers of two widths, bool. */
const CAST_TARGETS: readonly DataType[] = [
  DataType.FLOAT,
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.INT32,
  DataType.INT64,
  DataType.BOOL,
];

/**
 * A value for an attribute variable the sampler has no rule for: its default, or a value of
 * the default's kind that differs from it (so a rule that is right only at the default is
 * caught); undefined when not even the kind is known.
 */
function otherAttr(t: Try, op: string, name: string): unknown {
  const d = attrDefaults(op, name, undefined, t.eg);
  if (typeof d === "number" && Number.isInteger(d) && !FLOAT_ATTRS.has(name)) {
    return t.r() < 0.35 ? undefined : pick(t.r, [0, 1, 2, -1].filter((v) => v !== d));
  }
  if (typeof d === "number") return t.r() < 0.35 ? undefined : pick(t.r, [0.5, 2, -1.5, 0].filter((v) => v !== d));
  return undefined;
}

/** Attributes that are floats even when their default is a whole number. */
const FLOAT_ATTRS = new Set(["alpha", "beta", "epsilon", "gamma", "ratio", "lambd", "bias", "momentum"]);

/** Attributes an op cannot go without (`Cast` needs `to`), sampled when a pattern does not mention them. */
const REQUIRED: Record<string, Record<string, (t: Try, kids: (number[] | undefined)[]) => unknown>> = {
  Cast: { to: (t) => pick(t.r, CAST_TARGETS) },
  Concat: { axis: (t, kids) => (kids[0]?.length ? Math.floor(t.r() * kids[0].length) : undefined) },
  // a Split without sizes at opset 18 names its parts
  Split: { num_outputs: (t, kids) => (t.opset >= 18 && kids.length === 1 ? t.splitParts : undefined) },
};

function typeFor(name: string, v: unknown): AttrType {
  if (typeof v === "string") return "string";
  if (Array.isArray(v)) return v.every((x) => Number.isInteger(x)) && name !== "activation_params" ? "ints" : "floats";
  return Number.isInteger(v) && !FLOAT_ATTRS.has(name) ? "int" : "float";
}

/** The element type of a class, when typed. */
function dtypeOf(t: Try, id: ClassId): DataType | undefined {
  const ty = t.eg.typeOf(id);
  return ty?.kind === "tensor" ? ty.dtype as DataType : undefined;
}

/** Ops whose data inputs (all, or the first) are bool. */
const BOOL_OPS = new Set(["Not", "And", "Or", "Xor"]);

/** Build pattern `p` (a left-hand side) as concrete e-nodes; undefined when this try cannot. */
function build(
  t: Try,
  p: Pattern,
  ctx: {
    op: string;
    slot: number;
    sib: (number[] | undefined)[];
    dts: (DataType | undefined)[];
    like?: number[];
    node?: Extract<Pattern, { kind: "op" }>;
  },
): ClassId | undefined {
  switch (p.kind) {
    case "var": {
      const had = t.classes.get(p.name);
      if (had !== undefined) return had;
      let param = paramInput(t, ctx.op, ctx.slot, ctx.sib, ctx.dts[0], ctx.node);
      // a number a guard names for a parameter (`(all ?s 1)`, `(all ?lo -inf)`): the parameter
      // filled with it, as drawn (an Expand shape of ones longer than the input's rank)
      const hint = t.hints.get(p.name);
      if (param && hint?.length && t.r() < 0.6) {
        const h = pick(t.r, hint);
        const dims = param.dims.length === 1 && ctx.op === "Expand"
          ? [param.dims[0] + pick(t.r, [0, 1, 2])]
          : [...param.dims];
        param = fromNumbers(param.dtype, dims, new Array(sizeOf(dims)).fill(h.value));
      }
      let id: ClassId;
      if (param) {
        id = addConst(t, p.name, param);
        t.params.push(`${p.name}=${numbersOf(param)}`);
      } else {
        // (scalar ?c): one element, rank 0 or 1, most tries
        const shape = t.scalarVars.has(p.name) && t.r() < 0.8
          ? scalarShape(t, ctx.op, ctx.slot, ctx.sib)
          : dataShape(t, ctx.op, ctx.slot, ctx.sib, ctx.node);
        const asConst = t.constVars.has(p.name) || (t.r() < 0.15 && ctx.slot > 0);
        const bool = (ctx.op === "Where" && ctx.slot === 0) || BOOL_OPS.has(ctx.op);
        // a later operand takes the first one's element type (Mul needs one type), else the try's
        const prev = ctx.dts.findLast((d) => d !== undefined && d !== DataType.BOOL);
        const named = t.dtypeHints.get(p.name);
        // an input whose type the schema does not tie to an earlier one (CastLike's target, Pow's
        // exponent) takes a type of its own half the time
        // (BatchNormalization's parameters have their own types from opset 15 only)
        const own = ctx.slot > 0 && sharesType(ctx.op, ctx.slot) === false && t.r() < 0.5 &&
          (ctx.op !== "BatchNormalization" || t.opset >= 15);
        const dtype = named !== undefined && t.r() < 0.85
          ? named
          : bool
          ? DataType.BOOL
          : own
          ? pick(t.r, OWN_DTYPES)
          : ctx.slot > 0 && prev !== undefined
          ? prev
          : t.dtype;
        if (bool && (asConst || (ctx.op === "Where" && t.r() < 0.4))) {
          // a constant condition: all true, all false, or mixed
          const n = sizeOf(shape), u = t.r();
          id = addConst(
            t,
            p.name,
            fromNumbers(
              DataType.BOOL,
              shape,
              Array.from({ length: n }, () => u < 0.3 ? 1 : u < 0.6 ? 0 : t.r() < 0.5 ? 1 : 0),
            ),
          );
        } else if (asConst && !bool) {
          id = addConst(
            t,
            p.name,
            fromNumbers(dtype, shape, constValues(t, p.name, sizeOf(shape), dtype, positiveSlot(ctx.op, ctx.slot))),
          );
        } else id = addInput(t, p.name, shape, dtype);
      }
      t.classes.set(p.name, id);
      return id;
    }
    case "num": {
      const like = ctx.sib[0];
      const shape = pick(t.r, [[], [], [1], like ?? []]);
      const dtype = ctx.op === "Pow" && ctx.slot === 1 && t.r() < 0.3
        ? DataType.INT64
        : ctx.dts[0] !== undefined && ctx.dts[0] !== DataType.BOOL
        ? ctx.dts[0]
        : t.dtype;
      return addConst(t, `${p.value}`, fromNumbers(dtype, shape, new Array(sizeOf(shape)).fill(p.value)));
    }
    case "call":
      return undefined;
    case "op": {
      const kids: ClassId[] = [];
      const shapes: (number[] | undefined)[] = [];
      const dts: (DataType | undefined)[] = [];
      for (let i = 0; i < p.children.length; i++) {
        const k = build(t, p.children[i], { op: p.op, slot: i, sib: shapes, dts, node: p });
        if (k === undefined) return undefined;
        kids.push(k);
        shapes.push(shapeOf(t, k));
        dts.push(dtypeOf(t, k));
      }
      const bad = schemaViolation(p.op, dts);
      if (bad) throw new Reject(`invalid by the ONNX schema: ${bad}`);
      const attrs: Attribute[] = [];
      for (const a of p.attrs) {
        if (a.term === "absent") continue;
        let v: unknown;
        if (a.term.kind === "lit") v = a.term.value;
        else if (a.term.kind === "var") {
          if (t.attrs.has(a.term.name)) v = t.attrs.get(a.term.name);
          else {
            // a value a guard names for the attribute (`(eq ?a 0.1666…)`), else one drawn
            const hint = t.hints.get(a.term.name);
            v = hint?.length && t.r() < 0.75 ? pick(t.r, hint).value : attrValue(t, p.op, a.name, shapes);
            t.attrs.set(a.term.name, v);
            if (v !== undefined) t.notes.push(`?${a.term.name} = ${JSON.stringify(v)}`);
          }
        } else return undefined;
        if (v === undefined) continue;
        attrs.push({ name: a.name, type: (a.term as AttrTerm).type ?? typeFor(a.name, v), value: v } as Attribute);
      }
      // attributes ONNX requires that the pattern leaves open
      for (const [name, make] of Object.entries(REQUIRED[p.op] ?? {})) {
        if (!attrs.some((a) => a.name === name)) {
          const v = make(t, shapes);
          if (v !== undefined) attrs.push({ name, type: typeFor(name, v), value: v } as Attribute);
        }
      }
      // a multi-output op the pattern reads by index: sometimes one more output than it reads (a
      // Split into 3 parts of which a rule uses 2)
      const outputs = p.output !== undefined
        ? p.op === "Split" && p.outputs === undefined
          ? t.splitParts
          : Math.max(p.output + 1 + (p.outputs === undefined && t.r() < 0.3 ? 1 : 0), p.outputs ?? 0, 2)
        : 1;
      const id = t.eg.add(makeENode(p.op, kids, attrs, { domain: p.domain ?? "", outputs }));
      if (p.output === undefined) return id;
      return t.eg.add(makeENode("$out", [id], [{ name: "index", type: "int", value: p.output }]));
    }
  }
}

/** Variables that guards need as constants, and the numbers guards compare them with. */
function guardFacts(
  calls: readonly GuardCall[] | undefined,
): { constVars: Set<string>; hints: Map<string, Hint[]>; dtypes: Map<string, DataType>; scalars: Set<string> } {
  const constVars = new Set<string>(), hints = new Map<string, Hint[]>(), dtypes = new Map<string, DataType>();
  const scalars = new Set<string>();
  const valueGuards = new Set(["const", "scalar", "all", "approx", "channel-bias", "no-zero", "eq"]);
  const walk = (g: GuardCall, negated: boolean) => {
    if (g.name === "not") {
      for (const a of g.args) if (a.kind === "guard") walk(a.guard, !negated);
      return;
    }
    const vars = g.args.filter((a): a is Extract<GuardArg, { kind: "var" }> => a.kind === "var").map((a) => a.name);
    const nums = g.args.filter((a): a is Extract<GuardArg, { kind: "num" }> => a.kind === "num").map((a) => a.value);
    if (valueGuards.has(g.name) && !negated) {
      const first = g.name === "channel-bias" ? [vars[0]] : vars;
      for (const v of first) if (v) constVars.add(v);
      if (g.name === "const") { for (const v of vars) constVars.add(v); }
    }
    if (!negated && g.name === "scalar" && vars[0]) scalars.add(vars[0]);
    // (dtype ?x "int8"): ?x is drawn with that element type (integers of every width, bool)
    const named = g.args.find((a): a is Extract<GuardArg, { kind: "str" }> => a.kind === "str");
    if (!negated && g.name === "dtype" && vars[0] && named) {
      const dt = dtypeFromName(named.value);
      if (dt !== undefined) dtypes.set(vars[0], dt);
    }
    if (!negated && (g.name === "all" || g.name === "approx" || g.name === "eq") && nums.length) {
      // approx: the guard's tolerance (default 1e-4), so values are drawn at its edges too
      const hint: Hint = g.name === "approx" ? { value: nums[0], rtol: nums[1] ?? 1e-4 } : { value: nums[0] };
      for (const v of vars) hints.set(v, [...(hints.get(v) ?? []), hint]);
    }
  };
  for (const g of calls ?? []) walk(g, false);
  return { constVars, hints, dtypes, scalars };
}

/** Every class variable of the left-hand sides, in order of first use. */
function patternVars(ps: readonly Pattern[]): string[] {
  const out: string[] = [];
  const walk = (p: Pattern) => {
    if (p.kind === "var" && !out.includes(p.name)) out.push(p.name);
    if (p.kind === "op") p.children.forEach(walk);
  };
  ps.forEach(walk);
  return out;
}

/** Extraction cost that keeps the instance's leaves and recomputes everything else by its ops. */
function leafCost(leaves: Map<ClassId, unknown>): CostModel {
  return {
    name: "verify",
    nodeCost: (eg, n: ENode, cls: ClassId) => {
      if (n.op === "$in" || n.op === "$none" || n.op === "$out") return 0;
      if (n.op === "$const") {
        // a leaf constant, or one a builder made, is free; a value the e-graph folded from ops is only a
        // fallback (exact arithmetic needs the ops)
        if (leaves.has(eg.find(cls))) return 0;
        return eg.eclass(cls).nodes.some((x) => !x.op.startsWith("$")) ? 1e6 : 0;
      }
      return 1;
    },
  };
}

/**
 * Concrete instances of `rule` over small shapes (rank ≤ 4, dims 1–3) on which the rule fires:
 * each a model whose outputs `lhs<i>` and `rhs<i>` compute the two sides on the same inputs.
 * Sampling prefers ranks and attribute values not yet covered.
 * @param rule the rule
 * @param opts opset, seed, how many instances, how many tries
 * @returns distinct instances; empty when no sampled shape makes the rule fire
 * @example
 * ```ts
 * import { compareValues, parseRules, randomInputs, ruleInstances, runModel } from "../mod.ts";
 * const [rule] = parseRules(
 *   "tt: (Transpose (Transpose ?x :perm ?p) :perm ?q) => (Transpose ?x :perm (compose ?p ?q))",
 *   "inline.rules",
 *   "user",
 * );
 * const insts = ruleInstances(rule, { want: 3 });
 * if (insts.length === 0) throw new Error("the rule fires on some small shape");
 * for (const inst of insts) {
 *   const out = runModel(inst.model, randomInputs(inst.model, { seed: 3 }));
 *   for (const [l, r] of inst.pairs) {
 *     const why = compareValues(out.get(r), out.get(l), { atol: 0, rtol: 0 });
 *     if (why) throw new Error(`${inst.bindings}: ${why}`); // a transpose of a transpose moves values exactly
 *   }
 * }
 * ```
 */
export function ruleInstances(rule: Rule, opts: InstanceOptions = {}): RuleInstance[] {
  return sampleInstances(rule, opts).instances;
}

/**
 * `ruleInstances`, with the reasons the other tries were thrown away (for a rule that has no
 * instance, what its author should fix).
 * @param rule the rule
 * @param opts opset, seed, how many instances, how many tries
 * @returns the instances, and the rejected tries by reason
 * @example
 * ```ts
 * import { parseRules } from "../mod.ts";
 * import { sampleInstances } from "./instances.ts";
 * const [rule] = parseRules("never: (Relu ?x) => ?x if (rank ?x 9)", "inline.rules", "user");
 * const s = sampleInstances(rule, { tries: 50 });
 * if (s.instances.length !== 0) throw new Error("no rank-9 instance is sampled");
 * if (!s.rejected.get("the guard does not hold")) throw new Error("the guard is named as the reason");
 * ```
 */
export function sampleInstances(rule: Rule, opts: InstanceOptions = {}): Sample {
  const opsetChoices = opts.opset ? [opts.opset] : [11, 13, 17, 18, 21];
  const lib = opts.library ?? ruleLibrary;
  const want = opts.want ?? 6, tries = opts.tries ?? 400;
  const r = makeRng(opts.seed ?? 1);
  const { constVars, hints, dtypes: dtypeHints, scalars: scalarVars } = guardFacts(rule.guardCalls);
  // the most outputs a left-hand Split is read at (its parts: that many, or one more)
  let splitIndex = 1;
  const walkSplit = (p: Pattern) => {
    if (p.kind !== "op") return;
    if (p.op === "Split" && p.output !== undefined) splitIndex = Math.max(splitIndex, p.output);
    p.children.forEach(walkSplit);
  };
  rule.lhs.forEach(walkSplit);
  const out: RuleInstance[] = [];
  const rejected: Rejections = new Map();
  const reject = (why: string) => rejected.set(why, (rejected.get(why) ?? 0) + 1);
  const seen = new Set<string>();
  // prefer instances with ranks not yet covered: every rank the rule allows, before repeats
  const ranksSeen = new Set<string>();
  let k = 0;
  // a rule that has no instance yet gets more tries (a guard that holds rarely: one opset, one dtype)
  for (; (k < tries || (out.length === 0 && k < tries * 3)) && out.length < want; k++) {
    const opset = pick(r, opsetChoices);
    const opsets = [{ domain: "", version: opset }, { domain: "com.microsoft", version: 1 }];
    const eg = new EGraph(opsets);
    // the first instances are float32, so every rule has its main case covered first
    // (a guard that names a type: that type, most tries)
    const named = [...dtypeHints.values()];
    const dtype = named.length && r() < 0.85
      ? pick(r, named)
      : out.length < 2 && k < 40
      ? DataType.FLOAT
      : pick(r, DATA_DTYPES);
    const t: Try = {
      r,
      eg,
      classes: new Map(),
      attrs: new Map(),
      leaves: new Map(),
      notes: [],
      shapes: new Map(),
      // a third of the tries use a cube, where permutations and reshapes keep the shape
      base: r() < 0.33
        ? new Array(pick(r, [2, 3, 3, 4])).fill(pick(r, [2, 3]))
        : randomShape({ r } as Try, pick(r, [1, 2, 2, 3, 3, 4])),
      dtype,
      dtypes: new Set(),
      params: [],
      constVars,
      hints,
      dtypeHints,
      scalarVars,
      opset,
      splitParts: splitIndex + 1 + (r() < 0.4 ? 1 : 0),
    };
    let roots: ClassId[];
    try {
      const built = rule.lhs.map((p) => build(t, p, { op: "", slot: 0, sib: [], dts: [] }));
      if (built.some((b) => b === undefined)) {
        reject("the left side cannot be built (a builder call on the left?)");
        continue;
      }
      roots = built as ClassId[];
      if (roots.some((id) => !shapeOf(t, id))) {
        reject("the left side has no static shape on the sampled inputs (shapes or attributes that do not fit)");
        continue;
      }
      eg.rebuild();
    } catch (e) {
      reject(e instanceof Reject ? e.message : `the left side is not a valid graph: ${(e as Error).message}`);
      continue;
    }
    t.notes.unshift(`opset ${opset}`);
    const key = t.notes.join("; ");
    if (seen.has(key)) continue;
    // distinct ranks, types and attribute values (a permutation, an axis) count as new ground
    const ranks = [...t.shapes.values()].map((x) => x.length).join(",") + [...t.dtypes].join() +
      JSON.stringify([...t.attrs.values()]) + t.params.join();
    if (ranksSeen.has(ranks) && k < tries * 0.75) continue;
    const env: MatchEnv = { eg, defaults: attrDefaults };
    const match = searchPatterns(env, rule.lhs).find((m) => m.roots.every((c, i) => eg.find(c) === eg.find(roots[i])));
    if (!match) {
      reject("the rule's own pattern does not match the graph built from it");
      continue;
    }
    if (rule.guard && !rule.guard(env, match.subst, match.roots)) {
      reject("the guard does not hold");
      continue;
    }
    let rhs: (ClassId | undefined)[] | undefined;
    try {
      rhs = rule.apply
        ? rule.apply(env, match.subst, match.roots)
        : rule.rhs.map((p) => instantiate(env, lib, p, match.subst));
    } catch (e) {
      reject(`the right side cannot be built: ${(e as Error).message}`);
      continue;
    }
    if (!rhs || rhs.some((c) => c === undefined)) {
      reject("the right side cannot be built (a builder or attribute function declined)");
      continue;
    }
    eg.rebuild();
    seen.add(key);
    ranksSeen.add(ranks);
    out.push(toModel(t, rule, roots, rhs as ClassId[], opsets, opset));
  }
  return { instances: out, rejected, tries: k };
}

function toModel(
  t: Try,
  rule: Rule,
  lhs: ClassId[],
  rhs: ClassId[],
  opsets: Model["opsetImports"],
  opset: number,
): RuleInstance {
  const eg = t.eg;
  const rootIds = [...lhs, ...rhs].map((c) => eg.find(c));
  const leaves = new Map([...t.leaves].map(([id, v]) => [eg.find(id), v]));
  const { choice } = extractGreedy(eg, leafCost(leaves), rootIds);
  const inputs: ValueInfo[] = [];
  const initializers = new Map<string, Tensor>();
  const classOf = new Map<string, ClassId>();
  for (const [id, leaf] of leaves) {
    classOf.set(leaf.name, id);
    const n = eg.eclass(id).nodes.find((x) => x.op === (leaf.input ? "$in" : "$const"))!;
    if (leaf.input) {
      const ty = n.attrs.find((a) => a.name === "type")!.value as TensorType;
      inputs.push({ name: leaf.name, type: ty });
    } else initializers.set(leaf.name, n.value!);
  }
  const outputs: ValueInfo[] = [
    ...lhs.map((_, i) => ({ name: `lhs${i}` })),
    ...rhs.map((_, i) => ({ name: `rhs${i}` })),
  ];
  const original = {
    name: rule.name,
    nodes: [],
    inputs,
    outputs,
    initializers,
    sparseInitializers: [],
    valueInfo: [],
  };
  const graph = extractionToGraph(eg, choice, rootIds, { original: original as never, classOf });
  return {
    model: {
      irVersion: 8,
      opsetImports: opsets,
      graph,
      metadataProps: [],
      trainingInfo: [],
      functions: [],
    } as unknown as Model,
    pairs: lhs.map((_, i) => [`lhs${i}`, `rhs${i}`]),
    dataInputs: inputs.map((i) => i.name),
    bindings: t.notes.join("; "),
    shapes: t.shapes,
    dtypes: [...t.dtypes].sort(),
    attrs: Object.fromEntries([...t.attrs].map(([k, v]) => [k, v === undefined ? null : v])),
    opset,
    dataDtypes: [...new Set(inputs.map((i) => dtypeName((i.type as TensorType).dtype)))].sort(),
    ...(t.approxEdge ? { approxEdge: true } : {}),
    ...(t.extremeConstants ? { extremeConstants: true } : {}),
  };
}

/** Variables of a rule's left-hand side (for coverage reports). */
export function ruleVariables(rule: Rule): string[] {
  return patternVars(rule.lhs);
}

export type { Dim };
