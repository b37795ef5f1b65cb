/**
 * Kernels whose work grows with a tensor never loop past llvmpipe's limit (65,535 loop iterations
 * per invocation, counted over all its loops, after which it stops silently): reductions over whole
 * tensors and long rows (DynamicQuantizeLinear, ReduceSum/ReduceMax over millions of elements,
 * integer reductions, ArgMax over a vocabulary-sized row) match the reference bit for bit or within
 * float tolerance, with the deciding values placed at the ends of the rows where a truncated loop
 * would miss them. A Concat of thousands of inputs compiles one shader, not thousands. Skipped when
 * WebGPU has no adapter.
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { attr, EXACT, node, nodeMatcher, nodesModel, TOL } from "./_models.ts";
import { planModel } from "../codegen/plan.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, fromNumbers } from "../ir/tensor.ts";
import { rng } from "../verify/inputs.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_long_rows_test: no WebGPU adapter here; GPU tests skipped");

const exact = nodeMatcher(21, { tol: EXACT });
const close = nodeMatcher(18, { tol: TOL });

/** `n` seeded values in [−1, 1) as a Float32Array (fast for millions). */
function values(n: number, seed: number): Float32Array {
  const r = rng(seed), v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = r() * 2 - 1;
  return v;
}

Deno.test({
  name: "DynamicQuantizeLinear over 16.8 million elements finds the extremes at the very end",
  ignore,
  async fn() {
    const n = 256 * 65_535 + 4_099; // past what one workgroup's threads could loop over
    const v = values(n, 1);
    v[n - 1] = 100, v[n - 3] = -50;
    await exact(node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"]), { x: float32Tensor([n], v) });
  },
});

Deno.test({
  name: "ReduceMax and ReduceSum over rows of 5 million elements go through partial results",
  ignore,
  async fn() {
    const rows = 2, len = 5_000_000;
    const v = values(rows * len, 2);
    v[len - 1] = 7, v[2 * len - 2] = 9;
    const x = float32Tensor([rows, len], v);
    await close(node("ReduceMax", ["x", "axes"], ["y"], [attr("keepdims", 0)]), { x }, { axes: axes([1]) });
    const small = values(rows * len, 3).map((a) => Math.round(a * 4) / 8); // exact float sums
    await close(node("ReduceSum", ["x", "axes"], ["y"]), { x: float32Tensor([rows, len], small) }, {
      axes: axes([1]),
    });
  },
});

Deno.test({
  name: "an int32 ReduceSum over 200,000 elements and an int64 one wrap as the reference does",
  ignore,
  async fn() {
    const n = 200_000, r = rng(4);
    const ints = Array.from({ length: n }, () => Math.floor(r() * 2_000_001) - 1_000_000);
    ints[n - 1] = 2_000_000_000;
    await exact(node("ReduceSum", ["x"], ["y"], [attr("keepdims", 0)]), {
      x: fromNumbers(DataType.INT32, [n], ints),
    });
    await exact(node("ReduceMin", ["x", "axes"], ["y"]), { x: fromNumbers(DataType.INT32, [2, n / 2], ints) }, {
      axes: axes([1]),
    });
  },
});

Deno.test({
  name: "ArgMax and ArgMin over a 151,936-wide row pick the index a sequential scan picks, ties included",
  ignore,
  async fn() {
    const vocab = 151_936;
    const v = values(2 * vocab, 5);
    v[vocab - 1] = 5, v[vocab + 3] = 5, v[2 * vocab - 1] = 5; // a tie in the second row: first vs last
    v[vocab - 2] = -5;
    const x = float32Tensor([2, vocab], v);
    for (const op of ["ArgMax", "ArgMin"]) {
      for (const last of [0, 1]) {
        await exact(node(op, ["x"], ["y"], [attr("axis", 1), attr("select_last_index", last)]), { x });
      }
    }
  },
});

function axes(a: number[]) {
  return fromNumbers(DataType.INT64, [a.length], a);
}

Deno.test({
  name: "a Concat of 3,000 inputs shares one pipeline and matches the reference",
  ignore,
  async fn() {
    const n = 3_000;
    const names = Array.from({ length: n }, (_, i) => `x${i}`);
    const inputs = Object.fromEntries(names.map((name, i) => [name, float32Tensor([1, 2], [i, -i])]));
    const concat = node("Concat", names, ["y"], [attr("axis", 0)]);
    const sources = new Set(planModel(nodesModel(concat, inputs)).kernels.map((k) => k.wgsl));
    assertEquals(sources.size, 1, `${sources.size} distinct shaders for ${n} inputs of one shape`);
    await close(concat, inputs);
  },
});
