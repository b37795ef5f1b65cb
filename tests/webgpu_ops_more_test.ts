/**
 * WebGPU lowerings of TopK, LRN, GroupNormalization, MeanVarianceNormalization, Einsum, LpPool
 * and GlobalLpPool against the reference interpreter, on the edge cases the ONNX node tests miss
 * (TopK on rows longer than a workgroup and than its sort buffer, ties, NaN, K = row length, an
 * inner axis; LRN windows at the channel borders; Einsum equations the node tests only give in
 * float64). Shapes stay small for llvmpipe; skipped when WebGPU has no adapter.
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { attr, matchesReference, node, nodeMatcher, nodesModel, rand } from "./_models.ts";
import type { Attribute } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, int64Tensor, Tensor } from "../ir/tensor.ts";
import { unsupportedNodes } from "../codegen/plan.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_ops_more_test: no WebGPU adapter here; GPU tests skipped");

/** Run a one-node model (ONNX opset 18 unless given) on WebGPU and in the reference interpreter; assert it matches. */
const matches = nodeMatcher(18);

function topk(x: Tensor, k: number, attrs: Attribute[]): Promise<void> {
  return matches(node("TopK", ["x", "k"], ["v", "i"], attrs), { x }, { k: int64Tensor([1], [k]) });
}

Deno.test({
  name: "TopK matches the reference on long rows, ties, K = row length and an inner axis",
  ignore,
  async fn() {
    await topk(rand([2, 700], 1), 5, []); // rows longer than a workgroup (and than the software sort buffer)
    await topk(rand([2, 700], 2, { levels: 9 }), 700, [attr("largest", 0)]); // K = row length, many ties
    await topk(rand([3, 37, 4], 3, { levels: 5 }), 10, [attr("axis", 1)]); // not the last axis, ties
    await topk(rand([4, 1], 4), 1, [attr("axis", -1)]); // a row of one
    await topk(rand([2, 3], 5), 0, []); // K = 0: empty outputs
    // the hardware kernel (a larger buffer) at a size that compiles fast on llvmpipe
    const x = rand([3, 100], 5, { levels: 7 });
    const m = nodesModel(node("TopK", ["x", "k"], ["v", "i"]), { x }, { k: int64Tensor([1], [100]) }, 18);
    await matchesReference(m, { x }, { target: { software: false } });
  },
});

Deno.test({
  name: "TopK streams rows longer than its sort buffer, or selects K rounds when K is past half of it",
  ignore,
  async fn() {
    // streamed through the 256-pair buffer on a software adapter, ties
    await topk(rand([2, 1000], 6, { levels: 40 }), 20, []);
    await topk(rand([1, 5000], 7, { levels: 40 }), 300, []); // K rounds on a software adapter, ties
    await topk(rand([2, 600, 1], 8), 600, [attr("axis", 1), attr("largest", 0)]);
    // what one workgroup cannot do in reasonable time is refused at plan time, never wrong
    const x = { name: "x", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: [1, 1 << 20] } };
    const m = nodesModel(node("TopK", ["x", "k"], ["v", "i"]), {}, { k: int64Tensor([1], [5000]) }, 18);
    m.graph.inputs.push(x);
    assertEquals(unsupportedNodes(m).map((u) => u.op), ["TopK"]);
  },
});

Deno.test({
  name: "TopK orders NaN above every number, -0 with +0, on float and int32 inputs",
  ignore,
  async fn() {
    const x = float32Tensor([2, 6], [1, NaN, -0, 0, -Infinity, NaN, 3, 0, -0, Infinity, 3, -1]);
    new Uint32Array((x.data as Float32Array).buffer)[5] = 0xffc00001; // a negative NaN with a payload
    await topk(x, 6, []);
    await topk(x, 4, [attr("largest", 0)]);
    const xi = new Tensor(DataType.INT32, [2, 5], Int32Array.from([5, -7, 5, 0, -2147483648, 2147483647, 1, 1, -1, 0]));
    await topk(xi, 3, []);
    await topk(xi, 5, [attr("largest", 0)]);
  },
});

Deno.test({
  name: "TopK of opset 1 takes K from its attribute",
  ignore,
  fn: () => matches(node("TopK", ["x"], ["v", "i"], [attr("k", 3)]), { x: rand([3, 8], 9, { levels: 4 }) }, {}, 1),
});

