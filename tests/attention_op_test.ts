/**
 * The ONNX Attention op on WebGPU (`codegen/attention_op.ts`) against the reference interpreter,
 * on what the ONNX node tests miss: rows longer than 256 keys (keys in chunks, an online softmax,
 * chunks fully masked), grouped-query heads (3 kv heads for 6 q heads, 3-D), causal attention
 * over a KV cache with and without present outputs, bool and float masks broadcast over heads or
 * shorter than the keys, nonpad_kv_seqlen, softcap, float16, and qk_matmul_output in each mode.
 * GPU runs are skipped when WebGPU has no adapter; planning checks run everywhere.
 * @module
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { graphModel, type InputSpec, matchesReference } from "./_models.ts";
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, type Tensor } from "../ir/tensor.ts";
import { rng } from "../verify/inputs.ts";
import { planModel } from "../codegen/plan.ts";
import type { Target } from "../codegen/kernel.ts";
import { SaturnError } from "../errors.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("attention_op_test: no WebGPU adapter here; GPU runs skipped");

const IN_NAMES = ["q", "k", "v", "mask", "past_k", "past_v", "nonpad"];

/**
 * One Attention node over the inputs given by name (`q`, `k`, `v`, `mask`, `past_k`, `past_v`,
 * `nonpad`; others omitted) writing the outputs named (`y`, `present_k`, `present_v`, `qk`).
 */
function attention(
  inputs: Record<string, InputSpec>,
  outputs: string[],
  attrs: Record<string, number> = {},
  opset = 23,
) {
  const last = Math.max(...Object.keys(inputs).map((n) => IN_NAMES.indexOf(n)));
  const outNames = ["y", "present_k", "present_v", "qk"];
  const lastOut = Math.max(...outputs.map((n) => outNames.indexOf(n)));
  const attributes: Attribute[] = Object.entries(attrs).map(([name, value]) =>
    Number.isInteger(value) && name !== "scale" && name !== "softcap"
      ? { name, type: "int", value }
      : { name, type: "float", value }
  );
  const n: Node = {
    name: "attention",
    opType: "Attention",
    domain: "",
    inputs: IN_NAMES.slice(0, last + 1).map((n) => (n in inputs ? n : "")),
    outputs: outNames.slice(0, lastOut + 1).map((n) => (outputs.includes(n) ? n : "")),
    attributes,
  };
  return graphModel([n], inputs, outputs, {}, { opset, irVersion: 10 });
}

/** Seeded values in [−1, 1) for every float input of `model`; `fixed` ones as given. */
function inputsOf(model: Model, fixed: Record<string, Tensor> = {}, seed = 1): Map<string, Tensor> {
  const r = rng(seed);
  return new Map(model.graph.inputs.map((i) => {
    if (fixed[i.name]) return [i.name, fixed[i.name]];
    const t = i.type as { dtype: DataType; shape: number[] };
    const n = t.shape.reduce((a, b) => a * b, 1);
    return [i.name, fromNumbers(t.dtype, t.shape, Array.from({ length: n }, () => r() * 2 - 1))];
  }));
}

const kernelNames = (m: Model, target?: Target) => planModel(m, { target }).kernels.map((k) => k.name);

Deno.test({
  name: "Attention over 300 keys takes them in chunks and matches, causal and with masked whole chunks",
  async fn() {
    const [B, H, S, T, D] = [1, 2, 3, 300, 8];
    const qkv = { q: [B, H, S, D], k: [B, H, T, D], v: [B, H, T, D] };
    const plain = attention(qkv, ["y"]);
    assert(planModel(plain, { target: { software: true } }).kernels[0].wgsl.includes("var<workgroup> acc"));
    await matchesReference(plain, inputsOf(plain));
    // causal: every chunk after the first is masked for every query
    const causal = attention(qkv, ["y"], { is_causal: 1 });
    await matchesReference(causal, inputsOf(causal));
    // a float mask hiding the first 100 keys of query 0 (its first chunks are all −∞), a bool
    // mask hiding every key of query 1 (a NaN row, as the reference gives)
    const fm = attention({ ...qkv, mask: [S, T] }, ["y"], { scale: 0.25 });
    const mask = Array.from({ length: S * T }, (_, i) => (i < 100 ? -Infinity : Math.sin(i)));
    await matchesReference(fm, inputsOf(fm, { mask: fromNumbers(DataType.FLOAT, [S, T], mask) }));
    const bm = attention({ ...qkv, mask: [DataType.BOOL, [B, 1, S, T]] }, ["y"]);
    const keep = Array.from({ length: S * T }, (_, i) => Number(Math.floor(i / T) !== 1 && i % 7 !== 3));
    await matchesReference(bm, inputsOf(bm, { mask: fromNumbers(DataType.BOOL, [B, 1, S, T], keep) }));
  },
});

