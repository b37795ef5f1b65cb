/**
 * `optimize` benchmark: for each test model (tests/data/models/), node counts (original, ONNX Runtime's own
 * "extended" optimizer, Saturn), ONNX Runtime CPU latency at graphOptimizationLevel "all" of
 * the three models (interleaved runs on fixed seeded inputs, median of `--runs`), and the wall
 * time of Saturn's `optimizeModel` (median of `--opt-runs`, file load excluded); then the
 * optimize time of a bert_base-sized graph (bench/bert_base.ts).
 *
 *     deno run -A bench/optimize.ts [--runs N] [--warmup N] [--opt-runs N] [--models a,b]
 *                                   [--skip-bert-base] [--json]
 *
 * Saturn runs exactly as `saturn optimize` does (cli/optimize.ts): shipped rule packs,
 * AnalyticalCost, ILP extraction (the default; greedy as its fallback), iterLimit 30, nodeLimit 200000, time limit 10 s.
 * Speed is recorded in bench/RESULTS.md, never asserted in tests.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import type { Model } from "../ir/graph.ts";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { DEFAULT_LIMITS, optimizeModel, type OptimizeReport } from "../optimize/optimize.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import type { Rule } from "../rules/rule.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { randomInputs } from "../verify/inputs.ts";
import { ortFeeds } from "../verify/ort.ts";
import { buildBertBase } from "./bert_base.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS_DIR = path.resolve(here, "../tests/data/models");
const ALL_MODELS = [
  "squeezenet1_1",
  "shufflenet_v2_x0_5",
  "bert_tiny",
  "gpt2_tiny",
  "llama_tiny_dynamo",
  "vit_tiny_dynamo",
];

const { values } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "boolean", default: false },
    runs: { type: "string", default: "50" },
    warmup: { type: "string", default: "5" },
    "opt-runs": { type: "string", default: "5" },
    models: { type: "string" },
    "skip-bert-base": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs), warmup = Number(values.warmup), optRuns = Number(values["opt-runs"]);
for (const [flag, n, min] of [["--runs", runs, 1], ["--warmup", warmup, 0], ["--opt-runs", optRuns, 1]] as const) {
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench/optimize.ts: ${flag} must be an integer ≥ ${min}`);
    Deno.exit(2);
  }
}
const models = values.models ? values.models.split(",").map((s) => s.trim().replace(/\.onnx$/, "")) : ALL_MODELS;
for (const m of models) {
  if (!ALL_MODELS.includes(m)) {
    console.error(`bench/optimize.ts: unknown model '${m}' (have ${ALL_MODELS.join(", ")})`);
    Deno.exit(2);
  }
}
const json = values.json;
const say = (s: string) => {
  if (!json) console.log(s);
};
const note = (s: string) => console.error(s); // progress goes to stderr, so stdout stays the table / JSON

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

function cpuModel(): string {
  try {
    const m = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return "unknown CPU";
}

function memGiB(): string {
  try {
    const m = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s*(\d+) kB/m);
    if (m) return `${(Number(m[1]) / 2 ** 20).toFixed(0)} GiB`;
  } catch { /* not Linux */ }
  return "? GiB";
}

function ortVersion(): string {
  const v = (ort.env as { versions?: { node?: string; common?: string } }).versions;
  if (v?.node || v?.common) return v.node ?? v.common!;
  try {
    const cfg = JSON.parse(Deno.readTextFileSync(path.resolve(here, "../deno.json")));
    return String(cfg.imports?.["onnxruntime-node"] ?? "?").replace(/^npm:onnxruntime-node@/, "");
  } catch {
    return "?";
  }
}

type OrtTensor = InstanceType<typeof ort.Tensor>;
type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;

function maxAbsDiff(a: Record<string, OrtTensor>, b: Record<string, OrtTensor>): number {
  let m = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (!y) return NaN;
    const xd = x.data as ArrayLike<number | bigint>, yd = y.data as ArrayLike<number | bigint>;
    if (xd.length !== yd.length) return NaN;
    for (let i = 0; i < xd.length; i++) {
      const d = Math.abs(Number(xd[i]) - Number(yd[i]));
      if (d > m || Number.isNaN(d)) m = d;
    }
  }
  return m;
}

const sum = (h: Record<string, number>) => Object.values(h).reduce((a, b) => a + b, 0);

interface OptimizeTiming {
  model: Model;
  report: OptimizeReport;
  ms: number[];
}

