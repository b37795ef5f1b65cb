/**
 * Saturn's compiled module vs ONNX Runtime Web's WebGPU provider in one page of headless Chromium,
 * on the adapter Chromium gives (SwiftShader on a machine without a GPU): median ms of one inference
 * with outputs read back, over interleaved iterations after warm-up, plus each side's set-up and first
 * run and its largest error against onnxruntime-node on the same seeded inputs.
 *
 *     deno run -A bench/browser.ts [MODEL] [--iters N] [--warmup N] [--adapter swiftshader] [--json]
 *
 * MODEL defaults to examples/bert_tiny.onnx. Needs Chromium (`apt-get install -y chromium`).
 * @module
 */
import { parseArgs } from "node:util";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { errorStats } from "../conformance/compare.ts";
import type { Tensor } from "../ir/tensor.ts";
import { CHROMIUM_HINT, findChromium, runInBrowser, type SideReport } from "./browser_page.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    iters: { type: "string", default: "30" },
    warmup: { type: "string", default: "5" },
    adapter: { type: "string" },
    timeout: { type: "string", default: "600" },
    json: { type: "boolean", default: false },
  },
});
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = positionals[0] ?? path.join(root, "examples", "bert_tiny.onnx");
const chromium = findChromium();
if (!chromium) {
  console.error(`no Chromium found: ${CHROMIUM_HINT}`);
  Deno.exit(2);
}
const inputs = randomInputs(loadOnnx(file), { seed: 0 });
let r;
try {
  r = await runInBrowser(file, inputs, {
    chromium,
    iters: Number(values.iters),
    warmup: Number(values.warmup),
    webgpuAdapter: values.adapter,
    timeoutMs: Number(values.timeout) * 1000,
    onLog: values.json ? undefined : (l) => console.error(`  page: ${l}`),
  });
} catch (e) {
  console.error(`${path.basename(file)}: ${(e as Error).message}`);
  Deno.exit(1);
}
const want = await runOrt(file, inputs);

/** Largest absolute error over the outputs against onnxruntime-node. */
function maxErr(s: SideReport): number {
  let e = 0;
  for (const [k, w] of want) {
    const got = s.outputs.get(k);
    if (!got) return NaN;
    e = Math.max(e, errorStats(got as Tensor, w).maxAbs);
  }
  return e;
}

const row = {
  model: path.basename(file),
  browser: `Chromium ${r.version}`,
  flags: r.flags.join(" "),
  adapter: r.adapter,
  iters: Number(values.iters),
  warmup: Number(values.warmup),
  saturn: {
    setupMs: r.saturn.setupMs,
    firstMs: r.saturn.firstMs,
    medianMs: r.saturn.medianMs,
    maxErr: maxErr(r.saturn),
  },
  ortweb: r.ortweb
    ? { setupMs: r.ortweb.setupMs, firstMs: r.ortweb.firstMs, medianMs: r.ortweb.medianMs, maxErr: maxErr(r.ortweb) }
    : { error: r.ortwebError ?? "left out" },
  ortwebOverSaturn: r.ortweb ? r.ortweb.medianMs / r.saturn.medianMs : undefined,
};
if (values.json) {
  console.log(JSON.stringify(row));
} else {
  const a = r.adapter;
  console.log(
    `${row.model} in ${row.browser} on ${a.vendor}/${a.architecture}${a.description ? ` (${a.description})` : ""}` +
      `${
        a.isFallbackAdapter ? ", fallback adapter" : ""
      }; median of ${row.iters} interleaved runs after ${row.warmup} warm-up`,
  );
  const line = (n: string, s: SideReport, err: number) =>
    console.log(
      `  ${n.padEnd(7)} median ${s.medianMs.toFixed(2).padStart(8)} ms   first ${s.firstMs.toFixed(1).padStart(7)} ms` +
        `   setup ${s.setupMs.toFixed(1).padStart(7)} ms   max abs err vs ort ${err.toExponential(2)}`,
    );
  line("saturn", r.saturn, row.saturn.maxErr);
  if (r.ortweb) {
    line("ortweb", r.ortweb, (row.ortweb as { maxErr: number }).maxErr);
    console.log(`  ORT Web / Saturn: ${row.ortwebOverSaturn!.toFixed(2)}×`);
  } else console.log(`  ortweb: ${r.ortwebError}`);
}
