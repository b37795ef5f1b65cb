/**
 * Regression tests for what `deno task fuzz` found: each test builds the shrunk graph of one
 * finding in code and checks the stage that failed against the reference interpreter (which agreed
 * with ONNX Runtime on every finding). WebGPU tests are skipped where WebGPU has no adapter.
 * @module
 */
import { assert } from "./_assert.ts";
import { attr, graphModel, matchesNodes, matchesReference, node, nodesModel } from "./_models.ts";
import { float32Tensor, fromNumbers, int64Tensor, type Tensor } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { saveOnnx } from "../onnx/load.ts";
import { runOrt } from "../verify/ort.ts";
import { optimize } from "../optimize/verified.ts";
import { ortOptimizerChanges, saturatedByOnnxRuntime, withinRoundingOfDoubt } from "../fuzz/pipeline.ts";
import { DataType } from "../ir/dtype.ts";
import { compareTensors } from "../conformance/compare.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("fuzz_regressions_test: no WebGPU adapter here; GPU tests skipped");

const x = float32Tensor([6], [NaN, -2, 0, 1.5, NaN, -0.25]);
const y = float32Tensor([6], [0.5, NaN, 1, -1, NaN, 3]);

Deno.test({
  name: "Sign of NaN is NaN on WebGPU (fuzz seed 2, graph 122)",
  ignore,
  fn: () => matchesNodes(node("Sign", ["x"], ["y"]), { x }, {}, 20),
});

Deno.test({
  name: "Min and Max propagate NaN from either side on WebGPU (fuzz seed 2, graph 216)",
  ignore,
  async fn() {
    await matchesNodes(node("Min", ["x", "y"], ["z"]), { x, y }, {}, 16);
    await matchesNodes(node("Max", ["x", "y"], ["z"]), { x, y }, {}, 16);
    await matchesNodes(node("Max", ["x", "y", "x"], ["z"]), { x, y }, {}, 16);
    await matchesNodes(node("Min", ["y"], ["z"]), { y }, {}, 16);
  },
});

Deno.test({
  name: "Clip keeps NaN on WebGPU, with both bounds, one, or none (fuzz seed 3, graph 412)",
  ignore,
  async fn() {
    const lo = float32Tensor([], [-100]), hi = float32Tensor([], [100]);
    await matchesNodes(node("Clip", ["x", "lo", "hi"], ["y"]), { x }, { lo, hi }, 18);
    await matchesNodes(node("Clip", ["x", "lo"], ["y"]), { x }, { lo }, 18);
    await matchesNodes(node("Clip", ["x", "", "hi"], ["y"]), { x }, { hi }, 18);
  },
});

Deno.test({
  name: "activations built on comparisons keep NaN on WebGPU",
  ignore,
  async fn() {
    const ops = [
      "Relu",
      "LeakyRelu",
      "ThresholdedRelu",
      "Shrink",
      "Elu",
      "Selu",
      "Celu",
      "HardSigmoid",
      "HardSwish",
      "Softplus",
    ];
    for (const op of ops) {
      await matchesNodes(node(op, ["x"], ["y"]), { x }, {}, 18);
    }
    await matchesNodes(node("PRelu", ["x", "y"], ["z"]), { x, y }, {}, 18);
  },
});

Deno.test("noop_with_empty_axes applies the reduction's element function: |x|, |x|, x², log x (fuzz seed 4, graph 13)", () => {
  // ONNX's reference and ONNX Runtime reduce over no axes: each element alone goes through the
  // reduction (ReduceSumSquare gives x², not x)
  const v = float32Tensor([4], [-2, 0.5, 3, 0.25]);
  const want: Record<string, number[]> = {
    ReduceL1: [2, 0.5, 3, 0.25],
    ReduceL2: [2, 0.5, 3, 0.25],
    ReduceSumSquare: [4, 0.25, 9, 0.0625],
    ReduceLogSum: [NaN, Math.log(0.5), Math.log(3), Math.log(0.25)],
    ReduceLogSumExp: [-2, 0.5, 3, 0.25],
    ReduceSum: [-2, 0.5, 3, 0.25],
    ReduceProd: [-2, 0.5, 3, 0.25],
  };
  for (const [op, values] of Object.entries(want)) {
    const m = nodesModel(node(op, ["x"], ["y"], [attr("noop_with_empty_axes", 1)]), { x: v }, {}, 18);
    const got = runModel(m, new Map([["x", v]])).get("y") as Tensor;
    const why = compareTensors(got, float32Tensor([4], values), { atol: 1e-6, rtol: 1e-6 });
    assert(!why, `${op}: ${why}`);
  }
});

Deno.test({
  name: "noop_with_empty_axes reductions on WebGPU match the reference",
  ignore,
  async fn() {
    const v = float32Tensor([2, 3], [-2, 0.5, 3, 0.25, -1, 4]);
    for (const op of ["ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ReduceMean"]) {
      await matchesNodes(node(op, ["x"], ["y"], [attr("noop_with_empty_axes", 1)]), { x: v }, {}, 18);
    }
  },
});

