/**
 * Verification benchmark: `verify --all` on the shipped packs (every rule through instances,
 * tests and Z3), and what verification costs `optimize` with a warm cache (committed verdicts:
 * rule keys hashed and looked up, no solver), read from `optimize --json` in fresh processes.
 *
 *     deno run -A bench/verify.ts [--runs N] [--json]
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, json: { type: "boolean", default: false } },
});
const runs = Number(values.runs);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; ms: number }> {
  const t = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), ms: performance.now() - t };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// 1. verify --all, once (it takes minutes on 2 cores)
const all = await cli("verify", "--all", "--json");
const verdicts = JSON.parse(all.stdout) as { counts: Record<string, number>; ms: number };

// 2. optimize with the committed verdicts: verification time inside the process
const tmp = Deno.makeTempDirSync();
const gateMs: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = await cli(
    "optimize",
    path.join(root, "examples", "bert_tiny.onnx"),
    "-o",
    path.join(tmp, "o.onnx"),
    "--json",
  );
  gateMs.push((JSON.parse(r.stdout) as { ms: { verify: number } }).ms.verify);
}
Deno.removeSync(tmp, { recursive: true });

const result = {
  date: new Date().toISOString().slice(0, 10),
  cpu: (Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? "unknown",
  cores: navigator.hardwareConcurrency,
  verifyAll: { wallMs: all.ms, verifyMs: verdicts.ms, counts: verdicts.counts, exit: all.code },
  optimizeVerifyMs: { median: median(gateMs), runs: gateMs },
};
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(`${result.date}, ${result.cpu}, ${result.cores} cores`);
  console.log(
    `verify --all: ${(all.ms / 1000).toFixed(1)} s wall (${(verdicts.ms / 1000).toFixed(1)} s verifying), ${
      JSON.stringify(verdicts.counts)
    }, exit ${all.code}`,
  );
  console.log(
    `optimize, warm cache: verification ${median(gateMs).toFixed(1)} ms median (${
      gateMs.map((x) => x.toFixed(1)).join(", ")
    })`,
  );
}
