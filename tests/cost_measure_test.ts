/**
 * Costs for the target they price: the analytical prior never prefers duplicating a Conv (SiLU and
 * hard-swish blocks built in code), the measured-cost cache (keys, atomic writes, a corrupt file
 * ignored), `MeasuredCost` (cache first, the prior elsewhere, ONNX Runtime's own Conv+activation
 * fusion priced as free), and `measureOrt` on a few signatures. Tests assert behaviour, never speed.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import type { Model } from "../ir/graph.ts";
import { optimize } from "../optimize/verified.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { CostCache } from "../cost/cost_cache.ts";
import { machineFingerprint } from "../cost/fingerprint.ts";
import { FUSED_BY_RUNTIME_US, MeasuredCost } from "../cost/measured.ts";
import { measureOrt } from "../cost/measure_ort.ts";
import { type NodeSignature, signatureKey, signatureOf } from "../cost/signature.ts";
import { EGraph } from "../egraph/egraph.ts";
import { makeENode } from "../egraph/enode.ts";

/** Conv-like nodes (Conv, FusedConv) of a model. */
function convs(m: Model): number {
  return m.graph.nodes.filter((n) => n.opType === "Conv" || n.opType === "FusedConv").length;
}

/** x → Conv(cin → cout, k×k) → SiLU: Mul(y, Sigmoid(y)). */
function siluBlock(cin: number, cout: number, k: number, hw: number): Model {
  const pads = Math.floor(k / 2);
  return graphModel(
    [
      node("Conv", ["x", "w", "b"], ["y"], [attr("kernel_shape", [k, k]), attr("pads", [pads, pads, pads, pads])]),
      node("Sigmoid", ["y"], ["s"]),
      node("Mul", ["y", "s"], ["z"]),
    ],
    { x: [1, cin, hw, hw] },
    ["z"],
    { w: rand([cout, cin, k, k], 1), b: rand([cout], 2) },
  );
}

/** x → Conv → hard-swish: y · Clip(y + 3, 0, 6) / 6. */
function hardSwishBlock(cin: number, cout: number, k: number, hw: number): Model {
  const pads = Math.floor(k / 2);
  return graphModel(
    [
      node("Conv", ["x", "w", "b"], ["y"], [attr("kernel_shape", [k, k]), attr("pads", [pads, pads, pads, pads])]),
      node("Add", ["y", "three"], ["t"]),
      node("Clip", ["t", "zero", "six"], ["c"]),
      node("Mul", ["y", "c"], ["m"]),
      node("Div", ["m", "six"], ["z"]),
    ],
    { x: [1, cin, hw, hw] },
    ["z"],
    {
      w: rand([cout, cin, k, k], 1),
      b: rand([cout], 2),
      three: rand([], 3, { lo: 3, hi: 3 }),
      zero: rand([], 4, { lo: 0, hi: 0 }),
      six: rand([], 5, { lo: 6, hi: 6 }),
    },
  );
}

// shapes where the Conv is cheap next to an elementwise pass over its output (few input channels,
// 1×1 expansion, depthwise-like): the roofline once priced a second Conv below an Add or Sigmoid
const SHAPES: [number, number, number, number][] = [[3, 16, 3, 32], [8, 64, 1, 16], [16, 96, 1, 8], [4, 4, 1, 64]];

for (const [cin, cout, k, hw] of SHAPES) {
  Deno.test(`the analytical cost never duplicates the Conv of a SiLU block (${cin}→${cout}, ${k}×${k}, ${hw}²)`, async () => {
    const m = siluBlock(cin, cout, k, hw);
    const { model: out } = await optimize(m, { guard: false, cost: new AnalyticalCost() });
    assertEquals(convs(out), 1, out.graph.nodes.map((n) => n.opType).join(" "));
  });
  Deno.test(`the analytical cost never duplicates the Conv of a hard-swish block (${cin}→${cout}, ${k}×${k}, ${hw}²)`, async () => {
    const m = hardSwishBlock(cin, cout, k, hw);
    const { model: out } = await optimize(m, { guard: false, cost: new AnalyticalCost() });
    assertEquals(convs(out), 1, out.graph.nodes.map((n) => n.opType).join(" "));
  });
}

Deno.test("the analytical cost still fuses a Conv's only consumer Relu", async () => {
  const m = graphModel(
    [node("Conv", ["x", "w", "b"], ["y"], [attr("kernel_shape", [1, 1])]), node("Relu", ["y"], ["z"])],
    { x: [1, 8, 16, 16] },
    ["z"],
    { w: rand([16, 8, 1, 1], 1), b: rand([16], 2) },
  );
  const { model: out } = await optimize(m, { guard: false, cost: new AnalyticalCost() });
  assertEquals(out.graph.nodes.map((n) => n.opType), ["FusedConv"]);
});