async function timeOptimize(model: Model, rules: Rule[]): Promise<OptimizeTiming> {
  const ms: number[] = [];
  let last: Awaited<ReturnType<typeof optimizeModel>> | undefined;
  for (let i = 0; i < optRuns; i++) {
    const t0 = performance.now();
    last = await optimizeModel(model, {
      rules,
      library: ruleLibrary,
      defaults: attrDefaults,
      cost: new AnalyticalCost(),
      ...DEFAULT_LIMITS,
    });
    ms.push(performance.now() - t0);
  }
  return { model: last!.model, report: last!.report, ms };
}

const VARIANTS = ["original", "ortExtended", "saturn"] as const;
type Variant = typeof VARIANTS[number];

interface ModelRow {
  model: string;
  nodes: { original: number; ortExtended: number | null; saturn: number };
  ortMs: Record<Variant, number | null>;
  ortMsMin: Record<Variant, number | null>;
  saturnOverOriginal: number | null;
  saturnMaxAbsDiff: number | null;
  optimizeMs: number;
  optimizeMsAll: number[];
  saturnOpsAfter: Record<string, number>;
  rulesFired: Record<string, number>;
  stopReason: string;
  iterations: number;
  errors: Partial<Record<Variant | "ortExtendedLoad", string>>;
}

const tmp = Deno.makeTempDirSync({ prefix: "saturn-bench-optimize-" });
const rules = await loadRulePacks();
const header = {
  date: new Date().toISOString().slice(0, 10),
  device: `${cpuModel()}, ${navigator.hardwareConcurrency} cores, ${memGiB()}`,
  deno: Deno.version.deno,
  onnxruntimeNode: ortVersion(),
  rules: rules.length,
  runs,
  warmup,
  optRuns,
};
say(`Saturn optimize benchmark — ${header.date}`);
say(`  device: ${header.device}`);
say(`  Deno ${header.deno}, onnxruntime-node ${header.onnxruntimeNode} (CPU, default threads)`);
say(
  `  ${rules.length} rules; ORT latency: median of ${runs} interleaved runs after ${warmup} warm-ups at ` +
    `graphOptimizationLevel "all"; optimize: median of ${optRuns} runs`,
);
say("");

