/**
 * com.microsoft.SkipLayerNormalization and SkipSimplifiedLayerNormalization: the reference
 * against ONNX Runtime (outputs 0 and 3, with and without beta and bias, a broadcast skip, 2-D
 * input; SkipLayerNormalization's mean and inv_std_var), its refusals (rank, skip and gamma
 * shapes ONNX Runtime refuses), shape inference; the ort pack's rules that fuse a residual Add and
 * the norm after it (verified, and wrong variants refuted); `optimize` on gpt2_tiny and
 * llama_tiny_dynamo makes them, removes the residual Adds, and still computes what the input
 * model does in ONNX Runtime; and the WebGPU backend runs both ops.
 */
import { assert, assertEquals } from "./_assert.ts";
import { gpuAdapter, graphModel, matchesReference, node, rand } from "./_models.ts";
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
import type { Node } from "../ir/graph.ts";
import { parseRules } from "../rules/parser.ts";
import { loadRulePacks } from "../rules/load.ts";
import { verifyRule } from "../verify/verify_rule.ts";
import "../rules/contrib_ops.ts";

const MS = [{ domain: "com.microsoft", version: 1 }];
const SLN = "SkipLayerNormalization", SSLN = "SkipSimplifiedLayerNormalization";

function skipNode(op: string, inputs: string[], outputs: string[], epsilon?: number): Node {
  const attrs = epsilon === undefined ? [] : [{ name: "epsilon", type: "float" as const, value: epsilon }];
  return node(op, inputs, outputs, attrs, "com.microsoft");
}

/** A one-node model; `inputs` by position ("" omitted), each named input fed with the shape given. */
function skipModel(op: string, shapes: Record<string, number[]>, inputs: string[], outputs: string[], eps?: number) {
  return graphModel([skipNode(op, inputs, outputs, eps)], shapes, outputs.filter((o) => o !== ""), {}, {
    domains: MS,
  });
}