Deno.test({
  name: "Attention with a hardware target's tiling (256-key chunks, one pass up to 256) matches",
  async fn() {
    const hw: Target = { software: false };
    const long = attention({ q: [1, 2, 2, 8], k: [1, 2, 600, 8], v: [1, 2, 600, 4] }, ["y"], { is_causal: 1 });
    const short = attention({ q: [1, 2, 5, 8], k: [1, 2, 200, 8], v: [1, 2, 200, 4] }, ["y"]);
    assert(planModel(long, { target: hw }).kernels[0].wgsl.includes("var<workgroup> acc"));
    assert(!planModel(short, { target: hw }).kernels[0].wgsl.includes("var<workgroup> acc"));
    await matchesReference(long, inputsOf(long), { target: hw });
    await matchesReference(short, inputsOf(short), { target: hw });
  },
});

Deno.test({
  name: "grouped-query Attention with 3 kv heads for 6 q heads matches, 3-D and 4-D, head sizes off 4",
  async fn() {
    const [B, S, T] = [2, 5, 7];
    for (const [D, Dv] of [[8, 4], [5, 3]]) {
      const three = attention({ q: [B, S, 6 * D], k: [B, T, 3 * D], v: [B, T, 3 * Dv] }, ["y"], {
        q_num_heads: 6,
        kv_num_heads: 3,
      });
      assertEquals(kernelNames(three), ["Attention"]);
      await matchesReference(three, inputsOf(three));
      const four = attention({ q: [B, 6, S, D], k: [B, 3, T, D], v: [B, 3, T, Dv] }, ["y"], { is_causal: 1 });
      await matchesReference(four, inputsOf(four));
    }
    // 3-D Q with 4-D K and V, over 70 keys (chunked on llvmpipe)
    const mixed = attention({ q: [1, 3, 6 * 4], k: [1, 3, 70, 4], v: [1, 3, 70, 4] }, ["y"], { q_num_heads: 6 });
    await matchesReference(mixed, inputsOf(mixed));
  },
});

Deno.test({
  name: "causal Attention over a KV cache writes present_key/present_value and matches, or keeps them private",
  async fn() {
    const [B, Hq, Hkv, S, P, D, Dv] = [2, 4, 2, 3, 5, 8, 6];
    const ins = { q: [B, Hq, S, D], k: [B, Hkv, S, D], v: [B, Hkv, S, Dv], past_k: [B, Hkv, P, D] };
    const full = attention({ ...ins, past_v: [B, Hkv, P, Dv] }, ["y", "present_k", "present_v"], { is_causal: 1 });
    assertEquals(kernelNames(full), ["Attention.presentKey", "Attention.presentValue", "Attention"]);
    await matchesReference(full, inputsOf(full));
    // 3-D, only Y: the present values live in temporaries
    const three = attention(
      { q: [B, S, Hq * D], k: [B, S, Hkv * D], v: [B, S, Hkv * Dv], past_k: [B, Hkv, P, D], past_v: [B, Hkv, P, Dv] },
      ["y"],
      { is_causal: 1, q_num_heads: Hq, kv_num_heads: Hkv },
    );
    const plan = planModel(three);
    assertEquals(plan.kernels.map((k) => k.name), ["Attention.presentKey", "Attention.presentValue", "Attention"]);
    assert(plan.kernels[0].temporaries?.length === 1, "present_key is a temporary");
    await matchesReference(three, inputsOf(three));
    // present outputs without a cache: K and V split into heads
    const noPast = attention({ q: [1, 2 * 4, 24], k: [1, 6, 24], v: [1, 6, 24] }, ["y", "present_k", "present_v"], {
      q_num_heads: 2,
      kv_num_heads: 2,
    });
    await matchesReference(noPast, inputsOf(noPast));
    // a long cache: 290 past keys, chunked
    const long = attention(
      { q: [1, 2, 2, 4], k: [1, 1, 2, 4], v: [1, 1, 2, 4], past_k: [1, 1, 290, 4], past_v: [1, 1, 290, 4] },
      ["y", "present_k"],
      { is_causal: 1 },
    );
    await matchesReference(long, inputsOf(long));
  },
});