Deno.test("the measured-cost cache keeps measurements per target and fingerprint, merges writers, and ignores a corrupt file with a warning", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/costs.json`;
  const m = { medianUs: 3, noiseUs: 0.1, samples: 9, date: "2026-01-01" };
  const a = new CostCache(file), b = new CostCache(file);
  a.set("ort", "fp1", "k1", m);
  b.set("ort", "fp1", "k2", { ...m, medianUs: 4 });
  assert(a.save() && b.save());
  const c = new CostCache(file);
  assertEquals(c.get("ort", "fp1", "k1")?.medianUs, 3);
  assertEquals(c.get("ort", "fp1", "k2")?.medianUs, 4);
  assertEquals(c.get("ort", "fp2", "k1"), undefined);
  assertEquals(c.get("webgpu", "fp1", "k1"), undefined);
  Deno.writeTextFileSync(file, "{ not json");
  const warnings: string[] = [];
  const d = new CostCache(file, (w) => warnings.push(w));
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("corrupt"), warnings[0]);
  assertEquals(d.get("ort", "fp1", "k1"), undefined);
  d.set("ort", "fp1", "k3", m);
  assert(d.save());
  assertEquals(new CostCache(file).get("ort", "fp1", "k3")?.medianUs, 3);
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["costs.json"]); // no temp file left
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("MeasuredCost prices by the measurement where cached, by the prior elsewhere, and an activation ONNX Runtime folds into a Conv as free", () => {
  const eg = new EGraph([{ domain: "", version: 17 }]);
  const input = (name: string, shape: number[]) =>
    eg.add(makeENode("$in", [], [
      { name: "name", type: "string", value: name },
      { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape } },
    ]));
  const x = input("x", [1, 4, 8, 8]), w = eg.add(makeENode("$const", [], [], { value: rand([4, 4, 1, 1], 1) }));
  const conv = makeENode("Conv", [x, w], [attr("kernel_shape", [1, 1])]), y = eg.add(conv);
  const relu = makeENode("Relu", [y]), r = eg.add(relu);
  const neg = makeENode("Neg", [y]), n = eg.add(neg);
  const prior = new AnalyticalCost();
  const cache = new Map([[signatureKey(signatureOf(eg, conv, y)!), 42]]);
  const cost = new MeasuredCost({
    target: "ort",
    fingerprint: "fp",
    cache: {
      get: (_t, _f, k) => cache.has(k) ? { medianUs: cache.get(k)!, noiseUs: 0, samples: 1, date: "" } : undefined,
    },
    prior,
  });
  assertEquals(cost.nodeCost(eg, conv, y), 42);
  assertEquals(cost.nodeCost(eg, relu, r), FUSED_BY_RUNTIME_US);
  assertEquals(cost.nodeCost(eg, neg, n), prior.nodeCost(eg, neg, n));
  assertEquals(cost.unmeasured.size, 1);
  const gpu = new MeasuredCost({ target: "webgpu", fingerprint: "fp", cache: { get: () => undefined }, prior });
  assertEquals(gpu.nodeCost(eg, relu, r), prior.nodeCost(eg, relu, r));
});

Deno.test("measureOrt measures one-node models of signatures (constants as initializers) and names what it cannot build", async () => {
  const f = (dims: number[], constant = false) => ({ dtype: 1, dims, ...(constant ? { constant } : {}) });
  const conv: NodeSignature = {
    op: "Conv",
    domain: "",
    opset: 17,
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    inputs: [f([1, 4, 8, 8]), f([8, 4, 3, 3], true), f([8], true)],
    outputs: [f([1, 8, 8, 8])],
  };
  const reshape: NodeSignature = {
    op: "Reshape",
    domain: "",
    opset: 17,
    attrs: {},
    inputs: [f([2, 6]), { dtype: 7, dims: [2], constant: true, values: [3, 4] }],
    outputs: [f([3, 4])],
  };
  const bad: NodeSignature = { ...conv, op: "NoSuchOp" };
  const r = await measureOrt([conv, reshape, conv, bad], { threads: 1, repeats: 5, budgetMs: 2000 });
  assertEquals(r.measured.size, 2);
  for (const m of r.measured.values()) assert(m.medianUs > 0 && m.samples >= 1 && m.noiseUs >= 0, JSON.stringify(m));
  assert(r.failed.has(signatureKey(bad)), [...r.failed.values()].join());
});

Deno.test("machine fingerprints are stable and tell thread counts and targets apart", async () => {
  const a = await machineFingerprint("ort", { threads: 1 });
  assertEquals(a, await machineFingerprint("ort", { threads: 1 }));
  assert(a !== await machineFingerprint("ort", { threads: 0 }));
  assert(a.startsWith("ort-"));
  assert((await machineFingerprint("webgpu", { adapter: { vendor: "x" } })).startsWith("webgpu-"));
});