const rows: ModelRow[] = [];
try {
  for (const name of models) {
    note(`${name}: optimizing…`);
    const file = path.join(MODELS_DIR, `${name}.onnx`);
    const model = loadOnnx(file);
    const opt = await timeOptimize(model, rules);
    const files: Record<Variant, string> = {
      original: file,
      ortExtended: path.join(tmp, `${name}.ort-extended.onnx`),
      saturn: path.join(tmp, `${name}.saturn.onnx`),
    };
    saveOnnx(opt.model, files.saturn);
    const errors: ModelRow["errors"] = {};

    // ONNX Runtime's own optimizer at "extended", saved and counted
    let ortExtendedNodes: number | null = null;
    try {
      const s = await ort.InferenceSession.create(file, {
        graphOptimizationLevel: "extended",
        optimizedModelFilePath: files.ortExtended,
      });
      await s.release();
      ortExtendedNodes = loadOnnx(files.ortExtended).graph.nodes.length;
    } catch (e) {
      errors.ortExtendedLoad = firstLine(e);
    }

    // sessions at "all"
    note(`${name}: timing ONNX Runtime…`);
    const sessions = new Map<Variant, Session>();
    for (const v of VARIANTS) {
      if (v === "ortExtended" && errors.ortExtendedLoad) continue;
      try {
        sessions.set(v, await ort.InferenceSession.create(files[v], { graphOptimizationLevel: "all" }));
      } catch (e) {
        errors[v] = firstLine(e);
      }
    }
    const feeds = ortFeeds(ort.Tensor, randomInputs(model, { seed: 0 }));
    const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    const firstOut = new Map<Variant, Record<string, OrtTensor>>();
    const live = VARIANTS.filter((v) => sessions.has(v));
    for (let it = 0; it < warmup + runs; it++) {
      // interleaved, with the order rotated each iteration so no variant always runs first
      for (let k = 0; k < live.length; k++) {
        const v = live[(it + k) % live.length];
        const s = sessions.get(v)!;
        try {
          const t0 = performance.now();
          const out = await s.run(feeds);
          const dt = performance.now() - t0;
          if (it >= warmup) times.get(v)!.push(dt);
          if (!firstOut.has(v)) firstOut.set(v, out);
        } catch (e) {
          errors[v] = `run: ${firstLine(e)}`;
          sessions.delete(v);
          live.splice(live.indexOf(v), 1);
          k--;
        }
      }
    }
    for (const s of sessions.values()) await s.release();
    const ms = (v: Variant) => (times.get(v)!.length && !errors[v] ? median(times.get(v)!) : null);
    const msMin = (v: Variant) => (times.get(v)!.length && !errors[v] ? Math.min(...times.get(v)!) : null);
    const ortMs = { original: ms("original"), ortExtended: ms("ortExtended"), saturn: ms("saturn") };
    const o = firstOut.get("original"), sat = firstOut.get("saturn");
    const r = opt.report;
    rows.push({
      model: name,
      nodes: { original: model.graph.nodes.length, ortExtended: ortExtendedNodes, saturn: sum(r.nodesAfter) },
      ortMs,
      ortMsMin: { original: msMin("original"), ortExtended: msMin("ortExtended"), saturn: msMin("saturn") },
      saturnOverOriginal: ortMs.original && ortMs.saturn ? ortMs.saturn / ortMs.original : null,
      saturnMaxAbsDiff: o && sat ? maxAbsDiff(o, sat) : null,
      optimizeMs: median(opt.ms),
      optimizeMsAll: opt.ms,
      saturnOpsAfter: r.nodesAfter,
      rulesFired: Object.fromEntries(
        [...r.run.rules].filter(([, s]) => s.applied > 0).sort((a, b) => b[1].applied - a[1].applied)
          .map(([n, s]) => [n, s.applied]),
      ),
      stopReason: r.run.stopReason.kind,
      iterations: r.run.iterations.length,
      errors,
    });
  }

  let bertBase:
    | { nodes: number; nodesAfter: number; optimizeMs: number; optimizeMsAll: number[]; stop: string }
    | null = null;
  if (!values["skip-bert-base"]) {
    note("bert_base-sized graph: building and optimizing…");
    const bb = buildBertBase();
    const opt = await timeOptimize(bb, rules);
    bertBase = {
      nodes: bb.graph.nodes.length,
      nodesAfter: sum(opt.report.nodesAfter),
      optimizeMs: median(opt.ms),
      optimizeMsAll: opt.ms,
      stop: `${opt.report.run.stopReason.kind} after ${opt.report.run.iterations.length} iterations`,
    };
  }

  if (json) {
    console.log(JSON.stringify({ ...header, models: rows, bertBase }));
  } else {
    const f = (x: number | null, d = 2) => (x === null ? "error" : x.toFixed(d));
    const cols = [
      "model",
      "nodes orig",
      "nodes ORT-ext",
      "nodes Saturn",
      "ORT ms orig",
      "ORT ms ORT-ext",
      "ORT ms Saturn",
      "Saturn/orig",
      "optimize ms",
      "max |Δ|",
    ];
    const table = rows.map((r) => [
      r.model,
      String(r.nodes.original),
      r.nodes.ortExtended === null ? "error" : String(r.nodes.ortExtended),
      String(r.nodes.saturn),
      f(r.ortMs.original, 3),
      f(r.ortMs.ortExtended, 3),
      f(r.ortMs.saturn, 3),
      r.saturnOverOriginal === null ? "—" : `${r.saturnOverOriginal.toFixed(3)}×`,
      r.optimizeMs.toFixed(0),
      r.saturnMaxAbsDiff === null ? "—" : r.saturnMaxAbsDiff.toExponential(1),
    ]);
    const w = cols.map((c, i) => Math.max(c.length, ...table.map((t) => t[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
    say(line(cols));
    for (const t of table) say(line(t));
    say("");
    for (const r of rows) {
      const fired = Object.entries(r.rulesFired).map(([n, k]) => `${n} ×${k}`).join(", ") || "none";
      say(`${r.model}: stop ${r.stopReason} after ${r.iterations} iterations; rules fired: ${fired}`);
      for (const [k, e] of Object.entries(r.errors)) say(`  ERROR (${k}): ${e}`);
    }
    if (bertBase) {
      say("");
      say(
        `bert_base-sized graph (12 layers, hidden 768): ${bertBase.nodes} → ${bertBase.nodesAfter} nodes, ` +
          `optimize ${bertBase.optimizeMs.toFixed(0)} ms median (${
            bertBase.optimizeMsAll.map((x) => x.toFixed(0)).join(", ")
          }); ${bertBase.stop}`,
      );
    }
  }
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
