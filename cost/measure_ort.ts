/**
 * Latency on ONNX Runtime (onnxruntime-node, CPU), measured.
 *
 * - `measureOrt(sigs, opts)`: each node signature becomes a one-node model — constant inputs as
 *   initializers (small integer constants with the signature's values, others seeded random),
 *   the rest fed seeded random values — run in a session as a user would open it
 *   (graphOptimizationLevel "all", `intraOpNumThreads` = `threads`). Warm-up, then samples until
 *   the noise is small (MAD under `NOISE_STOP` of the median) or the signature's share of the
 *   budget is spent. ONNX Runtime's fixed cost of one `run` call from JavaScript (measured on a
 *   one-element Relu, `runOverheadUs`) is subtracted: in a whole model it is paid once, not per node.
 * - `measureModelOrt(a, b, opts)`: two whole models timed interleaved (A B A B …) on the same
 *   inputs, so that a machine's load falls on both alike; medians and noise of each.
 *
 * Nothing here decides anything: `cost/measured.ts` prices nodes with these figures and
 * `optimize/guard.ts` compares models with them.
 * @module
 */
import type { Model, Node } from "../ir/graph.ts";
import type { Attribute } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, sizeOf, type Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { encodeModel } from "../onnx/encode.ts";
import { opSchema } from "../rules/op_schema.ts";
import { rng } from "../verify/inputs.ts";
import { ORT_QUIET, ortFeeds } from "../verify/ort.ts";
import type { Measurement } from "./cost_cache.ts";
import { type NodeSignature, signatureKey } from "./signature.ts";

/** Stop sampling a signature once the MAD is below this fraction of the median. */
export const NOISE_STOP = 0.03;
/** Samples of a signature at least (unless the budget is spent) and at most by default. */
export const MIN_SAMPLES = 5;
/** Default most samples per signature. */
export const DEFAULT_REPEATS = 25;
/** Largest tensor (elements) a one-node model is built with: larger ones are not measured. */
export const MAX_MEASURED_ELEMENTS = 1 << 26;

/** Options of `measureOrt`. */
export interface MeasureOrtOptions {
  /** ONNX Runtime's intra-op threads (0 or absent: its default). */
  threads?: number;
  /** Samples per signature at most (`DEFAULT_REPEATS`). */
  repeats?: number;
  /** Wall-clock budget of the whole call, ms (default: 200 ms per signature). */
  budgetMs?: number;
  /** Seed of the random values (0). */
  seed?: number;
  /** Called after each signature. */
  onProgress?: (done: number, total: number) => void;
}

/** What `measureOrt` found: a measurement per signature key, or why there is none. */
export interface OrtMeasurements {
  /** Measured signatures by `signatureKey`. */
  measured: Map<string, Measurement>;
  /** Signatures that could not be measured (no such kernel, too large, …), with the reason. */
  failed: Map<string, string>;
  /** ONNX Runtime's fixed cost of one run from JavaScript, µs (subtracted from every measurement). */
  runOverheadUs: number;
}

/** Median of numbers (sorted copy). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median absolute deviation from the median. */
export function mad(xs: readonly number[]): number {
  const m = median(xs);
  return median(xs.map((x) => Math.abs(x - m)));
}

const INTEGER = new Set<number>([
  DataType.INT8,
  DataType.UINT8,
  DataType.INT16,
  DataType.UINT16,
  DataType.INT32,
  DataType.UINT32,
  DataType.INT64,
  DataType.UINT64,
  DataType.BOOL,
]);

/** Seeded values of a tensor: floats in [-1, 1), integers and booleans in {0, 1} (valid indices). */
function randomTensor(dtype: number, dims: number[], next: () => number, values?: number[]): Tensor {
  const n = sizeOf(dims);
  const v = values ?? Array.from({ length: n }, () => INTEGER.has(dtype) ? Math.floor(next() * 2) : next() * 2 - 1);
  return fromNumbers(dtype as DataType, dims, v);
}

function toAttribute(name: string, value: NodeSignature["attrs"][string], kind: string | undefined): Attribute {
  if (typeof value === "string") return { name, type: "string", value };
  if (Array.isArray(value)) {
    if (value.length && typeof value[0] === "string") return { name, type: "strings", value: value as string[] };
    return kind === "floats"
      ? { name, type: "floats", value: value as number[] }
      : { name, type: "ints", value: value as number[] };
  }
  if (kind === "float") return { name, type: "float", value };
  return { name, type: "int", value };
}

/**
 * The one-node model of a signature, and values for its fed inputs.
 * @param sig the signature
 * @param seed seed of the random values
 * @returns the model and its feeds
 * @throws {Error} when the signature cannot be built (an attribute of no known kind, too large)
 */
