/**
 * Measured cost on the WebGPU target: the kernel(s) Saturn's own codegen emits for one node,
 * timed on the current adapter. Each signature becomes the one-node model `measure_ort.ts` builds
 * (`signatureModel`: constant inputs as initializers, small integer constants with their values),
 * planned and prepared by `createSession` — so constant folds, views and the kernels chosen are
 * those a model with that node gets — run `warmup` times, then `repeats` samples: each the sum of
 * the kernels' GPU times from timestamp queries where the adapter has `timestamp-query`, else wall
 * clock per run averaged over `inner` runs (less a one-element run's, the fixed cost paid once per
 * model). The median is the cost, the median absolute deviation the noise. Measurements are
 * cached per (target `webgpu`, adapter fingerprint, signature key) in the user's `CostCache`.
 *
 * Invariants: a signature Saturn's codegen cannot run (an op it lacks, a size past the adapter's
 * limits) is in `failed` with its reason, never an error; the cost model prices it by its prior.
 * A node that needs no kernel (a view, a constant fold) measures 0 µs. `measureModelWebgpu`
 * times two whole models interleaved in one process, for the measured guard.
 * @module
 */
import type { Model } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import type { Value } from "../ir/values.ts";
import { randomInputs } from "../verify/inputs.ts";
import { SaturnError } from "../errors.ts";
import { acquireDevice, type GpuContext } from "../webgpu/device.ts";
import { createSession, type Session } from "../webgpu/session.ts";
import { CostCache, type Measurement } from "./cost_cache.ts";
import { machineFingerprint } from "./fingerprint.ts";
import { mad, median, signatureModel } from "./measure_ort.ts";
import { type NodeSignature, signatureKey } from "./signature.ts";

/** How samples are taken: kernel GPU times from timestamp queries, or wall clock per run. */
export type WebgpuClock = "timestamp" | "wall";

/** Options of `measureWebgpu`. */
export interface MeasureWebgpuOptions {
  /** The device (default: the process's, `acquireDevice`). */
  gpu?: GpuContext;
  /**
   * Where measurements are kept, per (target `webgpu`, adapter fingerprint, signature): those found
   * there are not measured again, new ones are added and saved. Default: the user's (`CostCache()`);
   * `false`: measure everything, keep nothing.
   */
  cache?: CostCache | false;
  /** Untimed runs first (3). */
  warmup?: number;
  /** Timed samples per signature (15). */
  repeats?: number;
  /** Runs per wall-clock sample (10). */
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

/** What `measureWebgpu` found (the shape of `measureOrt`'s result). */
export interface WebgpuMeasurements {
  /** Measured (or cached) signatures by `signatureKey`. */
  measured: Map<string, Measurement>;
  /** Signatures that could not be measured (an op Saturn's codegen lacks, …), with the reason. */
  failed: Map<string, string>;
  /** The fixed cost of one run subtracted from each wall-clock sample, µs (0 with timestamps). */
  runOverheadUs: number;
  /** The adapter fingerprint the measurements are valid for (`machineFingerprint("webgpu")`). */
  fingerprint: string;
  /** How the samples were taken. */
  clock: WebgpuClock;
}

/**
 * The clock used on `gpu`: timestamps where the adapter has `timestamp-query`, unless `clock` says "wall".
 * @param gpu the device
 * @param clock the clock asked for, if any
 * @returns the clock samples are taken with
 */
export function webgpuClock(gpu: GpuContext, clock?: WebgpuClock): WebgpuClock {
  return clock === "wall" || !gpu.features.has("timestamp-query") ? "wall" : "timestamp";
}

/** One sample of a session, µs: summed kernel GPU times, or wall clock per run over `inner` runs. */
async function sample(
  session: Session,
  feeds: ReadonlyMap<string, Value>,
  clock: WebgpuClock,
  inner: number,
): Promise<number> {
  if (clock === "timestamp") {
    await session.run(feeds);
    return (session.lastProfile ?? []).reduce((s, k) => s + k.ms, 0) * 1000;
  }
  const t0 = performance.now();
  for (let i = 0; i < inner; i++) await session.run(feeds);
  return ((performance.now() - t0) * 1000) / inner;
}

/** Samples of one signature's kernels (one 0 when it has none: views, constant folds). */
async function samplesOf(
  sig: NodeSignature,
  gpu: GpuContext,
  clock: WebgpuClock,
  opts: MeasureWebgpuOptions,
): Promise<number[]> {
  const { model, feeds } = signatureModel(sig, opts.seed ?? 0);
  const session = await createSession(model, { gpu, profile: clock === "timestamp" });
  try {
    if (session.kernels === 0) return [0];
    const inner = Math.max(1, opts.inner ?? 10);
    for (let i = 0; i < (opts.warmup ?? 3); i++) await session.run(feeds);
    const xs: number[] = [];
    for (let i = 0; i < Math.max(1, opts.repeats ?? 15); i++) xs.push(await sample(session, feeds, clock, inner));
    return xs;
  } finally {
    session.destroy();
  }
}

/** A one-element Relu's wall clock per run, µs: the fixed cost of a run, paid once per model. */
async function wallOverheadUs(gpu: GpuContext, opts: MeasureWebgpuOptions): Promise<number> {
  const one = { dtype: DataType.FLOAT, dims: [1] };
  const relu: NodeSignature = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [one], outputs: [one] };
  return median(await samplesOf(relu, gpu, "wall", { ...opts, repeats: 9 }));
}

