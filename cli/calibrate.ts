/**
 * `saturn calibrate --target ort|webgpu [--budget S] [--threads N] [--json]`: measure node
 * signatures on this machine (the six test models' candidates and synthetic variations; what the
 * measured-cost cache already holds is not measured again), train the learned cost model, judge it
 * on held-out data, and save it to the user's cache folder, where `optimize` finds it.
 *
 * The budget (default `DEFAULT_BUDGET_S`) bounds the whole command's wall time: collecting
 * candidates and training take their share, measuring gets the rest. Measurements are saved to
 * the cache as they come (an interrupted run keeps them); the model file is replaced atomically,
 * so an interrupted run leaves the previous model.
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { SaturnError } from "../errors.ts";
import { type CliIO, progress } from "./io.ts";
import { loadOnnx } from "../onnx/load.ts";
import { collectSamples, type Measured, type Measurer } from "../cost/training.ts";
import { saveCostModel, trainCostModel, userModelPath } from "../cost/learned.ts";
import type { NodeSignature } from "../cost/signature.ts";
import type { Model } from "../ir/graph.ts";
import { signatureKey } from "../cost/signature.ts";
import { CostCache } from "../cost/cost_cache.ts";
import { cpuModel, machineFingerprint } from "../cost/fingerprint.ts";

/** The default budget of `calibrate`, seconds: within ten minutes on a 2-core machine. */
export const DEFAULT_BUDGET_S = 480;

/** Seconds kept for training and saving out of the budget. */
const TRAIN_RESERVE_S = 45;

/** The models whose candidates are measured (the repository's six test models). */
export const CALIBRATION_MODELS: readonly string[] = [
  "squeezenet1_1",
  "shufflenet_v2_x0_5",
  "bert_tiny",
  "gpt2_tiny",
  "llama_tiny_dynamo",
  "vit_tiny_dynamo",
];

/** Measure what the cache lacks in chunks, saving after each chunk. */
function cachedMeasurer(
  target: string,
  fingerprint: string,
  cache: CostCache,
  measure: (
    sigs: NodeSignature[],
    budgetMs: number,
  ) => Promise<Map<string, Measured & { samples: number; date: string }>>,
): Measurer {
  return async (sigs, { budgetMs, onProgress }) => {
    const out = new Map<string, Measured>();
    const missing: NodeSignature[] = [];
    for (const s of sigs) {
      const key = signatureKey(s);
      const m = cache.get(target, fingerprint, key);
      if (m) out.set(key, m);
      else if (!missing.some((x) => signatureKey(x) === key)) missing.push(s);
    }
    const end = performance.now() + budgetMs;
    const CHUNK = 40;
    for (let k = 0; k < missing.length; k += CHUNK) {
      const left = end - performance.now();
      if (left <= 0) break;
      const chunk = missing.slice(k, k + CHUNK);
      const got = await measure(chunk, Math.min(left, chunk.length * 400));
      for (const [key, m] of got) {
        cache.set(target, fingerprint, key, m);
        out.set(key, m);
      }
      cache.save();
      onProgress?.(out.size, sigs.length);
    }
    return out;
  };
}

/**
 * The measurer of a target on this machine, through the measured-cost cache, with the machine in
 * words and its fingerprint (also used by `bench/cost_model.ts`).
 */
export async function calibrationMeasurer(
  target: "ort" | "webgpu",
  threads: number | undefined,
  cache: CostCache,
): Promise<{ measure: Measurer; machine: string; fingerprint: string }> {
  if (target === "ort") {
    const { measureOrt } = await import("../cost/measure_ort.ts");
    const fingerprint = await machineFingerprint("ort", { threads });
    const machine = `${cpuModel()}, ${navigator.hardwareConcurrency} logical cores, ONNX Runtime CPU, ` +
      `${threads ? `${threads} threads` : "default threads"}`;
    const measure = cachedMeasurer("ort", fingerprint, cache, async (sigs, budgetMs) => {
      return (await measureOrt(sigs, { threads, budgetMs })).measured;
    });
    return { measure, machine, fingerprint };
  }
  const { measureWebgpu } = await import("../cost/measure_webgpu.ts");
  const { acquireDevice } = await import("../webgpu/device.ts");
  const gpu = await acquireDevice();
  const fingerprint = await machineFingerprint("webgpu", { adapter: gpu.adapter.info });
  const measure = cachedMeasurer("webgpu", fingerprint, cache, async (sigs, budgetMs) => {
    return (await measureWebgpu(sigs, { gpu, budgetMs, cache: false })).measured;
  });
  return { measure, machine: `WebGPU: ${gpu.description}`, fingerprint };
}

