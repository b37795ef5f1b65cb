/**
 * ONNX Runtime CPU latency of three versions of each model: the input, Saturn's `optimize`
 * output (library defaults: target ort, learned cost, the measured guard on), and ONNX Runtime's
 * own "extended" optimizer's output (`optimizedModelFilePath` at level "extended"). All three run
 * in sessions as a user opens them (graphOptimizationLevel "all"), interleaved (A B C, B C A, …) on
 * the same seeded inputs, at 1 thread and at ONNX Runtime's default thread count; medians.
 *
 *     deno run -A bench/ort_speed.ts [--models a,b] [--budget S] [--json]
 *
 * Models: the six in tests/data/models and the three in ../shared/real (skipped when absent), at
 * the sizes their callers use (../shared/real/README.md): PP-OCRv4 det at 640×640, Silero VAD v5
 * with 512 samples at 16 kHz, openWakeWord's mel front end with 1760 samples. Figures go to
 * bench/RESULTS.md; nothing here is asserted.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { optimize } from "../optimize/verified.ts";
import { int64Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { randomInputs } from "../verify/inputs.ts";
import { ORT_QUIET, ortFeeds } from "../verify/ort.ts";
import { mad, median } from "../cost/measure_ort.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = path.resolve(here, "../tests/data/models");
const REAL = path.resolve(here, "../../shared/real");

interface Case {
  name: string;
  file: string;
  /** Sizes of symbolic dims (by name or input:axis). */
  dims?: Record<string, number>;
  /** Inputs given by value. */
  given?: () => Map<string, Value>;
}

const CASES: Case[] = [
  ...["squeezenet1_1", "shufflenet_v2_x0_5", "bert_tiny", "gpt2_tiny", "llama_tiny_dynamo", "vit_tiny_dynamo"]
    .map((name) => ({ name, file: path.join(MODELS, `${name}.onnx`) })),
  {
    name: "ppocrv4_det",
    file: path.join(REAL, "ppocrv4_det.onnx"),
    dims: { "p2o.DynamicDimension.0": 1, "p2o.DynamicDimension.1": 640, "p2o.DynamicDimension.2": 640 },
  },
  {
    name: "silero_vad_v5",
    file: path.join(REAL, "silero_vad_v5.onnx"),
    // anonymous dims: their minted names depend on what was loaded before, so by input:axis
    dims: { "input:0": 1, "input:1": 512, "state:1": 1 },
    given: () => new Map([["sr", int64Tensor([], [16000])]]),
  },
  {
    name: "oww_melspectrogram",
    file: path.join(REAL, "oww_melspectrogram.onnx"),
    dims: { batch_size: 1, samples: 1760 },
  },
];

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string" },
    budget: { type: "string", default: "8" },
    json: { type: "boolean", default: false },
  },
});
const budgetMs = Number(values.budget) * 1000;
const only = values.models?.split(",").map((s) => s.trim());
const note = (s: string) => console.error(s);

type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;

async function open(file: string, threads: number): Promise<Session> {
  const create = ort.InferenceSession.create as (f: string, o: Record<string, unknown>) => Promise<Session>;
  return await create(file, {
    ...ORT_QUIET,
    graphOptimizationLevel: "all",
    ...(threads ? { intraOpNumThreads: threads } : {}),
  });
}

/** Interleaved medians (µs) of the sessions, rotating which runs first. */
async function interleaved(sessions: Session[], feeds: Record<string, ort.Tensor>) {
  for (const s of sessions) for (let i = 0; i < 3; i++) await s.run(feeds);
  const xs: number[][] = sessions.map(() => []);
  const end = performance.now() + budgetMs;
  // the whole budget (at least 7 rounds): tiny models get thousands of rounds, so their medians settle
  for (let i = 0; i < 20_000 && (i < 7 || performance.now() < end); i++) {
    for (let k = 0; k < sessions.length; k++) {
      const j = (i + k) % sessions.length;
      const t0 = performance.now();
      await sessions[j].run(feeds);
      xs[j].push((performance.now() - t0) * 1000);
    }
  }
  return xs.map((x) => ({ medianUs: median(x), noiseUs: mad(x), samples: x.length }));
}

