/**
 * Measured cost on the WebGPU target: the kernel(s) Saturn's own codegen emits for one node,
 * timed on the current adapter. For each signature a one-node model is built (`signatureModel`:
 * constant inputs as initializers with seeded values, small integer constants with their
 * signature values, other inputs fed), planned and prepared (`createSession`), run `warmup` times,
 * then `repeats` times: each sample is the sum of the kernels' GPU times from timestamp queries
 * where the adapter has `timestamp-query`, else wall clock per run averaged over `inner` runs.
 * The median is the cost, half the interquartile range the noise.
 *
 * Invariant: a signature Saturn's codegen cannot run (an op it lacks, an attribute value a
 * signature cannot carry) has no measurement (absent from the result), never an error: the cost
 * model falls back to its prior there. A node whose kernels are all views or constant folds
 * measures 0 µs.
 * @module
 */
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, sizeOf, type Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { randomInputs, rng } from "../verify/inputs.ts";
import { opSchema } from "../rules/op_schema.ts";
import { FLOAT_ATTRS } from "../rules/library.ts";
import { SaturnError } from "../errors.ts";
import { acquireDevice, type GpuContext } from "../webgpu/device.ts";
import { createSession, type Session } from "../webgpu/session.ts";
import { type NodeSignature, signatureKey } from "./signature.ts";

/** One measured latency: median and noise over `samples` timed runs, in microseconds. */
export interface WebgpuMeasurement {
  /** Median latency, µs. */
  medianUs: number;
  /** Noise estimate (half the interquartile range of the samples), µs. */
  noiseUs: number;
  /** Timed samples behind the median. */
  samples: number;
  /** When it was measured (ISO 8601). */
  date: string;
}

/** How samples were taken. */
export type WebgpuClock = "timestamp" | "wall";

/** Options of `measureWebgpu`. */
export interface MeasureWebgpuOptions {
  /** The device (default: the process's, `acquireDevice`). */
  gpu?: GpuContext;
  /** Untimed runs first (3). */
  warmup?: number;
  /** Timed samples (15). */
  repeats?: number;
  /** Runs per wall-clock sample, when the adapter has no timestamp queries (10). */
  inner?: number;
  /** Force a clock (default: timestamps where the adapter has them). */
  clock?: WebgpuClock;
  /** Stop measuring new signatures after this many ms (unlimited); what was measured is kept. */
  budgetMs?: number;
  /** Seed of the random inputs and weights (0). */
  seed?: number;
  /** Called after each signature. */
  onProgress?: (done: number, total: number) => void;
}

/** Median of `xs` (not empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Half the interquartile range of `xs` (not empty): a noise estimate robust to outliers. */
export function halfIqr(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = p * (s.length - 1), lo = Math.floor(i), hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  return (q(0.75) - q(0.25)) / 2;
}

/** The attribute of a signature's value, typed by the op's schema (floats named in `FLOAT_ATTRS`). */
function attribute(sig: NodeSignature, name: string, v: NodeSignature["attrs"][string]): Attribute | undefined {
  const kind = opSchema(sig.domain, sig.op)?.attrs.get(name);
  if (typeof v === "string") {
    return kind === undefined || kind === "string" ? { name, type: "string", value: v } : undefined;
  }
  if (typeof v === "number") {
    if (kind === "float" || (kind === undefined && (FLOAT_ATTRS.has(name) || !Number.isInteger(v)))) {
      return { name, type: "float", value: v };
    }
    return kind === undefined || kind === "int" || kind === "dtype" ? { name, type: "int", value: v } : undefined;
  }
  if (v.every((x) => typeof x === "string")) return { name, type: "strings", value: v as string[] };
  const xs = v as number[];
  if (kind === "floats" || (kind === undefined && FLOAT_ATTRS.has(name))) return { name, type: "floats", value: xs };
  if (kind === "ints" || (kind === undefined && xs.every(Number.isInteger))) return { name, type: "ints", value: xs };
  return undefined; // a tensor attribute: a signature holds it only by value when it is small
}

/** Seeded values of a dtype: floats in [-1, 1), integers in [0, 4), booleans fair coins. */
function randomTensor(dtype: number, dims: readonly number[], next: () => number): Tensor {
  const n = sizeOf(dims);
  const xs = new Float64Array(n);
  const float = dtype === DataType.FLOAT || dtype === DataType.DOUBLE || dtype === DataType.FLOAT16 ||
    dtype === DataType.BFLOAT16;
  for (let i = 0; i < n; i++) {
    xs[i] = float ? next() * 2 - 1 : dtype === DataType.BOOL ? (next() < 0.5 ? 0 : 1) : Math.floor(next() * 4);
  }
  return fromNumbers(dtype as DataType, dims, xs);
}

