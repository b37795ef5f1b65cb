/**
 * The WebGPU cost target: its rule packs (nothing of ONNX Runtime's contrib ops in its output, while
 * target ort keeps them), `measureWebgpu` (sane numbers, a cache per adapter fingerprint, failures
 * reported and not thrown) and `measureModelWebgpu`. Tests assert behaviour, never speed.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import type { Model } from "../ir/graph.ts";
import { float32Tensor } from "../ir/tensor.ts";
import { optimize } from "../optimize/verified.ts";
import { packsFor, parseTarget, TARGETS } from "../rules/targets.ts";
import { loadRulePacks } from "../rules/load.ts";
import { SaturnError } from "../errors.ts";
import { CostCache } from "../cost/cost_cache.ts";
import { measureModelWebgpu, measureWebgpu } from "../cost/measure_webgpu.ts";
import { type NodeSignature, signatureKey } from "../cost/signature.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_target_test: no WebGPU adapter here; GPU tests skipped");

/** Conv → Relu, Conv → Sigmoid → Mul (SiLU), and an erf-form Gelu at opset 17: each has a com.microsoft fusion. */
function contribBait(): Model {
  const conv = (x: string, w: string, y: string) =>
    node("Conv", [x, w, "b"], [y], [attr("kernel_shape", [3, 3]), attr("pads", [1, 1, 1, 1])]);
  return graphModel(
    [
      conv("x", "w1", "c1"),
      node("Relu", ["c1"], ["r"]),
      conv("r", "w2", "c2"),
      node("Sigmoid", ["c2"], ["s"]),
      node("Mul", ["c2", "s"], ["silu"]),
      node("Div", ["silu", "sqrt2"], ["d"]),
      node("Erf", ["d"], ["e"]),
      node("Add", ["e", "one"], ["e1"]),
      node("Mul", ["silu", "e1"], ["m"]),
      node("Mul", ["m", "half"], ["y"]),
    ],
    { x: [1, 4, 8, 8] },
    ["y"],
    {
      w1: rand([4, 4, 3, 3], 1),
      w2: rand([4, 4, 3, 3], 2),
      b: rand([4], 3),
      sqrt2: float32Tensor([], [Math.SQRT2]),
      one: float32Tensor([], [1]),
      half: float32Tensor([], [0.5]),
    },
  );
}

const domains = (m: Model) => m.graph.nodes.map((n) => n.domain);

Deno.test("packsFor leaves out exactly the other target's own pack, and every shipped pack is known", async () => {
  assertEquals(packsFor("webgpu").without, ["ort"]);
  assertEquals(packsFor("ort").without, ["webgpu"]);
  const packs = new Set((await loadRulePacks()).map((r) => r.pack));
  for (const t of TARGETS) for (const p of packsFor(t).without) assert(packs.has(p), `${t} leaves out unknown ${p}`);
});

Deno.test("parseTarget accepts ort and webgpu and refuses anything else as a BAD_ARGUMENT for option target", () => {
  assertEquals(parseTarget("ort"), "ort");
  assertEquals(parseTarget("webgpu"), "webgpu");
  try {
    parseTarget("cuda");
    throw new Error("accepted cuda");
  } catch (e) {
    assert(e instanceof SaturnError && e.code === "BAD_ARGUMENT" && e.option === "target", String(e));
  }
});

Deno.test("no rule of the webgpu target's packs produces a com.microsoft node", async () => {
  for (const r of await loadRulePacks({ without: packsFor("webgpu").without })) {
    assert(!JSON.stringify(r.rhs ?? []).includes("com.microsoft"), `${r.name} produces a contrib op`);
  }
});

Deno.test("a webgpu-target optimize writes no com.microsoft node where the ort target writes FusedConv and Gelu", async () => {
  const m = contribBait();
  const cacheFile = await Deno.makeTempFile();
  const costCacheFile = await Deno.makeTempFile();
  const common = { cacheFile, costCacheFile, cost: "analytic" as const, guard: false };
  const ort = await optimize(m, { ...common, target: "ort" });
  const webgpu = await optimize(m, { ...common, target: "webgpu" });
  assert(domains(ort.model).includes("com.microsoft"), "the bait works: ort fuses into contrib ops");
  assertEquals(domains(webgpu.model).filter((d) => d === "com.microsoft"), []);
  assert(webgpu.verification.applied.every((r) => r.pack !== "ort"), "no rule of the ort pack is applied");
});

Deno.test("standard-Gelu fusions are the webgpu target's, contrib-Gelu and FusedConv fusions the ort target's", async () => {
  const names = async (t: "ort" | "webgpu") =>
    new Set((await loadRulePacks({ without: packsFor(t).without })).map((r) => r.name));
  const ort = await names("ort"), webgpu = await names("webgpu");
  assert(webgpu.has("gelu-erf-a-std") && !ort.has("gelu-erf-a-std"));
  assert(ort.has("gelu-erf-a") && !webgpu.has("gelu-erf-a"));
  assert(ort.has("conv-relu-fused") && !webgpu.has("conv-relu-fused"));
  assert(ort.has("matmul-add-gemm") && webgpu.has("matmul-add-gemm"), "core rules serve both");
});