export function signatureModel(sig: NodeSignature, seed = 0): { model: Model; feeds: Map<string, Value> } {
  const next = rng(seed);
  const schema = opSchema(sig.domain, sig.op);
  const attributes: Attribute[] = [];
  for (const [name, value] of Object.entries(sig.attrs)) {
    const kind = schema?.attrs.get(name);
    if (kind === "tensor" || kind === "graph" || (typeof value === "string" && value.startsWith("tensor["))) {
      throw new Error(`attribute ${name} of kind ${kind} is not rebuilt`);
    }
    attributes.push(toAttribute(name, value, kind === "dtype" ? "int" : kind));
  }
  const inputs: Model["graph"]["inputs"] = [],
    initializers = new Map<string, Tensor>(),
    feeds = new Map<string, Value>();
  const names = sig.inputs.map((t, i) => {
    if (!t) return "";
    if (sizeOf(t.dims) > MAX_MEASURED_ELEMENTS) throw new Error(`input ${i} has ${sizeOf(t.dims)} elements`);
    const name = `i${i}`, value = randomTensor(t.dtype, t.dims, next, t.values);
    if (t.constant) initializers.set(name, value);
    else {
      inputs.push({ name, type: { kind: "tensor", dtype: t.dtype as DataType, shape: t.dims } });
      feeds.set(name, value);
    }
    return name;
  });
  while (names.length && names[names.length - 1] === "") names.pop();
  const outputs = sig.outputs.map((_, i) => `o${i}`);
  const node: Node = { name: "n", opType: sig.op, domain: sig.domain, inputs: names, outputs, attributes };
  const opsetImports = [{ domain: "", version: sig.domain === "" ? sig.opset : 17 }];
  if (sig.domain !== "") opsetImports.push({ domain: sig.domain, version: sig.opset });
  const model: Model = {
    irVersion: 8,
    opsetImports,
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name: "measure",
      nodes: [node],
      inputs,
      outputs: sig.outputs.map((t, i) => ({
        name: outputs[i],
        type: { kind: "tensor", dtype: t.dtype as DataType, shape: t.dims },
      })),
      initializers,
      sparseInitializers: [],
      valueInfo: [],
    },
  };
  return { model, feeds };
}

type Session = { run(feeds: unknown, opts?: unknown): Promise<unknown>; release(): Promise<void> };

