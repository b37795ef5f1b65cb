/**
 * The WebGPU backend: the six shared models (and their `optimize`d versions) against
 * onnxruntime-node, the tiled MatMul at odd sizes against the reference interpreter, the ONNX
 * node tests of the ops the backend implements, unsupported ops, fusion and memory planning.
 * Runs on any adapter (llvmpipe on CI: shapes stay small); skipped when WebGPU has none.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, MODELS } from "./_helpers.ts";
import { ONNX_TESTS, skipWithoutOnnxTests } from "./_corpora.ts";
import {
  attr,
  graphModel,
  matchesReference,
  type MatchOptions,
  type ModelOptions,
  node,
  rand,
  TIGHT_TOL,
  TOL,
} from "./_models.ts";
import { SaturnError } from "../errors.ts";
import { loadOnnx } from "../onnx/load.ts";
import type { Attribute } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, int64Tensor, Tensor } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors } from "../conformance/compare.ts";
import { planModel, unsupportedNodes } from "../codegen/plan.ts";
import { createSession } from "../webgpu/session.ts";
import { planMemory } from "../webgpu/memory.ts";
import { buildProgram } from "../webgpu/compile.ts";
import { runConformanceGpu } from "../webgpu/conformance.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_test: no WebGPU adapter here; GPU tests skipped");

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/** Run a model file on WebGPU and in ONNX Runtime on seeded inputs; assert every output matches. */
async function matchesOrt(file: string, seed = 0): Promise<void> {
  const model = loadOnnx(file);
  const inputs = randomInputs(model, { seed });
  const session = await createSession(model);
  try {
    const got = await session.run(inputs);
    const want = await runOrt(file, inputs);
    for (const [name, t] of want) {
      const why = compareTensors(got.get(name)!, t, TOL);
      assert(!why, `${path.basename(file)} output '${name}': ${why}`);
    }
  } finally {
    session.destroy();
  }
}

for (const name of MODELS) {
  Deno.test({
    name: `webgpu runs ${name} and matches onnxruntime-node`,
    ignore,
    fn: () => matchesOrt(modelPath(name)),
  });
}

