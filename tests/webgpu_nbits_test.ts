/**
 * WebGPU MatMulNBits (`codegen/matmul_nbits.ts`) against the reference interpreter: the GEMV
 * (M = 1) and the tiled GEMM with its dequantizing B loader (both tile shapes: the software one and
 * the hardware one forced), at every block size, bits 2/4/8, with and without zero points (packed
 * and float), odd K (a padded last word and block), K not a multiple of 4, N and M across tile
 * borders, bias, g_idx, a fused epilogue and half storage; and what is refused at plan time. Skipped
 * (but for the planning checks) when WebGPU has no adapter.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { gpuAdapter, graphModel, matchesReference, type MatchOptions, node } from "./_models.ts";
import { type NBitsCase, nbitsInput, nbitsModel, nbitsNode, nbitsWeights } from "./_nbits.ts";
import { unsupportedNodes } from "../codegen/plan.ts";
import { createSession } from "../webgpu/session.ts";
import { runModel } from "../ir/interpreter.ts";
import { float32Tensor, type Tensor, toNumbers } from "../ir/tensor.ts";
import { loadOnnx } from "../onnx/load.ts";
import { encodeModel } from "../onnx/encode.ts";
import { quantizeModel } from "../optimize/quantize.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors } from "../conformance/compare.ts";
import { modelPath } from "./_helpers.ts";

const ignore = (await gpuAdapter()) === null;
if (ignore) console.warn("webgpu_nbits_test: no WebGPU adapter here; GPU tests skipped");

/** The case on WebGPU against the reference (default tolerance: atol 1e-4, rtol 1e-3). */
function matches(c: NBitsCase, options: MatchOptions = {}): Promise<void> {
  return matchesReference(nbitsModel(c), { a: nbitsInput(c) }, {
    supported: true,
    label: JSON.stringify(c),
    ...options,
  });
}

Deno.test({
  name:
    "MatMulNBits GEMV (M = 1) matches the reference at every block size, bits 4 and 8, with and without zero points",
  ignore,
  async fn() {
    for (const bits of [4, 8] as const) {
      for (const block of [16, 32, 64, 128]) {
        for (const zp of ["none", "packed"] as const) {
          // odd K: the last word and the last block padded; N = 67 is no multiple of anything
          await matches({ a: [1, block * 3 + 5], N: 67, bits, block, zp, seed: bits * block });
        }
      }
    }
  },
});

Deno.test({
  name:
    "MatMulNBits GEMV: 2 bits, float zero points, bias, g_idx, K a multiple of 4 but not of a word, rank-1 and batched A",
  ignore,
  async fn() {
    await matches({ a: [1, 200], N: 9, bits: 2, block: 32, zp: "packed", bias: true });
    await matches({ a: [1, 1, 100], N: 33, bits: 4, block: 32, zp: "float" });
    await matches({ a: [1, 96], N: 17, bits: 4, block: 32, gIdx: true, bias: true });
    await matches({ a: [1, 96], N: 17, bits: 8, block: 16, zp: "float", gIdx: true });
    await matches({ a: [1, 44], N: 5, bits: 4, block: 16 }); // K % 8 = 4: half the last word
    await matches({ a: [1, 768], N: 70, bits: 4, block: 32, zp: "packed" });
    // A of rank 1: Y is [N]
    await matches({ a: [50], N: 6, bits: 4, block: 16, zp: "packed" });
  },
});

Deno.test({
  name: "MatMulNBits GEMM (M > 1) matches the reference across tile borders, with the software and the hardware tile",
  ignore,
  async fn() {
    for (const software of [true, false]) {
      const target = { software };
      for (const block of [16, 32, 64, 128]) {
        await matches({ a: [3, block + 7], N: 70, bits: 4, block, zp: "packed", bias: true }, { target });
      }
      await matches({ a: [2, 5, 130], N: 65, bits: 8, block: 32, zp: "none" }, { target });
      await matches({ a: [33, 64], N: 31, bits: 4, block: 32, zp: "float" }, { target });
      await matches({ a: [17, 90], N: 9, bits: 2, block: 16, zp: "packed", gIdx: false }, { target });
      await matches({ a: [4, 96], N: 10, bits: 4, block: 32, gIdx: true }, { target });
    }
  },
});

