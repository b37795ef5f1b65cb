/**
 * If, Loop and Scan bodies go through the optimizer like the main graph: each body is optimized
 * with the values it reads from outer scopes as its inputs (never renamed), names stay unique
 * across the whole model, bodies nested in bodies are reached without recursion, and the
 * optimized model computes what the original does (reference and `optimize --check`).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node } from "./_models.ts";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { optimizeModel } from "../optimize/optimize.ts";
import { parseRules } from "../rules/parser.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { runModel } from "../ir/interpreter.ts";
import { subgraphsOf } from "../ir/functions.ts";
import { freeNames } from "../ir/validate.ts";
import type { Graph, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, int64Tensor, Tensor } from "../ir/tensor.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const REAL = path.join(root, "..", "shared", "real");

/**
 * The few rules these tests need, as the shipped packs write them (so that a test does not wait on
 * the verification of the shipped packs): x + 0, x · 1, and a Transpose pair that cancels.
 */
const RULES = parseRules(
  `add-zero: (Add ?x 0) => ?x if (same-shape ?x $root)
mul-one: (Mul ?x 1) => ?x if (same-shape ?x $root)
transpose-compose: (Transpose (Transpose ?x :perm ?p) :perm ?q) => (Transpose ?x :perm (compose ?p ?q))
transpose-identity: (Transpose ?x :perm ?p) => ?x if (identity-perm ?p)`,
  "test.rules",
  "test",
);

function optimize(m: Model, limits: { timeLimitMs?: number } = {}) {
  return optimizeModel(m, {
    rules: RULES,
    library: ruleLibrary,
    defaults: attrDefaults,
    cost: new AnalyticalCost(),
    ...limits,
  });
}

function body(name: string, nodes: Node[], outputs: string[], inputs: Graph["inputs"] = []): Graph {
  return {
    name,
    nodes,
    inputs,
    outputs: outputs.map((o) => ({ name: o })),
    initializers: new Map(),
    sparseInitializers: [],
    valueInfo: [],
  };
}

const graphAttr = (name: string, value: Graph) => ({ name, type: "graph" as const, value });

/** Every graph of `g` (itself and its bodies at any depth), with an explicit stack. */
function allGraphs(g: Graph): Graph[] {
  const out: Graph[] = [], stack = [g];
  while (stack.length) {
    const x = stack.pop()!;
    out.push(x);
    for (const n of x.nodes) stack.push(...subgraphsOf(n));
  }
  return out;
}

const bodyNodes = (m: Model) => allGraphs(m.graph).slice(1).reduce((k, g) => k + g.nodes.length, 0);

/** No name is defined twice anywhere in the model (inputs, initializers, node outputs of every graph). */
function assertNamesUnique(m: Model): void {
  const seen = new Set<string>();
  for (const g of allGraphs(m.graph)) {
    for (
      const name of [
        ...g.inputs.map((i) => i.name),
        ...g.initializers.keys(),
        ...g.nodes.flatMap((n) => n.outputs),
      ]
    ) {
      if (name === "" || (g.initializers.has(name) && g.inputs.some((i) => i.name === name))) continue;
      assert(!seen.has(name), `'${name}' is defined twice`);
      seen.add(name);
    }
  }
}

/**
 * y = If c then Relu(Transpose(Transpose(x + 0))) (with an If inside reading x and zero from the
 * main graph) else Neg(x · 1); z = Loop n times acc ← Transpose(Transpose(acc)) + (x + 0).
 */
