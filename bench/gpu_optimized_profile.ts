/**
 * Does `optimize` change what the WebGPU backend runs, and how fast? For one model: the original
 * and the optimized graph (shipped packs, as `saturn optimize` runs them) are planned and profiled
 * alternately in one process (orig, opt, orig, opt: a GPU's clock state drifts between runs, so only
 * neighbours compare), printing kernel count, summed GPU time (median of 7 profiled runs per kernel)
 * and the kernels that take the most time, grouped by name.
 *
 *     deno run -A bench/gpu_optimized_profile.ts MODEL.onnx
 * @module
 */
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { createSession } from "../webgpu/session.ts";
import { DEFAULT_LIMITS, optimizeModel } from "../optimize/optimize.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { median } from "./peers.ts";

const file = Deno.args[0];
if (!file) throw new Error("usage: deno run -A bench/gpu_optimized_profile.ts MODEL.onnx");
const original = loadOnnx(file);
const { model: optimized } = await optimizeModel(original, {
  rules: await loadRulePacks(),
  library: ruleLibrary,
  defaults: attrDefaults,
  cost: new AnalyticalCost(),
  ...DEFAULT_LIMITS,
});
for (
  const [label, model] of [["original", original], ["optimized", optimized], ["original", original], [
    "optimized",
    optimized,
  ]] as const
) {
  const session = await createSession(model, { profile: true });
  const inputs = randomInputs(model, { seed: 0, intHigh: 100 });
  const runs: number[][] = [];
  for (let i = 0; i < 7; i++) {
    await session.run(inputs);
    (session.lastProfile ?? []).forEach((k, j) => (runs[j] ??= []).push(k.ms));
  }
  const byName = new Map<string, { ms: number; n: number }>();
  (session.lastProfile ?? []).forEach((k, j) => {
    const key = k.kernel.replace(/\d+/g, "#");
    const e = byName.get(key) ?? { ms: 0, n: 0 };
    e.ms += median(runs[j]);
    e.n++;
    byName.set(key, e);
  });
  const total = [...byName.values()].reduce((a, e) => a + e.ms, 0);
  console.log(`${label}: ${session.kernels} kernels, GPU ${total.toFixed(3)} ms`);
  for (const [k, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 5)) {
    console.log(`  ${e.ms.toFixed(3)} ms  ${e.n}× ${k}`);
  }
  session.destroy();
}
Deno.exit(0);
