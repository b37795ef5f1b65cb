/**
 * Training data for the learned cost model and how it is judged: signatures of real models (every
 * candidate node the extractor prices, collected from the saturated e-graph) and synthetic
 * variations of the op families rules produce; samples (a signature and its measured latency)
 * grouped for held-out splits; and the two quality measures the issue asks for — Spearman rank
 * correlation and pairwise order accuracy.
 *
 * Held-out split (`heldOutGroup`): whole real models (`HELD_OUT_MODELS`) and whole shape families —
 * synthetic samples are drawn either from power-of-two dims (`pow2`, trained on) or from dims of
 * the form 3·2^k and 5·2^k (`odd`, held out), so held-out shapes never occur in training. A
 * signature that occurs in a training group is dropped from the held-out side (no leakage).
 * @module
 */
import "../rules/contrib_ops.ts";
import type { Attribute, Model } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { allocate, fromNumbers, sizeOf, Tensor } from "../ir/tensor.ts";
import { EGraph } from "../egraph/egraph.ts";
import { makeENode } from "../egraph/enode.ts";
import type { CostModel } from "./cost_model.ts";
import { AnalyticalCost } from "./analytical.ts";
import { type NodeSignature, signatureKey, signatureOf, type SignatureTensor } from "./signature.ts";
import { rng } from "../verify/inputs.ts";
import type { CostTarget } from "../rules/targets.ts";

/** A measured signature. */
export interface Sample {
  /** `signatureKey(sig)`. */
  key: string;
  sig: NodeSignature;
  /** Where it came from: `model:<name>` or `syn:<generator>:<pow2|odd>`. */
  group: string;
  /** Measured median latency, µs. */
  us: number;
  /** Measured noise, µs. */
  noiseUs: number;
}

/** Real models whose signatures are held out (never trained on). */
export const HELD_OUT_MODELS: readonly string[] = ["shufflenet_v2_x0_5", "gpt2_tiny"];

/**
 * Whether a group is on the held-out side.
 * @param group a sample's group
 * @returns true for held-out models and the `odd` shape family
 */
export function heldOutGroup(group: string): boolean {
  if (group.startsWith("model:")) return HELD_OUT_MODELS.includes(group.slice(6));
  return group.endsWith(":odd");
}

/**
 * Split samples into training and held-out sets by group; a held-out sample whose signature is
 * also on the training side is dropped, and each side keeps one sample per signature.
 * @param samples measured samples
 * @param heldOut which groups are held out (`heldOutGroup`)
 * @returns the two sides
 */
export function splitSamples(
  samples: readonly Sample[],
  heldOut: (group: string) => boolean = heldOutGroup,
): { train: Sample[]; test: Sample[] } {
  const train = new Map<string, Sample>(), test = new Map<string, Sample>();
  for (const s of samples) if (!heldOut(s.group) && !train.has(s.key)) train.set(s.key, s);
  for (const s of samples) if (heldOut(s.group) && !train.has(s.key) && !test.has(s.key)) test.set(s.key, s);
  return { train: [...train.values()], test: [...test.values()] };
}

/** Ranks (1-based), ties sharing their mean rank. */
function ranks(v: readonly number[]): number[] {
  const idx = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the ranks (ties share their mean rank).
 * @param a values
 * @param b values, as many
 * @returns in [-1, 1]; 0 when either side is constant
 * @example
 * ```ts
 * import { spearman } from "./training.ts";
 * if (spearman([1, 2, 3, 4], [10, 20, 30, 400]) !== 1) throw new Error("monotone is 1");
 * ```
 */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError("spearman: lengths differ");
  const ra = ranks(a), rb = ranks(b), n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) ** 2, sbb += (rb[i] - mb) ** 2;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

/**
 * Pairwise order accuracy: of the pairs whose true values differ by more than their noise (a pair
 * within the noise has no true order), the fraction the prediction orders the same way.
 * @param predicted predictions
 * @param truth true values, as many
 * @param noise noise of each true value (0 when absent)
 * @returns in [0, 1] (1 when no pair is ordered)
 * @example
 * ```ts
 * import { pairwiseAccuracy } from "./training.ts";
 * if (pairwiseAccuracy([1, 3, 2], [1, 2, 3]) !== 2 / 3) throw new Error("one pair of three swapped");
 * ```
 */
