/**
 * The commands as a user meets them: `--json` gives one parseable object with the promised
 * fields, exit codes follow the README.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, runCli } from "./_helpers.ts";
import { ONNX_TESTS, skipWithoutOnnxTests } from "./_corpora.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

Deno.test("inspect --json reports IR, opsets, typed inputs and outputs, ops and parameters", async () => {
  const r = await cli("inspect", path.join(root, "examples", "bert_tiny.onnx"), "--json");
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.irVersion, 8);
  assertEquals(j.opsets, { "ai.onnx": 17 });
  assertEquals(j.inputs, [{ name: "input_ids", dtype: "int64", shape: [1, 32] }]);
  assertEquals(j.outputs[0].shape, [1, 32, 128]);
  assertEquals(j.ops.LayerNormalization, 5);
  assertEquals(j.parameters, 533504);
  assertEquals(j.shapesInferred.values, j.shapesInferred.withShape);
});

Deno.test("run --compare ort --json matches ONNX Runtime on squeezenet and exits 0", async () => {
  const r = await cli("run", modelPath("squeezenet1_1"), "--seed", "3", "--compare", "ort", "--json");
  assertEquals(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assertEquals(j.match, true);
  assertEquals(j.seed, 3);
  assert(j.outputs[0].maxAbsError < 1e-4 && j.outputs[0].maxRelError >= 0, JSON.stringify(j.outputs[0]));
});

Deno.test("run --inputs reads values from JSON and gives the same result as the library", async () => {
  const dir = Deno.makeTempDirSync();
  const f = path.join(dir, "in.json");
  Deno.writeTextFileSync(
    f,
    JSON.stringify({ input_ids: { dtype: "int64", shape: [1, 32], data: Array.from({ length: 32 }, (_, i) => i) } }),
  );
  const r = await cli(
    "run",
    path.join(root, "examples", "bert_tiny.onnx"),
    "--inputs",
    f,
    "--compare",
    "ort",
    "--json",
  );
  Deno.removeSync(dir, { recursive: true });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(JSON.parse(r.stdout).match, true);
});

Deno.test({
  name: "conformance --json has passed, failed, unsupported and total at the top level",
  ignore: skipWithoutOnnxTests("cli_test"),
  async fn() {
    const r = await cli("conformance", path.join(ONNX_TESTS!, "node"), "--filter", "^test_(relu|abs)$", "--json");
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals([j.passed, j.failed, j.unsupported, j.total], [2, 0, 0, 2]);
  },
});

Deno.test("conformance without a folder exits 2 with one line asking for it", async () => {
  const r = await cli("conformance");
  assertEquals(r.code, 2);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert(r.stderr.includes("onnx/backend/test/data"), r.stderr);
});

Deno.test("bench --vs ortweb takes a model stored with external data (ORT Web gets the weights inline)", async () => {
  const { loadOnnx, saveOnnx } = await import("../onnx/load.ts");
  const dir = Deno.makeTempDirSync({ prefix: "saturn_bench_ext_" });
  try {
    const file = path.join(dir, "squeezenet.onnx");
    saveOnnx(loadOnnx(modelPath("squeezenet1_1")), file, { externalData: { location: "squeezenet.onnx.data" } });
    assert(Deno.statSync(path.join(dir, "squeezenet.onnx.data")).size > 1 << 20, "weights were not written external");
    const r = await cli("bench", file, "--vs", "ortweb", "--iters", "1", "--json");
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals(j.results.map((t: { name: string }) => t.name), ["saturn", "ortweb"]);
    assert(j.results.every((t: { median: number }) => t.median > 0), r.stdout);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("saturn CMD --help prints that command's usage and exits 0; saturn --help lists every command", async () => {
  const all = await cli("-h");
  assertEquals(all.code, 0, all.stderr);
  for (const cmd of ["optimize", "inspect", "run", "compile", "bench", "verify", "conformance"]) {
    const r = await cli(cmd, "--help");
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.startsWith(`usage: saturn ${cmd} `), r.stdout);
    assert(all.stdout.includes(`  ${cmd} `), all.stdout);
  }
});

Deno.test("unknown commands and flags are one-line errors with exit code 2", async () => {
  const a = await cli("frobnicate");
  assertEquals(a.code, 2);
  const b = await cli("inspect", modelPath("squeezenet1_1"), "--no-such-flag");
  assertEquals(b.code, 2);
  assertEquals(b.stderr.trim().split("\n").length, 1, b.stderr);
  const c = await cli("run", modelPath("squeezenet1_1"), "--seed", "abc");
  assertEquals(c.code, 2);
});