const optDir = Deno.makeTempDirSync({ prefix: "saturn_webgpu_" });
for (const name of MODELS) {
  Deno.test({
    name: `webgpu runs the optimized ${name} and matches onnxruntime-node`,
    ignore,
    async fn() {
      const out = path.join(optDir, `${name}.opt.onnx`);
      const p = await new Deno.Command(Deno.execPath(), {
        // the guard's timing could keep the input on a busy machine: this test is about the optimized graph
        args: ["run", "-A", CLI, "optimize", modelPath(name), "-o", out, "--json", "--no-guard"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(p.code, 0, new TextDecoder().decode(p.stderr));
      const ops = JSON.parse(new TextDecoder().decode(p.stdout)).opsAfter as Record<string, number>;
      if (name === "squeezenet1_1") assert(ops["com.microsoft.FusedConv"] > 0, "expected FusedConv nodes");
      if (name === "bert_tiny") assert(ops["com.microsoft.Gelu"] > 0, "expected Gelu nodes");
      await matchesOrt(out, 1);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// small graphs

/** Every model here imports com.microsoft 1 too (for FusedConv). */
const MS: ModelOptions = { domains: [{ domain: "com.microsoft", version: 1 }] };
/** The reference checks here: tight, on the adapter's target or on the hardware target's kernels. */
const REF: MatchOptions = { tol: TIGHT_TOL };
const HW: MatchOptions = { tol: TIGHT_TOL, target: { software: false } };

const MATMULS: [number[], number[]][] = [
  [[1, 1], [1, 1]],
  [[7, 13], [13, 5]],
  [[65, 67], [67, 63]],
  [[2, 3, 7, 13], [3, 13, 5]],
  [[4, 1, 7, 12], [1, 5, 12, 8]],
  [[13], [13, 6]],
  [[5, 13], [13]],
  [[1, 33, 128], [128, 36]],
];

Deno.test({
  name: "tiled MatMul matches the reference at odd sizes, batched and broadcast",
  ignore,
  async fn() {
    for (const [a, b] of MATMULS) {
      const m = graphModel([node("MatMul", ["a", "b"], ["y"])], { a, b }, ["y"], {}, MS);
      await matchesReference(m, new Map([["a", rand(a, 1)], ["b", rand(b, 2)]]), REF);
      // the hardware target's kernels (gemm_fast; gemm.ts for the batch broadcast it lacks)
      await matchesReference(m, new Map([["a", rand(a, 1)], ["b", rand(b, 2)]]), HW);
    }
    // the hardware tile (BK 16) on a shape that compiles fast on a software adapter
    const m = graphModel([node("MatMul", ["a", "b"], ["y"])], { a: [7, 37], b: [37, 9] }, ["y"], {}, MS);
    await matchesReference(m, new Map([["a", rand([7, 37], 3)], ["b", rand([37, 9], 4)]]), HW);
  },
});

Deno.test({
  name: "a MatMul followed by a comparison (bool output) runs: the chain is not fused into the f32 store",
  ignore,
  async fn() {
    const m = graphModel(
      [node("MatMul", ["a", "b"], ["p"]), node("Greater", ["p", "z"], ["y"])],
      { a: [5, 7], b: [7, 3], z: [1] },
      ["y"],
      {},
      MS,
    );
    const inputs = new Map([["a", rand([5, 7], 1)], ["b", rand([7, 3], 2)], ["z", rand([1], 3)]]);
    await matchesReference(m, inputs, REF);
    await matchesReference(m, inputs, HW);
  },
});

Deno.test({
  name: "Gemm matches the reference with transposes, alpha, beta and a broadcast C",
  ignore,
  async fn() {
    const [M, K, N] = [9, 17, 11];
    for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const a = ta ? [K, M] : [M, K], b = tb ? [N, K] : [K, N];
      const g = node("Gemm", ["a", "b", "c"], ["y"], [
        attr("transA", ta),
        attr("transB", tb),
        attr("alpha", 0.5),
        attr("beta", 2.5),
      ]);
      const m = graphModel([g], { a, b, c: [N] }, ["y"], {}, MS);
      await matchesReference(m, new Map([["a", rand(a, 1)], ["b", rand(b, 2)], ["c", rand([N], 3)]]), REF);
      await matchesReference(m, new Map([["a", rand(a, 1)], ["b", rand(b, 2)], ["c", rand([N], 3)]]), HW);
    }
    // C as gemm_fast's full bias, and broadcast shapes it takes in the epilogue (hardware target)
    for (const c of [[M, N], [M, 1], [1]]) {
      const g = node("Gemm", ["a", "b", "c"], ["y"], [attr("transB", 1), attr("alpha", 0.5), attr("beta", 2.5)]);
      const m = graphModel([g], { a: [M, K], b: [N, K], c }, ["y"], {}, MS);
      const inputs = new Map([["a", rand([M, K], 1)], ["b", rand([N, K], 2)], ["c", rand(c, 3)]]);
      await matchesReference(m, inputs, HW);
    }
  },
});

Deno.test({
  name: "Conv variants (strided, padded, grouped, depthwise, 1x1, FusedConv) match the reference",
  ignore,
  async fn() {
    const cases: [number[], number[], Attribute[]][] = [
      [[1, 3, 9, 11], [8, 3, 3, 3], [attr("pads", [1, 0, 1, 2]), attr("strides", [2, 1])]],
      [[2, 4, 7, 7], [8, 2, 3, 3], [attr("group", 2), attr("dilations", [2, 1])]],
      [[1, 6, 8, 8], [6, 1, 3, 3], [attr("group", 6), attr("pads", [1, 1, 1, 1])]],
      [[1, 8, 5, 6], [12, 8, 1, 1], []],
      [[2, 8, 5, 6], [12, 8, 1, 1], []],
      [[1, 3, 10], [5, 3, 4], [attr("auto_pad", "SAME_UPPER")]],
    ];
    for (const [x, w, attrs] of cases) {
      const m = graphModel([node("Conv", ["x", "w", "b"], ["y"], attrs)], { x, w, b: [w[0]] }, ["y"], {}, MS);
      await matchesReference(m, new Map([["x", rand(x, 1)], ["w", rand(w, 2)], ["b", rand([w[0]], 3)]]), REF);
    }
    // the hardware target: im2col into a temporary, then gemm_fast per group (strided and padded, grouped and
    // dilated with two images, 1-D), with a fused residual add and ReLU in the epilogue
    const im2col: [number[], number[], Attribute[]][] = [
      cases[0],
      [[2, 4, 7, 7], [16, 2, 3, 3], [attr("group", 2), attr("dilations", [2, 1])]],
      [[1, 3, 10], [8, 3, 4], [attr("auto_pad", "SAME_UPPER")]],
    ];
    for (const [x, w, attrs] of im2col) {
      const conv = graphModel([node("Conv", ["x", "w"], ["y"], attrs)], { x, w }, ["y"], {}, MS);
      const out = [...(runModel(conv, new Map([["x", rand(x, 1)], ["w", rand(w, 2)]])).get("y") as Tensor).dims];
      const m = graphModel(
        [node("Conv", ["x", "w", "b"], ["t"], attrs), node("Add", ["t", "r"], ["s"]), node("Relu", ["s"], ["y"])],
        { x, w, b: [w[0]], r: out },
        ["y"],
        {},
        MS,
      );
      const kernels = planModel(m).kernels.map((k) => k.name);
      assert(kernels[0] === "Conv[im2col]" && kernels.some((k) => k.startsWith("Conv+Add+Relu")), `${kernels}`);
      const inputs = new Map([["x", rand(x, 1)], ["w", rand(w, 2)], ["b", rand([w[0]], 3)], ["r", rand(out, 4)]]);
      await matchesReference(m, inputs, HW);
    }
    // 1×1 convolutions on the hardware target's gemm_fast: one image, grouped; two images; and a
    // FusedConv with an activation and a fused residual add in the epilogue
    const pw: [number[], number[], Attribute[]][] = [
      [[1, 8, 5, 6], [12, 4, 1, 1], [attr("group", 2)]],
      [[2, 8, 5, 6], [12, 8, 1, 1], []],
    ];
    for (const [x, w, attrs] of pw) {
      const m = graphModel([node("Conv", ["x", "w", "b"], ["y"], attrs)], { x, w, b: [w[0]] }, ["y"], {}, MS);
      const inputs = new Map([["x", rand(x, 1)], ["w", rand(w, 2)], ["b", rand([w[0]], 3)]]);
      await matchesReference(m, inputs, HW);
    }
    const fused = graphModel(
      [
        node("FusedConv", ["x", "w", "b"], ["t"], [attr("activation", "Relu")], "com.microsoft"),
        node("Add", ["t", "r"], ["y"]),
      ],
      { x: [1, 8, 5, 6], w: [12, 8, 1, 1], b: [12], r: [1, 12, 5, 6] },
      ["y"],
      {},
      MS,
    );
    const fusedIn = new Map([
      ["x", rand([1, 8, 5, 6], 1)],
      ["w", rand([12, 8, 1, 1], 2)],
      ["b", rand([12], 3)],
      ["r", rand([1, 12, 5, 6], 4)],
    ]);
    assertEquals(planModel(fused).kernels.map((k) => k.name), ["FusedConv+Add"]);
    await matchesReference(fused, fusedIn, HW);
    const fc = node("FusedConv", ["x", "w", "b"], ["y"], [attr("activation", "LeakyRelu"), {
      name: "activation_params",
      type: "floats",
      value: [0.2],
    }], "com.microsoft");
    const m = graphModel([fc], { x: [1, 4, 6, 6], w: [8, 4, 3, 3], b: [8] }, ["y"], {}, MS);
    await matchesReference(
      m,
      new Map([["x", rand([1, 4, 6, 6], 1)], ["w", rand([8, 4, 3, 3], 2)], ["b", rand([8], 3)]]),
      REF,
    );
  },
});

Deno.test({
  name: "an elementwise chain is one kernel, and a MatMul takes its bias add and activation as an epilogue",
  async fn() {
    const chain = graphModel(
      [node("Add", ["x", "b"], ["t"]), node("Relu", ["t"], ["u"]), node("Mul", ["u", "s"], ["y"])],
      { x: [3, 4] },
      ["y"],
      { b: float32Tensor([4], [1, 2, 3, 4]), s: float32Tensor([], [0.5]) },
      MS,
    );
    assertEquals(planModel(chain).kernels.map((k) => k.name), ["Add+Relu+Mul"]);
    const mm = graphModel(
      [node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "b"], ["t"]), node("Relu", ["t"], ["y"])],
      { x: [5, 8] },
      ["y"],
      { w: rand([8, 6], 1), b: rand([6], 2) },
      MS,
    );
    assertEquals(planModel(mm).kernels.map((k) => k.name), ["MatMul+Add+Relu"]);
    if (!ignore) await matchesReference(mm, new Map([["x", rand([5, 8], 3)]]), REF);
  },
});

Deno.test({
  name: "a hardware target runs MatMul on gemm_fast (split-K in a planned temporary) with a fused bias + Gelu",
  async fn() {
    const [M, K, N] = [128, 768, 768];
    const m = graphModel(
      [node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "b"], ["t"]), node("Gelu", ["t"], ["y"])],
      { x: [M, K] },
      ["y"],
      { w: rand([K, N], 1), b: rand([N], 2) },
      MS,
    );
    m.opsetImports = [{ domain: "", version: 20 }];
    // software: gemm.ts, one kernel
    assertEquals(planModel(m, { target: { software: true } }).kernels.map((k) => k.name), ["MatMul+Add+Gelu"]);
    // hardware: gemm_fast's split-K product and its reduction, the epilogue in the reduction
    const plan = planModel(m, { target: {} });
    assertEquals(plan.kernels.map((k) => k.name.replace(/\d+/, "S")), [
      "MatMul+Add+Gelu[splitK S]",
      "MatMul+Add+Gelu[reduce]",
    ]);
    assert(plan.kernels[0].wgsl.includes("split-K"), "expected gemm_fast's kernel");
    const temp = plan.kernels[0].temporaries![0];
    assertEquals(plan.values.get(temp.name)?.kind, "activation");
    assertEquals(plan.kernels[1].bindings.map((b) => b.value), [temp.name, "b", "y"]);
    const mem = planMemory(plan);
    assert(mem.slotOf.has(temp.name), "the split-K temporary has no planned buffer");
    assert(mem.slotOf.get(temp.name) !== mem.slotOf.get("y"), "the temporary shares the output's buffer");
    // the compiled module binds it as a planned buffer
    const { program } = buildProgram(m);
    assert(program.kernels.every((k) => k.bindings.every((i) => program.buffers[i] !== undefined)));
    if (!ignore) await matchesReference(m, new Map([["x", rand([M, K], 3)]]), HW);
  },
});

Deno.test({
  name: "a profiled session times every kernel with timestamp queries",
  ignore: ignore || !adapter?.features.has("timestamp-query"),
  async fn() {
    const m = graphModel(
      [node("MatMul", ["x", "w"], ["m"]), node("Softmax", ["m"], ["y"], [attr("axis", -1)])],
      { x: [5, 8] },
      ["y"],
      { w: rand([8, 6], 1) },
      MS,
    );
    const s = await createSession(m, { profile: true });
    try {
      const x = new Map([["x", rand([5, 8], 2)]]);
      const got = (await s.run(x)).get("y")!;
      assert(!compareTensors(got, runModel(m, x).get("y") as Tensor, TOL), "profiled outputs differ");
      const p = s.lastProfile!;
      assertEquals(p.map((k) => k.kernel), ["MatMul", "Softmax"]);
      assert(p.every((k) => k.ms >= 0 && Number.isFinite(k.ms)), JSON.stringify(p));
    } finally {
      s.destroy();
    }
  },
});

Deno.test({
  name: "views and constant shape math compile to no kernel",
  async fn() {
    const m = graphModel(
      [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "i0"], ["d0"], [attr("axis", 0)]),
        node("Unsqueeze", ["d0", "ax"], ["d0u"]),
        node("Concat", ["d0u", "minus1"], ["shape"], [attr("axis", 0)]),
        node("Reshape", ["x", "shape"], ["r"]),
        node("Identity", ["r"], ["y"]),
      ],
      { x: [2, 3, 4] },
      ["y"],
      { i0: int64Tensor([], [0]), ax: int64Tensor([1], [0]), minus1: int64Tensor([1], [-1]) },
      MS,
    );
    const plan = planModel(m);
    assertEquals(plan.kernels.length, 0);
    assertEquals(plan.outputs[0].dims, [2, 12]);
    if (ignore) return;
    const x = rand([2, 3, 4], 1);
    const s = await createSession(m);
    const y = (await s.run(new Map([["x", x]]))).get("y")!;
    s.destroy();
    assertEquals([...y.dims], [2, 12]);
    assertEquals([...(y.data as Float32Array)], [...(x.data as Float32Array)]);
  },
});