function controlFlowModel(): Model {
  const inner = node("If", ["c"], ["t4"], [
    graphAttr("then_branch", body("inner_then", [node("Add", ["x", "zero"], ["it"])], ["it"])),
    graphAttr("else_branch", body("inner_else", [node("Sub", ["x", "zero"], ["ie"])], ["ie"])),
  ]);
  const thenBranch = body("then", [
    node("Add", ["x", "zero"], ["t1"]),
    node("Transpose", ["t1"], ["t2"], [attr("perm", [1, 0])]),
    node("Transpose", ["t2"], ["t3"], [attr("perm", [1, 0])]),
    inner,
    node("Add", ["t3", "t4"], ["t5"]),
    node("Relu", ["t5"], ["r"]),
  ], ["r"]);
  const elseBranch = body("else", [node("Mul", ["x", "one"], ["e1"]), node("Neg", ["e1"], ["r2"])], ["r2"]);
  const loopBody = body(
    "loop",
    [
      node("Identity", ["cond_in"], ["cond_out"]),
      node("Transpose", ["acc"], ["l1"], [attr("perm", [1, 0])]),
      node("Transpose", ["l1"], ["l2"], [attr("perm", [1, 0])]),
      node("Add", ["x", "zero"], ["l3"]),
      node("Add", ["l2", "l3"], ["acc_out"]),
    ],
    ["cond_out", "acc_out"],
    [
      { name: "iter", type: { kind: "tensor", dtype: DataType.INT64, shape: [] } },
      { name: "cond_in", type: { kind: "tensor", dtype: DataType.BOOL, shape: [] } },
      { name: "acc", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [2, 3] } },
    ],
  );
  return graphModel(
    [
      node("If", ["c"], ["y"], [graphAttr("then_branch", thenBranch), graphAttr("else_branch", elseBranch)]),
      node("Loop", ["n", "", "x"], ["z"], [graphAttr("body", loopBody)]),
    ],
    { x: [2, 3], c: [DataType.BOOL, []], n: [DataType.INT64, []] },
    ["y", "z"],
    { zero: float32Tensor([1], [0]), one: float32Tensor([1], [1]) },
  );
}

function feeds(c: boolean, n: number): Map<string, Tensor> {
  return new Map([
    ["x", float32Tensor([2, 3], [-1, 0.5, 2, -3, 4, 0.25])],
    ["c", new Tensor(DataType.BOOL, [], Uint8Array.of(c ? 1 : 0))],
    ["n", int64Tensor([], [n])],
  ]);
}

Deno.test("If branches and a Loop body are optimized: their rewritable patterns are gone and results are unchanged", async () => {
  const m = controlFlowModel();
  const { model: out, report } = await optimize(m);
  const before = bodyNodes(m), after = bodyNodes(out);
  assert(after < before, `bodies hold ${after} nodes after, ${before} before`);
  const ops = allGraphs(out.graph).slice(1).flatMap((g) => g.nodes.map((n) => n.opType));
  assert(!ops.includes("Transpose"), `a Transpose pair is left in a body: ${ops}`);
  assert(!ops.includes("Mul"), `x · 1 is left in a body: ${ops}`);
  assertEquals(report.subgraphs?.optimized, 5);
  assertNamesUnique(out);
  for (const [c, n] of [[true, 3], [false, 0], [false, 2]] as const) {
    const want = runModel(m, feeds(c, n)), got = runModel(out, feeds(c, n));
    for (const o of ["y", "z"]) assertEquals([...(got.get(o) as Tensor).data], [...(want.get(o) as Tensor).data], o);
  }
});

Deno.test("a body keeps the names it reads from outer scopes, and names it mints are not read by a nested body", async () => {
  const m = controlFlowModel();
  const { model: out } = await optimize(m);
  const ifNode = out.graph.nodes.find((n) => n.opType === "If")!;
  const thenBranch = ifNode.attributes.find((a) => a.name === "then_branch")!.value as Graph;
  // x and zero are read from the main graph by name, at every depth
  for (const g of allGraphs(thenBranch)) {
    for (const f of freeNames(g)) assert(["x", "zero", "c"].includes(f), `reads '${f}'`);
  }
  assert(freeNames(thenBranch).has("x"));
  assertNamesUnique(out);
});