/**
 * A one-node model of `sig`, with the values to feed it: constant inputs as initializers (small
 * integer constants with their signature values, others seeded random), the rest as graph inputs.
 * @param sig the signature
 * @param seed seed of the random values
 * @returns the model and its feeds, or undefined when the signature cannot be rebuilt (a tensor attribute)
 * @example
 * ```ts
 * import { signatureModel } from "./measure_webgpu.ts";
 * const relu = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [{ dtype: 1, dims: [2, 8] }], outputs: [{ dtype: 1, dims: [2, 8] }] };
 * const built = signatureModel(relu)!;
 * if (built.model.graph.nodes.length !== 1 || built.feeds.get("x0") === undefined) throw new Error("one node, one feed");
 * ```
 */
export function signatureModel(sig: NodeSignature, seed = 0): { model: Model; feeds: Map<string, Value> } | undefined {
  const next = rng(seed);
  const attributes: Attribute[] = [];
  for (const [name, v] of Object.entries(sig.attrs)) {
    const a = attribute(sig, name, v);
    if (!a) return undefined;
    attributes.push(a);
  }
  const initializers = new Map<string, Tensor>();
  const feeds = new Map<string, Value>();
  const inputs: Model["graph"]["inputs"] = [];
  const names = sig.inputs.map((t, i) => {
    if (!t) return "";
    const name = `x${i}`;
    const value = t.values && t.values.length === sizeOf(t.dims)
      ? fromNumbers(t.dtype as DataType, t.dims, t.values)
      : randomTensor(t.dtype, t.dims, next);
    if (t.constant) initializers.set(name, value);
    else {
      inputs.push({ name, type: { kind: "tensor", dtype: t.dtype as DataType, shape: [...t.dims] } });
      feeds.set(name, value);
    }
    return name;
  });
  while (names.length && names[names.length - 1] === "") names.pop();
  const outputs = sig.outputs.map((t, i) => ({
    name: `y${i}`,
    type: { kind: "tensor" as const, dtype: t.dtype as DataType, shape: [...t.dims] },
  }));
  const node: Node = {
    name: sig.op,
    opType: sig.op,
    domain: sig.domain,
    inputs: names,
    outputs: outputs.map((o) => o.name),
    attributes,
  };
  const opsetImports = sig.domain === ""
    ? [{ domain: "", version: sig.opset }]
    : [{ domain: "", version: 17 }, { domain: sig.domain, version: sig.opset }];
  const model: Model = {
    irVersion: 8,
    opsetImports,
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: { name: "signature", nodes: [node], inputs, outputs, initializers, sparseInitializers: [], valueInfo: [] },
  };
  return { model, feeds };
}

/** The clock `opts` asks for on `gpu`: timestamps where the adapter has them. */
export function webgpuClock(gpu: GpuContext, clock?: WebgpuClock): WebgpuClock {
  return clock === "wall" || !gpu.features.has("timestamp-query") ? "wall" : "timestamp";
}

/** One sample of a session, µs: summed kernel GPU times, or wall clock per run over `inner` runs. */
async function sample(session: Session, feeds: ReadonlyMap<string, Value>, clock: WebgpuClock, inner: number) {
  if (clock === "timestamp") {
    await session.run(feeds);
    return (session.lastProfile ?? []).reduce((s, k) => s + k.ms, 0) * 1000;
  }
  const t0 = performance.now();
  for (let i = 0; i < inner; i++) await session.run(feeds);
  return ((performance.now() - t0) * 1000) / inner;
}

/** Measure one signature; undefined when Saturn's codegen cannot run it. */
async function measureOne(
  sig: NodeSignature,
  gpu: GpuContext,
  clock: WebgpuClock,
  opts: MeasureWebgpuOptions,
): Promise<WebgpuMeasurement | undefined> {
  const built = signatureModel(sig, opts.seed ?? 0);
  if (!built) return undefined;
  let session: Session;
  try {
    session = await createSession(built.model, { gpu, profile: clock === "timestamp" });
  } catch (e) {
    // an op, dtype or size the backend lacks: no measurement (the prior prices it)
    if (e instanceof SaturnError && e.code !== "NO_GPU") return undefined;
    throw e;
  }
  try {
    const inner = opts.inner ?? 10;
    for (let i = 0; i < (opts.warmup ?? 3); i++) await session.run(built.feeds);
    const xs: number[] = [];
    const repeats = Math.max(1, opts.repeats ?? 15);
    if (session.kernels === 0) xs.push(0);
    else for (let i = 0; i < repeats; i++) xs.push(await sample(session, built.feeds, clock, inner));
    return { medianUs: median(xs), noiseUs: halfIqr(xs), samples: xs.length, date: new Date().toISOString() };
  } finally {
    session.destroy();
  }
}

