/**
 * The measured guard (optimize/guard.ts through `optimize`): decisions taken with a fake measurer
 * (never timing assertions): a slower output is never returned, the recoveries run in order, a
 * measurer that fails skips the guard, `guard: false` skips it; and the CLI's `--bench`,
 * `--no-guard`, `--target` and `--cost` as a user meets them.
 */
import * as path from "node:path";
import { runCli } from "./_helpers.ts";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import type { Model } from "../ir/graph.ts";
import { saveOnnx } from "../onnx/load.ts";
import { optimize } from "../optimize/verified.ts";
import { judge, type PairTiming } from "../optimize/guard.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Conv → Relu (fused into a FusedConv by the ort pack) after an Identity (removed by the clean-ups). */
function convRelu(): Model {
  return graphModel(
    [
      node("Identity", ["x"], ["xi"]),
      node("Conv", ["xi", "w", "b"], ["y"], [attr("kernel_shape", [1, 1])]),
      node("Relu", ["y"], ["z"]),
    ],
    { x: [1, 8, 16, 16] },
    ["z"],
    { w: rand([16, 8, 1, 1], 1), b: rand([16], 2) },
  );
}

const ops = (m: Model) => m.graph.nodes.map((n) => n.opType);

/** A fake measurer: `slow(model)` runs twice as long as the input, anything else as long. */
function fake(slow: (m: Model) => boolean, calls: Model[] = []) {
  return (_a: Model, b: Model): Promise<PairTiming> => {
    calls.push(b);
    return Promise.resolve({
      a: { medianUs: 100, noiseUs: 1, samples: 30 },
      b: { medianUs: slow(b) ? 200 : 100, noiseUs: 1, samples: 30 },
    });
  };
}

const tmp = () => Deno.makeTempFileSync({ suffix: ".json" });

Deno.test("the guard keeps an output that is not slower", async () => {
  const m = convRelu();
  const r = await optimize(m, { measurer: fake(() => false), costCacheFile: tmp() });
  assertEquals(r.guard?.action, "kept");
  assertEquals(r.guard?.ratio, 1);
  assert(!ops(r.model).includes("Identity"), ops(r.model).join(" "));
});

Deno.test("the guard never returns a slower output: when every candidate is slower, the input is returned", async () => {
  const m = convRelu();
  const calls: Model[] = [];
  const r = await optimize(m, { measurer: fake((b) => b !== m, calls), cost: "analytic", costCacheFile: tmp() });
  assertEquals(r.guard?.action, "input");
  assert(r.model === m, "the input itself");
  assertEquals(r.guard?.firstRatio, 2);
  assertEquals(r.report.nodesAfter, r.report.nodesBefore);
  // the output, the measured re-extraction and the clean-up were each timed
  assertEquals(calls.length, 3);
});

Deno.test("the guard falls back to the clean-up rules when the fusions are what is slower", async () => {
  const m = convRelu();
  const fused = (b: Model) => b.graph.nodes.some((n) => n.opType === "FusedConv");
  const r = await optimize(m, { measurer: fake(fused), cost: "analytic", costCacheFile: tmp() });
  assertEquals(ops(r.model).includes("FusedConv"), false);
  assert(r.guard?.action === "re-extracted" || r.guard?.action === "clean-up", String(r.guard?.action));
  assert(!ops(r.model).includes("Identity"), "the clean-ups still apply");
});

Deno.test("a measurer that fails skips the guard and keeps the output", async () => {
  const r = await optimize(convRelu(), {
    measurer: () => Promise.reject(new Error("no runtime here")),
    costCacheFile: tmp(),
  });
  assertEquals(r.guard?.action, "skipped");
  assert(r.guard?.note?.includes("no runtime here"), r.guard?.note);
});

Deno.test("guard: false runs no measurement", async () => {
  let called = false;
  const r = await optimize(convRelu(), {
    guard: false,
    measurer: () => {
      called = true;
      return Promise.reject(new Error("unreachable"));
    },
    costCacheFile: tmp(),
  });
  assertEquals(called, false);
  assertEquals(r.guard, undefined);
});

Deno.test("judge() calls a difference inside the measured noise not slower, and one beyond it slower", () => {
  const t = (b: number, noise: number): PairTiming => ({
    a: { medianUs: 100, noiseUs: noise, samples: 9 },
    b: { medianUs: b, noiseUs: noise, samples: 9 },
  });
  assertEquals(judge(t(105, 10)).slower, false); // ±2·1.858·10/3·√2 ≈ 17.5%
  assertEquals(judge(t(130, 10)).slower, true);
  assertEquals(judge(t(100.5, 0)).slower, false); // never below MIN_SLOWDOWN
  assertEquals(judge(t(103, 0)).slower, true);
});

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

Deno.test("optimize --bench prints the input's and output's latency on ONNX Runtime and the speed-up", async () => {
  const dir = Deno.makeTempDirSync();
  const file = path.join(dir, "m.onnx");
  saveOnnx(convRelu(), file);
  const env = { SATURN_CACHE_DIR: dir };
  const text = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), "optimize", file, "--bench"],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(text.stdout);
  assertEquals(text.code, 0, new TextDecoder().decode(text.stderr));
  assert(/bench \(ONNX Runtime CPU\): input [\d.]+ ms, output [\d.]+ ms, speed-up [\d.]+×/.test(out), out);
  const j = await cli("optimize", file, "-o", path.join(dir, "o.onnx"), "--bench", "--json");
  assertEquals(j.code, 0, j.stderr);
  const g = JSON.parse(j.stdout).guard;
  assert(g.inputUs > 0 && g.outputUs > 0 && g.ratio > 0, JSON.stringify(g));
  const n = await cli("optimize", file, "-o", path.join(dir, "n.onnx"), "--no-guard", "--json");
  assertEquals(n.code, 0, n.stderr);
  assertEquals(JSON.parse(n.stdout).guard, null);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("optimize refuses an unknown --target or --cost in one line, exit 2", async () => {
  const file = path.join(root, "tests/data/models/squeezenet1_1.onnx");
  for (const [flag, value] of [["--target", "tpu"], ["--cost", "guess"]]) {
    const r = await cli("optimize", file, "-o", "/tmp/never.onnx", flag, value);
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert(r.stderr.includes(value), r.stderr);
  }
});
