/**
 * The learned cost model: feature columns, the held-out split and the quality measures, training
 * on synthetic (made-up, never timed) latencies, saved models and their checks, and `LearnedCost`'s
 * order of sources (measured, else learned, else analytical). Tests assert behaviour, never speed.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { FEATURE_NAMES, features, opFamily } from "../cost/features.ts";
import {
  candidateSignatures,
  collectSamples,
  heldOutGroup,
  pairwiseAccuracy,
  type Sample,
  signatureFor,
  spearman,
  splitSamples,
  syntheticSignatures,
} from "../cost/training.ts";
import {
  CALIBRATION_MIN,
  costModelFromJson,
  defaultCostModel,
  LearnedCost,
  predictUs,
  saveCostModel,
  trainCostModel,
  userModelPath,
} from "../cost/learned.ts";
import { type NodeSignature, signatureKey } from "../cost/signature.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { EGraph } from "../egraph/egraph.ts";
import { type ClassId, makeENode } from "../egraph/enode.ts";
import { graphToEGraph } from "../egraph/from_graph.ts";
import { loadOnnx } from "../onnx/load.ts";
import { attr, graphModel, node, rand } from "./_models.ts";

/** A made-up latency: a roofline of FLOPs and bytes plus a per-family launch cost, never timed. */
function fakeUs(sig: NodeSignature): number {
  const f = features(sig), at = (n: string) => f[FEATURE_NAMES.indexOf(n)];
  const flops = 2 ** at("log_flops"), bytes = 2 ** at("log_bytes");
  return 2 + flops / 5e3 + bytes / 2e3 + (opFamily(sig.op) === "transpose" ? bytes / 1e3 : 0);
}

function fakeSamples(n: number, seed: number): Sample[] {
  return syntheticSignatures(n, seed).map(({ sig, group }) => {
    const us = fakeUs(sig);
    return { key: signatureKey(sig), sig, group, us, noiseUs: us * 0.02 };
  });
}

const relu = (dims: number[]): NodeSignature => signatureFor("Relu", [{ dims }])!;

Deno.test("every signature gives one finite number per named feature column", () => {
  for (const { sig } of syntheticSignatures(300, 3)) {
    const f = features(sig);
    assertEquals(f.length, FEATURE_NAMES.length);
    assert(f.every(Number.isFinite), `${sig.op}: ${f}`);
  }
  assertEquals(new Set(FEATURE_NAMES).size, FEATURE_NAMES.length, "column names are unique");
});

Deno.test("features tell apart what a runtime's latency depends on: size, kernel, depthwise, fused activation, constant weights", () => {
  const col = (sig: NodeSignature, n: string) => features(sig)[FEATURE_NAMES.indexOf(n)];
  assert(col(relu([1, 1024]), "log_out_elems") > col(relu([1, 64]), "log_out_elems"));
  const conv = (k: number, group: number, act?: string) =>
    signatureFor(act ? "FusedConv" : "Conv", [{ dims: [1, 16, 8, 8] }, {
      dims: [16, 16 / group, k, k],
      constant: true,
    }], [
      { name: "kernel_shape", type: "ints", value: [k, k] },
      { name: "group", type: "int", value: group },
      ...(act ? [{ name: "activation", type: "string" as const, value: act }] : []),
    ], act ? { domain: "com.microsoft" } : {})!;
  assertEquals(col(conv(3, 1), "kernel_elems"), 9);
  assertEquals(col(conv(3, 16), "depthwise"), 1);
  assertEquals(col(conv(3, 1), "depthwise"), 0);
  assertEquals(col(conv(1, 1, "Relu"), "activation"), 1);
  assertEquals(col(conv(1, 1, "Relu"), "family:conv"), 1);
  assertEquals(col(conv(1, 1), "const_weight"), 1);
  const mm = signatureFor("MatMul", [{ dims: [4, 32] }, { dims: [32, 8] }])!;
  assertEquals([col(mm, "log_m"), col(mm, "log_k"), col(mm, "log_n")], [Math.log2(5), Math.log2(33), Math.log2(9)]);
  assertEquals(col(mm, "const_weight"), 0);
  const tr = (perm: number[]) => signatureFor("Transpose", [{ dims: [2, 3, 4] }], [attr("perm", perm)])!;
  assertEquals(col(tr([0, 2, 1]), "perm_moves_last"), 1);
  assertEquals(col(tr([1, 0, 2]), "perm_moves_last"), 0);
});

