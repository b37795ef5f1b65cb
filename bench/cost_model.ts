/**
 * Held-out quality of the learned cost model on this machine: measures (through the user's
 * measured-cost cache, so a second run measures nothing new) the six test models' candidates and
 * synthetic signatures, trains on the training side, and judges on the held-out side — overall,
 * per held-out model and per op family — beside the roofline's own ordering of the same nodes.
 *
 *   deno run -A bench/cost_model.ts --target ort|webgpu [--synthetic N] [--budget S] [--write]
 *
 * `--write` saves the model as the shipped default (`cost/models/<target>-<machine kind>.json`).
 * Writes `bench/out/cost_model_<target>.json` and prints a Markdown table for `bench/RESULTS.md`.
 * @module
 */
import { parseArgs } from "node:util";
import { calibrationMeasurer, calibrationModels, gitCommit } from "../cli/calibrate.ts";
import { CostCache } from "../cost/cost_cache.ts";
import { collectSamples, type Metrics, metrics, type Sample, splitSamples } from "../cost/training.ts";
import { predictUs, saveCostModel, SHIPPED_MODELS, trainCostModel } from "../cost/learned.ts";
import { FEATURE_NAMES, features, opFamily } from "../cost/features.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", default: "ort" },
    synthetic: { type: "string", default: "3000" },
    budget: { type: "string", default: "900" },
    write: { type: "boolean", default: false },
  },
});
const target = values.target as "ort" | "webgpu";
const t0 = performance.now();
const cache = new CostCache(undefined, (w) => console.error(w));
const { measure, machine, fingerprint } = await calibrationMeasurer(target, undefined, cache);
const samples = await collectSamples({
  target,
  models: calibrationModels(),
  synthetic: Number(values.synthetic),
  measure,
  budgetMs: Number(values.budget) * 1000,
  onProgress: (l) => Deno.stderr.isTerminal() && Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${l}`)),
});
const measuredS = (performance.now() - t0) / 1000;
const t1 = performance.now();
const file = trainCostModel(samples, { target, machine, fingerprint, commit: gitCommit() });
const trainS = (performance.now() - t1) / 1000;
const { test } = splitSamples(samples);
const roofCol = FEATURE_NAMES.indexOf("log_analytical_us");
const judge = (xs: Sample[]) => ({
  learned: metrics(xs.map((s) => predictUs(file.gbt, s.sig)), xs),
  roofline: metrics(xs.map((s) => 2 ** features(s.sig)[roofCol]), xs),
});
const groups = new Map<string, Sample[]>();
for (const s of test) {
  const g = s.group.startsWith("model:") ? s.group : `family ${opFamily(s.sig.op)} (odd dims)`;
  groups.set(g, [...(groups.get(g) ?? []), s]);
}
const rows: [string, { learned: Metrics; roofline: Metrics }][] = [["all held out", judge(test)]];
for (const [g, xs] of [...groups].sort()) if (xs.length >= 8) rows.push([g, judge(xs)]);
const fmt = (m: Metrics) => `${m.spearman.toFixed(3)} | ${(100 * m.pairwise).toFixed(1)}%`;
console.log(`\n${machine}; ${samples.length} samples (${file.provenance.data.train} train, ${test.length} held out)`);
console.log(`measure ${measuredS.toFixed(0)} s, train ${trainS.toFixed(1)} s`);
console.log(
  "| held-out set | n | learned Spearman | learned pairwise | roofline Spearman | roofline pairwise | median error |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [g, r] of rows) {
  console.log(
    `| ${g} | ${r.learned.n} | ${fmt(r.learned)} | ${fmt(r.roofline)} | ×${
      (2 ** r.learned.medianLog2Error).toFixed(2)
    } |`,
  );
}
await Deno.mkdir(new URL("./out/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL(`./out/cost_model_${target}.json`, import.meta.url),
  JSON.stringify({ provenance: file.provenance, rows: Object.fromEntries(rows), measuredS, trainS }, null, 1),
);
if (values.write) {
  const out = new URL(`../cost/models/${SHIPPED_MODELS[target]}`, import.meta.url);
  saveCostModel(out.pathname, file);
  console.log(`wrote ${out.pathname}`);
}