const H = 5;
// [label, op, input shapes, node inputs, node outputs, epsilon]
const CASES: [string, string, Record<string, number[]>, string[], string[], number | undefined][] = [
  ["all four outputs", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H], be: [H] }, ["a", "b", "g", "be"], [
    "y",
    "m",
    "iv",
    "s",
  ], 1e-5],
  ["outputs 0 and 3 only", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H], be: [H] }, ["a", "b", "g", "be"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5],
  ["no beta", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], ["y", "", "", "s"], 1e-6],
  ["beta and bias", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H], be: [H], bi: [H] }, ["a", "b", "g", "be", "bi"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5],
  ["bias, no beta", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H], bi: [H] }, ["a", "b", "g", "", "bi"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5],
  ["2-D input", SLN, { a: [3, H], b: [3, H], g: [H], be: [H] }, ["a", "b", "g", "be"], ["y", "m", "iv", "s"], 1e-5],
  ["skip [1, S, H]", SLN, { a: [2, 3, H], b: [1, 3, H], g: [H], be: [H] }, ["a", "b", "g", "be"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5],
  ["skip [S, H]", SLN, { a: [2, 3, H], b: [3, H], g: [H] }, ["a", "b", "g"], ["y", "", "", "s"], 1e-5],
  ["output 0 alone, default epsilon", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], ["y"], undefined],
  ["simplified", SSLN, { a: [2, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], ["y", "", "", "s"], 1e-6],
  ["simplified, bias", SSLN, { a: [2, 3, H], b: [2, 3, H], g: [H], bi: [H] }, ["a", "b", "g", "bi"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5],
  ["simplified 2-D", SSLN, { a: [3, H], b: [3, H], g: [H] }, ["a", "b", "g"], ["y", "", "", "s"], 1e-5],
  ["simplified, skip [S, H]", SSLN, { a: [2, 3, H], b: [3, H], g: [H] }, ["a", "b", "g"], ["y", "", "", "s"], 1e-5],
  ["simplified, output 0 alone, default epsilon", SSLN, { a: [2, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], [
    "y",
  ], undefined],
];

function feedsFor(shapes: Record<string, number[]>, scale = 1): Map<string, Tensor> {
  return new Map(
    Object.entries(shapes).map(([k, s], i) => {
      const t = rand(s, i + 1);
      const xs = Array.from(t.data as Float32Array, (v) => v * scale);
      return [k, float32Tensor(s, xs)];
    }),
  );
}

Deno.test("Skip(Simplified)LayerNormalization in the reference computes what ONNX Runtime does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [label, op, shapes, inputs, outputs, eps] of CASES) {
      const model = skipModel(op, shapes, inputs, outputs, eps);
      const file = `${dir}/skip.onnx`;
      saveOnnx(model, file);
      // small values too: where the variance is near epsilon, the default 1e-12 (not 1e-5) shows
      for (const scale of [1, 1e-4]) {
        const feeds = feedsFor(shapes, scale);
        const want = await runOrt(file, feeds, { graphOptimizationLevel: "disabled" });
        const got = runModel(model, feeds);
        const types = inferModel(model).types;
        for (const o of outputs.filter((o) => o !== "")) {
          const w = want.get(o)!, g = got.get(o) as Tensor;
          const what = `${op} ${label} (scale ${scale}): output ${o}`;
          assertEquals([...g.dims], [...w.dims], `${what}: shape`);
          assertEquals(g.dtype, w.dtype, `${what}: dtype`);
          assertEquals(compareTensors(g, w, { atol: 1e-5, rtol: 1e-4 }), undefined, what);
          const t = types.get(o);
          assert(t?.kind === "tensor" && t.shape?.join() === w.dims.join(), `${what}: inferred ${JSON.stringify(t)}`);
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sum output is (input + skip) + bias rounded as ONNX Runtime adds, and output 0 normalizes that sum", () => {
  // 1 + 2^-24 rounds to 1 in float32: bias 2^-24 added after the skip is lost, as in two Adds
  const model = skipModel(SLN, { a: [1, 2], b: [1, 2], g: [2], be: [2], bi: [2] }, ["a", "b", "g", "be", "bi"], [
    "y",
    "",
    "",
    "s",
  ], 1e-5);
  const feeds = new Map([
    ["a", float32Tensor([1, 2], [1, 3])],
    ["b", float32Tensor([1, 2], [0, 0])],
    ["g", float32Tensor([2], [1, 1])],
    ["be", float32Tensor([2], [0, 0])],
    ["bi", float32Tensor([2], [2 ** -24, 0])],
  ]);
  const out = runModel(model, feeds);
  assertEquals(Array.from((out.get("s") as Tensor).data as Float32Array), [1, 3]);
  const y = Array.from((out.get("y") as Tensor).data as Float32Array);
  assert(Math.abs(y[0] + 1) < 1e-5 && Math.abs(y[1] - 1) < 1e-5, `y ${y}`);
});

Deno.test("Skip normalizations refuse what ONNX Runtime refuses, saying why", () => {
  const cases: [string, string, Record<string, number[]>, string[], RegExp][] = [
    ["rank 4", SLN, { a: [1, 2, 3, H], b: [1, 2, 3, H], g: [H] }, ["a", "b", "g"], /rank 2 or 3/],
    ["rank 1", SSLN, { a: [H], b: [H], g: [H] }, ["a", "b", "g"], /rank 2 or 3/],
    ["skip [1, 1, H]", SLN, { a: [2, 3, H], b: [1, 1, H], g: [H] }, ["a", "b", "g"], /skip of shape/],
    ["skip larger than the input", SLN, { a: [1, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], /skip of shape/],
    ["skip [H]", SSLN, { a: [2, 3, H], b: [H], g: [H] }, ["a", "b", "g"], /skip of shape/],
    ["gamma [1, H]", SLN, { a: [2, 3, H], b: [2, 3, H], g: [1, H] }, ["a", "b", "g"], /gamma must have shape/],
    ["beta [1]", SLN, { a: [2, 3, H], b: [2, 3, H], g: [H], be: [1] }, ["a", "b", "g", "be"], /beta must/],
    ["bias [1]", SSLN, { a: [2, 3, H], b: [2, 3, H], g: [H], bi: [1] }, ["a", "b", "g", "bi"], /bias must/],
  ];
  for (const [label, op, shapes, inputs, why] of cases) {
    const model = skipModel(op, shapes, inputs, ["y", "", "", "s"]);
    for (const [what, f] of [["run", () => runModel(model, feedsFor(shapes))], ["infer", () => inferModel(model)]]) {
      let msg = "";
      try {
        (f as () => unknown)();
      } catch (e) {
        msg = (e as Error).message;
      }
      assert(why.test(msg), `${label} (${what}): ${msg || "accepted"}`);
    }
  }
});

Deno.test("SkipSimplifiedLayerNormalization's statistics are not modelled: a node reading them fails", () => {
  const model = graphModel(
    [skipNode(SSLN, ["a", "b", "g"], ["y", "", "iv"], 1e-5), node("Relu", ["iv"], ["z"])],
    { a: [2, 3, H], b: [2, 3, H], g: [H] },
    ["z"],
    {},
    { domains: MS },
  );
  let msg = "";
  try {
    runModel(model, feedsFor({ a: [2, 3, H], b: [2, 3, H], g: [H] }));
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(/missing/.test(msg), msg || "ran");
  // its type is still known ([B, S, 1], float32), as ONNX Runtime shapes it
  const t = inferModel(model).types.get("iv");
  assert(t?.kind === "tensor" && t.shape?.join() === "2,3,1", JSON.stringify(t));
});

Deno.test("Skip normalizations' inferred shapes keep symbolic dims", () => {
  const model = graphModel(
    [skipNode(SLN, ["a", "b", "g"], ["y", "m", "iv", "s"], 1e-5)],
    {
      a: ["B", "S", H],
      b: ["B", "S", H],
      g: [H],
    },
    ["y", "m", "iv", "s"],
    {},
    { domains: MS },
  );
  const types = inferModel(model).types;
  const shape = (n: string) => {
    const t = types.get(n);
    return t?.kind === "tensor" ? t.shape : undefined;
  };
  assertEquals(shape("y"), ["B", "S", H]);
  assertEquals(shape("s"), ["B", "S", H]);
  assertEquals(shape("m"), ["B", "S", 1]);
  assertEquals(shape("iv"), ["B", "S", 1]);
});

// ---------------------------------------------------------------------------------------------
// the rules

const SKIP_RULES = [
  "skip-layernorm-residual",
  "skip-layernorm-residual-nobeta",
  "skip-simplified-residual",
  "skip-rmsnorm-residual",
];

/** The opt-in rule file (not a shipped pack: measured unprofitable on ONNX Runtime CPU, see its header). */
const SKIP_FILE = new URL("../rules/ort/skip_norm.rules", import.meta.url).pathname;

Deno.test("the Skip normalization rules are proved, and not shipped by default", async () => {
  const shippedNames = (await loadRulePacks()).map((r) => r.name);
  for (const n of SKIP_RULES) assert(!shippedNames.includes(n), `${n} is opt-in`);
  const loaded = (await loadRulePacks({ noShipped: true, files: [SKIP_FILE] })).filter((r) => SKIP_RULES.includes(r.name));
  assertEquals(loaded.map((r) => r.name).sort(), [...SKIP_RULES].sort());
  for (const r of loaded) {
    const v = await verifyRule(r);
    assertEquals(v.status, "proved", `${r.name}: ${v.status} ${v.note ?? ""}`);
    assert(v.provedInstances > 0, `${r.name}: Z3 proved no instance`);
  }
});

const GUARDS = `if (dtype ?a "float32") (rank ?a 3) (same-shape ?a ?b) (last-dim-vector ?g ?a) (last-dim-vector ?be ?a)
  (same-dtype ?a ?g) (same-dtype ?a ?be)`;
const LN_RESIDUAL = "(LayerNormalization (Add ?a ?b) ?g ?be :axis -1 :epsilon ?e), (Add ?a ?b)";
const skipLN = (out: number, eps = " :epsilon (times ?e 1.0)") =>
  `(com.microsoft.SkipLayerNormalization ?a ?b ?g ?be${eps})#${out}`;

/** Wrong variants (those in tests/data/wrong.rules, and more), each with what its counterexample must show. */
const WRONG: [string, string, RegExp][] = [
  [
    "axis 0",
    `w: (LayerNormalization (Add ?a ?b) ?g ?be :axis 0 :epsilon ?e), (Add ?a ?b) => ${skipLN(0)}, ${
      skipLN(3)
    } ${GUARDS}`,
    /element/,
  ],
  // a + b with the smaller a first broadcasts up to b's shape; the Skip op keeps a's
  [
    "a skip wider than the input",
    `w: ${LN_RESIDUAL} => ${skipLN(0)}, ${skipLN(3)}
      if (dtype ?a "float32") (rank ?a 3) (rank ?b 3) (last-dim-vector ?g ?a) (last-dim-vector ?be ?a)
      (same-dtype ?a ?g) (same-dtype ?a ?be)`,
    /skip of shape|shapes differ/,
  ],
  ["the residual wired to output 1 (the mean)", `w: ${LN_RESIDUAL} => ${skipLN(0)}, ${skipLN(1)} ${GUARDS}`, /shapes/],
  ["epsilon dropped", `w: ${LN_RESIDUAL} => ${skipLN(0, "")}, ${skipLN(3, "")} ${GUARDS}`, /element/],
  // ?e copied as it is: bound from a LayerNormalization that leaves epsilon unset (1e-5), it is left
  // unset on the Skip op too, whose default is 1e-12 (`times ?e 1.0` in the shipped rules writes it)
  [
    "epsilon copied from an unset one",
    `w: ${LN_RESIDUAL} => ${skipLN(0, " :epsilon ?e")}, ${skipLN(3, " :epsilon ?e")} ${GUARDS}`,
    /element/,
  ],
  // SimplifiedLayerNormalization is RMS: it is not SkipLayerNormalization (which subtracts the mean)
  [
    "RMS fused as LayerNorm",
    `w: (SimplifiedLayerNormalization (Add ?a ?b) ?g :axis -1 :epsilon ?e), (Add ?a ?b)
      => (com.microsoft.SkipLayerNormalization ?a ?b ?g :epsilon (times ?e 1.0))#0,
         (com.microsoft.SkipLayerNormalization ?a ?b ?g :epsilon (times ?e 1.0))#3
      if (dtype ?a "float32") (rank ?a 3) (same-shape ?a ?b) (last-dim-vector ?g ?a) (same-dtype ?a ?g)`,
    /element/,
  ],
];

for (const [what, text, why] of WRONG) {
  Deno.test(`a wrong Skip normalization rule is refuted: ${what}`, async () => {
    const [rule] = parseRules(text, "wrong.rules", "user");
    const v = await verifyRule(rule);
    assertEquals(v.status, "refuted", `${what}: ${v.status} ${v.note ?? ""}`);
    const c = v.counterexample!;
    assert(why.test(c.reason), `${what}: refuted on ${c.bindings}: ${c.reason}`);
  });
}

// ---------------------------------------------------------------------------------------------
// optimize

function count(m: Model, op: string): number {
  return m.graph.nodes.filter((n) => n.opType === op).length;
}

/** Assert ONNX Runtime runs `out` (at optimization level "all") to what it computes of `file`'s model. */
async function sameInOrt(file: string, input: Model, out: Model): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    saveOnnx(out, `${dir}/out.onnx`);
    const feeds = randomInputs(input, { seed: 3 });
    const want = await runOrt(file, feeds);
    const got = await runOrt(`${dir}/out.onnx`, feeds, { graphOptimizationLevel: "all" });
    for (const [name, t] of want) {
      assertEquals(compareTensors(got.get(name)!, t, { atol: 1e-4, rtol: 1e-3 }), undefined, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `optimize` of a model with and without the Skip rules: the Skip ops made, every Add they fused
 * gone, ONNX Runtime computing what it does of the input, and the output running on WebGPU (where
 * there is an adapter; planned everywhere). The opt-in rule file, the analytic cost, no guard.
 */
async function fusesResiduals(name: string, op: string, fused: number) {
  const file = modelPath(name);
  const input = loadOnnx(file);
  const cacheFile = await Deno.makeTempFile();
  try {
    const without = (await optimize(input, { guard: false, cacheFile, cost: "analytic" })).model;
    const { model: out } = await optimize(input, { guard: false, cacheFile, cost: "analytic", ruleFiles: [SKIP_FILE] });
    const skips = out.graph.nodes.filter((n) => n.opType === op && n.domain === "com.microsoft");
    assertEquals(skips.length, fused, `${name}: ${op} nodes`);
    assertEquals(count(without, op), 0);
    // each Skip op replaced an Add: the residual Adds are gone from Saturn's output
    assertEquals(count(out, "Add"), count(without, "Add") - fused, `${name}: Adds`);
    // no norm reads a sum of two activations any more (an Add of a constant table is left alone)
    const consts = new Set([...out.graph.initializers.keys()]);
    for (const n of out.graph.nodes) if (n.opType === "Constant") consts.add(n.outputs[0]);
    const adds = new Set(
      out.graph.nodes.filter((n) => n.opType === "Add" && !n.inputs.some((i) => consts.has(i))).flatMap((n) =>
        n.outputs
      ),
    );
    for (const n of out.graph.nodes) {
      if (/Normalization$/.test(n.opType)) assert(!adds.has(n.inputs[0]), `${n.opType} '${n.name}' still reads an Add`);
    }
    await sameInOrt(file, input, out);
    // and `saturn run` of this ort-target output on WebGPU computes what the reference does
    await matchesReference(out, randomInputs(input, { seed: 4 }) as Map<string, Tensor>, {
      supported: true,
      label: name,
    });
  } finally {
    await Deno.remove(cacheFile);
  }
}

Deno.test("optimize makes gpt2_tiny's residual Adds and LayerNorms SkipLayerNormalization", async () => {
  // four residual Adds (two per block); the sum of the embeddings has a constant table (left to the quant pack)
  await fusesResiduals("gpt2_tiny", SLN, 4);
});

Deno.test("optimize makes llama_tiny_dynamo's residual Adds and RMS norms SkipSimplifiedLayerNormalization", async () => {
  // four residual Adds (two per block); the first norm reads the embeddings, no Add
  await fusesResiduals("llama_tiny_dynamo", SSLN, 4);
});

Deno.test("a LayerNormalization without epsilon fuses with its default 1e-5 written out, not the Skip op's 1e-12", async () => {
  const H = 8, shape = [2, 3, H], SMALL = { lo: -1e-3, hi: 1e-3 };
  const model = graphModel(
    [
      node("Add", ["a", "b"], ["s1"]),
      node("LayerNormalization", ["s1", "g", "be"], ["n1"]), // epsilon unset: 1e-5
      node("Relu", ["n1"], ["r"]),
      node("Add", ["s1", "r"], ["s2"]), // s1 is a residual: it feeds the norm and this Add
      node("LayerNormalization", ["s2", "g", "be"], ["y"], [{ name: "epsilon", type: "float", value: 1e-3 }]), // s2 feeds only the norm
    ],
    { a: shape, b: shape },
    ["y"],
    { g: rand([H], 3), be: rand([H], 4) },
  );
  const cacheFile = await Deno.makeTempFile();
  const dir = await Deno.makeTempDir();
  try {
    const { model: out } = await optimize(model, { guard: false, cacheFile, cost: "analytic", ruleFiles: [SKIP_FILE] });
    const skips = out.graph.nodes.filter((n) => n.opType === SLN);
    assertEquals(skips.length, 2);
    assertEquals(count(out, "Add"), 0);
    const eps = skips.map((n) => n.attributes.find((a) => a.name === "epsilon")?.value).sort();
    assertEquals(eps, [Math.fround(1e-5), Math.fround(1e-3)].sort());
    // values near epsilon: a Skip op left at 1e-12 would differ
    const feeds = new Map([["a", rand(shape, 1, SMALL)], ["b", rand(shape, 2, SMALL)]]);
    saveOnnx(model, `${dir}/in.onnx`);
    saveOnnx(out, `${dir}/out.onnx`);
    const want = await runOrt(`${dir}/in.onnx`, feeds), got = await runOrt(`${dir}/out.onnx`, feeds);
    assertEquals(compareTensors(got.get("y")!, want.get("y")!, { atol: 1e-5, rtol: 1e-4 }), undefined);
    assertEquals(
      compareTensors(runModel(out, feeds).get("y") as Tensor, want.get("y")!, { atol: 1e-5, rtol: 1e-4 }),
      undefined,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cacheFile);
  }
});

// ---------------------------------------------------------------------------------------------
// WebGPU

Deno.test({
  name: "Skip normalizations run on WebGPU (outputs 0 and 3, beta and bias, a broadcast skip, statistics)",
  ignore: (await gpuAdapter()) === null,
  async fn() {
    for (const [label, op, shapes, inputs, outputs, eps] of CASES) {
      await matchesReference(skipModel(op, shapes, inputs, outputs, eps), feedsFor(shapes), {
        supported: true,
        label: `${op} ${label}`,
      });
    }
  },
});

Deno.test("WebGPU refuses SkipSimplifiedLayerNormalization's statistics, saying why", async () => {
  const { unsupportedNodes } = await import("../mod.ts");
  const model = skipModel(SSLN, { a: [2, 3, H], b: [2, 3, H], g: [H] }, ["a", "b", "g"], ["y", "", "iv", "s"]);
  const u = unsupportedNodes(model);
  assertEquals(u.map((x) => x.reason), ["mean and inv_std_var are not supported"]);
});
