/**
 * The ONNX backend conformance suites on the reference interpreter: at least 85% of all
 * tests pass, and every test of every op the six shared models use passes.
 */
import * as path from "node:path";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, MODELS } from "./_helpers.ts";
import { ONNX_TESTS, skipWithoutOnnxTests } from "./_corpora.ts";
import { DataType, encodeModel, float32Tensor, loadOnnx, runConformance, type Tensor } from "../mod.ts";
import { perOp, runTest } from "../conformance/runner.ts";
import { proto } from "../onnx/schema.ts";
import { encodeTensor } from "../onnx/tensor_proto.ts";

const ignore = skipWithoutOnnxTests("conformance_test");
const suites = ONNX_TESTS === null ? [] : ["node", "simple", "pytorch-operator"].map((s) => path.join(ONNX_TESTS!, s));
const report = runConformance(suites);

Deno.test({
  name: "conformance over node/, simple/ and pytorch-operator/ passes at least 85%",
  ignore,
  fn() {
    assert(report.total >= 1800, `only ${report.total} tests found`);
    const rate = report.passed / report.total;
    assert(rate >= 0.85, `${report.passed}/${report.total} = ${(100 * rate).toFixed(1)}% passed`);
    assertEquals(report.passed + report.failed + report.unsupported, report.total);
  },
});

Deno.test({
  name: "every conformance test of every op used by the shared models passes",
  ignore,
  fn() {
    const used = new Set<string>();
    for (const m of MODELS) for (const n of loadOnnx(modelPath(m)).graph.nodes) used.add(n.opType);
    const rows = perOp(report);
    for (const op of used) {
      const row = rows.get(op);
      assert(row !== undefined && row[0] > 0, `no conformance test found for ${op}`);
      const bad = report.tests.filter((t) => t.op === op && t.status !== "passed");
      assertEquals(bad.map((t) => `${t.name}: ${t.reason}`), [], `${op} tests not passing`);
    }
  },
});

function testFolder(opType: string, expected: number[]): string {
  const dir = Deno.makeTempDirSync({ prefix: "saturn-conf-" });
  const model = {
    irVersion: 8,
    opsetImports: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      nodes: [{ name: "n", opType, domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
      inputs: [{ name: "x", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: [3] } }],
      outputs: [{ name: "y", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: [3] } }],
      initializers: new Map(),
      sparseInitializers: [],
      valueInfo: [],
    },
    metadataProps: [],
    trainingInfo: [],
    functions: [],
  };
  Deno.writeFileSync(path.join(dir, "model.onnx"), encodeModel(model).bytes);
  Deno.mkdirSync(path.join(dir, "test_data_set_0"));
  const pb = (t: Tensor) => proto.TensorProto.encode(encodeTensor(t)).finish();
  Deno.writeFileSync(path.join(dir, "test_data_set_0", "input_0.pb"), pb(float32Tensor([3], [-1, 0, 2])));
  Deno.writeFileSync(path.join(dir, "test_data_set_0", "output_0.pb"), pb(float32Tensor([3], expected)));
  return dir;
}

Deno.test("runTest() calls a test of a missing op unsupported, a wrong output failed, a right one passed", () => {
  const cases: [string, number[], string][] = [
    ["NoSuchOp", [0, 0, 2], "unsupported"],
    ["Relu", [0, 0, 2.5], "failed"],
    ["Relu", [0, 0, 2], "passed"],
  ];
  for (const [op, expected, status] of cases) {
    const dir = testFolder(op, expected);
    try {
      assertEquals(runTest(dir).status, status, `${op} ${expected}`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
});