/**
 * Measure `sigs` on the WebGPU target: the kernels Saturn's codegen emits for each node, on the
 * current adapter. Signatures with one key are measured once; those in the cache (same adapter
 * fingerprint) are not measured again.
 * @param sigs node signatures
 * @param opts device, cache, warm-up, repeats, clock, time budget, progress
 * @returns measurements by `signatureKey`, failures with their reason; signatures past the budget are in neither
 * @throws {SaturnError} `NO_GPU` without an adapter
 * @example
 * ```ts
 * import { measureWebgpu } from "./measure_webgpu.ts";
 * import { signatureKey } from "./signature.ts";
 * const relu = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [{ dtype: 1, dims: [64, 64] }], outputs: [{ dtype: 1, dims: [64, 64] }] };
 * if (navigator.gpu && await navigator.gpu.requestAdapter()) {
 *   const { measured } = await measureWebgpu([relu], { cache: false, repeats: 3 });
 *   if (!(measured.get(signatureKey(relu))!.medianUs > 0)) throw new Error("measured");
 * }
 * ```
 */
export async function measureWebgpu(
  sigs: readonly NodeSignature[],
  opts: MeasureWebgpuOptions = {},
): Promise<WebgpuMeasurements> {
  const gpu = opts.gpu ?? await acquireDevice();
  const clock = webgpuClock(gpu, opts.clock);
  const fingerprint = await machineFingerprint("webgpu", { adapter: gpu.adapter.info });
  const cache = opts.cache === false ? undefined : opts.cache ?? new CostCache();
  const unique = new Map(sigs.map((s) => [signatureKey(s), s]));
  const measured = new Map<string, Measurement>(), failed = new Map<string, string>();
  const runOverheadUs = clock === "wall" ? await wallOverheadUs(gpu, opts) : 0;
  const t0 = performance.now();
  let done = 0, added = 0;
  for (const [key, sig] of unique) {
    const hit = cache?.get("webgpu", fingerprint, key);
    if (hit) measured.set(key, hit);
    else if (opts.budgetMs === undefined || performance.now() - t0 <= opts.budgetMs) {
      try {
        const xs = (await samplesOf(sig, gpu, clock, opts)).map((x) => x && Math.max(x - runOverheadUs, 0.1 * x));
        const m = { medianUs: median(xs), noiseUs: mad(xs), samples: xs.length, date: new Date().toISOString() };
        measured.set(key, m);
        cache?.set("webgpu", fingerprint, key, m);
        added++;
      } catch (e) {
        // an op, dtype or size the backend lacks (or a signature that cannot be rebuilt): the prior prices it
        if (e instanceof SaturnError && e.code === "NO_GPU") throw e;
        failed.set(key, (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 200));
      }
    }
    opts.onProgress?.(++done, unique.size);
  }
  if (added) cache?.save();
  return { measured, failed, runOverheadUs, fingerprint, clock };
}