async function openSession(bytes: Uint8Array | string, threads: number | undefined): Promise<Session> {
  const ort = await import("onnxruntime-node");
  const create = ort.InferenceSession.create as (
    m: Uint8Array | string,
    o: Record<string, unknown>,
  ) => Promise<Session>;
  return await create(bytes, {
    ...ORT_QUIET,
    graphOptimizationLevel: "all",
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
}

async function ortFeedsOf(inputs: ReadonlyMap<string, Value>): Promise<Record<string, unknown>> {
  const ort = await import("onnxruntime-node");
  return ortFeeds(ort.Tensor, inputs);
}

/** Samples of one session: µs per run, until the noise is small, `repeats` or `deadline`. */
async function sample(session: Session, feeds: unknown, repeats: number, deadline: number): Promise<number[]> {
  const RUN = { logSeverityLevel: 4 };
  // warm-up: first runs allocate and pre-pack weights
  for (let i = 0; i < 2; i++) await session.run(feeds, RUN);
  const xs: number[] = [];
  while (xs.length < repeats) {
    const t0 = performance.now();
    await session.run(feeds, RUN);
    xs.push((performance.now() - t0) * 1000);
    if (xs.length >= MIN_SAMPLES && (mad(xs) <= NOISE_STOP * median(xs) || performance.now() > deadline)) break;
  }
  return xs;
}

/**
 * ONNX Runtime's fixed cost of one `run` call from JavaScript (a one-element Relu), µs.
 * @param threads ONNX Runtime's intra-op threads
 * @returns the median over a few dozen runs
 */
export async function runOverheadUs(threads?: number): Promise<number> {
  const sig: NodeSignature = {
    op: "Relu",
    domain: "",
    opset: 17,
    attrs: {},
    inputs: [{ dtype: DataType.FLOAT, dims: [1] }],
    outputs: [{ dtype: DataType.FLOAT, dims: [1] }],
  };
  const { model, feeds } = signatureModel(sig);
  const session = await openSession(encodeModel(model).bytes, threads);
  try {
    return median(await sample(session, await ortFeedsOf(feeds), 40, Infinity));
  } finally {
    await session.release();
  }
}

/**
 * Measure each distinct signature's latency on ONNX Runtime CPU.
 * @param sigs node signatures (duplicates measured once)
 * @param opts threads, samples, budget, seed, progress
 * @returns measurements by `signatureKey`, failures with their reason, the run overhead subtracted
 * @example
 * ```ts
 * import { measureOrt } from "./measure_ort.ts";
 * import { signatureKey } from "./signature.ts";
 * const relu = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [{ dtype: 1, dims: [64, 64] }], outputs: [{ dtype: 1, dims: [64, 64] }] };
 * const { measured } = await measureOrt([relu], { threads: 1, repeats: 5 });
 * if (!(measured.get(signatureKey(relu))!.medianUs >= 0)) throw new Error("measured");
 * ```
 */
export async function measureOrt(
  sigs: readonly NodeSignature[],
  opts: MeasureOrtOptions = {},
): Promise<OrtMeasurements> {
  const unique = new Map<string, NodeSignature>();
  for (const s of sigs) unique.set(signatureKey(s), s);
  const repeats = opts.repeats ?? DEFAULT_REPEATS;
  const start = performance.now();
  const end = start + (opts.budgetMs ?? 200 * unique.size + 500);
  const overhead = await runOverheadUs(opts.threads);
  const measured = new Map<string, Measurement>(), failed = new Map<string, string>();
  let done = 0;
  for (const [key, sig] of unique) {
    const left = unique.size - done;
    // each signature gets an equal share of what is left of the budget
    const deadline = performance.now() + Math.max(0, end - performance.now()) / left;
    try {
      const { model, feeds } = signatureModel(sig, opts.seed ?? 0);
      const session = await openSession(encodeModel(model).bytes, opts.threads);
      try {
        const xs = await sample(session, await ortFeedsOf(feeds), repeats, deadline);
        const m = median(xs);
        measured.set(key, {
          // never below a tenth of what was seen: the overhead is itself a noisy estimate
          medianUs: Math.max(m - overhead, 0.1 * m, 0.05),
          noiseUs: mad(xs),
          samples: xs.length,
          date: new Date().toISOString(),
        });
      } finally {
        await session.release();
      }
    } catch (e) {
      failed.set(key, (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 200));
    }
    opts.onProgress?.(++done, unique.size);
  }
  return { measured, failed, runOverheadUs: overhead };
}

/** Latency statistics of one model in `measureModelOrt`. */
export interface ModelTiming {
  /** Median latency of a run, µs. */
  medianUs: number;
  /** Median absolute deviation of the samples, µs. */
  noiseUs: number;
  /** Samples. */
  samples: number;
}

/** Options of `measureModelOrt`. */
export interface MeasureModelOptions {
  /** Values for every input both models take. */
  inputs: ReadonlyMap<string, Value>;
  /** ONNX Runtime's intra-op threads (0 or absent: its default). */
  threads?: number;
  /** Pairs of runs at most (10,000: the budget decides for all but the slowest models). */
  repeats?: number;
  /** Pairs of runs at least, unless the budget is spent first (5). */
  minRepeats?: number;
  /** Wall-clock budget of the timed runs, ms (2000). */
  budgetMs?: number;
  /** Warm-up runs of each model at least (10; warm-up lasts a tenth of the budget). */
  warmup?: number;
}

/**
 * Two whole models timed interleaved on ONNX Runtime CPU: A B A B …, the same inputs, medians.
 * @param a the first model (a file, or its bytes)
 * @param b the second model
 * @param opts inputs, threads, repeats, budget
 * @returns each model's timing
 * @throws {Error} ONNX Runtime's own, when a model does not load or run (the caller decides)
 */
export async function measureModelOrt(
  a: string | Uint8Array,
  b: string | Uint8Array,
  opts: MeasureModelOptions,
): Promise<{ a: ModelTiming; b: ModelTiming }> {
  const sa = await openSession(a, opts.threads);
  try {
    const sb = await openSession(b, opts.threads);
    try {
      const feeds = await ortFeedsOf(opts.inputs);
      const RUN = { logSeverityLevel: 4 };
      // warm up for the first tenth of the budget (at least `warmup` runs each): a fresh session's
      // first runs grow its memory arena and fault in pages, and are slower than a user's steady state
      const budget = opts.budgetMs ?? 2000, warmEnd = performance.now() + budget / 10;
      for (let i = 0; i < 1000 && (i < (opts.warmup ?? 10) || performance.now() < warmEnd); i++) {
        await sa.run(feeds, RUN), await sb.run(feeds, RUN);
      }
      const xa: number[] = [], xb: number[] = [];
      const end = performance.now() + budget * 0.9;
      const repeats = opts.repeats ?? 10_000, min = opts.minRepeats ?? 5;
      for (let i = 0; i < repeats; i++) {
        // alternate which goes first, so neither always follows the other
        for (const [s, xs] of i % 2 ? [[sb, xb], [sa, xa]] as const : [[sa, xa], [sb, xb]] as const) {
          const t0 = performance.now();
          await s.run(feeds, RUN);
          xs.push((performance.now() - t0) * 1000);
        }
        if (i + 1 >= min && performance.now() > end) break;
      }
      const stats = (xs: number[]): ModelTiming => ({ medianUs: median(xs), noiseUs: mad(xs), samples: xs.length });
      return { a: stats(xa), b: stats(xb) };
    } finally {
      await sb.release();
    }
  } finally {
    await sa.release();
  }
}