Deno.test("optimize --check passes on a model with optimized If and Loop bodies, the condition and trip count given", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = path.join(dir, "cf.onnx");
    await saveOnnx(controlFlowModel(), file);
    for (const c of [true, false]) {
      const json = path.join(dir, `in_${c}.json`);
      await Deno.writeTextFile(json, JSON.stringify({ c, n: 3 }));
      const r = await cli("optimize", file, "-o", path.join(dir, "cf.opt.onnx"), "--check", "--inputs", json);
      assertEquals(r.code, 0, r.out);
      assert(/check: outputs match/.test(r.out), r.out);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Scan body is optimized too", async () => {
  // Scan over the rows of x: state ← state + Transpose(Transpose(row)) · 1
  const scanBody = body(
    "scan",
    [
      node("Unsqueeze", ["row", "ax0"], ["u"]),
      node("Transpose", ["u"], ["s1"], [attr("perm", [1, 0])]),
      node("Transpose", ["s1"], ["s2"], [attr("perm", [1, 0])]),
      node("Mul", ["s2", "one"], ["s3"]),
      node("Add", ["st", "s3"], ["st_out"]),
      node("Identity", ["st_out"], ["scan_out"]),
    ],
    ["st_out", "scan_out"],
    [
      { name: "st", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [1, 3] } },
      { name: "row", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [3] } },
    ],
  );
  const m = graphModel(
    [node("Scan", ["s0", "x"], ["s", "rows"], [graphAttr("body", scanBody), attr("num_scan_inputs", 1)])],
    { s0: [1, 3], x: [2, 3] },
    ["s", "rows"],
    { one: float32Tensor([1], [1]), ax0: int64Tensor([1], [0]) },
  );
  const { model: out } = await optimize(m);
  assert(bodyNodes(out) < bodyNodes(m), `Scan body: ${bodyNodes(out)} nodes after, ${bodyNodes(m)} before`);
  const f = new Map([["s0", float32Tensor([1, 3], [1, 2, 3])], ["x", float32Tensor([2, 3], [1, -1, 2, 0.5, 3, -2])]]);
  const want = runModel(m, f), got = runModel(out, f);
  for (const o of ["s", "rows"]) assertEquals([...(got.get(o) as Tensor).data], [...(want.get(o) as Tensor).data], o);
});

Deno.test("Ifs nested 200 deep are each optimized, with no recursion over the nesting", async () => {
  // level k: If c then (level k-1) else x + 0, read from the main graph 200 levels up; the innermost: x + 0
  let g = body("l0", [node("Add", ["x", "zero"], ["r0"])], ["r0"]);
  for (let k = 1; k <= 200; k++) {
    const other = body(`e${k}`, [node("Add", ["x", "zero"], [`a${k}`])], [`a${k}`]);
    const nested = node("If", ["c"], [`r${k}`], [graphAttr("then_branch", g), graphAttr("else_branch", other)]);
    g = body(`l${k}`, [nested], [`r${k}`]);
  }
  const m = graphModel(
    [node("If", ["c"], ["y"], [graphAttr("then_branch", g), graphAttr("else_branch", body("e", [], ["x"]))])],
    { x: [3], c: [DataType.BOOL, []] },
    ["y"],
    { zero: float32Tensor([1], [0]) },
  );
  const { model: out, report } = await optimize(m, { timeLimitMs: 60_000 });
  assertEquals(report.subgraphs?.bodies, 402);
  const adds = allGraphs(out.graph).flatMap((x) => x.nodes).filter((n) => n.opType === "Add").length;
  assertEquals(adds, 0);
  assertNamesUnique(out);
  for (const c of [0, 1]) {
    const f = new Map([["x", float32Tensor([3], [1, -2, 3])], ["c", new Tensor(DataType.BOOL, [], Uint8Array.of(c))]]);
    assertEquals([...(runModel(out, f).get("y") as Tensor).data], [1, -2, 3]);
  }
});

Deno.test(
  "the silero voice-activity model optimizes inside its If on the sample rate and passes --check at 16 and 8 kHz",
  {
    ignore: !exists(path.join(REAL, "silero_vad_v5.onnx")),
  },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const [sr, samples] of [[16000, 512], [8000, 256]]) {
        const json = path.join(dir, `sr${sr}.json`);
        await Deno.writeTextFile(json, JSON.stringify({ sr }));
        const r = await cli(
          "optimize",
          path.join(REAL, "silero_vad_v5.onnx"),
          "-o",
          path.join(dir, "s.opt.onnx"),
          "--check",
          "--inputs",
          json,
          "--dim",
          "input:0=1",
          "--dim",
          `input:1=${samples}`,
          "--dim",
          "state:1=1",
          "--no-guard", // about the bodies' rewrite, not the timing that could keep the input
        );
        assertEquals(r.code, 0, r.out);
        const before = bodyNodes(loadOnnx(path.join(REAL, "silero_vad_v5.onnx")));
        const after = bodyNodes(loadOnnx(path.join(dir, "s.opt.onnx")));
        assert(after < before, `the If's branches hold ${after} nodes after, ${before} before`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
