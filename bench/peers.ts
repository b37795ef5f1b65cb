/**
 * The peers `saturn bench` measures Saturn against, in the same process on the same inputs:
 * ONNX Runtime Web's WebGPU provider (`npm:onnxruntime-web`, on the adapter Deno's WebGPU
 * gives it) and onnxruntime-node on the CPU. Each timing is one inference with its outputs
 * read back to the CPU, median over `iters` after `warmup` runs; the first run (shader and
 * session set-up) is reported separately.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import type { Value } from "../ir/values.ts";
import { encodeModel } from "../onnx/encode.ts";
import { ORT_QUIET, ortFeeds } from "../verify/ort.ts";

/** Latencies of one executor. */
export interface Timing {
  name: string;
  /** median ms per inference (outputs on the CPU) */
  median: number;
  /** every timed run, ms */
  runs: number[];
  /** the first run, ms (includes compiling shaders / planning) */
  first: number;
  /** session creation, ms */
  setup: number;
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Time an async inference function. */
export async function timeRuns(
  name: string,
  setup: number,
  run: () => Promise<unknown>,
  opts: { iters: number; warmup: number },
): Promise<Timing> {
  let t = performance.now();
  await run();
  const first = performance.now() - t;
  for (let i = 0; i < opts.warmup; i++) await run();
  const runs: number[] = [];
  for (let i = 0; i < opts.iters; i++) {
    t = performance.now();
    await run();
    runs.push(performance.now() - t);
  }
  return { name, median: median(runs), runs, first, setup };
}

/**
 * The model as one buffer for ONNX Runtime Web, which cannot read external data files from disk
 * ("Module.MountedFiles is not available"): weights are written inline (models under 2 GiB).
 */
export function ortWebBytes(model: Model): Uint8Array {
  const enc = encodeModel(model);
  if (enc.external) {
    throw new SaturnError("BAD_INPUT", "ONNX Runtime Web cannot take a model past 2 GiB as one buffer (use --vs ort)");
  }
  return enc.bytes;
}

/** ONNX Runtime Web (WebGPU execution provider) on the model's bytes (`ortWebBytes`). */
export async function timeOrtWeb(
  bytes: Uint8Array,
  inputs: ReadonlyMap<string, Value>,
  opts: { iters: number; warmup: number },
): Promise<Timing> {
  const ort = await import("onnxruntime-web/webgpu");
  ort.env.logLevel = "error";
  const t0 = performance.now();
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"], logSeverityLevel: 3 });
  } catch (e) {
    throw new SaturnError(
      "BAD_INPUT",
      `ONNX Runtime Web cannot load the model: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const setup = performance.now() - t0;
  const feeds = ortFeeds(ort.Tensor, inputs);
  // outputs land on the CPU (the default output location), as Saturn's do
  const timing = await timeRuns("ortweb", setup, () => session.run(feeds), opts);
  await session.release();
  return timing;
}

/** onnxruntime-node on the CPU (graph optimizations "all", default threads). */
export async function timeOrtNode(
  file: string,
  inputs: ReadonlyMap<string, Value>,
  opts: { iters: number; warmup: number },
): Promise<Timing> {
  const ort = await import("onnxruntime-node");
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(file, { ...ORT_QUIET, graphOptimizationLevel: "all" });
  const setup = performance.now() - t0;
  const feeds = ortFeeds(ort.Tensor, inputs);
  const timing = await timeRuns("ort", setup, () => session.run(feeds), opts);
  await session.release();
  return timing;
}