Deno.test({
  name: "Attention masks broadcast over heads, of rank 1, shorter than the keys, with softcap, match",
  async fn() {
    const [B, H, S, T, D] = [2, 3, 4, 6, 8];
    const qkv = { q: [B, H, S, D], k: [B, H, T, D], v: [B, H, T, D] };
    const bool = attention({ ...qkv, mask: [DataType.BOOL, [B, 1, S, T]] }, ["y"], { is_causal: 1 });
    const keep = Array.from({ length: B * S * T }, (_, i) => Number(i % 5 !== 2));
    await matchesReference(bool, inputsOf(bool, { mask: fromNumbers(DataType.BOOL, [B, 1, S, T], keep) }));
    const rank1 = attention({ ...qkv, mask: [T] }, ["y"], { softcap: 0.5 });
    const ninf = fromNumbers(DataType.FLOAT, [T], [0, -Infinity, 0.5, 0, -Infinity, -1]);
    await matchesReference(rank1, inputsOf(rank1, { mask: ninf }));
    // a [B, H, S, 4] mask over 6 keys: the last two are masked
    const short = attention({ ...qkv, mask: [B, H, S, 4] }, ["y"], { softcap: 2, scale: 0.3 });
    await matchesReference(short, inputsOf(short));
  },
});

Deno.test({
  name: "Attention with nonpad_kv_seqlen (opset 24) matches, a batch with no valid key giving NaN",
  async fn() {
    const [B, H, S, T, D] = [3, 2, 3, 80, 4];
    const m = attention(
      { q: [B, H, S, D], k: [B, H, T, D], v: [B, H, T, D], nonpad: [DataType.INT64, [B]] },
      ["y"],
      {},
      24,
    );
    const nonpad = fromNumbers(DataType.INT64, [B], [70, 3, 0]);
    await matchesReference(m, inputsOf(m, { nonpad }));
  },
});

Deno.test({
  name: "float16 Attention over 130 keys with a cache matches within float16 rounding",
  async fn() {
    const h = DataType.FLOAT16;
    const m = attention(
      {
        q: [h, [1, 2, 3, 8]],
        k: [h, [1, 1, 3, 8]],
        v: [h, [1, 1, 3, 8]],
        past_k: [h, [1, 1, 127, 8]],
        past_v: [h, [1, 1, 127, 8]],
      },
      ["y", "present_v"],
      { is_causal: 1 },
    );
    await matchesReference(m, inputsOf(m));
  },
});

Deno.test({
  name: "qk_matmul_output in each mode matches; a double softmax or a past_key alone is refused at plan time",
  async fn() {
    const [B, H, S, P, T, D] = [1, 2, 3, 2, 4, 8];
    const ins = { q: [B, H, S, D], k: [B, H, T, D], v: [B, H, T, D], mask: [S, P + T] };
    for (const mode of [0, 1, 2, 3]) {
      const m = attention({ ...ins, past_k: [B, H, P, D], past_v: [B, H, P, D] }, ["y", "qk"], {
        qk_matmul_output_mode: mode,
        is_causal: 1,
        softcap: 1.5,
      });
      assertEquals(kernelNames(m), ["Attention.presentKey", "Attention.presentValue", "Attention.qk", "Attention"]);
      await matchesReference(m, inputsOf(m));
    }
    const double = attention({ q: [1, 1, 2, 4], k: [1, 1, 2, 4], v: [1, 1, 2, 4] }, ["y"], { softmax_precision: 11 });
    assertThrows(() => planModel(double), SaturnError, "softmax_precision double");
    const half = attention({ q: [1, 1, 2, 4], k: [1, 1, 2, 4], v: [1, 1, 2, 4], past_k: [1, 1, 3, 4] }, ["y"]);
    assertThrows(() => planModel(half), SaturnError, "past_key and past_value must be given together");
  },
});
