/**
 * Two graphs of one model on WebGPU, alternated in one process (issue 15: the graph `optimize`
 * extracts with the learned cost vs the analytical one). A GPU's clock state drifts between runs
 * and processes, so only neighbours compare: each round runs A then B or B then A (alternating),
 * each once profiled (summed per-kernel GPU time) and once plain (wall time of one inference with
 * read-back). Prints and saves per pair: node and kernel counts, whether the graphs differ (op
 * counts), GPU ms and wall ms medians, B over A; and that B's outputs match A's.
 *
 *     deno run -A bench/gpu_ab.ts [--rounds 20] [--labels analytic,learned] [--json F] A1.onnx B1.onnx [A2 B2 …]
 * @module
 */
import { parseArgs } from "node:util";
import { loadOnnx } from "../onnx/load.ts";
import type { Model } from "../ir/graph.ts";
import { randomInputs } from "../verify/inputs.ts";
import { createSession } from "../webgpu/session.ts";
import { compareTensors } from "../conformance/compare.ts";
import { median } from "./peers.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "20" },
    labels: { type: "string", default: "analytic,learned" },
    json: { type: "string" },
  },
});
if (positionals.length % 2) throw new Error("give the graphs in pairs: A1 B1 A2 B2 …");
const [la, lb] = values.labels.split(",");
const ROUNDS = Number(values.rounds);
const rows: Record<string, unknown>[] = [];
const outFile = Deno.env.get("OUT") ? `${Deno.env.get("OUT")}/gpu_ab.json` : values.json;
const save = () =>
  outFile && Deno.writeTextFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), rows }, null, 1));

/** Op counts of a graph. */
function ops(m: Model): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of m.graph.nodes) h[n.opType] = (h[n.opType] ?? 0) + 1;
  return h;
}

for (let i = 0; i < positionals.length; i += 2) {
  const files = [positionals[i], positionals[i + 1]];
  const row: Record<string, unknown> = { model: files[0].split("/").pop()!.replace(/\..*$/, "") };
  rows.push(row);
  try {
    const models = files.map((f) => loadOnnx(f));
    const [ha, hb] = models.map(ops);
    const diff: string[] = [];
    for (const k of new Set([...Object.keys(ha), ...Object.keys(hb)])) {
      if ((ha[k] ?? 0) !== (hb[k] ?? 0)) diff.push(`${k} ${ha[k] ?? 0}→${hb[k] ?? 0}`);
    }
    row.nodes = `${models[0].graph.nodes.length} / ${models[1].graph.nodes.length}`;
    row.opDiff = diff.length ? diff.join(", ") : "same op counts";
    const inputs = randomInputs(models[0], { seed: 0, intHigh: 100 });
    const plain = await Promise.all(models.map((m) => createSession(m)));
    const prof = await Promise.all(models.map((m) => createSession(m, { profile: true })));
    row.kernels = `${plain[0].kernels} / ${plain[1].kernels}`;
    const gpu: number[][] = [[], []], wall: number[][] = [[], []];
    for (let r = -3; r < ROUNDS; r++) {
      for (const j of r % 2 ? [1, 0] : [0, 1]) {
        await prof[j].run(inputs);
        const g = (prof[j].lastProfile ?? []).reduce((a, k) => a + k.ms, 0);
        const t = performance.now();
        await plain[j].run(inputs);
        const w = performance.now() - t;
        if (r >= 0) gpu[j].push(g), wall[j].push(w);
      }
    }
    const [oa, ob] = [await plain[0].run(inputs), await plain[1].run(inputs)];
    const bad: string[] = [];
    for (const [k, v] of oa) {
      const why = compareTensors(ob.get(k)!, v, { atol: 1e-3, rtol: 1e-3 });
      if (why) bad.push(`${k}: ${why}`);
    }
    row.outputsAgree = bad.length ? bad.join("; ").slice(0, 200) : true;
    for (const s of [...plain, ...prof]) s.destroy();
    const gm = gpu.map(median), wm = wall.map(median);
    Object.assign(row, {
      [`${la}GpuMs`]: +gm[0].toFixed(3),
      [`${lb}GpuMs`]: +gm[1].toFixed(3),
      gpuRatio: +(gm[1] / gm[0]).toFixed(3),
      [`${la}WallMs`]: +wm[0].toFixed(3),
      [`${lb}WallMs`]: +wm[1].toFixed(3),
      wallRatio: +(wm[1] / wm[0]).toFixed(3),
    });
  } catch (e) {
    row.error = (e as Error).message.slice(0, 300);
  }
  console.log(JSON.stringify(row));
  save();
}
Deno.exit(0);