Deno.test("Spearman is 1 for any increasing relation, -1 for a decreasing one, and shares ranks on ties", () => {
  assertEquals(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1);
  assertEquals(spearman([1, 2, 3, 4], [9, 5, 2, 1]), -1);
  assertEquals(spearman([1, 1, 2], [1, 1, 2]), 1);
  assertEquals(spearman([1, 1, 1], [1, 2, 3]), 0, "a constant side has no order");
});

Deno.test("pairwise order accuracy counts only pairs separated beyond their noise", () => {
  assertEquals(pairwiseAccuracy([1, 2, 3], [1, 2, 3]), 1);
  assertEquals(pairwiseAccuracy([3, 2, 1], [1, 2, 3]), 0);
  // 10 and 10.5 are within their noise: that pair's order does not count
  assertEquals(pairwiseAccuracy([2, 1, 3], [10, 10.5, 20], [0.5, 0.5, 0.5]), 1);
  assertEquals(pairwiseAccuracy([2, 1, 3], [10, 10.5, 20]), 2 / 3);
});

Deno.test("the split holds out whole models and the odd-dims shape family, and drops signatures training has seen", () => {
  assert(heldOutGroup("model:gpt2_tiny") && !heldOutGroup("model:bert_tiny"));
  assert(heldOutGroup("syn:conv:odd") && !heldOutGroup("syn:conv:pow2"));
  const a = relu([2, 8]), b = relu([3, 5]);
  const mk = (sig: NodeSignature, group: string): Sample => ({ key: signatureKey(sig), sig, group, us: 1, noiseUs: 0 });
  const { train, test } = splitSamples([mk(a, "model:bert_tiny"), mk(a, "model:gpt2_tiny"), mk(b, "model:gpt2_tiny")]);
  assertEquals(train.map((s) => s.key), [signatureKey(a)]);
  assertEquals(test.map((s) => s.key), [signatureKey(b)], "a is on the training side: not judged on");
});

Deno.test("synthetic signatures are deterministic for a seed, cover the op families rules produce, and put odd dims in held-out groups", () => {
  const a = syntheticSignatures(400, 5), b = syntheticSignatures(400, 5);
  assertEquals(a.map((x) => signatureKey(x.sig)), b.map((x) => signatureKey(x.sig)));
  const ops = new Set(a.map((x) => x.sig.op));
  for (
    const op of [
      "MatMul",
      "Gemm",
      "Conv",
      "FusedConv",
      "LayerNormalization",
      "Softmax",
      "Transpose",
      "Concat",
      "Split",
      "Gather",
      "Reshape",
    ]
  ) {
    assert(ops.has(op), `no ${op}`);
  }
  const odd = a.filter((x) => x.group.endsWith(":odd"));
  assert(odd.length > 40 && odd.length < a.length / 2, `${odd.length} odd of ${a.length}`);
});

Deno.test("trained on made-up latencies of the training families, the model orders held-out shapes (Spearman ≥ 0.9, pairs ≥ 90%)", () => {
  const file = trainCostModel(fakeSamples(900, 11), { target: "ort", machine: "test", params: { trees: 120 } });
  const h = file.provenance.metrics.heldOut;
  assert(h.n > 50, `${h.n} held out`);
  assert(h.spearman >= 0.9 && h.pairwise >= 0.9, JSON.stringify(h));
  assertEquals(file.provenance.data.train + file.provenance.data.test <= 900, true);
});

Deno.test("training is deterministic: the same samples give the same trees", () => {
  const s = fakeSamples(200, 12);
  const a = trainCostModel(s, { target: "ort", machine: "t", params: { trees: 20 } });
  const b = trainCostModel(s, { target: "ort", machine: "t", params: { trees: 20 } });
  assertEquals(JSON.stringify(a.gbt), JSON.stringify(b.gbt));
});

Deno.test("too few samples to learn from is a RangeError, never a model", () => {
  assertThrows(() => trainCostModel(fakeSamples(5, 13), { target: "ort", machine: "t" }), RangeError);
});

