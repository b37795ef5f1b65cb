/**
 * Fused attention (`codegen/attention.ts`): MatMul → score chain → Softmax → chain → MatMul becomes
 * one kernel, checked on small graphs against the reference interpreter (scale, padding and causal
 * masks, the NaN guard PyTorch exports, batch dims and their broadcasts, sizes off the workgroup,
 * operand prologues), cases that must stay unfused, and the shared transformer models.
 * GPU runs are skipped when WebGPU has no adapter; planning checks run everywhere.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { modelPath } from "./_helpers.ts";
import { attr, graphModel, matchesReference, node, rand } from "./_models.ts";
import { loadOnnx } from "../onnx/load.ts";
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, fromNumbers, type Tensor } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { planModel } from "../codegen/plan.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("attention_test: no WebGPU adapter here; GPU runs skipped");

const axis = (a: number): Attribute => attr("axis", a);
const perm = (p: number[]): Attribute => attr("perm", p);

/** A causal mask [M, N]: `seen` where key j ≤ query i (+ N − M), `masked` elsewhere. */
function causal(M: number, N: number, seen: number, masked: number, dtype: DataType = DataType.FLOAT): Tensor {
  const v = Array.from({ length: M * N }, (_, k) => (k % N <= Math.floor(k / N) + N - M ? seen : masked));
  return fromNumbers(dtype, [M, N], v);
}

/** The standard attention: Q·Kᵀ (K transposed in the graph), then `score` nodes from `s` to `x`, Softmax, ·V. */
function attention(score: Node[], x = "x", post: Node[] = [], pv = "p"): Node[] {
  return [
    node("Transpose", ["k"], ["kt"], [perm([0, 1, 3, 2])]),
    node("MatMul", ["q", "kt"], ["s"]),
    ...score,
    node("Softmax", [x], ["p"], [axis(-1)]),
    ...post,
    node("MatMul", [pv, "v"], ["o"]),
  ];
}

const attentionKernels = (m: Model) => planModel(m).kernels.filter((k) => k.name.startsWith("Attention("));

/** Inputs q [B,H,M,D], k [B,H,N,D], v [B,H,N,Dv] (and extras), seeded. */
function qkv(B: number, H: number, M: number, N: number, D: number, Dv: number, extra: [string, Tensor][] = []) {
  return new Map<string, Tensor>([
    ["q", rand([B, H, M, D], 1)],
    ["k", rand([B, H, N, D], 2)],
    ["v", rand([B, H, N, Dv], 3)],
    ...extra,
  ]);
}

Deno.test({
  name: "attention with a Div scale and a [B,1,1,N] padding mask is one kernel and matches the reference",
  async fn() {
    const [B, H, M, N, D, Dv] = [2, 3, 5, 7, 8, 6];
    const nodes = attention([node("Div", ["s", "scale"], ["t"]), node("Add", ["t", "mask"], ["x"])]);
    const ins = { q: [B, H, M, D], k: [B, H, N, D], v: [B, H, N, Dv], mask: [B, 1, 1, N] };
    const m = graphModel(nodes, ins, ["o"], { scale: float32Tensor([], [Math.sqrt(D)]) });
    const kernels = planModel(m).kernels;
    assertEquals(kernels.map((k) => k.name), ["Transpose", "Attention(MatMul+Div+Add+Softmax+MatMul)"]);
    assertEquals(kernels[1].nodes, ["MatMul_s", "Div_t", "Add_x", "Softmax_p", "MatMul_o"]);
    // the same graph with P kept as an output runs its pieces separately
    const unfused = graphModel(nodes, ins, ["o", "p"], { scale: float32Tensor([], [Math.sqrt(D)]) });
    const names = planModel(unfused).kernels.map((k) => k.name);
    assert(names.length >= 3 && !names.some((n) => n.startsWith("Attention")), names.join(" | "));
    const mask = fromNumbers(
      DataType.FLOAT,
      [B, 1, 1, N],
      Array.from({ length: B * N }, (_, i) => i % N > 4 ? -1e4 : 0),
    );
    const inputs = qkv(B, H, M, N, D, Dv, [["mask", mask]]);
    await matchesReference(m, inputs);
    await matchesReference(unfused, inputs);
  },
});

Deno.test({
  name: "a causal mask as a constant Add or as a Where with -inf, and a Mul scale, fuse and match",
  async fn() {
    const [B, H, M, N, D, Dv] = [1, 2, 6, 6, 4, 5];
    const ins = { q: [B, H, M, D], k: [B, H, N, D], v: [B, H, N, Dv] };
    const added = graphModel(
      attention([node("Mul", ["s", "scale"], ["t"]), node("Add", ["t", "mask"], ["x"])]),
      ins,
      ["o"],
      { scale: float32Tensor([], [0.5]), mask: causal(M, N, 0, -Infinity) },
    );
    const where = graphModel(
      attention([node("Mul", ["s", "scale"], ["t"]), node("Where", ["keep", "t", "ninf"], ["x"])]),
      ins,
      ["o"],
      {
        scale: float32Tensor([], [0.5]),
        keep: causal(M, N, 1, 0, DataType.BOOL),
        ninf: float32Tensor([], [-Infinity]),
      },
    );
    assertEquals(attentionKernels(added).map((k) => k.name), ["Attention(MatMul+Mul+Add+Softmax+MatMul)"]);
    assertEquals(attentionKernels(where).map((k) => k.name), ["Attention(MatMul+Mul+Where+Softmax+MatMul)"]);
    await matchesReference(added, qkv(B, H, M, N, D, Dv));
    await matchesReference(where, qkv(B, H, M, N, D, Dv));
  },
});