Deno.test({
  name: "ReduceMax and ReduceMin are NaN over a NaN on WebGPU, short rows and long (fuzz seed 5, graph 1753)",
  ignore,
  async fn() {
    const axes = int64Tensor([1], [-1]);
    const short = float32Tensor([1, 3, 2], [0.65, 0.64, NaN, 2.08, NaN, 0.85]);
    const long = float32Tensor([2, 300], Array.from({ length: 600 }, (_, i) => i === 417 || i === 3 ? NaN : i % 7));
    for (const op of ["ReduceMin", "ReduceMax"]) {
      await matchesNodes(node(op, ["x", "axes"], ["y"]), { x: short }, { axes }, 20);
      await matchesNodes(node(op, ["x", "axes"], ["y"]), { x: long }, { axes }, 20);
      await matchesNodes(node(op, ["x"], ["y"], [attr("keepdims", 0)]), { x: long }, {}, 20);
    }
  },
});

Deno.test({
  name: "Pow of a NaN base or exponent is NaN on WebGPU, but x⁰ and 1ʸ are 1 (fuzz seed 5, graph 2427)",
  ignore,
  async fn() {
    const base = float32Tensor([6], [NaN, 2, NaN, 1, 0.5, NaN]);
    const exp = float32Tensor([6], [-0.47, NaN, 0, NaN, 2.5, 3]);
    await matchesNodes(node("Pow", ["x", "y"], ["z"]), { x: base, y: exp }, {}, 16);
  },
});

Deno.test({
  name: "a Split with outputs nothing reads runs on WebGPU and places the read ones right (fuzz, ~1% of graphs)",
  ignore,
  async fn() {
    const x = float32Tensor([2, 7], Array.from({ length: 14 }, (_, i) => i));
    const split = int64Tensor([3], [2, 3, 2]);
    const nodes = [node("Split", ["x", "split"], ["a", "b", "c"], [attr("axis", 1)]), node("Relu", ["c"], ["y"])];
    // the first two parts unread, then only the middle one unread: the offsets must count them
    for (const outputs of [["y"], ["a", "y"]]) {
      await matchesReference(graphModel(nodes, { x: [2, 7] }, outputs, { split }), { x }, { supported: true });
    }
  },
});

