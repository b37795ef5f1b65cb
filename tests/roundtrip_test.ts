/**
 * decode → encode → decode keeps every model of the conformance suites unchanged (they use
 * every attribute kind, subgraphs, sparse tensors, sequences and functions), and external
 * data round-trips.
 */
import * as path from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { fingerprint, modelPath } from "./_helpers.ts";
import { ONNX_TESTS, skipWithoutOnnxTests } from "./_corpora.ts";
import { decodeModel, encodeModel, loadOnnx, saveOnnx, Tensor } from "../mod.ts";
import { findTests } from "../conformance/runner.ts";

Deno.test({
  name: "every conformance model survives decode → encode → decode",
  ignore: skipWithoutOnnxTests("roundtrip_test"),
  fn() {
    const dirs = findTests([ONNX_TESTS!]);
    assert(dirs.length > 1800, `only ${dirs.length} test folders found`);
    for (const d of dirs) {
      const a = decodeModel(Deno.readFileSync(path.join(d, "model.onnx")));
      const b = decodeModel(encodeModel(a).bytes);
      assertEquals(fingerprint(b), fingerprint(a), d);
    }
  },
});

Deno.test("saveOnnx writes large initializers as external data that loads back equal", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const model = loadOnnx(modelPath("squeezenet1_1"));
    const out = path.join(dir, "m.onnx");
    saveOnnx(model, out, { externalData: { location: "m.weights", threshold: 4096 } });
    const size = Deno.statSync(out).size;
    assert(size < 100_000, `model file still holds the weights (${size} bytes)`);
    assert(Deno.statSync(path.join(dir, "m.weights")).size > 4_000_000);
    const back = loadOnnx(out);
    // weights are read by range from the data file: each its own bytes exactly, not yet decoded
    const w = back.graph.initializers.get("features.0.weight")!;
    assert(w instanceof Tensor && w.raw !== undefined && w.raw.byteLength === w.size * 4);
    assertEquals(fingerprint(back), fingerprint(model));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("saveOnnx never leaves a partial file when writing fails", () => {
  const model = loadOnnx(modelPath("squeezenet1_1"));
  let threw = false;
  try {
    saveOnnx(model, "/nonexistent-dir/x.onnx");
  } catch {
    threw = true;
  }
  assert(threw);
});