Deno.test({
  name: "PyTorch's Where(IsNaN(P), 0, P) guard fuses and turns a fully masked row into zeros",
  async fn() {
    const [B, H, M, N, D, Dv] = [2, 2, 3, 9, 8, 8];
    const nodes = attention(
      [node("Where", ["pad", "ninf", "s"], ["x"])],
      "x",
      [node("IsNaN", ["p"], ["nan"]), node("Where", ["nan", "zero", "p"], ["g"])],
      "g",
    );
    const ins: Record<string, number[] | [DataType, number[]]> = {
      q: [B, H, M, D],
      k: [B, H, N, D],
      v: [B, H, N, Dv],
      pad: [DataType.BOOL, [B, 1, 1, N]],
    };
    const m = graphModel(nodes, ins, ["o"], {
      ninf: float32Tensor([], [-Infinity]),
      zero: float32Tensor([1], [0]),
    });
    assertEquals(attentionKernels(m).map((k) => k.name), ["Attention(MatMul+Where+Softmax+IsNaN+Where+MatMul)"]);
    // batch 0 masks its last three keys; batch 1 masks every key (a NaN row before the guard)
    const pad = fromNumbers(
      DataType.BOOL,
      [B, 1, 1, N],
      Array.from({ length: B * N }, (_, i) => Number(i >= N || i % N >= 6)),
    );
    const inputs = qkv(B, H, M, N, D, Dv, [["pad", pad]]);
    const want = runModel(m, inputs).get("o") as Tensor;
    assert((want.data as Float32Array).slice(H * M * Dv).every((x) => x === 0), "the masked batch is not zero");
    await matchesReference(m, inputs);
  },
});

Deno.test({
  name: "sizes off the workgroup and the row tile, and rows longer than the workgroup, fuse and match",
  async fn() {
    // M 13 leaves a partial tile, N 70 and Dv 67 are off every vector width and workgroup size;
    // N 252 and 250 with Dv 200 make each thread loop over several key and output columns
    const shapes = [[2, 16, 13, 70, 9, 67], [2, 16, 3, 252, 5, 200], [2, 16, 3, 250, 8, 200]];
    for (const [B, H, M, N, D, Dv] of shapes) {
      const m = graphModel(
        attention([node("Div", ["s", "scale"], ["x"])]),
        { q: [B, H, M, D], k: [B, H, N, D], v: [B, H, N, Dv] },
        ["o"],
        { scale: float32Tensor([], [3]) },
      );
      assertEquals(attentionKernels(m).length, 1);
      await matchesReference(m, qkv(B, H, M, N, D, Dv));
    }
  },
});

Deno.test({
  name: "broadcast batch dims (Kᵀ over heads, V over batch), 2-D attention and scaled operands fuse and match",
  async fn() {
    const [B, H, M, N, D, Dv] = [2, 3, 4, 5, 6, 7];
    const bcast = graphModel(
      [
        node("MatMul", ["q", "kt"], ["s"]),
        node("Softmax", ["s"], ["p"], [axis(3)]),
        node("MatMul", ["p", "v"], ["o"]),
      ],
      { q: [B, H, M, D], kt: [B, 1, D, N], v: [H, N, Dv] },
      ["o"],
    );
    assertEquals(attentionKernels(bcast).map((k) => k.name), ["Attention(MatMul+Softmax+MatMul)"]);
    await matchesReference(
      bcast,
      new Map([["q", rand([B, H, M, D], 1)], ["kt", rand([B, 1, D, N], 2)], ["v", rand([H, N, Dv], 3)]]),
    );
    // 2-D, Softmax with its default axis; Q and Kᵀ scaled by elementwise prologues read in the kernel
    const [m, d, n, dv] = [5, 8, 12, 4]; // widths a multiple of 4: the kernel's vector paths
    const flat = graphModel(
      [
        node("Mul", ["q", "c"], ["qs"]),
        node("Mul", ["kt", "c"], ["ks"]),
        node("Mul", ["v", "c"], ["vs"]),
        node("MatMul", ["qs", "ks"], ["s"]),
        node("Softmax", ["s"], ["p"]),
        node("MatMul", ["p", "vs"], ["o"]),
      ],
      { q: [m, d], kt: [d, n], v: [n, dv] },
      ["o"],
      { c: float32Tensor([], [0.7]) },
    );
    assertEquals(planModel(flat).kernels.map((k) => k.name), ["Attention(Mul+Mul+Mul+MatMul+Softmax+MatMul)"]);
    await matchesReference(flat, new Map([["q", rand([m, d], 4)], ["kt", rand([d, n], 5)], ["v", rand([n, dv], 6)]]));
  },
});