Deno.test("a saved model round-trips; another target, format or feature schema is refused", () => {
  const file = trainCostModel(fakeSamples(150, 14), { target: "ort", machine: "t", params: { trees: 10 } });
  const dir = Deno.makeTempDirSync();
  try {
    const p = `${dir}/sub/m.json`;
    saveCostModel(p, file);
    const back = costModelFromJson(JSON.parse(Deno.readTextFileSync(p)), "ort");
    const sig = relu([4, 64]);
    assertEquals(predictUs(back.gbt, sig), predictUs(file.gbt, sig));
    assertThrows(() => costModelFromJson(back, "webgpu"), RangeError, "'ort'");
    assertThrows(() => costModelFromJson({ ...back, featureSchema: "v0:x" }), RangeError, "other features");
    assertThrows(() => costModelFromJson({ ...back, format: "x" }), RangeError);
    assertEquals([...Deno.readDirSync(`${dir}/sub`)].map((e) => e.name), ["m.json"], "no temp file left");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the user's calibrated model is preferred; a corrupt one is passed over for the shipped default", () => {
  const dir = Deno.makeTempDirSync();
  const old = Deno.env.get("SATURN_CACHE_DIR");
  Deno.env.set("SATURN_CACHE_DIR", dir);
  try {
    const file = trainCostModel(fakeSamples(150, 15), { target: "webgpu", machine: "mine", params: { trees: 5 } });
    saveCostModel(userModelPath("webgpu"), file);
    assertEquals(defaultCostModel("webgpu")?.source, userModelPath("webgpu"));
    Deno.writeTextFileSync(userModelPath("webgpu"), "{ not json");
    assert(defaultCostModel("webgpu")?.source !== userModelPath("webgpu"));
    assertEquals(defaultCostModel("no-such-target"), undefined);
  } finally {
    if (old === undefined) Deno.env.delete("SATURN_CACHE_DIR");
    else Deno.env.set("SATURN_CACHE_DIR", old);
    Deno.removeSync(dir, { recursive: true });
  }
});

/** An e-graph with x: [8, 64] and Relu(x), Relu's class. */
function reluGraph(): { eg: EGraph; relu: ReturnType<typeof makeENode>; id: ClassId; leaf: ClassId } {
  const eg = new EGraph([{ domain: "", version: 17 }]);
  const leaf = eg.add(makeENode("$in", [], [
    { name: "name", type: "string", value: "x" },
    { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape: [8, 64] } } as never,
  ]));
  const r = makeENode("Relu", [leaf]);
  const id = eg.add(r);
  eg.rebuild();
  return { eg, relu: r, id, leaf };
}

Deno.test("LearnedCost prices by measurement first, else by the learned model, else by the analytical prior", () => {
  const { eg, relu: r, id, leaf } = reluGraph();
  const model = trainCostModel(fakeSamples(150, 16), { target: "ort", machine: "t", params: { trees: 10 } }).gbt;
  const key = signatureKey(relu([8, 64]));
  const measured = new LearnedCost({ model, measured: (k) => (k === key ? 42 : undefined) });
  assertEquals(measured.nodeCost(eg, r, id), 42);
  assertEquals(measured.sources.measured, 1);
  const learned = new LearnedCost({ model, measured: () => undefined });
  assertEquals(learned.nodeCost(eg, r, id), predictUs(model, relu([8, 64])));
  assertEquals(learned.sources.learned, 1);
  const prior = new LearnedCost({});
  assertEquals(prior.nodeCost(eg, r, id), new AnalyticalCost().nodeCost(eg, r, id));
  for (const c of [measured, learned, prior]) assertEquals(c.nodeCost(eg, eg.eclass(leaf).nodes[0], leaf), 0);
});

Deno.test("LearnedCost never returns 0, a negative or a non-finite cost for an op, whatever the measurement says", () => {
  const { eg, relu: r, id } = reluGraph();
  for (const v of [0, -3, NaN, Infinity]) {
    const c = new LearnedCost({ measured: () => v }).nodeCost(eg, r, id);
    assert(c > 0 && Number.isFinite(c), `${v} → ${c}`);
  }
});

Deno.test("candidate signatures of a model include the fused candidates saturation adds (Conv+Relu → FusedConv)", async () => {
  const m = graphModel(
    [node("Conv", ["x", "w", "b"], ["y"], [attr("kernel_shape", [1, 1])]), node("Relu", ["y"], ["z"])],
    { x: [1, 4, 8, 8] },
    ["z"],
    { w: rand([8, 4, 1, 1], 1), b: rand([8], 2) },
  );
  const ops = new Set((await candidateSignatures(m)).map((s) => s.op));
  assert(ops.has("Conv") && ops.has("Relu") && ops.has("FusedConv"), [...ops].join());
});