const rows: Record<string, unknown>[] = [];
const tmp = Deno.makeTempDirSync({ prefix: "saturn-ort-speed-" });
for (const c of CASES) {
  if (only && !only.includes(c.name)) continue;
  try {
    Deno.statSync(c.file);
  } catch {
    note(`${c.name}: ${c.file} absent, skipped`);
    continue;
  }
  const model = loadOnnx(c.file);
  const given = c.given?.();
  const inputs = randomInputs(model, { seed: 1, dims: c.dims, given, intHigh: 100 });
  // the sizes by the dims' names, as node signatures read them (input:axis resolved through the model)
  const named: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.dims ?? {})) {
    const [input, axis] = k.split(":");
    if (axis === undefined) named[k] = v;
    else {
      const t = model.graph.inputs.find((i) => i.name === input)?.type;
      const d = t?.kind === "tensor" ? t.shape?.[Number(axis)] : undefined;
      if (typeof d === "string") named[d] = v;
    }
  }
  const t0 = performance.now();
  const opt = await optimize(model, { dims: named, guardInputs: given });
  const optMs = performance.now() - t0;
  const saturnFile = path.join(tmp, `${c.name}.saturn.onnx`), extFile = path.join(tmp, `${c.name}.ext.onnx`);
  saveOnnx(opt.model, saturnFile);
  const ext = await ort.InferenceSession.create(c.file, {
    ...ORT_QUIET,
    graphOptimizationLevel: "extended",
    optimizedModelFilePath: extFile,
  } as ort.InferenceSession.SessionOptions);
  await ext.release();
  const feeds = ortFeeds(ort.Tensor, inputs);
  for (const threads of [1, 0]) {
    const sessions = [await open(c.file, threads), await open(saturnFile, threads), await open(extFile, threads)];
    let timings;
    try {
      timings = await interleaved(sessions, feeds);
    } catch (e) {
      // name which of the three failed, and go on with the next model
      const which: string[] = [];
      for (const [i, s] of sessions.entries()) {
        try {
          await s.run(feeds);
        } catch {
          which.push(["input", "Saturn", "extended"][i]);
        }
      }
      note(
        `${c.name} (threads ${threads || "default"}): ${which.join(", ")} failed: ${
          (e as Error).message.split("\n")[0]
        }`,
      );
      for (const s of sessions) await s.release();
      continue;
    }
    const [inp, sat, ex] = timings;
    for (const s of sessions) await s.release();
    const row = {
      model: c.name,
      threads: threads || "default",
      inputMs: inp.medianUs / 1000,
      saturnMs: sat.medianUs / 1000,
      extendedMs: ex.medianUs / 1000,
      saturnRatio: sat.medianUs / inp.medianUs,
      extendedRatio: ex.medianUs / inp.medianUs,
      noisePct: 100 * Math.max(inp.noiseUs / inp.medianUs, sat.noiseUs / sat.medianUs),
      samples: inp.samples,
      nodes: `${model.graph.nodes.length} → ${opt.model.graph.nodes.length}`,
      guard: opt.guard ? `${opt.guard.action} ×${opt.guard.ratio.toFixed(3)}` : "-",
      optimizeS: optMs / 1000,
    };
    rows.push(row);
    note(JSON.stringify(row));
  }
}
Deno.removeSync(tmp, { recursive: true });

const geomean = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / Math.max(1, xs.length));
if (values.json) console.log(JSON.stringify(rows, null, 1));
else {
  console.log(
    "| model | threads | input ms | Saturn ms | ORT extended ms | Saturn / input | extended / input | noise (MAD) | nodes | guard |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const f = (x: unknown, d = 3) => typeof x === "number" ? x.toFixed(d) : String(x);
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${r.threads} | ${f(r.inputMs)} | ${f(r.saturnMs)} | ${f(r.extendedMs)} | ${f(r.saturnRatio)} | ${
        f(r.extendedRatio)
      } | ${f(r.noisePct, 1)}% | ${r.nodes} | ${r.guard} |`,
    );
  }
  for (const t of [1, "default"]) {
    const sel = rows.filter((r) => r.threads === t);
    console.log(
      `\nthreads ${t}: geomean Saturn / input ${geomean(sel.map((r) => r.saturnRatio as number)).toFixed(3)}, ` +
        `extended / input ${geomean(sel.map((r) => r.extendedRatio as number)).toFixed(3)}, ` +
        `Saturn / extended ${
          geomean(sel.map((r) => (r.saturnMs as number) / (r.extendedMs as number))).toFixed(3)
        }; worst Saturn / input ${Math.max(...sel.map((r) => r.saturnRatio as number)).toFixed(3)}`,
    );
  }
}