export function pairwiseAccuracy(
  predicted: readonly number[],
  truth: readonly number[],
  noise: readonly number[] = [],
): number {
  let right = 0, all = 0;
  for (let i = 0; i < truth.length; i++) {
    for (let j = i + 1; j < truth.length; j++) {
      const d = truth[i] - truth[j];
      if (d === 0 || Math.abs(d) <= (noise[i] ?? 0) + (noise[j] ?? 0)) continue;
      all++;
      if (Math.sign(predicted[i] - predicted[j]) === Math.sign(d)) right++;
    }
  }
  return all === 0 ? 1 : right / all;
}

/** Quality of predictions on a sample set. */
export interface Metrics {
  /** Samples. */
  n: number;
  /** Spearman rank correlation of predicted and measured latency. */
  spearman: number;
  /** Pairwise order accuracy over pairs separated beyond their noise. */
  pairwise: number;
  /** Median |log2(predicted / measured)|: 1 means off by 2× for the median node. */
  medianLog2Error: number;
}

/**
 * Judge predictions against measurements.
 * @param predictedUs predicted latencies
 * @param samples the measured samples, in the same order
 * @returns the metrics
 */
export function metrics(predictedUs: readonly number[], samples: readonly Sample[]): Metrics {
  const truth = samples.map((s) => s.us), noise = samples.map((s) => s.noiseUs);
  const err = samples.map((s, i) => Math.abs(Math.log2(predictedUs[i] / s.us))).sort((a, b) => a - b);
  return {
    n: samples.length,
    spearman: spearman(predictedUs, truth),
    pairwise: pairwiseAccuracy(predictedUs, truth, noise),
    medianLog2Error: err.length ? err[Math.floor(err.length / 2)] : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// signatures of real models

/**
 * A cost model that prices like `inner` and records the signature of every e-node it is asked
 * about: passed to `optimize`, it collects every candidate the extraction priced.
 */
export class RecordingCost implements CostModel {
  /** `"recording"`. */
  readonly name: string = "recording";
  /** Signatures seen, by key. */
  readonly seen: Map<string, NodeSignature> = new Map();
  readonly #inner: CostModel;
  readonly #dims: Readonly<Record<string, number>>;

  /**
   * @param inner the cost actually returned (the analytical one by default)
   * @param dims sizes of symbolic dims
   */
  constructor(inner: CostModel = new AnalyticalCost(), dims: Readonly<Record<string, number>> = {}) {
    this.#inner = inner;
    this.#dims = dims;
  }

  /** Records the node's signature, returns `inner`'s cost. */
  nodeCost(eg: EGraph, node: Parameters<CostModel["nodeCost"]>[1], classId: number): number {
    if (!node.op.startsWith("$")) {
      const sig = signatureOf(eg, node, classId, this.#dims);
      if (sig) this.seen.set(signatureKey(sig), sig);
    }
    return this.#inner.nodeCost(eg, node, classId);
  }
}

/**
 * Every candidate signature of a model: the nodes of its saturated e-graph that the extraction
 * priced (the target's shipped rules, their defaults; nothing measured, no guard).
 * @param model the model
 * @param target the target whose rule packs apply (`"ort"`)
 * @param dims sizes of symbolic dims
 * @returns distinct signatures
 */
export async function candidateSignatures(
  model: Model,
  target: CostTarget = "ort",
  dims: Readonly<Record<string, number>> = {},
): Promise<NodeSignature[]> {
  const { optimize } = await import("../optimize/verified.ts");
  const rec = new RecordingCost(new AnalyticalCost(), dims);
  // a few iterations find the candidates that matter (fusions, layouts); saturation beyond adds copies
  await optimize(model, {
    target,
    cost: rec,
    extract: "greedy",
    iterLimit: 6,
    guard: false,
    measure: false,
    dims: { ...dims },
  });
  return [...rec.seen.values()];
}

// ---------------------------------------------------------------------------------------------
// synthetic signatures

/** An input of a synthetic node. */
interface InputSpec {
  dtype?: number;
  dims: number[];
  /** A constant (an initializer); with `values` for small integer constants. */
  constant?: boolean;
  values?: number[];
}

/**
 * The signature of one node over inputs of the given types, its outputs inferred through the
 * e-graph's analyses (so they are what Saturn itself would compute), or undefined when inference
 * refuses the node.
 * @param op ONNX op type
 * @param inputs the inputs (null: omitted)
 * @param attrs attributes
 * @param opts domain, opset, output count
 * @returns the signature, or undefined
 */
export function signatureFor(
  op: string,
  inputs: (InputSpec | null)[],
  attrs: Attribute[] = [],
  opts: { domain?: string; opset?: number; outputs?: number } = {},
): NodeSignature | undefined {
  const domain = opts.domain ?? "";
  const opsets = [{ domain: "", version: opts.opset ?? 17 }];
  if (domain) opsets.push({ domain, version: 1 });
  const eg = new EGraph(opsets);
  try {
    const none = eg.add(makeENode("$none", []));
    const kids = inputs.map((t, i) => {
      if (!t) return none;
      const dtype = (t.dtype ?? DataType.FLOAT) as DataType;
      if (t.constant) {
        // the signature needs the constant's type, not its values: zeros, allocated not written
        const value = t.values
          ? fromNumbers(dtype, t.dims, t.values)
          : new Tensor(dtype, t.dims, allocate(dtype, sizeOf(t.dims)));
        return eg.add(makeENode("$const", [], [], { value }));
      }
      const type = { kind: "tensor", dtype, shape: t.dims };
      return eg.add(makeENode("$in", [], [
        { name: "name", type: "string", value: `x${i}` },
        { name: "type", type: "type_proto", value: type } as unknown as Attribute,
      ]));
    });
    const node = makeENode(op, kids, attrs, { domain, outputs: opts.outputs ?? 1 });
    const id = eg.add(node);
    eg.rebuild();
    if (eg.valueOf(id)) return undefined; // folded: nothing to time
    return signatureOf(eg, node, id);
  } catch {
    return undefined;
  }
}

const i = (name: string, value: number): Attribute => ({ name, type: "int", value });
const f = (name: string, value: number): Attribute => ({ name, type: "float", value });
const is = (name: string, value: number[]): Attribute => ({ name, type: "ints", value });
const s = (name: string, value: string): Attribute => ({ name, type: "string", value });
const I64 = DataType.INT64;

/** Dims drawn by a generator: power-of-two ones (trained on) or 3·2^k, 5·2^k ones (held out). */
interface Draw {
  /** A dim in [lo, hi] of this family. */
  dim(lo: number, hi: number): number;
  /** One of `xs`. */
  pick<T>(xs: readonly T[]): T;
  /** Uniform in [0, 1). */
  u(): number;
}

function drawer(random: () => number, odd: boolean): Draw {
  const dims: number[] = [];
  for (let k = 0; k < 14; k++) {
    if (odd) dims.push(3 << k, 5 << k);
    else dims.push(1 << k);
  }
  dims.sort((a, b) => a - b);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  return {
    dim(lo, hi) {
      const ok = dims.filter((d) => d >= lo && d <= hi);
      return ok.length ? pick(ok) : lo;
    },
    pick,
    u: random,
  };
}

type Gen = (d: Draw) => NodeSignature | undefined;

const UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Sqrt", "Neg", "Abs", "Softplus", "Reciprocal", "Log"];
const BINARY = ["Add", "Mul", "Sub", "Div", "Max", "Pow"];
const ACTS = ["Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid"];

/** An activation-shaped tensor: [1, C, H, W] or [B, S, D]. */
function act(d: Draw): number[] {
  return d.u() < 0.5
    ? [
      1,
      d.dim(4, 256),
      ...(() => {
        const hw = d.dim(2, 112);
        return [hw, hw];
      })(),
    ]
    : [d.dim(1, 8), d.dim(4, 512), d.dim(16, 1024)];
}

function cap(dims: number[], max = 1 << 21): boolean {
  return sizeOf(dims) <= max;
}

function convSig(d: Draw, fused: boolean): NodeSignature | undefined {
  const cin = d.dim(3, 512), hw = d.dim(4, 112);
  const k = d.pick([1, 1, 3, 3, 5, 7]), stride = d.pick([1, 1, 2]);
  const depthwise = k > 1 && d.u() < 0.3;
  const cout = depthwise ? cin : d.dim(4, 512);
  const group = depthwise ? cin : 1;
  const dil = k === 3 && d.u() < 0.1 ? 2 : 1;
  const pad = Math.floor(k / 2) * dil;
  if (!cap([cin, hw, hw]) || !cap([cout, hw, hw]) || cout * (cin / group) * k * k * hw * hw / stride / stride > 4e8) {
    return undefined;
  }
  const attrs = [
    is("dilations", [dil, dil]),
    i("group", group),
    is("kernel_shape", [k, k]),
    is("pads", [pad, pad, pad, pad]),
    is("strides", [stride, stride]),
  ];
  const bias = d.u() < 0.8 ? { dims: [cout], constant: true } : null;
  const ins = [{ dims: [1, cin, hw, hw] }, { dims: [cout, cin / group, k, k], constant: true }, bias];
  if (!fused) return signatureFor("Conv", bias ? ins : ins.slice(0, 2), attrs);
  const a = d.pick(ACTS);
  // ONNX Runtime's FusedConv needs the parameters of the activations that take some
  const p = ({ LeakyRelu: [0.01], Clip: [0, 6], HardSigmoid: [0.2, 0.5] } as Record<string, number[]>)[a];
  const params: Attribute[] = p ? [{ name: "activation_params", type: "floats", value: p }] : [];
  return signatureFor("FusedConv", bias ? ins : ins.slice(0, 2), [...attrs, s("activation", a), ...params], {
    domain: "com.microsoft",
  });
}

/** The synthetic generators, by name: each draws one signature of its family. */
export const GENERATORS: Record<string, Gen> = {
  matmul: (d) => {
    const m = d.dim(1, 1024), k = d.dim(8, 1024), n = d.dim(8, 1024);
    const batch = d.pick([[], [], [d.dim(1, 8)], [d.dim(1, 4), d.dim(2, 12)]]);
    const constB = batch.length === 0 || d.u() < 0.5;
    if (m * k * n * sizeOf(batch) > 2e8) return undefined;
    return signatureFor("MatMul", [{ dims: [...batch, m, k] }, {
      dims: constB ? [k, n] : [...batch, k, n],
      constant: constB,
    }]);
  },
  gemm: (d) => {
    const m = d.dim(1, 512), k = d.dim(8, 1024), n = d.dim(8, 1024), tb = d.u() < 0.5 ? 1 : 0;
    if (m * k * n > 2e8) return undefined;
    return signatureFor("Gemm", [{ dims: [m, k] }, { dims: tb ? [n, k] : [k, n], constant: true }, {
      dims: [n],
      constant: true,
    }], [i("transB", tb)]);
  },
  conv: (d) => convSig(d, false),
  fused_conv: (d) => convSig(d, true),
  unary: (d) => {
    const x = act(d);
    if (!cap(x)) return undefined;
    const op = d.pick([...UNARY, "LeakyRelu", "HardSigmoid", "Clip"]);
    if (op === "Clip") {
      return signatureFor(op, [{ dims: x }, { dims: [], constant: true }, { dims: [], constant: true }]);
    }
    return signatureFor(op, [{ dims: x }]);
  },
  binary: (d) => {
    const x = act(d);
    if (!cap(x)) return undefined;
    const kind = d.pick(["same", "same", "scalar", "last", "channel"]);
    const y = kind === "same"
      ? { dims: x }
      : kind === "scalar"
      ? { dims: [], constant: true }
      : kind === "last"
      ? { dims: [x.at(-1)!], constant: true }
      : { dims: x.length === 4 ? [1, x[1], 1, 1] : [x[0], 1, 1] };
    return signatureFor(d.pick(BINARY), [{ dims: x }, y]);
  },
  int_binary: (d) => {
    const x = [d.dim(1, 64), d.dim(1, 512)];
    return signatureFor(d.pick(["Add", "Mul", "Equal", "Less"]), [{ dtype: I64, dims: x }, { dtype: I64, dims: x }]);
  },
  where: (d) => {
    const x = [d.dim(1, 16), d.dim(8, 256), d.dim(8, 256)];
    if (!cap(x)) return undefined;
    return signatureFor("Where", [{ dtype: DataType.BOOL, dims: x }, { dims: x }, { dims: [], constant: true }]);
  },
  layernorm: (d) => {
    const x = [d.dim(1, 8), d.dim(4, 512), d.dim(16, 1024)];
    if (!cap(x)) return undefined;
    const c = x[2];
    return signatureFor("LayerNormalization", [{ dims: x }, { dims: [c], constant: true }, {
      dims: [c],
      constant: true,
    }], [i("axis", -1), f("epsilon", 1e-5)]);
  },
  batchnorm: (d) => {
    const c = d.dim(4, 256), hw = d.dim(2, 112), x = [1, c, hw, hw];
    if (!cap(x)) return undefined;
    const p = { dims: [c], constant: true };
    return signatureFor("BatchNormalization", [{ dims: x }, p, p, p, p], [f("epsilon", 1e-5)]);
  },
  softmax: (d) => {
    const x = d.u() < 0.5 ? [d.dim(1, 4), d.dim(1, 12), d.dim(8, 512), d.dim(8, 512)] : [d.dim(1, 64), d.dim(8, 4096)];
    if (!cap(x)) return undefined;
    const axis = d.u() < 0.8 ? -1 : 1;
    return signatureFor(d.pick(["Softmax", "Softmax", "LogSoftmax"]), [{ dims: x }], [i("axis", axis)]);
  },
  transpose: (d) => {
    const x = d.u() < 0.5
      ? [1, d.dim(2, 256), d.dim(2, 64), d.dim(2, 64)]
      : [d.dim(1, 8), d.dim(4, 512), d.dim(8, 768)];
    if (!cap(x)) return undefined;
    const perm = x.length === 4
      ? d.pick([[0, 2, 3, 1], [0, 3, 1, 2], [0, 2, 1, 3], [0, 1, 3, 2]])
      : d.pick([[0, 2, 1], [
        1,
        0,
        2,
      ], [2, 1, 0]]);
    return signatureFor("Transpose", [{ dims: x }], [is("perm", perm)]);
  },
  reshape: (d) => {
    const a = d.dim(1, 8), b = d.dim(4, 256), c = d.dim(4, 768);
    const op = d.pick(["Reshape", "Flatten", "Unsqueeze", "Squeeze"]);
    if (op === "Reshape") {
      return signatureFor(op, [{ dims: [a, b, c] }, { dtype: I64, dims: [2], constant: true, values: [a * b, c] }]);
    }
    if (op === "Flatten") return signatureFor(op, [{ dims: [a, b, c] }], [i("axis", 1)]);
    if (op === "Unsqueeze") {
      return signatureFor(op, [{ dims: [a, b, c] }, { dtype: I64, dims: [1], constant: true, values: [1] }]);
    }
    return signatureFor(op, [{ dims: [a, 1, c] }, { dtype: I64, dims: [1], constant: true, values: [1] }]);
  },
  concat: (d) => {
    const n = d.pick([2, 2, 3, 4]), rank = d.pick([3, 4]);
    const base = rank === 4
      ? [1, d.dim(4, 256), d.dim(2, 56), d.dim(2, 56)]
      : [d.dim(1, 8), d.dim(4, 256), d.dim(8, 768)];
    const axis = d.pick(rank === 4 ? [1, 1, 3] : [1, 2, 2]);
    const ins = Array.from({ length: n }, () => ({ dims: base.map((v, k) => (k === axis ? d.dim(1, v) : v)) }));
    if (!cap(base)) return undefined;
    return signatureFor("Concat", ins, [i("axis", axis)]);
  },
  split: (d) => {
    const n = d.pick([2, 3]), x = [d.dim(1, 8), d.dim(4, 256), n * d.dim(8, 768)];
    if (!cap(x)) return undefined;
    const axis = d.pick([1, 2, 2]);
    if (x[axis] % n) return undefined;
    const parts = new Array(n).fill(x[axis] / n);
    return signatureFor("Split", [{ dims: x }, { dtype: I64, dims: [n], constant: true, values: parts }], [
      i("axis", axis),
    ], { outputs: n });
  },
  slice: (d) => {
    const x = [d.dim(1, 8), d.dim(4, 256), d.dim(8, 1024)];
    if (!cap(x)) return undefined;
    const axis = d.pick([1, 2]), len = x[axis], start = Math.floor(len / 4), end = Math.max(start + 1, len - start);
    return signatureFor("Slice", [
      { dims: x },
      { dtype: I64, dims: [1], constant: true, values: [start] },
      { dtype: I64, dims: [1], constant: true, values: [end] },
      { dtype: I64, dims: [1], constant: true, values: [axis] },
    ]);
  },
  gather: (d) => {
    if (d.u() < 0.5) {
      const vocab = d.dim(64, 32768), dim = d.dim(16, 768), seq = [d.dim(1, 8), d.dim(1, 512)];
      if (!cap([vocab, dim], 1 << 23)) return undefined;
      return signatureFor("Gather", [{ dims: [vocab, dim], constant: true }, { dtype: I64, dims: seq }], [
        i("axis", 0),
      ]);
    }
    const x = [d.dim(1, 8), d.dim(4, 512), d.dim(8, 768)];
    return signatureFor("Gather", [{ dims: x }, { dtype: I64, dims: [], constant: true, values: [0] }], [i("axis", 1)]);
  },
  reduce: (d) => {
    const x = d.u() < 0.5
      ? [d.dim(1, 8), d.dim(4, 512), d.dim(8, 1024)]
      : [1, d.dim(4, 512), d.dim(2, 56), d.dim(2, 56)];
    if (!cap(x)) return undefined;
    const axes = x.length === 3 ? [-1] : d.pick([[2, 3], [1]]);
    const op = d.pick(["ReduceMean", "ReduceMax", "ReduceSum"]);
    if (op === "ReduceSum") {
      return signatureFor(op, [{ dims: x }, { dtype: I64, dims: [axes.length], constant: true, values: axes }], [
        i("keepdims", 1),
      ]);
    }
    return signatureFor(op, [{ dims: x }], [is("axes", axes), i("keepdims", 1)]);
  },
  pool: (d) => {
    const c = d.dim(4, 256), hw = d.dim(4, 112);
    if (!cap([c, hw, hw])) return undefined;
    const op = d.pick(["MaxPool", "AveragePool", "GlobalAveragePool"]);
    if (op === "GlobalAveragePool") return signatureFor(op, [{ dims: [1, c, hw, hw] }]);
    const k = d.pick([2, 3]), st = d.pick([1, 2]);
    return signatureFor(op, [{ dims: [1, c, hw, hw] }], [is("kernel_shape", [k, k]), is("strides", [st, st])]);
  },
  cast: (d) => {
    const x = [d.dim(1, 64), d.dim(4, 4096)];
    const [from, to] = d.pick([[DataType.FLOAT, I64], [I64, DataType.FLOAT], [DataType.BOOL, DataType.FLOAT]]);
    return signatureFor("Cast", [{ dtype: from, dims: x }], [i("to", to)]);
  },
  expand: (d) => {
    const b = d.dim(1, 16), c = d.dim(4, 512), w = d.dim(8, 768);
    if (!cap([b, c, w])) return undefined;
    return signatureFor("Expand", [{ dims: [1, 1, w] }, { dtype: I64, dims: [3], constant: true, values: [b, c, w] }]);
  },
  pad: (d) => {
    const c = d.dim(4, 256), hw = d.dim(4, 112), p = d.pick([1, 2, 3]);
    if (!cap([c, hw + 2 * p, hw + 2 * p])) return undefined;
    return signatureFor("Pad", [{ dims: [1, c, hw, hw] }, {
      dtype: I64,
      dims: [8],
      constant: true,
      values: [0, 0, p, p, 0, 0, p, p],
    }]);
  },
};

/**
 * Synthetic signatures: `count` draws spread over the generators, three in four from the `pow2`
 * shape family and one in four from the held-out `odd` family; deterministic for a seed.
 * @param count how many draws (some are refused: too large, or inference refuses them)
 * @param seed the generator's seed
 * @returns signatures with their group, distinct by key
 */
export function syntheticSignatures(count: number, seed = 1): { sig: NodeSignature; group: string }[] {
  const random = rng(seed);
  const names = Object.keys(GENERATORS);
  const out = new Map<string, { sig: NodeSignature; group: string }>();
  for (let k = 0; k < count; k++) {
    const name = names[k % names.length];
    const odd = random() < 0.25;
    const sig = GENERATORS[name](drawer(random, odd));
    if (!sig) continue;
    const key = signatureKey(sig);
    if (!out.has(key)) out.set(key, { sig, group: `syn:${name}:${odd ? "odd" : "pow2"}` });
  }
  return [...out.values()];
}

/** A signature input of a sample as the measurer takes it (re-exported for callers). */
export type { NodeSignature, SignatureTensor };

// ---------------------------------------------------------------------------------------------
// calibration: collect, measure, split, fit, judge

/** A measured latency as measurers return it. */
export interface Measured {
  medianUs: number;
  noiseUs: number;
}

/**
 * Measures signatures within a budget: by signature key, what it measured (cached ones included);
 * signatures it could not or did not reach are absent.
 */
export type Measurer = (
  sigs: readonly NodeSignature[],
  opts: { budgetMs: number; onProgress?: (done: number, total: number) => void },
) => Promise<Map<string, Measured>>;

/** Options of `collectSamples`. */
export interface CollectOptions {
  /** Real models by name (their candidates, from the saturated e-graph), e.g. the six test models. */
  models?: { name: string; model: Model }[];
  /** The target whose rule packs give the real models' candidates (`"ort"`). */
  target?: CostTarget;
  /** Synthetic draws (1,600). */
  synthetic?: number;
  /** Seed of the synthetic draws (1). */
  seed?: number;
  /** Measures; the budget covers measuring only. */
  measure: Measurer;
  /** Wall-clock budget of measuring, ms. */
  budgetMs: number;
  /** Called per phase with a line of progress. */
  onProgress?: (line: string) => void;
}

/**
 * Signatures (real models' candidates and synthetic ones), measured: the samples to train and
 * judge on. Signatures are measured in a seeded interleaved order, so a budget that runs out
 * leaves a mix of every family and group rather than the first few.
 * @param opts models, synthetic draws, the measurer, the budget, progress
 * @returns measured samples
 */
export async function collectSamples(opts: CollectOptions): Promise<Sample[]> {
  const todo: { sig: NodeSignature; group: string }[] = [];
  for (const { name, model } of opts.models ?? []) {
    opts.onProgress?.(`collecting candidates of ${name}`);
    for (const sig of await candidateSignatures(model, opts.target)) todo.push({ sig, group: `model:${name}` });
  }
  opts.onProgress?.("drawing synthetic signatures");
  todo.push(...syntheticSignatures(opts.synthetic ?? 1600, opts.seed ?? 1));
  // seeded shuffle (Fisher-Yates): a cut budget still samples every group
  const random = rng((opts.seed ?? 1) + 17);
  for (let k = todo.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [todo[k], todo[j]] = [todo[j], todo[k]];
  }
  const measured = await opts.measure(todo.map((t) => t.sig), {
    budgetMs: opts.budgetMs,
    onProgress: (done, total) => opts.onProgress?.(`measuring ${done}/${total}`),
  });
  const out: Sample[] = [];
  for (const { sig, group } of todo) {
    const key = signatureKey(sig);
    const m = measured.get(key);
    if (m && Number.isFinite(m.medianUs) && m.medianUs > 0) {
      out.push({ key, sig, group, us: m.medianUs, noiseUs: m.noiseUs });
    }
  }
  return out;
}

/**
 * Samples from measurements made outside `collectSamples` (the measured-cost cache's entries of one
 * target and fingerprint: `optimize`'s own measuring, other runs), all labelled `group`, so they can
 * be trained on beside the collected ones. A key that is not a signature key (`signatureKey` does
 * not give it back) or a measurement that is no positive finite latency is skipped.
 * @param entries measurements by signature key (`CostCache.entries`)
 * @param group the group every sample gets (one `heldOutGroup` keeps on the training side)
 * @param skip keys to leave out (those already collected: a held-out signature must not leak in)
 * @returns the samples
 * @example
 * ```ts
 * import { samplesFromMeasurements } from "./training.ts";
 * const relu = ["", "Relu", 17, [], [{ dtype: 1, dims: [4] }], [{ dtype: 1, dims: [4] }]];
 * const s = samplesFromMeasurements(new Map([[JSON.stringify(relu), { medianUs: 3, noiseUs: 0.1 }]]), "cache");
 * if (s.length !== 1 || s[0].sig.op !== "Relu" || s[0].us !== 3) throw new Error("one Relu sample");
 * ```
 */
export function samplesFromMeasurements(
  entries: ReadonlyMap<string, Measured>,
  group: string,
  skip: ReadonlySet<string> = new Set(),
): Sample[] {
  const out: Sample[] = [];
  for (const [key, m] of entries) {
    if (skip.has(key) || !(Number.isFinite(m.medianUs) && m.medianUs > 0)) continue;
    let sig: NodeSignature;
    try {
      const [domain, op, opset, attrs, inputs, outputs] = JSON.parse(key);
      sig = { op, domain, opset, attrs: Object.fromEntries(attrs), inputs, outputs };
      if (signatureKey(sig) !== key) continue;
    } catch {
      continue;
    }
    out.push({ key, sig, group, us: m.medianUs, noiseUs: Number.isFinite(m.noiseUs) ? m.noiseUs : 0 });
  }
  return out;
}