const f32 = (dims: number[], constant = false) => ({ dtype: 1, dims, ...(constant ? { constant } : {}) });
const RELU: NodeSignature = {
  op: "Relu",
  domain: "",
  opset: 17,
  attrs: {},
  inputs: [f32([8, 64])],
  outputs: [f32([8, 64])],
};
const CONV: NodeSignature = {
  op: "Conv",
  domain: "",
  opset: 17,
  attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  inputs: [f32([1, 4, 8, 8]), f32([8, 4, 3, 3], true), f32([8], true)],
  outputs: [f32([1, 8, 8, 8])],
};
const RESHAPE: NodeSignature = {
  op: "Reshape",
  domain: "",
  opset: 17,
  attrs: {},
  inputs: [f32([8, 64]), { dtype: 7, dims: [1], constant: true, values: [512] }],
  outputs: [f32([512])],
};
const UNKNOWN: NodeSignature = { ...RELU, op: "NoSuchOp" };

Deno.test({
  name:
    "measureWebgpu gives positive finite medians, 0 for a view, a reason for what it cannot run, and caches per adapter",
  ignore,
  async fn() {
    const file = await Deno.makeTempFile({ suffix: ".json" });
    const first = await measureWebgpu([RELU, CONV, RESHAPE, UNKNOWN, RELU], {
      cache: new CostCache(file),
      repeats: 3,
      warmup: 1,
    });
    for (const s of [RELU, CONV]) {
      const m = first.measured.get(signatureKey(s))!;
      assert(m && Number.isFinite(m.medianUs) && m.medianUs > 0, `${s.op}: ${JSON.stringify(m)}`);
      assert(Number.isFinite(m.noiseUs) && m.noiseUs >= 0 && m.samples === 3);
    }
    assertEquals(first.measured.get(signatureKey(RESHAPE))?.medianUs, 0);
    assert(first.failed.has(signatureKey(UNKNOWN)), "an op the codegen lacks is a failure, not an error");
    assertEquals(first.measured.size, 3);
    assert(first.fingerprint.startsWith("webgpu-"));
    // a second call (a new process would read the same file) measures nothing again
    let progress = 0;
    const again = await measureWebgpu([RELU, CONV], {
      cache: new CostCache(file),
      onProgress: () => progress++,
      budgetMs: 0,
    });
    assertEquals(progress, 2);
    for (const s of [RELU, CONV]) {
      assertEquals(again.measured.get(signatureKey(s)), first.measured.get(signatureKey(s)));
    }
    assertEquals(new CostCache(file).entries("webgpu", first.fingerprint).size, 3);
    assertEquals(new CostCache(file).entries("webgpu", "another-adapter").size, 0);
    await Deno.remove(file);
  },
});

Deno.test({
  name: "measureWebgpu on the wall clock gives a positive finite median too",
  ignore,
  async fn() {
    const r = await measureWebgpu([CONV], { cache: false, clock: "wall", repeats: 2, inner: 2, warmup: 1 });
    const m = r.measured.get(signatureKey(CONV))!;
    assert(r.clock === "wall" && Number.isFinite(m.medianUs) && m.medianUs > 0, JSON.stringify(m));
    assert(Number.isFinite(r.runOverheadUs) && r.runOverheadUs > 0);
  },
});

Deno.test({
  name: "measureWebgpu with a spent budget measures nothing new and keeps nothing",
  ignore,
  async fn() {
    const file = await Deno.makeTempFile({ suffix: ".json" });
    const r = await measureWebgpu([RELU], { cache: new CostCache(file), budgetMs: -1 });
    assertEquals([r.measured.size, r.failed.size], [0, 0]);
    assertEquals(Deno.readTextFileSync(file), "");
    await Deno.remove(file);
  },
});

Deno.test({
  name: "measureModelWebgpu times two models interleaved: positive finite medians and their ratio",
  ignore,
  async fn() {
    const m = contribBait();
    const { model: out } = await optimize(m, {
      target: "webgpu",
      cost: "analytic",
      cacheFile: await Deno.makeTempFile(),
      costCacheFile: await Deno.makeTempFile(),
    });
    const r = await measureModelWebgpu(m, out, { repeats: 3, warmup: 1 });
    for (const x of [r.a, r.b]) assert(Number.isFinite(x.medianUs) && x.medianUs > 0 && x.samples === 3);
    assert(Number.isFinite(r.ratio) && r.ratio > 0 && r.device.length > 0);
  },
});