Deno.test({
  name: "scores read twice, a graph-output intermediate or a Softmax off the last axis stay unfused and match",
  async fn() {
    const [B, H, M, N, D, Dv] = [1, 2, 4, 5, 3, 4];
    const ins = { q: [B, H, M, D], k: [B, H, N, D], v: [B, H, N, Dv] };
    // S also feeds a second branch
    const twice = graphModel(
      [
        ...attention([node("Mul", ["s", "scale"], ["x"])]),
        node("Relu", ["s"], ["r"]),
        node("ReduceSum", ["r", "ax"], ["r2"], [{ name: "keepdims", type: "int", value: 1 }]),
        node("Add", ["o", "r2"], ["y"]),
      ],
      ins,
      ["y"],
      { scale: float32Tensor([], [0.5]), ax: fromNumbers(DataType.INT64, [1], [3]) },
    );
    assertEquals(attentionKernels(twice).length, 0);
    await matchesReference(twice, qkv(B, H, M, N, D, Dv));
    // the scaled scores are a graph output
    const kept = graphModel(attention([node("Mul", ["s", "scale"], ["x"])]), ins, ["o", "x"], {
      scale: float32Tensor([], [0.5]),
    });
    assertEquals(attentionKernels(kept).length, 0);
    await matchesReference(kept, qkv(B, H, M, N, D, Dv));
    // Softmax over the query axis
    const cols = graphModel(
      [
        node("Transpose", ["k"], ["kt"], [perm([0, 1, 3, 2])]),
        node("MatMul", ["q", "kt"], ["s"]),
        node("Softmax", ["s"], ["p"], [axis(2)]),
        node("MatMul", ["p", "v"], ["o"]),
      ],
      ins,
      ["o"],
    );
    assertEquals(attentionKernels(cols).length, 0);
    await matchesReference(cols, qkv(B, H, M, N, D, Dv));
  },
});

Deno.test({
  name: "bert_tiny and gpt2_tiny get every attention layer fused into one kernel",
  fn() {
    for (const name of ["bert_tiny", "gpt2_tiny"]) {
      const kernels = planModel(loadOnnx(modelPath(name))).kernels;
      const att = kernels.filter((k) => k.name.startsWith("Attention("));
      assertEquals(att.length, 2, `${name}: ${kernels.map((k) => k.name).join(" | ")}`);
      assert(!kernels.some((k) => k.name.includes("Softmax") && !k.name.startsWith("Attention(")), name);
      for (const k of att) assert(k.name.includes("Softmax+IsNaN+Where+MatMul"), k.name);
    }
  },
});

Deno.test({
  name: "operand prologues past the binding limit stay separate kernels, and long rows stay unfused",
  async fn() {
    const [M, N, D, Dv] = [3, 4, 5, 6];
    // Q adds three full tensors and Kᵀ two: with them the kernel would bind 9 buffers
    const many = graphModel(
      [
        node("Add", ["q", "a"], ["q1"]),
        node("Add", ["q1", "b"], ["q2"]),
        node("Add", ["q2", "e"], ["q3"]),
        node("Add", ["kt", "c"], ["k1"]),
        node("Add", ["k1", "d"], ["k2"]),
        node("MatMul", ["q3", "k2"], ["s"]),
        node("Softmax", ["s"], ["p"], [axis(-1)]),
        node("MatMul", ["p", "v"], ["o"]),
      ],
      { q: [M, D], a: [M, D], b: [M, D], e: [M, D], kt: [D, N], c: [D, N], d: [D, N], v: [N, Dv] },
      ["o"],
    );
    const names = planModel(many).kernels.map((k) => k.name);
    assertEquals(names, ["Add+Add+Add", "Add+Add", "Attention(MatMul+Softmax+MatMul)"]);
    const inputs = new Map(
      Object.entries({ q: [M, D], a: [M, D], b: [M, D], e: [M, D], kt: [D, N], c: [D, N], d: [D, N], v: [N, Dv] })
        .map(([n, dims], i) => [n, rand(dims, i + 1)]),
    );
    await matchesReference(many, inputs);
    // rows of more than 256 keys, and a few long rows (single-query decoding), run faster unfused
    const long = (M: number, N: number) =>
      graphModel(
        [
          node("MatMul", ["q", "kt"], ["s"]),
          node("Softmax", ["s"], ["p"], [axis(-1)]),
          node("MatMul", ["p", "v"], ["o"]),
        ],
        { q: [12, M, 8], kt: [12, 8, N], v: [12, N, 4] },
        ["o"],
      );
    assertEquals(attentionKernels(long(64, 257)).length, 0);
    assertEquals(attentionKernels(long(1, 128)).length, 0);
    assertEquals(attentionKernels(long(1, 64)).length, 1);
    assertEquals(attentionKernels(long(64, 256)).length, 1);
  },
});