/** Two whole models timed against each other (`measureModelWebgpu`). */
export interface WebgpuModelComparison {
  /** The first model (e.g. the input), wall clock per inference. */
  a: Measurement;
  /** The second model (e.g. the optimized output). */
  b: Measurement;
  /** `b.medianUs / a.medianUs`: below 1, the second is faster. */
  ratio: number;
  /** The adapter both ran on. */
  device: string;
  /** How they were timed. */
  clock: WebgpuClock;
}

/** Options of `measureModelWebgpu`. */
export interface MeasureModelWebgpuOptions {
  /** The device (default: the process's). */
  gpu?: GpuContext;
  /** Sizes of symbolic dims by name (unlisted ones are 1). */
  dims?: Record<string, number>;
  /** Values for inputs (others are drawn, seeded). */
  inputs?: ReadonlyMap<string, Value>;
  /** Untimed runs of each model first (3). */
  warmup?: number;
  /** Timed runs of each model at most (21). */
  repeats?: number;
  /** Timed runs of each model at least, even past the budget (5). */
  minRepeats?: number;
  /** Wall-clock budget of the timed runs, ms (unlimited). */
  budgetMs?: number;
  /** Seed of the random inputs (0). */
  seed?: number;
  /**
   * `"wall"` (default): wall clock of one inference as a caller sees it; `"timestamp"`: the sum of
   * the kernels' GPU times (one compute pass per kernel; less exposed to a busy CPU's scheduling,
   * blind to dispatch and read-back costs). Falls back to the wall clock without `timestamp-query`.
   */
  clock?: WebgpuClock;
}

/**
 * Time two models on the WebGPU target in this process, interleaved (A B, B A, A B, …, so that
 * neither always runs second): wall clock of one inference each — inputs uploaded, every kernel,
 * outputs read back — as a user of `run` sees it. Both get the same seeded inputs (`a`'s inputs;
 * `b` must take the same names, as `optimize`'s output does).
 * @param a the first model (e.g. the input of `optimize`)
 * @param b the second model (e.g. its output)
 * @param opts device, dims, given inputs, warm-up, repeats, budget, seed
 * @returns medians and noise (MAD) of both, and their ratio
 * @throws {SaturnError} `NO_GPU` without an adapter; `UNSUPPORTED_OP` when either cannot run on WebGPU
 */
export async function measureModelWebgpu(
  a: Model,
  b: Model,
  opts: MeasureModelWebgpuOptions = {},
): Promise<WebgpuModelComparison> {
  const gpu = opts.gpu ?? await acquireDevice();
  const feeds = randomInputs(a, { seed: opts.seed ?? 0, dims: opts.dims, given: opts.inputs });
  const clock = opts.clock === "timestamp" ? webgpuClock(gpu) : "wall";
  const sa = await createSession(a, { gpu, dims: opts.dims, profile: clock === "timestamp" });
  let sb: Session | undefined;
  try {
    sb = await createSession(b, { gpu, dims: opts.dims, profile: clock === "timestamp" });
    const sessions = [sa, sb];
    for (let i = 0; i < (opts.warmup ?? 3); i++) for (const s of sessions) await s.run(feeds);
    const times: number[][] = [[], []];
    const repeats = Math.max(1, opts.repeats ?? 21), min = Math.min(repeats, opts.minRepeats ?? 5);
    const end = performance.now() + (opts.budgetMs ?? Infinity);
    for (let i = 0; i < repeats; i++) {
      for (const j of i % 2 ? [1, 0] : [0, 1]) {
        times[j].push(await sample(sessions[j], feeds, clock, 1));
      }
      if (i + 1 >= min && performance.now() > end) break;
    }
    const date = new Date().toISOString();
    const [ma, mb] = times.map((xs) => ({ medianUs: median(xs), noiseUs: mad(xs), samples: xs.length, date }));
    return { a: ma, b: mb, ratio: mb.medianUs / ma.medianUs, device: gpu.description, clock };
  } finally {
    sa.destroy();
    sb?.destroy();
  }
}