Deno.test({
  name: "LRN matches the reference at the channel borders, with odd and even sizes",
  ignore,
  async fn() {
    const x = rand([2, 5, 3, 3], 10);
    for (const size of [1, 2, 3, 4, 7]) {
      const attrs = [attr("size", size), attr("alpha", 0.02), attr("beta", 0.5), attr("bias", 2.0)];
      await matches(node("LRN", ["x"], ["y"], attrs), { x });
    }
    await matches(node("LRN", ["x"], ["y"], [attr("size", 3)]), { x: rand([1, 4], 11) }); // rank 2
  },
});

Deno.test({
  name: "GroupNormalization matches the reference with per-group (opset 18) and per-channel (opset 21) scale",
  ignore,
  async fn() {
    const x = rand([2, 6, 5, 3], 12);
    const gn = node("GroupNormalization", ["x", "s", "b"], ["y"], [attr("num_groups", 3), attr("epsilon", 1e-3)]);
    await matches(gn, { x, s: rand([3], 13), b: rand([3], 14) }, {}, 18);
    await matches(gn, { x, s: rand([6], 13), b: rand([6], 14) }, {}, 21);
    const one = node("GroupNormalization", ["x", "s", "b"], ["y"], [attr("num_groups", 1)]);
    await matches(one, { x: rand([1, 4, 70], 15), s: rand([4], 16), b: rand([4], 17) }, {}, 21);
  },
});

Deno.test({
  name: "MeanVarianceNormalization matches the reference over default and custom axes",
  ignore,
  async fn() {
    const x = rand([2, 3, 4, 5], 18);
    await matches(node("MeanVarianceNormalization", ["x"], ["y"]), { x });
    await matches(node("MeanVarianceNormalization", ["x"], ["y"], [attr("axes", [1])]), { x });
    await matches(node("MeanVarianceNormalization", ["x"], ["y"], [attr("axes", [-1, 1])]), { x });
    await matches(node("MeanVarianceNormalization", ["x"], ["y"], [attr("axes", [2])]), { x: rand([3, 2, 80], 19) });
  },
});

Deno.test({
  name: "Einsum matches the reference on matmuls, transposes, diagonals, ellipses and sums",
  ignore,
  async fn() {
    const cases: [string, number[][]][] = [
      ["bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]],
      ["ij->ji", [[3, 7]]],
      ["ij,jk", [[3, 4], [4, 2]]],
      ["ii->i", [[4, 4]]],
      ["...ii->...i", [[2, 3, 3]]],
      ["bii", [[2, 3, 3]]],
      ["...ij,...jk->...ik", [[2, 1, 3, 4], [5, 4, 2]]],
      ["ij,jk,kl->il", [[2, 3], [3, 4], [4, 2]]],
      ["i,i", [[6], [6]]],
      ["i,j->ij", [[3], [4]]],
      ["ij->", [[3, 5]]],
      ["bhqd,bhkd->bhqk", [[1, 2, 3, 4], [1, 2, 5, 4]]],
      ["ij,ij->ij", [[3, 1], [1, 4]]],
    ];
    for (const [equation, shapes] of cases) {
      const names = shapes.map((_, i) => `x${i}`);
      const inputs = Object.fromEntries(shapes.map((s, i) => [names[i], rand(s, 20 + i)]));
      await matches(node("Einsum", names, ["y"], [attr("equation", equation)]), inputs, {}, 12);
    }
    const ints = (dims: number[], seed: number) =>
      new Tensor(DataType.INT32, dims, Int32Array.from(rand(dims, seed, { levels: 20 }).data as Float32Array));
    await matches(
      node("Einsum", ["a", "b"], ["y"], [attr("equation", "ij,jk->ik")]),
      {
        a: ints([3, 4], 30),
        b: ints([4, 2], 31),
      },
      {},
      12,
    );
  },
});

Deno.test({
  name: "LpPool and GlobalLpPool match the reference for p = 1, 2 and 3",
  ignore,
  async fn() {
    const x = rand([1, 2, 6, 5], 40);
    for (const p of [1, 2, 3]) {
      const attrs = [attr("kernel_shape", [3, 2]), attr("p", p), attr("pads", [1, 0, 1, 1]), attr("strides", [2, 1])];
      await matches(node("LpPool", ["x"], ["y"], attrs), { x });
      await matches(node("GlobalLpPool", ["x"], ["y"], [attr("p", p)]), { x });
    }
    await matches(node("GlobalLpPool", ["x"], ["y"], [attr("p", 3)]), { x: rand([2, 3, 9, 9], 41) }); // wide rows
  },
});
