/**
 * The WebGPU target against the ONNX Runtime target: each model is optimized twice with measured
 * costs (`cost: "measured"`, `measure: true`: every candidate node of the saturated e-graph timed
 * on that target first, cached), once for `ort` and once for `webgpu`; the two extractions are
 * compared (nodes by op), and input and outputs are timed on WebGPU in this process, interleaved
 * (`measureModelWebgpu`, medians; by wall clock per inference and by summed kernel timestamps),
 * and on ONNX Runtime CPU at 1 thread (`measureModelOrt`). The optimizations run with the guard
 * off, so what is timed is the extraction itself. With `$OUT` set, writes `webgpu_target.json` and
 * both outputs of each model there; prints a Markdown table. `$SATURN_COST_CACHE` names the
 * measured-cost cache (default: a new temporary file, so every candidate is measured).
 *
 *     deno run -A bench/webgpu_target.ts [--models a.onnx,b.onnx] [--builtin] [--repeats N]
 *
 * `--builtin` adds a model built in code: a 2-D MLP (MatMul + Add + Relu, the shapes where
 * Saturn's MatMul kernel on llvmpipe beats its Gemm kernel, while ONNX Runtime prefers Gemm) and a
 * channel split by two Slices (one Split kernel on WebGPU, two cheap copies on ONNX Runtime).
 * @module
 */
import { parseArgs } from "node:util";
import { loadOnnx } from "../onnx/load.ts";
import type { Model } from "../ir/graph.ts";
import { encodeModel } from "../onnx/encode.ts";
import { optimize } from "../optimize/verified.ts";
import { measureModelWebgpu } from "../cost/measure_webgpu.ts";
import { measureModelOrt } from "../cost/measure_ort.ts";
import { randomInputs } from "../verify/inputs.ts";
import { acquireDevice } from "../webgpu/device.ts";
import type { CostTarget } from "../rules/targets.ts";
import { graphModel, node, rand } from "../tests/_models.ts";
import { int64Tensor } from "../ir/tensor.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "" },
    builtin: { type: "boolean", default: false },
    repeats: { type: "string", default: "21" },
  },
});

/** x[64,256] → (MatMul W + b → Relu) ×2 → Slice the 256 columns in two halves, both outputs. */
function mlpSplit(): Model {
  const layer = (x: string, i: number) => [
    node("MatMul", [x, `w${i}`], [`mm${i}`]),
    node("Add", [`mm${i}`, `b${i}`], [`a${i}`]),
    node("Relu", [`a${i}`], [`r${i}`]),
  ];
  return graphModel(
    [
      ...layer("x", 1),
      ...layer("r1", 2),
      node("Slice", ["r2", "s0", "s1", "ax"], ["lo"]),
      node("Slice", ["r2", "s1", "s2", "ax"], ["hi"]),
    ],
    { x: [64, 256] },
    ["lo", "hi"],
    {
      w1: rand([256, 256], 1, { lo: -0.1, hi: 0.1 }),
      b1: rand([256], 2),
      w2: rand([256, 256], 3, { lo: -0.1, hi: 0.1 }),
      b2: rand([256], 4),
      s0: int64Tensor([1], [0]),
      s1: int64Tensor([1], [128]),
      s2: int64Tensor([1], [256]),
      ax: int64Tensor([1], [1]),
    },
  );
}

const ops = (m: Model) => {
  const h: Record<string, number> = {};
  for (const n of m.graph.nodes) {
    const k = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    h[k] = (h[k] ?? 0) + 1;
  }
  return Object.entries(h).sort().map(([k, v]) => `${k}×${v}`).join(" ");
};

const gpu = await acquireDevice();
const repeats = Number(values.repeats);
const models: [string, Model][] = values.models.split(",").filter(Boolean).map((f) => [
  f.split("/").pop()!.replace(/\.onnx$/, ""),
  loadOnnx(f),
]);
if (values.builtin) models.unshift(["mlp_split (built)", mlpSplit()]);
const costCacheFile = Deno.env.get("SATURN_COST_CACHE") ?? await Deno.makeTempFile({ suffix: ".json" });
const rows: Record<string, unknown>[] = [];
for (const [name, model] of models) {
  const out: Partial<Record<CostTarget, Model>> = {};
  const row: Record<string, unknown> = { model: name, device: gpu.description };
  for (const target of ["ort", "webgpu"] as const) {
    const t0 = performance.now();
    const r = await optimize(model, { target, cost: "measured", measure: true, guard: false, costCacheFile });
    out[target] = r.model;
    row[`${target}Ops`] = ops(r.model);
    row[`${target}OptimizeS`] = (performance.now() - t0) / 1000;
  }
  row.inputOps = ops(model);
  row.differs = row.ortOps !== row.webgpuOps;
  const dir = Deno.env.get("OUT");
  if (dir) {
    for (const t of ["ort", "webgpu"] as const) {
      Deno.writeFileSync(`${dir}/${name.split(" ")[0]}.${t}.onnx`, encodeModel(out[t]!).bytes);
    }
  }
  for (const clock of ["wall", "timestamp"] as const) {
    const w = (m: Model) => measureModelWebgpu(model, m, { gpu, repeats, warmup: 3, clock });
    const [wW, wO] = [await w(out.webgpu!), await w(out.ort!)];
    row[`webgpu_${clock}`] = {
      inputMs: wW.a.medianUs / 1000,
      webgpuOutMs: wW.b.medianUs / 1000,
      webgpuRatio: wW.ratio,
      webgpuNoiseMs: Math.max(wW.a.noiseUs, wW.b.noiseUs) / 1000,
      ortOutMs: wO.b.medianUs / 1000,
      ortOutRatio: wO.ratio,
      ortNoiseMs: Math.max(wO.a.noiseUs, wO.b.noiseUs) / 1000,
    };
  }
  const inputs = randomInputs(model, { seed: 1 });
  const o = (m: Model) =>
    measureModelOrt(encodeModel(model).bytes, encodeModel(m).bytes, { inputs, threads: 1, repeats: 50 });
  const [oW, oO] = [await o(out.webgpu!), await o(out.ort!)];
  row.ort1 = {
    inputUs: oO.a.medianUs,
    ortOutUs: oO.b.medianUs,
    ortRatio: oO.b.medianUs / oO.a.medianUs,
    webgpuOutUs: oW.b.medianUs,
    webgpuOutRatio: oW.b.medianUs / oW.a.medianUs,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const outDir = Deno.env.get("OUT");
if (outDir) {
  Deno.writeTextFileSync(
    `${outDir}/webgpu_target.json`,
    JSON.stringify({ date: new Date().toISOString(), device: gpu.description, rows }, null, 1),
  );
}
const f = (x: number, d = 2) => x.toFixed(d);
console.log(
  "\n| model | ort extraction | webgpu extraction | WebGPU clock | input ms | webgpu out ms (ratio) | ort out ms (ratio) | noise ms (MAD) | ORT CPU 1 thread, out/input: ort out, webgpu out |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const o = r.ort1 as Record<string, number>;
  for (const clock of ["wall", "timestamp"]) {
    const w = r[`webgpu_${clock}`] as Record<string, number>;
    console.log(
      `| ${r.model} | ${r.ortOps} | ${r.webgpuOps} | ${clock} | ${f(w.inputMs)} | ${f(w.webgpuOutMs)} (${
        f(w.webgpuRatio, 3)
      }) | ${f(w.ortOutMs)} (${f(w.ortOutRatio, 3)}) | ${f(w.webgpuNoiseMs)} | ${f(o.ortRatio, 3)}, ${
        f(o.webgpuOutRatio, 3)
      } |`,
    );
  }
}
