/**
 * com.microsoft.FusedMatMul (Y = alpha · op(A) @ op(B)): the reference against ONNX Runtime, its
 * shape inference and refusals; the ort pack's rules that fold scalar scales into it (verified,
 * and wrong variants refuted: a squared alpha, a one-element scale of a higher rank that
 * broadcasts the product up, a Div folded as a Mul); `optimize` on bert_tiny makes FusedMatMul
 * of the attention's Q and K scales and still computes what the input model does in ONNX
 * Runtime; and the WebGPU backend runs FusedMatMul.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, gpuAdapter, graphModel, matchesReference, node, rand } from "./_models.ts";
import { modelPath } from "./_helpers.ts";
import {
  compareTensors,
  float32Tensor,
  inferModel,
  loadOnnx,
  type Model,
  optimize,
  randomInputs,
  runModel,
  runOrt,
  saveOnnx,
  type Tensor,
} from "../mod.ts";
import { DataType } from "../ir/dtype.ts";
import type { Node } from "../ir/graph.ts";
import { parseRules } from "../rules/parser.ts";
import { loadRulePacks } from "../rules/load.ts";
import { ruleLibrary } from "../rules/library.ts";
import { verifyRule } from "../verify/verify_rule.ts";

const MS = [{ domain: "com.microsoft", version: 1 }];

function fused(attrs: Record<string, number>): Node {
  return node(
    "FusedMatMul",
    ["a", "b"],
    ["y"],
    Object.entries(attrs).map(([k, v]) => k === "alpha" ? { name: k, type: "float", value: v } : attr(k, v)),
    "com.microsoft",
  );
}

function fusedModel(sa: number[], sb: number[], attrs: Record<string, number>): Model {
  return graphModel([fused(attrs)], { a: sa, b: sb }, ["y"], {}, { domains: MS });
}

// [A's shape, B's shape, attributes]: rank 2 and 4, broadcast batch dims, 1-D operands, transposes
const CASES: [number[], number[], Record<string, number>][] = [
  [[2, 3], [3, 4], {}],
  [[2, 3], [3, 4], { alpha: 0.35355339 }],
  [[3, 2], [3, 4], { transA: 1, alpha: -1.5 }],
  [[2, 3], [4, 3], { transB: 1, alpha: 0.125 }],
  [[3, 2], [4, 3], { transA: 1, transB: 1, alpha: 2 }],
  [[2, 4, 3, 5], [2, 4, 5, 3], { alpha: 0.25 }],
  [[2, 4, 5, 3], [2, 4, 5, 3], { transA: 1, alpha: 0.5 }],
  [[2, 1, 3, 5], [4, 3, 5], { transB: 1, alpha: 3 }],
  [[3, 2], [2, 1, 3, 4], { transA: 1, alpha: 0.7 }],
  [[5, 3, 2], [2, 4], {}],
  [[3], [3, 2], { transA: 1, alpha: 2 }], // a 1-D operand is never transposed
  [[2, 3], [3], { transB: 1, alpha: -0.5 }],
  [[3], [3], { alpha: 4 }],
];

Deno.test("FusedMatMul in the reference computes what ONNX Runtime does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [sa, sb, attrs] of CASES) {
      const model = fusedModel(sa, sb, attrs);
      const file = `${dir}/fmm.onnx`;
      saveOnnx(model, file);
      const feeds = new Map([["a", rand(sa, 1)], ["b", rand(sb, 2)]]);
      const want = (await runOrt(file, feeds)).get("y")!;
      const got = runModel(model, feeds).get("y") as Tensor;
      const label = `[${sa}] × [${sb}] ${JSON.stringify(attrs)}`;
      assertEquals([...got.dims], [...want.dims], `${label}: shape`);
      assertEquals(compareTensors(got, want, { atol: 1e-5, rtol: 1e-5 }), undefined, label);
      // and shape inference agrees with the run
      const t = inferModel(model).types.get("y");
      assert(t?.kind === "tensor" && t.shape?.join() === want.dims.join(), `${label}: inferred ${JSON.stringify(t)}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FusedMatMul scales in float64 and rounds once, as Gemm's alpha", () => {
  // 1e38 · 4 overflows float32; a quarter of it does not: one rounding of alpha · (a @ b)
  const model = fusedModel([1, 1], [1, 1], { alpha: 0.25 });
  const y = runModel(model, new Map([["a", float32Tensor([1, 1], [1e38])], ["b", float32Tensor([1, 1], [4])]]))
    .get("y") as Tensor;
  assertEquals(compareTensors(y, float32Tensor([1, 1], [1e38]), { atol: 0, rtol: 1e-6 }), undefined);
});

Deno.test("FusedMatMul refuses transBatchA/transBatchB and integer operands, saying why", () => {
  for (const a of ["transBatchA", "transBatchB"]) {
    const model = fusedModel([2, 2, 3], [2, 3, 2], { [a]: 1 });
    const feeds = new Map([["a", rand([2, 2, 3], 1)], ["b", rand([2, 3, 2], 2)]]);
    let msg = "";
    try {
      runModel(model, feeds);
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes(a) && msg.includes("not supported"), `${a}: ${msg}`);
  }
  const ints = graphModel([fused({})], { a: [DataType.INT32, [2, 2]], b: [DataType.INT32, [2, 2]] }, ["y"], {}, {
    domains: MS,
  });
  let msg = "";
  try {
    inferModel(ints);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("float"), `int32: ${msg}`);
});

Deno.test("FusedMatMul's inferred shape transposes symbolic dims too", () => {
  const model = graphModel([fused({ transA: 1, transB: 1 })], { a: ["B", 3, "M"], b: [1, "N", 3] }, ["y"], {}, {
    domains: MS,
  });
  const t = inferModel(model).types.get("y");
  assert(t?.kind === "tensor", "typed");
  assertEquals(t.shape, ["B", "M", "N"]);
});

Deno.test("times and over give float32 attributes, and none where that would overflow or underflow", () => {
  const env = {} as never, s = {} as never;
  const times = ruleLibrary.attrFns.get("times")!, over = ruleLibrary.attrFns.get("over")!;
  assertEquals(times(env, s, [0.35355339, 0.35355339]), Math.fround(0.35355339 * 0.35355339));
  assertEquals(over(env, s, [1, 3]), Math.fround(1 / 3));
  assertEquals(over(env, s, [1, 0]), undefined, "1/0");
  assertEquals(over(env, s, [1, 1e-39]), undefined, "1/denormal overflows float32");
  assertEquals(times(env, s, [1e30, 1e30]), undefined, "overflow");
  assertEquals(times(env, s, [1e-30, 1e-30]), undefined, "underflow to a denormal or 0");
  assertEquals(times(env, s, [0, 2]), 0, "an exact 0 is a float32");
  assertEquals(times(env, s, [undefined, 2]), undefined, "an unset alpha");
});

// ---------------------------------------------------------------------------------------------
// the rules

const FUSED_RULES = [
  "matmul-scale-a-fused",
  "matmul-scale-b-fused",
  "matmul-div-a-fused",
  "matmul-div-b-fused",
  "fused-matmul-scale-a",
  "fused-matmul-scale-b",
  "fused-matmul-div-a",
  "fused-matmul-div-b",
];

Deno.test("the ort pack's FusedMatMul rules are proved or tested, never refuted", async () => {
  const shipped = (await loadRulePacks()).filter((r) => FUSED_RULES.includes(r.name));
  assertEquals(shipped.map((r) => r.name).sort(), [...FUSED_RULES].sort());
  for (const r of shipped) {
    assertEquals(r.pack, "ort", `${r.name} is for ONNX Runtime only`);
    const v = await verifyRule(r);
    assert(v.status === "proved" || v.status === "tested", `${r.name}: ${v.status} ${v.note ?? ""}`);
    // the products and quotients with constants fold into alpha exactly where no rounding enters
    if (/scale/.test(r.name)) {
      assert(v.provedInstances > 0, `${r.name}: Z3 proved no instance`);
    }
  }
});

/** Wrong variants, each with what its counterexample must show (a pattern of the reason). */
const WRONG: [string, string, RegExp][] = [
  // the scale squared
  [
    "squared",
    `w: (MatMul (Mul ?a ?s) ?b) => (com.microsoft.FusedMatMul ?a ?b :alpha (times ?s ?s))
      if (dtype ?a "float32") (scalar ?s) (broadcasts-to ?s ?a)`,
    /element/,
  ],
  // a one-element scale of a higher rank than the operand broadcasts the product up a rank
  [
    "rank-raising scale of A",
    `w: (MatMul (Mul ?a ?s) ?b) => (com.microsoft.FusedMatMul ?a ?b :alpha (value ?s))
      if (dtype ?a "float32") (scalar ?s)`,
    /shapes differ/,
  ],
  [
    "rank-raising scale of B",
    `w: (MatMul ?a (Mul ?b ?s)) => (com.microsoft.FusedMatMul ?a ?b :alpha (value ?s))
      if (dtype ?a "float32") (scalar ?s)`,
    /shapes differ/,
  ],
  // a scale of the product: alpha · (a @ b) is rounded once, so where a @ b alone overflows
  // float32 and s brings it back in range the fused node is finite where the graph gave inf
  [
    "scale of the product",
    `w: (Mul (MatMul ?a ?b) ?s) => (com.microsoft.FusedMatMul ?a ?b :alpha (value ?s))
      if (dtype ?a "float32") (scalar ?s) (rank ?s 0)`,
    /Infinity/,
  ],
  // a Div folded as if it were a Mul
  [
    "div as mul",
    `w: (MatMul (Div ?a ?s) ?b) => (com.microsoft.FusedMatMul ?a ?b :alpha (value ?s))
      if (dtype ?a "float32") (scalar ?s) (broadcasts-to ?s ?a)`,
    /element/,
  ],
  // the second scale dropped
  [
    "second scale dropped",
    `w: (com.microsoft.FusedMatMul (Mul ?a ?t) ?b :alpha ?al) => (com.microsoft.FusedMatMul ?a ?b :alpha ?al)
      if (dtype ?a "float32") (scalar ?t) (broadcasts-to ?t ?a)`,
    /element/,
  ],
];

