/**
 * Shipped fusion rules the stricter verifier refuted, fixed: a MatMul + Add becomes a Gemm only when
 * the addend broadcasts to the product (not to the Add's own, possibly larger, result); and
 * FusedConv's Relu keeps NaN as ONNX Runtime's does (the reference turned it into 0), on WebGPU too.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, gpuAdapter, graphModel, matchesNodes, node, rand } from "./_models.ts";
import { compareTensors, float32Tensor, optimize, runModel, runOrt, saveOnnx, type Tensor } from "../mod.ts";

Deno.test("MatMul + Add is not made a Gemm when the addend is larger than the product", async () => {
  // [1,6]·[6,1] = [1,1], + c[1,3] = [1,3]: Gemm's C must broadcast to [1,1], and [1,3] does not
  const model = graphModel(
    [node("MatMul", ["a", "b"], ["m"]), node("Add", ["m", "c"], ["y"])],
    { a: [1, 6], c: [1, 3] },
    ["y"],
    { b: rand([6, 1], 2) },
  );
  const { model: out } = await optimize(model, { guard: false, cacheFile: await Deno.makeTempFile() });
  assert(!out.graph.nodes.some((n) => n.opType === "Gemm"), "a Gemm was made of a larger addend");
  const feeds = new Map([["a", rand([1, 6], 3)], ["c", rand([1, 3], 4)]]);
  assertEquals(
    compareTensors(runModel(out, feeds).get("y") as Tensor, runModel(model, feeds).get("y") as Tensor, {
      atol: 1e-6,
      rtol: 1e-6,
    }),
    undefined,
  );
});

Deno.test("MatMul + Add with a bias of the product's shape still becomes a Gemm", async () => {
  const model = graphModel(
    [node("MatMul", ["a", "b"], ["m"]), node("Add", ["m", "c"], ["y"])],
    { a: [2, 6] },
    ["y"],
    { b: rand([6, 3], 2), c: rand([3], 5) },
  );
  const { model: out } = await optimize(model, { guard: false, cacheFile: await Deno.makeTempFile() });
  assert(out.graph.nodes.some((n) => n.opType === "Gemm"), "no Gemm");
});

const nanInput = float32Tensor([1, 1, 2, 2], [NaN, -1, 2, Infinity]);

Deno.test("FusedConv keeps NaN through Relu, Clip and HardSigmoid as ONNX Runtime does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [act, params] of [["Relu", []], ["Clip", [0, 6]], ["HardSigmoid", [0.2, 0.5]], ["LeakyRelu", [0.1]]]) {
      const attrs = [{ name: "activation", type: "string" as const, value: act as string }];
      if ((params as number[]).length) {
        attrs.push({ name: "activation_params", type: "floats", value: params } as never);
      }
      const model = graphModel(
        [node("FusedConv", ["x", "w"], ["y"], attrs, "com.microsoft")],
        { x: [1, 1, 2, 2] },
        ["y"],
        { w: float32Tensor([1, 1, 1, 1], [1]) },
        { domains: [{ domain: "com.microsoft", version: 1 }] },
      );
      const file = `${dir}/fc.onnx`;
      saveOnnx(model, file);
      const feeds = new Map([["x", nanInput]]);
      const want = (await runOrt(file, feeds)).get("y")!;
      const got = runModel(model, feeds).get("y") as Tensor;
      assertEquals(compareTensors(got, want, { atol: 1e-6, rtol: 1e-6 }), undefined, `${act}: reference vs ORT`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "FusedConv keeps NaN through its activations on WebGPU",
  ignore: (await gpuAdapter()) === null,
  async fn() {
    for (const act of ["Relu", "LeakyRelu", "Clip", "HardSigmoid", "Sigmoid", "Tanh"]) {
      const attrs = [attr("activation", act)];
      if (act === "Clip") attrs.push({ name: "activation_params", type: "floats", value: [0, 6] });
      for (const software of [true, false]) {
        await matchesNodes(
          node("FusedConv", ["x", "w"], ["y"], attrs, "com.microsoft"),
          { x: nanInput },
          { w: float32Tensor([1, 1, 1, 1], [1]) },
          17,
          { target: { software } },
        );
      }
    }
  },
});
