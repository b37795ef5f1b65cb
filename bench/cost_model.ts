/**
 * Held-out quality of the learned cost model on this machine: measures (through the user's
 * measured-cost cache, so a second run measures nothing new) the six test models' candidates and
 * synthetic signatures, trains on the training side, and judges on the held-out side — overall,
 * per held-out model and per op family — beside the roofline's own ordering of the same nodes.
 *
 *   deno run -A bench/cost_model.ts --target ort|webgpu [--synthetic N] [--budget S]
 *     [--baseline analytical|absolute] [--extra-cache FILE]... [--write]
 *
 * Both kinds of model (`CostModelFile.baseline`: the residual over the roofline, or log2 µs itself)
 * are fit on the same split and judged side by side, and again on an extrapolation split: per op
 * family, the samples above the family's `EXTRAPOLATION_QUANTILE` of bytes moved are judged by a
 * model trained on the rest (training never sees a size that large). `--budget 0` measures nothing:
 * it re-trains from what the measured-cost cache holds (`SATURN_CACHE_DIR` picks the cache).
 * `--extra-cache FILE` adds, on the training side only, every other measurement of this target and
 * machine that a measured-cost cache file holds (`optimize`'s own measuring of real models: sizes
 * the synthetic draws do not reach); the held-out side and the extrapolation split are unchanged.
 *
 * `--write` saves the `--baseline` model (default: the residual one) as the shipped default
 * (`cost/models/<target>-<machine kind>.json`).
 * Writes `bench/out/cost_model_<target>.json` and prints Markdown tables for `bench/RESULTS.md`.
 * @module
 */
import { parseArgs } from "node:util";
import { calibrationMeasurer, calibrationModels, gitCommit } from "../cli/calibrate.ts";
import { CostCache } from "../cost/cost_cache.ts";
import {
  collectSamples,
  type Metrics,
  metrics,
  type Sample,
  samplesFromMeasurements,
  splitSamples,
} from "../cost/training.ts";
import {
  type CostBaseline,
  type CostModelFile,
  predictUs,
  saveCostModel,
  SHIPPED_MODELS,
  trainCostModel,
} from "../cost/learned.ts";
import { FEATURE_NAMES, features, opFamily } from "../cost/features.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string", default: "ort" },
    synthetic: { type: "string", default: "3000" },
    budget: { type: "string", default: "900" },
    baseline: { type: "string", default: "analytical" },
    "extra-cache": { type: "string", multiple: true, default: [] },
    write: { type: "boolean", default: false },
  },
});
const target = values.target as "ort" | "webgpu";
const chosen = values.baseline as CostBaseline;
if (chosen !== "analytical" && chosen !== "absolute") throw new Error(`--baseline analytical|absolute, not ${chosen}`);
/** Per op family, samples above this quantile of bytes moved are the extrapolation split's judged side. */
const EXTRAPOLATION_QUANTILE = 0.85;
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
const collected = new Set(samples.map((s) => s.key));
const extra: Sample[] = [];
for (const f of values["extra-cache"] as string[]) {
  const more = samplesFromMeasurements(new CostCache(f).entries(target, fingerprint), `cache:${f}`, collected);
  for (const s of more) collected.add(s.key);
  extra.push(...more);
}
const measuredS = (performance.now() - t0) / 1000;
const t1 = performance.now();
const info = { target, machine, fingerprint, commit: gitCommit() };
const files = {} as Record<CostBaseline, CostModelFile>;
for (const baseline of ["absolute", "analytical"] as const) {
  files[baseline] = trainCostModel([...samples, ...extra], { ...info, baseline });
}
const file = files[chosen];
const trainS = (performance.now() - t1) / 1000;
const { test } = splitSamples(samples);
const roofCol = FEATURE_NAMES.indexOf("log_analytical_us"), bytesCol = FEATURE_NAMES.indexOf("log_bytes");
const judge = (xs: Sample[], models: Record<CostBaseline, CostModelFile> = files) => ({
  absolute: metrics(xs.map((s) => predictUs(models.absolute.gbt, s.sig)), xs),
  residual: metrics(xs.map((s) => predictUs(models.analytical.gbt, s.sig)), xs),
  roofline: metrics(xs.map((s) => 2 ** features(s.sig)[roofCol]), xs),
});
type Row = ReturnType<typeof judge>;
const groups = new Map<string, Sample[]>();
for (const s of test) {
  const g = s.group.startsWith("model:") ? s.group : `family ${opFamily(s.sig.op)} (odd dims)`;
  groups.set(g, [...(groups.get(g) ?? []), s]);
}
const rows: [string, Row][] = [["all held out", judge(test)]];
for (const [g, xs] of [...groups].sort()) if (xs.length >= 8) rows.push([g, judge(xs)]);

