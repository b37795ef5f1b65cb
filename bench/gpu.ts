/**
 * The issue-5 benchmark on a GPU machine: for each model, Saturn on WebGPU vs ONNX Runtime Web's
 * WebGPU provider (same process, same adapter) vs onnxruntime-node on the CPU — median ms of one
 * inference with outputs read back — plus Saturn's GPU time (sum of per-kernel timestamps) and a
 * correctness check against onnxruntime-node. With `--optimize`, Saturn runs the model after `optimize` (shipped
 * packs) while the peers run the original. With `--f16`, Saturn is also timed with half-precision
 * storage (checked against ORT within 1e-2). With `--no-ortcpu`, onnxruntime-node is neither timed nor
 * used for the check (a packed run without its native library; `bench/gpu_torch.py --ort` times ONNX
 * Runtime's CPU provider from Python instead). Writes `$OUT/gpu_bench.json` when `$OUT` is set.
 *
 *     deno run -A bench/gpu.ts [--models DIR/a.onnx,…] [--iters N] [--warmup N] [--optimize] [--f16] [--no-ortcpu]
 * @module
 */
import { parseArgs } from "node:util";
// a static import so that a packed DENO_DIR (../shared/gpu/pack.sh bench/gpu.ts) holds ONNX Runtime Web;
// onnxruntime-node is imported where it is used (`--no-ortcpu` runs without its native library)
import "onnxruntime-web/webgpu";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { createSession } from "../webgpu/session.ts";
import { compareTensors } from "../conformance/compare.ts";
import { DEFAULT_LIMITS, optimizeModel } from "../optimize/optimize.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { saveOnnx } from "../onnx/load.ts";
import { median, ortWebBytes, timeOrtNode, timeOrtWeb, timeRuns, type Timing } from "./peers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string" },
    iters: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
    "no-ortweb": { type: "boolean", default: false },
    "no-ortcpu": { type: "boolean", default: false },
    optimize: { type: "boolean", default: false },
    f16: { type: "boolean", default: false },
  },
});
const files = (values.models ?? "").split(",").filter(Boolean);
const opts = { iters: Number(values.iters), warmup: Number(values.warmup) };
const rows: Record<string, unknown>[] = [];
const out = Deno.env.get("OUT");
const save = () =>
  out &&
  Deno.writeTextFileSync(`${out}/gpu_bench.json`, JSON.stringify({ date: new Date().toISOString(), rows }, null, 1));

for (const given of files) {
  const name = given.split("/").pop()!.replace(/\.onnx$/, "") + (values.optimize ? " (optimized)" : "");
  const row: Record<string, unknown> = { model: name };
  rows.push(row);
  try {
    let file = given;
    if (values.optimize) {
      // the shipped packs (all verified; their verdicts are committed), as `saturn optimize` runs them
      const t = performance.now();
      const { model: opt, report } = await optimizeModel(loadOnnx(given), {
        rules: await loadRulePacks(),
        library: ruleLibrary,
        defaults: attrDefaults,
        cost: new AnalyticalCost(),
        ...DEFAULT_LIMITS,
      });
      file = `${Deno.makeTempDirSync()}/${name.split(" ")[0]}.opt.onnx`;
      saveOnnx(opt, file);
      const n = (h: Record<string, number>) => Object.values(h).reduce((a, b) => a + b, 0);
      row.nodes = `${n(report.nodesBefore)} → ${n(report.nodesAfter)}`;
      row.optimizeMs = Math.round(performance.now() - t);
    }
    const model = loadOnnx(file);
    const inputs = randomInputs(model, { seed: 0, intHigh: 100 });
    const t0 = performance.now();
    const s = await createSession(model);
    row.device = s.device;
    row.kernels = s.kernels;
    row.peakMiB = +(s.peakBytes / 2 ** 20).toFixed(1);
    const setup = performance.now() - t0;
    const saturn: Timing = await timeRuns("saturn", setup, () => s.run(inputs), opts);
    // correctness against ONNX Runtime on the CPU
    const got = await s.run(inputs);
    const want = values["no-ortcpu"] ? new Map() : await runOrt(given, inputs); // the original model
    const bad: string[] = [];
    for (const [k, v] of want) {
      const why = compareTensors(got.get(k)!, v, { atol: 1e-4, rtol: 1e-3 });
      if (why) bad.push(`${k}: ${why}`);
    }
    row.matchesOrt = values["no-ortcpu"] ? "not checked" : bad.length ? bad.join("; ").slice(0, 300) : true;
    s.destroy();
    // GPU time per inference from timestamp queries
    const p = await createSession(model, { profile: true });
    const gpuMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      await p.run(inputs);
      gpuMs.push((p.lastProfile ?? []).reduce((a, k) => a + k.ms, 0));
    }
    p.destroy();
    row.saturnGpuMs = +median(gpuMs).toFixed(3);
    row.saturnMs = +saturn.median.toFixed(3);
    row.saturnFirstMs = +saturn.first.toFixed(1);
    save();
    if (values.f16) {
      const h = await createSession(model, { f16: true });
      const half = await timeRuns("saturn-f16", 0, () => h.run(inputs), opts);
      const gotH = await h.run(inputs);
      const badH: string[] = [];
      for (const [k, v] of want) {
        const why = compareTensors(gotH.get(k)!, v, { atol: 1e-2, rtol: 1e-2 });
        if (why) badH.push(`${k}: ${why}`);
      }
      h.destroy();
      const hp = await createSession(model, { profile: true, f16: true });
      const gpuH: number[] = [];
      for (let i = 0; i < 5; i++) {
        await hp.run(inputs);
        gpuH.push((hp.lastProfile ?? []).reduce((a, k) => a + k.ms, 0));
      }
      hp.destroy();
      row.saturnF16Ms = +half.median.toFixed(3);
      row.saturnF16GpuMs = +median(gpuH).toFixed(3);
      row.matchesOrtF16 = badH.length ? badH.join("; ").slice(0, 300) : true;
      save();
    }
    if (!values["no-ortweb"]) {
      try {
        const w = await timeOrtWeb(ortWebBytes(model), inputs, opts);
        row.ortwebMs = +w.median.toFixed(3);
      } catch (e) {
        row.ortwebError = (e as Error).message.slice(0, 200);
      }
    }
    if (typeof row.ortwebMs === "number") row.ortwebOverSaturn = +((row.ortwebMs as number) / saturn.median).toFixed(2);
    if (!values["no-ortcpu"]) {
      const c = await timeOrtNode(given, inputs, opts);
      row.ortCpuMs = +c.median.toFixed(3);
      row.ortCpuOverSaturn = +(c.median / saturn.median).toFixed(2);
    }
  } catch (e) {
    row.error = (e as Error).message.slice(0, 300);
  }
  console.log(JSON.stringify(row));
  save();
}