/**
 * Measure `sigs` on the WebGPU target: Saturn's kernels for each node, on the current adapter.
 * Signatures with one key are measured once.
 * @param sigs node signatures
 * @param opts device, warm-up, repeats, clock, time budget, progress
 * @returns measurements by `signatureKey`; signatures the codegen cannot run, or past the budget, are absent
 * @throws {SaturnError} `NO_GPU` without an adapter
 */
export async function measureWebgpuUncached(
  sigs: readonly NodeSignature[],
  opts: MeasureWebgpuOptions = {},
): Promise<Map<string, WebgpuMeasurement>> {
  const gpu = opts.gpu ?? await acquireDevice();
  const clock = webgpuClock(gpu, opts.clock);
  const unique = new Map(sigs.map((s) => [signatureKey(s), s]));
  const out = new Map<string, WebgpuMeasurement>();
  const t0 = performance.now();
  let done = 0;
  for (const [key, sig] of unique) {
    if (opts.budgetMs !== undefined && performance.now() - t0 > opts.budgetMs) break;
    const m = await measureOne(sig, gpu, clock, opts);
    if (m) out.set(key, m);
    opts.onProgress?.(++done, unique.size);
  }
  return out;
}

/** Two whole models timed against each other (`measureModelWebgpu`). */
export interface WebgpuModelComparison {
  /** The first model (e.g. the input), wall clock per inference. */
  a: WebgpuMeasurement;
  /** The second model (e.g. the optimized output). */
  b: WebgpuMeasurement;
  /** `b.medianUs / a.medianUs`: below 1, the second is faster. */
  ratio: number;
  /** The adapter both ran on. */
  device: string;
}

/** Options of `measureModelWebgpu`. */
export interface MeasureModelWebgpuOptions {
  /** The device (default: the process's). */
  gpu?: GpuContext;
  /** Sizes of symbolic dims by name (unlisted ones are 1). */
  dims?: Record<string, number>;
  /** Untimed runs of each model first (3). */
  warmup?: number;
  /** Timed runs of each model (21). */
  repeats?: number;
  /** Seed of the random inputs (0). */
  seed?: number;
}

/**
 * Time two models on the WebGPU target in this process, interleaved (A B, B A, A B, …, so that
 * neither always runs second): wall clock of one inference each — inputs uploaded, every kernel,
 * outputs read back — as a user of `run` sees it. Both get the same seeded inputs (`a`'s inputs;
 * `b` must take the same names, as `optimize`'s output does).
 * @param a the first model (e.g. the input of `optimize`)
 * @param b the second model (e.g. its output)
 * @param opts device, dims, warm-up, repeats, seed
 * @returns medians and noise of both, and their ratio
 * @throws {SaturnError} `NO_GPU` without an adapter; `UNSUPPORTED_OP` when either cannot run on WebGPU
 */
export async function measureModelWebgpu(
  a: Model,
  b: Model,
  opts: MeasureModelWebgpuOptions = {},
): Promise<WebgpuModelComparison> {
  const gpu = opts.gpu ?? await acquireDevice();
  const feeds = randomInputs(a, { seed: opts.seed ?? 0, dims: opts.dims });
  const sa = await createSession(a, { gpu, dims: opts.dims });
  let sb: Session | undefined;
  try {
    sb = await createSession(b, { gpu, dims: opts.dims });
    const sessions = [sa, sb];
    for (let i = 0; i < (opts.warmup ?? 3); i++) for (const s of sessions) await s.run(feeds);
    const times: number[][] = [[], []];
    const repeats = Math.max(1, opts.repeats ?? 21);
    for (let i = 0; i < repeats; i++) {
      for (const j of i % 2 ? [1, 0] : [0, 1]) {
        const t0 = performance.now();
        await sessions[j].run(feeds);
        times[j].push((performance.now() - t0) * 1000);
      }
    }
    const date = new Date().toISOString();
    const [ma, mb] = times.map((xs) => ({ medianUs: median(xs), noiseUs: halfIqr(xs), samples: xs.length, date }));
    return { a: ma, b: mb, ratio: mb.medianUs / ma.medianUs, device: gpu.description };
  } finally {
    sa.destroy();
    sb?.destroy();
  }
}