Deno.test({
  name: "symbolic dims take their sizes from dims (default 1), and other shapes are refused",
  async fn() {
    const m = graphModel(
      [node("MatMul", ["x", "w"], ["t"]), node("Relu", ["t"], ["y"])],
      { x: [] },
      ["y"],
      { w: rand([4, 3], 1) },
      MS,
    );
    m.graph.inputs[0].type = { kind: "tensor", dtype: DataType.FLOAT, shape: ["N", 4] };
    assertEquals(planModel(m).inputs[0].dims, [1, 4]);
    assertEquals(planModel(m, { dims: { N: 5 } }).outputs[0].dims, [5, 3]);
    if (ignore) return;
    await matchesReference(m, new Map([["x", rand([1, 4], 2)]]), REF);
    const s = await createSession(m, { dims: { N: 5 } });
    try {
      const x = rand([5, 4], 3);
      const got = (await s.run(new Map([["x", x]]))).get("y")!;
      assert(!compareTensors(got, runModel(m, new Map([["x", x]])).get("y") as Tensor, TOL));
      let err: unknown;
      try {
        await s.run(new Map([["x", rand([2, 4], 4)]]));
      } catch (e) {
        err = e;
      }
      assert(err instanceof SaturnError && err.code === "BAD_INPUT", `${err}`);
    } finally {
      s.destroy();
    }
  },
});

