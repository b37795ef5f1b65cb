/**
 * `deno task fuzz`: differential fuzzing of Saturn against ONNX Runtime.
 *
 * ```
 * deno run -A fuzz/main.ts --seed N --budget SECONDS [--out DIR] [--no-webgpu] [--graph I] [--graphs N]
 * ```
 * Random valid graphs go through the reference interpreter, `optimize` (then ONNX Runtime) and the
 * WebGPU backend; each failure is shrunk and written to `--out` (./fuzz-findings) as `.onnx` + `.json`.
 * Progress on a terminal; a summary line at the end. Exit 0: no findings; 1: findings; 2: bad arguments.
 * @module
 */
import { parseArgs } from "node:util";
import { type Finding, findingName, writeFinding } from "./findings.ts";
import { fuzz, summaryLine } from "./fuzz.ts";
import { type Stage, STAGES } from "./pipeline.ts";

const USAGE = "usage: fuzz/main.ts --seed N --budget SECONDS [--out DIR] [--no-webgpu] [--graph I] [--graphs N] " +
  "[--max-nodes N] [--no-shrink]";

function fail(message: string): never {
  console.error(`fuzz: ${message}\n${USAGE}`);
  Deno.exit(2);
}

function count(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} ${JSON.stringify(v)} is not an integer ≥ ${min}`);
  return n;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        seed: { type: "string" },
        budget: { type: "string" },
        out: { type: "string", default: "fuzz-findings" },
        "no-webgpu": { type: "boolean", default: false },
        "no-shrink": { type: "boolean", default: false },
        graph: { type: "string" },
        graphs: { type: "string" },
        "max-nodes": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = count("seed", args.seed, 0) ?? Math.floor(Math.random() * 2 ** 31);
  const only = count("graph", args.graph, 0);
  const graphs = count("graphs", args.graphs, 1);
  const budget = count("budget", args.budget, 1);
  if (only === undefined && graphs === undefined && budget === undefined) fail("give --budget SECONDS (or --graphs N)");
  try {
    Deno.mkdirSync(args.out!, { recursive: true });
  } catch (e) {
    fail(`--out ${args.out}: ${(e as Error).message}`);
  }
  let stages: Stage[] = [...STAGES];
  if (args["no-webgpu"]) stages = stages.filter((s) => s !== "webgpu");
  else if (!(await navigator.gpu?.requestAdapter().catch(() => null))) {
    console.error("fuzz: no WebGPU adapter here: the webgpu stage is left out");
    stages = stages.filter((s) => s !== "webgpu");
  }
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  const written: string[] = [];
  console.error(`fuzz: seed ${seed}, stages ${stages.join(", ")}${budget ? `, budget ${budget} s` : ""}`);
  const stats = await fuzz({
    seed,
    only,
    graphs,
    budgetMs: budget === undefined ? undefined : budget * 1000,
    stages,
    maxNodes: count("max-nodes", args["max-nodes"], 1),
    shrink: !args["no-shrink"],
    onGraph: (s) => {
      if (tty) Deno.stderr.writeSync(enc.encode(`\r\x1b[K${summaryLine(s)}`));
    },
    onFinding: (f: Finding) => {
      if (tty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
      const path = writeFinding(args.out!, f);
      written.push(path);
      console.error(
        `fuzz: ${findingName(f)}: ${f.outcome.message} (${f.shrunk.model.graph.nodes.length} nodes) → ${path}`,
      );
    },
  });
  if (tty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  for (const [why, n] of [...stats.unsupportedReasons].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    console.error(`fuzz: unsupported ×${n}: ${why}`);
  }
  for (const [why, n] of [...stats.discardReasons].sort((a, b) => b[1] - a[1]).slice(0, 5)) {
    console.error(`fuzz: discarded ×${n}: ${why}`);
  }
  console.log(`${summaryLine(stats)}, seed ${seed}`);
  return stats.mismatches + stats.crashes + stats.refusals > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());
