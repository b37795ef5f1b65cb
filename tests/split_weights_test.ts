/**
 * Weights past the storage binding limit are split (codegen/split_weights.ts): the rewritten graph
 * computes what the original does, in the reference interpreter and on WebGPU, and every weight
 * it reads fits the limit.
 */
import { assert, assertEquals } from "./_assert.ts";
import { DataType } from "../ir/dtype.ts";
import type { Model } from "../ir/graph.ts";
import { runModel } from "../ir/interpreter.ts";
import { sizeOf, Tensor } from "../ir/tensor.ts";
import { splitLargeWeights } from "../codegen/split_weights.ts";
import { assertOutputsMatch, attr, EXACT, gpuAdapter, graphModel, matchesReference, node, rand } from "./_models.ts";

/** Bytes of the largest initializer a node of `m` reads. */
function largestRead(m: Model): number {
  let most = 0;
  for (const n of m.graph.nodes) {
    for (const x of n.inputs) {
      const t = m.graph.initializers.get(x);
      if (t) most = Math.max(most, sizeOf(t.dims) * 4);
    }
  }
  return most;
}

const ints = (dtype: DataType, dims: number[], v: number[]) =>
  new Tensor(dtype, dims, dtype === DataType.INT32 ? new Int32Array(v) : new BigInt64Array(v.map(BigInt)));

function cases(): { name: string; model: Model; feeds: Map<string, Tensor>; max: number }[] {
  const K = 6, N = 10;
  const x = rand([2, 3, K], 1);
  const a = rand([3, K], 2);
  return [
    {
      name: "MatMul [2,3,6]×[6,10]",
      model: graphModel([node("MatMul", ["x", "w"], ["y"])], { x: [2, 3, K] }, ["y"], { w: rand([K, N], 3) }),
      feeds: new Map([["x", x]]),
      max: K * 4 * 4, // four columns a piece
    },
    {
      name: "Gemm transB, bias [N]",
      model: graphModel(
        [node("Gemm", ["a", "w", "c"], ["y"], [attr("transB", 1), attr("alpha", 0.5), attr("beta", 2)])],
        { a: [3, K] },
        ["y"],
        { w: rand([N, K], 4), c: rand([N], 5) },
      ),
      feeds: new Map([["a", a]]),
      max: K * 3 * 4,
    },
    {
      name: "Gemm, scalar bias",
      model: graphModel([node("Gemm", ["a", "w", "c"], ["y"])], { a: [3, K] }, ["y"], {
        w: rand([K, N], 6),
        c: rand([], 7),
      }),
      feeds: new Map([["a", a]]),
      max: K * 5 * 4,
    },
    ...[DataType.INT64, DataType.INT32].map((dt) => ({
      name: `Gather, ${dt === DataType.INT32 ? "int32" : "int64"} indices (negative ones too)`,
      model: graphModel([node("Gather", ["table", "i"], ["y"], [attr("axis", 0)])], { i: [dt, [2, 4]] }, ["y"], {
        table: rand([9, 5], 8),
      }),
      feeds: new Map([["i", ints(dt, [2, 4], [0, 8, -1, 3, 4, -9, 5, 2])]]),
      max: 5 * 2 * 4, // two rows a block: five blocks
    })),
  ];
}

Deno.test("split weights: the rewritten graph computes what the original does, and reads only weights that fit", () => {
  for (const c of cases()) {
    const split = splitLargeWeights(c.model, c.max);
    assert(split !== c.model, `${c.name}: nothing was split`);
    assert(largestRead(split) <= c.max, `${c.name}: reads ${largestRead(split)} bytes, limit ${c.max}`);
    assertOutputsMatch(runModel(split, c.feeds), runModel(c.model, c.feeds), EXACT, c.name);
  }
});

Deno.test("split weights: weights within the limit, and a Gemm whose bias is [M, N], are left alone", () => {
  const [mm] = cases();
  assertEquals(splitLargeWeights(mm.model, 1 << 20), mm.model);
  const full = graphModel([node("Gemm", ["a", "w", "c"], ["y"])], { a: [3, 6] }, ["y"], {
    w: rand([6, 10], 1),
    c: rand([3, 10], 2),
  });
  assertEquals(splitLargeWeights(full, 64), full);
});

Deno.test("split weights: the split graphs run on WebGPU and match the reference", async () => {
  if ((await gpuAdapter()) === null) return;
  for (const c of cases()) {
    await matchesReference(c.model, c.feeds, {
      target: { software: true, maxStorageBindingBytes: c.max },
      label: c.name,
    });
  }
});