for (const [what, text, why] of WRONG) {
  Deno.test(`a wrong FusedMatMul rule is refuted: ${what}`, async () => {
    const [rule] = parseRules(text, "wrong.rules", "user");
    const v = await verifyRule(rule);
    assertEquals(v.status, "refuted", `${what}: ${v.status} ${v.note ?? ""}`);
    const c = v.counterexample!;
    assert(why.test(c.reason), `${what}: refuted on ${c.bindings}: ${c.reason}`);
  });
}

// ---------------------------------------------------------------------------------------------
// optimize on bert_tiny

/** Mul nodes with a one-element constant operand (an initializer or a Constant node). */
function scalarMuls(m: Model): number {
  const consts = new Set<string>();
  for (const [name, t] of m.graph.initializers) if (t.size === 1) consts.add(name);
  for (const n of m.graph.nodes) if (n.opType === "Constant") consts.add(n.outputs[0]);
  return m.graph.nodes.filter((n) => n.opType === "Mul" && n.inputs.some((i) => consts.has(i))).length;
}

Deno.test("optimize folds bert_tiny's Q and K scales into FusedMatMul, computing what the input does", async () => {
  const file = modelPath("bert_tiny");
  const input = loadOnnx(file);
  const cacheFile = await Deno.makeTempFile();
  // the default (learned) cost with an empty measurement cache: what a fresh machine extracts (a
  // developer's cache may hold single-node timings of these FusedMatMuls that say otherwise)
  const costCacheFile = await Deno.makeTempFile();
  const without = (await optimize(input, { guard: false, cacheFile, costCacheFile, without: FUSED_RULES })).model;
  const { model: out } = await optimize(input, { guard: false, cacheFile, costCacheFile });
  const fusedNodes = out.graph.nodes.filter((n) => n.opType === "FusedMatMul" && n.domain === "com.microsoft");
  assert(fusedNodes.length >= 2, `FusedMatMul nodes: ${fusedNodes.length}`);
  for (const n of fusedNodes) {
    const alpha = n.attributes.find((a) => a.name === "alpha")?.value as number;
    // both scales d^(-1/4) of Q and K (head size d = 64) folded into one alpha of 1/√d
    assert(Math.abs(alpha - 1 / 8) < 1e-6, `alpha ${alpha}`);
  }
  assert(
    scalarMuls(out) < scalarMuls(without),
    `scalar Muls: ${scalarMuls(out)} with the FusedMatMul rules, ${scalarMuls(without)} without`,
  );
  const dir = await Deno.makeTempDir();
  try {
    saveOnnx(out, `${dir}/out.onnx`);
    const feeds = randomInputs(input, { seed: 3 });
    const want = await runOrt(file, feeds), got = await runOrt(`${dir}/out.onnx`, feeds);
    for (const [name, t] of want) {
      assertEquals(compareTensors(got.get(name)!, t, { atol: 1e-4, rtol: 1e-3 }), undefined, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cacheFile);
    await Deno.remove(costCacheFile);
  }
});

// ---------------------------------------------------------------------------------------------
// WebGPU

Deno.test({
  name: "FusedMatMul runs on WebGPU (alpha, transA, transB, batch broadcasting; both GEMM generators)",
  ignore: (await gpuAdapter()) === null,
  async fn() {
    for (const software of [true, false]) {
      for (const [sa, sb, attrs] of CASES) {
        await matchesReference(fusedModel(sa, sb, attrs), { a: rand(sa, 1), b: rand(sb, 2) }, {
          supported: true,
          target: { software },
          label: `[${sa}] × [${sb}] ${JSON.stringify(attrs)} (software ${software})`,
        });
      }
    }
  },
});

Deno.test({
  name: "FusedMatMul on WebGPU takes an elementwise epilogue after its alpha",
  ignore: (await gpuAdapter()) === null,
  async fn() {
    // alpha before the Add and the Relu: (alpha · a @ bᵀ) + c, then Relu
    const model = graphModel(
      [
        node(
          "FusedMatMul",
          ["a", "b"],
          ["m"],
          [{ name: "alpha", type: "float", value: -0.5 }, attr("transB", 1)],
          "com.microsoft",
        ),
        node("Add", ["m", "c"], ["s"]),
        node("Relu", ["s"], ["y"]),
      ],
      { a: [2, 3, 4] },
      ["y"],
      { b: rand([5, 4], 2), c: rand([5], 3) },
      { domains: MS },
    );
    for (const software of [true, false]) {
      await matchesReference(model, { a: rand([2, 3, 4], 1) }, { supported: true, target: { software } });
    }
  },
});