/** The calibration models that are present (the repository's test models; absent from a package). */
export function calibrationModels(): { name: string; model: Model }[] {
  return CALIBRATION_MODELS.map((name) => ({
    name,
    file: new URL(`../tests/data/models/${name}.onnx`, import.meta.url),
  }))
    .filter(({ file }) => {
      try {
        return file.protocol === "file:" && Deno.statSync(file).isFile;
      } catch {
        return false;
      }
    })
    .map(({ name, file }) => ({ name, model: loadOnnx(fileURLToPath(file)) }));
}

/** The short commit of the checkout Saturn runs from, when it is one. */
export function gitCommit(): string | undefined {
  try {
    const dir = new URL("..", import.meta.url);
    if (dir.protocol !== "file:") return undefined;
    const r = new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: dir, stderr: "null" })
      .outputSync();
    return r.success ? new TextDecoder().decode(r.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Run the command; returns the exit code. */
export async function calibrateCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      target: { type: "string", default: "ort" },
      budget: { type: "string", default: String(DEFAULT_BUDGET_S) },
      threads: { type: "string" },
      synthetic: { type: "string", default: "1600" },
      out: { type: "string", short: "o" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length) throw new SaturnError("BAD_ARGUMENT", `calibrate takes no files (got '${positionals[0]}')`);
  const target = values.target;
  if (target !== "ort" && target !== "webgpu") {
    throw new SaturnError("BAD_ARGUMENT", `--target must be ort or webgpu, not '${target}'`);
  }
  const budgetS = Number(values.budget);
  if (!Number.isFinite(budgetS) || budgetS <= 0) {
    throw new SaturnError("BAD_ARGUMENT", `--budget must be a positive number of seconds, not '${values.budget}'`);
  }
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--threads must be a whole number, not '${values.threads}'`);
  }
  const synthetic = Number(values.synthetic);
  if (!(Number.isInteger(synthetic) && synthetic >= 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--synthetic must be a whole number, not '${values.synthetic}'`);
  }
  const t0 = performance.now();
  const bar = progress(io, `calibrate ${target}`);
  const cache = new CostCache(undefined, (w) => io.err(`saturn: warning: ${w}`));
  const { measure, machine, fingerprint } = await calibrationMeasurer(target, threads, cache);
  const models = calibrationModels();
  // measuring gets what collecting leaves, less the training reserve
  let collectStart = 0;
  const samples = await collectSamples({
    target,
    models,
    synthetic,
    measure: (sigs, o) => {
      const spent = (performance.now() - t0) / 1000;
      const budgetMs = Math.max(5, budgetS - spent - TRAIN_RESERVE_S) * 1000;
      collectStart = spent;
      return measure(sigs, { ...o, budgetMs });
    },
    budgetMs: budgetS * 1000,
    onProgress: (line) => bar.update(line),
  });
  bar.update(`training on ${samples.length} samples`);
  let file;
  try {
    file = trainCostModel(samples, { target, machine, fingerprint, commit: gitCommit() });
  } catch (e) {
    bar.clear();
    if (e instanceof RangeError) {
      throw new SaturnError("BAD_ARGUMENT", `calibrate measured too little to train (${e.message}): raise --budget`);
    }
    throw e;
  }
  const out = values.out ?? userModelPath(target);
  saveCostModel(out, file);
  bar.clear();
  const seconds = (performance.now() - t0) / 1000;
  const h = file.provenance.metrics.heldOut, tr = file.provenance.metrics.train;
  if (values.json) {
    io.json({
      target,
      file: out,
      seconds: +seconds.toFixed(1),
      collectSeconds: +collectStart.toFixed(1),
      samples: samples.length,
      provenance: file.provenance,
    });
  } else {
    io.out(`calibrated ${target} on ${machine}`);
    io.out(
      `  ${samples.length} measured signatures: ${file.provenance.data.train} to train, ${file.provenance.data.test} held out`,
    );
    io.out(
      `  held out: Spearman ${h.spearman.toFixed(3)}, pairwise order ${(100 * h.pairwise).toFixed(1)}%, ` +
        `median error ×${(2 ** h.medianLog2Error).toFixed(2)} (training: Spearman ${tr.spearman.toFixed(3)})`,
    );
    io.out(`  saved ${out} (${seconds.toFixed(0)} s)`);
  }
  return 0;
}