Deno.test({
  name: "MatMulNBits takes a fused elementwise epilogue and runs with half-precision storage",
  ignore,
  async fn() {
    const c: NBitsCase = { a: [1, 64], N: 20, bits: 4, block: 32, zp: "packed", bias: true };
    const w = nbitsWeights(c);
    const mm = nbitsNode(c, w);
    mm.outputs = ["t"];
    const model = graphModel([mm, node("Relu", ["t"], ["y"])], { a: c.a }, ["y"], {
      b: w.b,
      scales: w.scales,
      zp: w.zp!,
      bias: w.bias!,
    }, { opset: 21, domains: [{ domain: "com.microsoft", version: 1 }] });
    const feeds = new Map([["a", nbitsInput(c)]]);
    const session = await createSession(model);
    try {
      assertEquals(session.plan.kernels.map((k) => k.name), ["MatMulNBits+Relu"]);
      const got = toNumbers((await session.run(feeds)).get("y") as Tensor);
      const want = toNumbers(runModel(model, feeds).get("y") as Tensor);
      for (let i = 0; i < want.length; i++) assert(Math.abs(got[i] - want[i]) <= 1e-4 + 1e-3 * Math.abs(want[i]));
    } finally {
      session.destroy();
    }
    // f16 storage of A and Y (emulated where the adapter has no shader-f16): within f16 rounding
    const h = nbitsModel({ a: [3, 96], N: 12, bits: 4, block: 32 });
    const a = nbitsInput({ a: [3, 96], N: 12, bits: 4, block: 32 });
    const s = await createSession(h, { f16: "emulated" });
    try {
      const got = toNumbers((await s.run(new Map([["a", a]]))).get("y") as Tensor);
      const want = toNumbers(runModel(h, new Map([["a", a]])).get("y") as Tensor);
      for (let i = 0; i < want.length; i++) assert(Math.abs(got[i] - want[i]) <= 2e-3 + 2e-3 * Math.abs(want[i]));
    } finally {
      s.destroy();
    }
  },
});

Deno.test("MatMulNBits on WebGPU: runtime weights, malformed weights and g_idx beside packed zero points are refused at plan time", () => {
  const c: NBitsCase = { a: [1, 64], N: 5, bits: 4, block: 32, zp: "packed" };
  const w = nbitsWeights(c);
  const reasons = (m: ReturnType<typeof nbitsModel>) => unsupportedNodes(m).map((u) => `${u.op}: ${u.reason}`);
  // B fed at run time: the kernel needs it at plan time
  const fed = nbitsModel(c, w);
  fed.graph.initializers.delete("b");
  fed.graph.inputs.push({ name: "b", type: { kind: "tensor", dtype: w.b.dtype, shape: [...w.b.dims] } });
  assertEquals(reasons(fed), ["com.microsoft.MatMulNBits: input 1 must be known at plan time"]);
  const bad = nbitsModel(c, { ...w, scales: float32Tensor([5, 1], [1, 1, 1, 1, 1]) });
  assert(/scales has 5 elements/.test(reasons(bad)[0] ?? ""), reasons(bad).join());
  const g = nbitsModel({ ...c, gIdx: true }, nbitsWeights({ ...c, gIdx: true }));
  assert(/g_idx with packed uint8 zero_points/.test(reasons(g)[0] ?? ""), reasons(g).join());
  assertEquals(reasons(nbitsModel(c, w)), []);
});

Deno.test({
  name:
    "int4-quantized gpt2_tiny, llama_tiny_dynamo and bert_tiny run on WebGPU through the MatMulNBits kernels and agree with onnxruntime-node",
  ignore,
  async fn() {
    for (const path of [modelPath("gpt2_tiny"), modelPath("llama_tiny_dynamo"), "examples/bert_tiny.onnx"]) {
      const q = quantizeModel(loadOnnx(path), { precision: "int4" }).model;
      const nbits = q.graph.nodes.filter((n) => n.opType === "MatMulNBits").length;
      assert(nbits > 0, `${path}: no MatMulNBits`);
      const inputs = randomInputs(q, { seed: 1 });
      const session = await createSession(q);
      try {
        assertEquals(session.plan.kernels.filter((k) => k.name.startsWith("MatMulNBits")).length, nbits);
        const got = await session.run(inputs);
        // ONNX Runtime at "basic" runs the graph as written: at "all" it rewrites an int8
        // DequantizeLinear + MatMul (layers the quantizer kept at int8) into a less exact 8-bit MatMulNBits
        for (const [name, want] of await runOrt(encodeModel(q).bytes, inputs, { graphOptimizationLevel: "basic" })) {
          const why = compareTensors(got.get(name) as Tensor, want, { atol: 1e-4, rtol: 1e-3 });
          assert(!why, `${path} output ${name}: ${why}`);
        }
      } finally {
        session.destroy();
      }
    }
  },
});