// extrapolation: per family, the largest sizes (by bytes moved) judged by models that never saw them
const bytesOf = (s: Sample) => features(s.sig)[bytesCol];
const byFamily = new Map<string, Sample[]>();
for (const s of new Map(samples.map((s) => [s.key, s])).values()) {
  const f = opFamily(s.sig.op);
  byFamily.set(f, [...(byFamily.get(f) ?? []), s]);
}
const large = new Set<string>();
for (const xs of byFamily.values()) {
  if (xs.length < 20) continue;
  const b = xs.map(bytesOf).sort((x, y) => x - y), cut = b[Math.floor(EXTRAPOLATION_QUANTILE * b.length)];
  for (const s of xs) if (bytesOf(s) > cut) large.add(s.key);
}
const extrapSamples = samples.map((s) => ({ ...s, group: large.has(s.key) ? "large" : "small" }));
const extrapFiles = {} as Record<CostBaseline, CostModelFile>;
for (const baseline of ["absolute", "analytical"] as const) {
  extrapFiles[baseline] = trainCostModel(extrapSamples, { ...info, baseline, heldOut: (g) => g === "large" });
}
const largeSide = splitSamples(extrapSamples, (g) => g === "large").test;
const signedMedian = (m: CostModelFile, xs: Sample[]) => {
  const e = xs.map((s) => Math.log2(predictUs(m.gbt, s.sig) / s.us)).sort((a, b) => a - b);
  return e[Math.floor(e.length / 2)];
};
const extrapRows: [string, Row & { bias: Record<CostBaseline, number> }][] = [];
const extrapGroups = new Map<string, Sample[]>([["all families", largeSide]]);
for (const s of largeSide) {
  const f = `family ${opFamily(s.sig.op)}`;
  extrapGroups.set(f, [...(extrapGroups.get(f) ?? []), s]);
}
for (const [g, xs] of extrapGroups) {
  if (xs.length < 8) continue;
  extrapRows.push([g, {
    ...judge(xs, extrapFiles),
    bias: { absolute: signedMedian(extrapFiles.absolute, xs), analytical: signedMedian(extrapFiles.analytical, xs) },
  }]);
}

const fmt = (m: Metrics) => `${m.spearman.toFixed(3)} | ${(100 * m.pairwise).toFixed(1)}%`;
const err = (m: Metrics) => `×${(2 ** m.medianLog2Error).toFixed(2)}`;
console.log(
  `\n${machine}; ${samples.length} samples + ${extra.length} from other caches ` +
    `(${file.provenance.data.train} train, ${test.length} held out)`,
);
console.log(`measure ${measuredS.toFixed(0)} s, train ${trainS.toFixed(1)} s (both kinds)`);
console.log(
  "| held-out set | n | residual Spearman | residual pairwise | absolute Spearman | absolute pairwise | " +
    "roofline Spearman | roofline pairwise | median error residual / absolute |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [g, r] of rows) {
  console.log(
    `| ${g} | ${r.residual.n} | ${fmt(r.residual)} | ${fmt(r.absolute)} | ${fmt(r.roofline)} | ` +
      `${err(r.residual)} / ${err(r.absolute)} |`,
  );
}
console.log(
  `\nExtrapolation: per family, sizes above the ${EXTRAPOLATION_QUANTILE} quantile of bytes held out ` +
    `(${extrapFiles.analytical.provenance.data.train} train, ${largeSide.length} judged)`,
);
console.log(
  "| judged set | n | residual Spearman | residual pairwise | absolute Spearman | absolute pairwise | " +
    "median error residual / absolute | median signed log2 error residual / absolute |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [g, r] of extrapRows) {
  console.log(
    `| ${g} | ${r.residual.n} | ${fmt(r.residual)} | ${fmt(r.absolute)} | ${err(r.residual)} / ${err(r.absolute)} | ` +
      `${r.bias.analytical.toFixed(2)} / ${r.bias.absolute.toFixed(2)} |`,
  );
}
await Deno.mkdir(new URL("./out/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL(`./out/cost_model_${target}.json`, import.meta.url),
  JSON.stringify(
    {
      baseline: chosen,
      provenance: file.provenance,
      rows: Object.fromEntries(rows),
      extrapolation: Object.fromEntries(extrapRows),
      measuredS,
      trainS,
    },
    null,
    1,
  ),
);
if (values.write) {
  const out = new URL(`../cost/models/${SHIPPED_MODELS[target]}`, import.meta.url);
  saveCostModel(out.pathname, file);
  console.log(`wrote ${out.pathname}`);
}