Deno.test({
  name: "an op the backend lacks is one SaturnError naming the op and the node, before any GPU work",
  async fn() {
    // Det: an op the backend does not lower
    const m = graphModel([node("Relu", ["x"], ["t"]), node("Det", ["t"], ["y"])], { x: [3, 3] }, ["y"], {}, MS);
    const missing = unsupportedNodes(m);
    assertEquals(missing.map((u) => [u.op, u.node.name]), [["Det", "Det_y"]]);
    let err: unknown;
    try {
      // refused while planning, before the device is touched
      await createSession(m);
    } catch (e) {
      err = e;
    }
    assert(err instanceof SaturnError, `expected a SaturnError, got ${err}`);
    assertEquals(err.code, "UNSUPPORTED_OP");
    assert(err.message.includes("Det") && err.message.includes("'Det_y'"), err.message);
  },
});

Deno.test({
  name: "saturn run prints one line and exits 2 on an op WebGPU lacks",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "saturn_webgpu_cli_" });
    const file = path.join(dir, "det.onnx");
    const { saveOnnx } = await import("../onnx/load.ts");
    saveOnnx(graphModel([node("Det", ["x"], ["y"])], { x: [3, 3] }, ["y"], {}, MS), file);
    const p = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "run", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(p.stderr).trim();
    assertEquals(p.code, 2, err);
    assertEquals(err.split("\n").length, 1, err);
    assert(err.includes("Det") && err.includes("WebGPU"), err);
  },
});