Deno.test("LearnedCost prices every node of a real model (signatures from the e-graph's analyses)", () => {
  const model = loadOnnx("tests/data/models/bert_tiny.onnx");
  const { eg } = graphToEGraph(model.graph, model.opsetImports);
  const cost = new LearnedCost({
    model: trainCostModel(fakeSamples(150, 17), { target: "ort", machine: "t", params: { trees: 5 } }).gbt,
  });
  for (const c of eg.classes()) {
    for (const n of c.nodes) {
      const v = cost.nodeCost(eg, n, c.id);
      assert(Number.isFinite(v) && v >= 0, `${n.op}: ${v}`);
    }
  }
  assert(cost.sources.learned > 10, JSON.stringify(cost.sources));
});

Deno.test("collectSamples keeps only what the measurer measured, labelled by group", async () => {
  let asked = 0;
  const samples = await collectSamples({
    synthetic: 60,
    budgetMs: 1000,
    measure: (sigs) => {
      asked = sigs.length;
      // a fake measurer: every other signature, made-up latencies
      return Promise.resolve(
        new Map(sigs.filter((_, i) => i % 2 === 0).map((s) => [signatureKey(s), { medianUs: fakeUs(s), noiseUs: 0 }])),
      );
    },
  });
  assert(asked > 30 && samples.length > 10 && samples.length < asked, `${samples.length} of ${asked}`);
  assert(samples.every((s) => s.group.startsWith("syn:") && s.us > 0));
});