Deno.test("a Conv with auto_pad fused with its activation keeps pads unset: ONNX Runtime loads the result (fuzz seed 100, graph 5671)", async () => {
  const model = graphModel(
    [node("Conv", ["x", "w"], ["c"], [attr("auto_pad", "SAME_UPPER")]), node("Sigmoid", ["c"], ["y"])],
    { x: [1, 2, 3, 3] },
    ["y"],
    { w: float32Tensor([1, 2, 2, 2], [0.5, -1, 0.25, 2, -0.5, 1, 0.75, -2]) },
    { opset: 21 },
  );
  const { model: out } = await optimize(model, { guard: false, cacheFile: await Deno.makeTempFile() });
  for (const n of out.graph.nodes) {
    const names = n.attributes.map((a) => a.name);
    assert(!(names.includes("auto_pad") && names.includes("pads")), `${n.opType} has both auto_pad and pads`);
  }
  const dir = await Deno.makeTempDir();
  try {
    saveOnnx(model, `${dir}/in.onnx`);
    saveOnnx(out, `${dir}/out.onnx`);
    const feeds = new Map([["x", float32Tensor([1, 2, 3, 3], Array.from({ length: 18 }, (_, i) => (i % 7) - 3))]]);
    const want = (await runOrt(`${dir}/in.onnx`, feeds)).get("y")!;
    const got = (await runOrt(`${dir}/out.onnx`, feeds)).get("y")!;
    assert(compareTensors(got, want, { atol: 1e-6, rtol: 1e-5 }) === undefined, "outputs differ");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "Mean on WebGPU matches the reference within tolerance (fuzz seed 100, graph 10885)",
  ignore,
  async fn() {
    await matchesNodes(node("Mean", ["x", "x", "x"], ["m"]), { x: float32Tensor([1], [-0.04462432116270065]) }, {}, 18);
    await matchesNodes(node("Mean", ["x", "y"], ["m"]), { x, y: float32Tensor([6], [1, 2, 3, 4, 5, 6]) }, {}, 18);
  },
});

Deno.test("a comparison decided within rounding is divergence, not a bug: Mean(x, x, x) > x (fuzz seed 100, graph 10885)", () => {
  const close = nodesModel([node("Mean", ["x", "x", "x"], ["m"]), node("Greater", ["m", "x"], ["y"])], {
    x: float32Tensor([1], [-0.04462432116270065]),
  });
  const feeds = new Map([["x", float32Tensor([1], [-0.04462432116270065])]]);
  assert(withinRoundingOfDoubt(close, feeds), "Mean(x, x, x) against x is a close call");
  const far = nodesModel([node("Neg", ["x"], ["m"]), node("Greater", ["m", "x"], ["y"])], {
    x: float32Tensor([1], [-0.5]),
  });
  assert(!withinRoundingOfDoubt(far, new Map([["x", float32Tensor([1], [-0.5])]])), "0.5 > -0.5 is no close call");
});

Deno.test("a Sin of a large argument is divergence, not a bug: Sin(Pow(v, s)) at 13,177 (fuzz seed 200, graph 9152)", () => {
  const m = nodesModel([node("Pow", ["v", "s"], ["p"]), node("Sin", ["p"], ["y"])], {
    v: float32Tensor([2], [5.87, 0.5]),
    s: float32Tensor([2], [5.3633518, 2]),
  });
  const big = new Map([["v", float32Tensor([2], [5.87, 0.5])], ["s", float32Tensor([2], [5.3633518, 2])]]);
  assert(withinRoundingOfDoubt(m, big), "Sin of ~13,000: one float32 ulp of the argument is ~1e-3 of the result");
  const small = new Map([["v", float32Tensor([2], [1.5, 0.5])], ["s", float32Tensor([2], [2, 2])]]);
  assert(!withinRoundingOfDoubt(m, small), "Sin of 2.25 is well conditioned");
});

Deno.test("an int32 product that overflows, saturated by ONNX Runtime, is divergence, not a bug (fuzz seed 300, graph 4275)", () => {
  assert(saturatedByOnnxRuntime(new Map([["y", int32([1], [2147483647])]])), "ORT's saturated product");
  assert(!saturatedByOnnxRuntime(new Map([["y", int32([2], [5, -7])]])), "an ordinary product");
  assert(!saturatedByOnnxRuntime(new Map([["y", float32Tensor([1], [2147483647])]])), "floats are not integers");
});

function int32(dims: number[], values: number[]) {
  return fromNumbers(DataType.INT32, dims, values);
}

Deno.test({
  name: "Cast of NaN to bool is true on WebGPU, ±0 false (fuzz seed 400, graph 4700)",
  ignore,
  fn: () =>
    matchesNodes(
      node("Cast", ["x"], ["y"], [attr("to", 9)]),
      { x: float32Tensor([6], [NaN, -0, 0, -1.5, 1e-40, Infinity]) },
      {},
      21,
      { tol: { atol: 0, rtol: 0 } },
    ),
});

Deno.test("an ArgMax over a NaN is divergence, not a bug: ONNX leaves NaN's place open (fuzz seed 500, graph 10011)", () => {
  const m = nodesModel(node("ArgMax", ["v"], ["i"], [attr("axis", 1)]), { v: float32Tensor([1, 3], [15, NaN, 1]) });
  assert(withinRoundingOfDoubt(m, new Map([["v", float32Tensor([1, 3], [15, NaN, 1])]])), "a NaN among the values");
  assert(!withinRoundingOfDoubt(m, new Map([["v", float32Tensor([1, 3], [15, 2, 1])]])), "no NaN: a plain ArgMax");
});

Deno.test("MatMul(Transpose(A), 1-D b): the reference is right and ONNX Runtime's optimizer is not; the fuzzer calls it divergent (fuzz seed 800, graph 358)", async () => {
  const a = [-0.837, 0.469, -1.195, -1.985, -0.837, 0.469, -1.195, -1.985], b = [-0.39, 0.621, -1.7, 1.248];
  const model = graphModel(
    [node("Transpose", ["a"], ["t"]), node("MatMul", ["t", "b"], ["y"])],
    { a: [4, 2], b: [4] },
    ["y"],
    {},
    { opset: 17 },
  );
  const feeds = new Map([["a", float32Tensor([4, 2], a)], ["b", float32Tensor([4], b)]]);
  // Aᵀb by hand, in float64
  const want = [0, 1].map((j) => [0, 1, 2, 3].reduce((s, i) => s + a[i * 2 + j] * b[i], 0));
  const ref = runModel(model, feeds).get("y") as Tensor;
  assert(
    compareTensors(ref, float32Tensor([2], want), { atol: 1e-5, rtol: 1e-5 }) === undefined,
    "the reference computes Aᵀb",
  );
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/m.onnx`;
    saveOnnx(model, file);
    const plain = await runOrt(file, feeds, { graphOptimizationLevel: "disabled" });
    const all = await runOrt(file, feeds, { graphOptimizationLevel: "all" });
    assert(
      compareTensors(plain.get("y")!, ref, { atol: 1e-5, rtol: 1e-5 }) === undefined,
      "unoptimized ONNX Runtime agrees",
    );
    // the oracle the fuzzer uses: when ONNX Runtime's optimizer is fixed, `all` agrees too and this is simply true
    const allAgrees = compareTensors(all.get("y")!, ref, { atol: 1e-5, rtol: 1e-5 }) === undefined;
    assert(
      allAgrees || ortOptimizerChanges(new Map([["y", ref]]), all, plain),
      "a mismatch only ONNX Runtime's optimizer makes is divergence",
    );
    assert(
      !ortOptimizerChanges(new Map([["y", all.get("y")!]]), all, plain),
      "agreeing with the optimized side is not",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