Deno.test({
  name: "int64 inputs that do not fit in 32 bits are refused with a SaturnError",
  ignore,
  async fn() {
    const m = graphModel(
      [node("Gather", ["table", "ids"], ["y"])],
      { ids: [3] },
      ["y"],
      { table: rand([10, 4], 1) },
      { ...MS, inputDtype: DataType.INT64 },
    );
    const s = await createSession(m);
    try {
      const ok = await s.run(new Map([["ids", int64Tensor([3], [1, -1, 9])]]));
      const want = runModel(m, new Map([["ids", int64Tensor([3], [1, -1, 9])]])).get("y") as Tensor;
      assert(!compareTensors(ok.get("y")!, want, TOL));
      let err: unknown;
      try {
        await s.run(new Map([["ids", new Tensor(DataType.INT64, [3], new BigInt64Array([1n, 2n, 1n << 40n]))]]));
      } catch (e) {
        err = e;
      }
      assert(err instanceof SaturnError && err.code === "BAD_INPUT" && err.message.includes("32 bits"), `${err}`);
    } finally {
      s.destroy();
    }
  },
});

Deno.test({
  name: "the memory plan reuses buffers: bert_tiny's peak is below the sum of its intermediates",
  ignore,
  async fn() {
    const s = await createSession(loadOnnx(modelPath("bert_tiny")));
    try {
      const m = s.memory;
      assert(m.activationBytes < m.unplannedBytes, `${m.activationBytes} ≥ ${m.unplannedBytes}`);
      assert(m.activationBytes * 3 < m.unplannedBytes, `reuse is weak: ${m.activationBytes} of ${m.unplannedBytes}`);
      assert(s.peakBytes < m.weightBytes + m.inputBytes + m.unplannedBytes, `peak ${s.peakBytes}`);
      // every kernel binds buffers that exist, none read and written at once
      for (const k of s.plan.kernels) {
        const roots = k.bindings.map((b) => s.plan.values.get(b.value)!.root);
        const slot = (r: string) => m.slotOf.get(r) ?? r;
        const written = k.bindings.filter((b) => b.access === "read_write").map((b) =>
          slot(s.plan.values.get(b.value)!.root)
        );
        for (const r of roots.filter((_, i) => k.bindings[i].access === "read")) {
          assert(!written.includes(slot(r)), `${k.name} reads and writes one buffer`);
        }
      }
    } finally {
      s.destroy();
    }
  },
});

Deno.test({
  name: "the ONNX node tests of the ops the backend implements pass on WebGPU",
  ignore: ignore || skipWithoutOnnxTests("webgpu_test"),
  async fn() {
    const r = await runConformanceGpu([ONNX_TESTS!]);
    const failed = r.tests.filter((t) => t.status === "failed").map((t) => `${t.name}: ${t.reason}`);
    assertEquals(failed, []);
    assert(r.passed >= 1150, `only ${r.passed} tests passed`);
  },
});