Deno.test("calibrate refuses an unknown target, a budget that is no positive number and a file argument, in one line with exit 2", async () => {
  for (
    const [args, says] of [
      [["--target", "tpu"], "--target must be ort or webgpu"],
      [["--budget=-3"], "--budget must be a positive number"],
      [["--budget", "soon"], "--budget must be a positive number"],
      [["model.onnx"], "calibrate takes no files"],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli.ts", "calibrate", ...args],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assertEquals(out.code, 2, err);
    assert(err.split("\n").length === 1 && err.includes(says), err);
  }
});

Deno.test("the shipped H100 model prices WebGPU on an H100 (by its fingerprint), the default model elsewhere", () => {
  const dir = Deno.makeTempDirSync(); // no calibrated model of the user's
  const old = Deno.env.get("SATURN_CACHE_DIR");
  Deno.env.set("SATURN_CACHE_DIR", dir);
  try {
    const h100 = defaultCostModel("webgpu", "webgpu-b7cf915009a197c0");
    assertEquals(h100?.source, "shipped webgpu-h100.json");
    assertEquals(h100?.model.provenance.fingerprint, "webgpu-b7cf915009a197c0");
    assertEquals(defaultCostModel("webgpu", "webgpu-some-other-adapter")?.source, "shipped webgpu-llvmpipe.json");
    assertEquals(defaultCostModel("webgpu")?.source, "shipped webgpu-llvmpipe.json");
  } finally {
    if (old === undefined) Deno.env.delete("SATURN_CACHE_DIR");
    else Deno.env.set("SATURN_CACHE_DIR", old);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a residual model extrapolates an elementwise op monotonically: at 100× its largest trained size it grows roughly with bytes", () => {
  // made-up latencies of Add over [1, C, H, W] up to 2^21 elements: launch plus bytes at a rate the roofline does not know
  const add = (c: number, hw: number) => signatureFor("Add", [{ dims: [1, c, hw, hw] }, { dims: [1, c, hw, hw] }])!;
  const samples: Sample[] = [];
  for (const c of [16, 32, 64, 128]) {
    for (const hw of [16, 32, 64, 128]) {
      const sig = add(c, hw), us = 3 + (12 * c * hw * hw) / 300;
      samples.push({ key: signatureKey(sig), sig, group: "syn:binary:pow2", us, noiseUs: 0 });
    }
  }
  const info = { target: "ort", machine: "t", params: { trees: 40 }, heldOut: () => false };
  const residual = trainCostModel(samples, { ...info, baseline: "analytical" });
  assertEquals(residual.baseline, "analytical");
  const largest = predictUs(residual.gbt, add(128, 128));
  const ladder = [160, 256, 512, 1024, 1280].map((hw) => predictUs(residual.gbt, add(128, hw)));
  for (let k = 0; k < ladder.length; k++) {
    assert(ladder[k] > (k ? ladder[k - 1] : largest), `not monotone: ${largest} then ${ladder}`);
  }
  // [1, 128, 1280, 1280] holds 100× the elements (and bytes) of [1, 128, 128, 128]
  const ratio = ladder.at(-1)! / largest;
  assert(ratio > 50 && ratio < 200, `grew ${ratio}×`);
  // the absolute model, fit on the same samples, cannot: trees stay flat past the data
  const absolute = trainCostModel(samples, { ...info, baseline: "absolute" });
  assertEquals(absolute.baseline, undefined);
  const flat = predictUs(absolute.gbt, add(128, 1280)) / predictUs(absolute.gbt, add(128, 128));
  assert(flat < 2, `absolute model grew ${flat}×`);
});

Deno.test("an absolute model file (no baseline, as webgpu-h100.json) still loads and predicts as it did before residual models", () => {
  const m = costModelFromJson(
    JSON.parse(Deno.readTextFileSync(new URL("../cost/models/webgpu-h100.json", import.meta.url))),
  );
  assertEquals(m.baseline, undefined);
  assertEquals(m.gbt.offset, undefined);
  // values predicted by the code before residual models existed (commit 7675695)
  const cases: [NodeSignature, number][] = [
    [relu([1, 64, 56, 56]), 12.255388186128982],
    [signatureFor("MatMul", [{ dims: [128, 256] }, { dims: [256, 512], constant: true }])!, 45.07921043017504],
    [signatureFor("Mul", [{ dims: [1, 32, 320, 320] }, { dims: [], constant: true }])!, 20.541634657600085],
  ];
  for (const [sig, us] of cases) assertEquals(predictUs(m.gbt, sig), us);
  // a file that says one kind and holds the other is refused
  assertThrows(() => costModelFromJson({ ...m, baseline: "analytical" }), RangeError, "baseline");
  assertThrows(() => costModelFromJson({ ...m, baseline: "roofline" }), RangeError, "baseline");
});

Deno.test("the shipped models load, and price a node finitely and above 0", () => {
  const sig = relu([1, 16, 64, 64]);
  for (
    const [target, file] of [["ort", "ort-cpu.json"], ["webgpu", "webgpu-llvmpipe.json"], [
      "webgpu",
      "webgpu-h100.json",
    ]]
  ) {
    const m = costModelFromJson(
      JSON.parse(Deno.readTextFileSync(new URL(`../cost/models/${file}`, import.meta.url))),
      target,
    );
    const us = predictUs(m.gbt, sig);
    assert(Number.isFinite(us) && us > 0, `${file}: ${us}`);
    assert(m.provenance.metrics.heldOut.spearman >= 0.9 && m.provenance.metrics.heldOut.pairwise >= 0.9, file);
  }
});

Deno.test("LearnedCost rescales its model by the e-graph's measured nodes: measured at half the prediction, an unmeasured node costs half its prediction", () => {
  const eg = new EGraph([{ domain: "", version: 17 }]);
  const x = eg.add(makeENode("$in", [], [
    { name: "name", type: "string", value: "x" },
    { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape: [8, 64] } } as never,
  ]));
  // four measured ops and one unmeasured one
  const ops = ["Relu", "Sigmoid", "Tanh", "Exp", "Neg"].map((op) => {
    const n = makeENode(op, [x]);
    return { op, n, id: eg.add(n) };
  });
  eg.rebuild();
  const model = trainCostModel(fakeSamples(150, 16), { target: "ort", machine: "t", params: { trees: 10 } }).gbt;
  const sigOf = (op: string) => ({ ...relu([8, 64]), op });
  const half = new Map(ops.slice(0, 4).map(({ op }) => [signatureKey(sigOf(op)), predictUs(model, sigOf(op)) / 2]));
  const cost = new LearnedCost({ model, measured: (k) => half.get(k) });
  const neg = ops[4];
  const c = cost.nodeCost(eg, neg.n, neg.id);
  assert(Math.abs(c / predictUs(model, sigOf("Neg")) - 0.5) < 1e-9, `scaled by ${c / predictUs(model, sigOf("Neg"))}`);
  assert(Math.abs(cost.calibration - 0.5) < 1e-9);
  // fewer than CALIBRATION_MIN measured nodes: no rescaling
  const two = new Map([...half].slice(0, CALIBRATION_MIN - 1));
  const few = new LearnedCost({ model, measured: (k) => two.get(k) });
  assertEquals(few.nodeCost(eg, neg.n, neg.id), predictUs(model, sigOf("Neg")));
});
