/**
 * The e-graph engine: union-find, hash-consing, congruence after rebuild, the constant
 * analysis, e-matching (multi-patterns too), the runner's limits, and a graph's round trip
 * through the e-graph.
 */
import { assert, assertEquals } from "./_assert.ts";
import { UnionFind } from "../egraph/unionfind.ts";
import { EGraph } from "../egraph/egraph.ts";
import { makeENode } from "../egraph/enode.ts";
import { type Library, type MatchEnv, type Pattern, searchPatterns } from "../egraph/pattern.ts";
import { runRules } from "../egraph/runner.ts";
import type { Rule } from "../rules/rule.ts";
import { float32Tensor, loadOnnx, randomInputs, runModel, type Tensor, toNumbers } from "../mod.ts";
import { compareTensors } from "../conformance/compare.ts";
import { optimizeModel } from "../optimize/optimize.ts";
import { modelPath, MODELS } from "./_helpers.ts";

const opsets = [{ domain: "", version: 17 }];
const noLib: Library = { builders: new Map(), attrFns: new Map() };
const v = (name: string): Pattern => ({ kind: "var", name });
const op = (o: string, ...children: Pattern[]): Pattern => ({ kind: "op", op: o, attrs: [], children });
const input = (eg: EGraph, name: string) =>
  eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: name }, {
    name: "type",
    type: "type_proto",
    value: { kind: "tensor", dtype: 1, shape: [2, 3] },
  }]));

Deno.test("UnionFind.find() gives one root per set after unions", () => {
  const uf = new UnionFind();
  const ids = Array.from({ length: 6 }, () => uf.add());
  uf.union(ids[0], ids[1]);
  uf.union(ids[2], ids[3]);
  uf.union(ids[1], ids[3]);
  assertEquals(uf.find(ids[0]), uf.find(ids[2]));
  assert(uf.find(ids[4]) !== uf.find(ids[5]));
  assert(uf.find(ids[0]) !== uf.find(ids[4]));
});

Deno.test("EGraph.add() hash-conses equal nodes into one class", () => {
  const eg = new EGraph(opsets);
  const x = input(eg, "x");
  const a = eg.add(makeENode("Relu", [x]));
  const b = eg.add(makeENode("Relu", [x]));
  assertEquals(a, b);
  assert(eg.add(makeENode("Sigmoid", [x])) !== a);
});

Deno.test("EGraph.rebuild() restores congruence: f(a) and f(b) merge once a = b", () => {
  const eg = new EGraph(opsets);
  const x = input(eg, "x"), y = input(eg, "y");
  const fx = eg.add(makeENode("Relu", [x])), fy = eg.add(makeENode("Relu", [y]));
  const gfx = eg.add(makeENode("Neg", [fx])), gfy = eg.add(makeENode("Neg", [fy]));
  assert(eg.find(gfx) !== eg.find(gfy));
  eg.union(x, y);
  eg.rebuild();
  assertEquals(eg.find(fx), eg.find(fy));
  assertEquals(eg.find(gfx), eg.find(gfy));
});

Deno.test("the constant analysis folds an op over constants into a $const node", () => {
  const eg = new EGraph(opsets);
  const a = eg.add(makeENode("$const", [], [], { value: float32Tensor([2], [1, 2]) }));
  const b = eg.add(makeENode("$const", [], [], { value: float32Tensor([2], [10, 20]) }));
  const sum = eg.add(makeENode("Add", [a, b]));
  assertEquals([...toNumbers(eg.valueOf(sum)!)], [11, 22]);
  assert(eg.eclass(sum).nodes.some((n) => n.op === "$const"));
  // an equal constant elsewhere is the same class
  const c = eg.add(makeENode("$const", [], [], { value: float32Tensor([2], [11, 22]) }));
  assertEquals(eg.find(c), eg.find(sum));
});

Deno.test("the type analysis gives shapes through ops", () => {
  const eg = new EGraph(opsets);
  const x = input(eg, "x");
  const t = eg.add(makeENode("Transpose", [x], [{ name: "perm", type: "ints", value: [1, 0] }]));
  assertEquals(eg.typeOf(t), { kind: "tensor", dtype: 1, shape: [3, 2] });
});

Deno.test("searchPatterns() matches nested patterns, a repeated variable, and multi-patterns", () => {
  const eg = new EGraph(opsets);
  const x = input(eg, "x"), y = input(eg, "y");
  const rx = eg.add(makeENode("Relu", [x]));
  eg.add(makeENode("Add", [rx, rx]));
  eg.add(makeENode("Add", [rx, y]));
  eg.add(makeENode("MatMul", [x, y]));
  eg.add(makeENode("MatMul", [x, rx]));
  eg.rebuild();
  const env: MatchEnv = { eg, defaults: () => undefined };
  assertEquals(searchPatterns(env, [op("Add", op("Relu", v("a")), v("b"))]).length, 2);
  assertEquals(searchPatterns(env, [op("Add", v("a"), v("a"))]).length, 1);
  // two MatMuls sharing their first input: ordered pairs, the pair of a node with itself included
  const pairs = searchPatterns(env, [op("MatMul", v("s"), v("w1")), op("MatMul", v("s"), v("w2"))]);
  assertEquals(pairs.length, 4);
});

Deno.test("runRules() stops at the node limit on an exploding rule set, with that stop reason", () => {
  const eg = new EGraph(opsets);
  let cur = input(eg, "x0");
  for (let i = 1; i < 8; i++) cur = eg.add(makeENode("Add", [cur, input(eg, `x${i}`)]));
  eg.rebuild();
  const rules: Rule[] = [
    { name: "comm", pack: "test", lhs: [op("Add", v("a"), v("b"))], rhs: [op("Add", v("b"), v("a"))] },
    {
      name: "assoc",
      pack: "test",
      lhs: [op("Add", op("Add", v("a"), v("b")), v("c"))],
      rhs: [op("Add", v("a"), op("Add", v("b"), v("c")))],
    },
    {
      name: "assoc-rev",
      pack: "test",
      lhs: [op("Add", v("a"), op("Add", v("b"), v("c")))],
      rhs: [op("Add", op("Add", v("a"), v("b")), v("c"))],
    },
  ];
  const r = runRules({ eg, defaults: () => undefined }, noLib, rules, {
    nodeLimit: 2000,
    iterLimit: 100,
    timeLimitMs: 60_000,
    matchLimit: 100_000,
  });
  assertEquals(r.stopReason.kind, "node-limit");
  assert(eg.nodeCount > 2000);
  assert(r.rules.get("comm")!.applied > 0);
});

Deno.test("runRules() reports saturation when nothing more applies", () => {
  const eg = new EGraph(opsets);
  const x = input(eg, "x");
  eg.add(makeENode("Neg", [eg.add(makeENode("Neg", [x]))]));
  eg.rebuild();
  const rules: Rule[] = [{ name: "neg-neg", pack: "test", lhs: [op("Neg", op("Neg", v("a")))], rhs: [v("a")] }];
  const r = runRules({ eg, defaults: () => undefined }, noLib, rules);
  assertEquals(r.stopReason.kind, "saturated");
  assertEquals(r.rules.get("neg-neg")!.applied, 1);
});

for (const name of MODELS) {
  Deno.test(`${name} goes through the e-graph and back with the same outputs (no rules)`, async () => {
    const model = loadOnnx(modelPath(name));
    const count = { name: "count", nodeCost: (_e: unknown, n: { op: string }) => (n.op.startsWith("$") ? 0 : 1) };
    const { model: out } = await optimizeModel(model, {
      rules: [],
      library: noLib,
      defaults: () => undefined,
      cost: count,
    });
    assert(out.graph.nodes.length <= model.graph.nodes.length);
    const inputs = randomInputs(model, { seed: 0 });
    const a = runModel(model, inputs), b = runModel(out, inputs);
    for (const o of model.graph.outputs) {
      const why = compareTensors(b.get(o.name) as Tensor, a.get(o.name) as Tensor, { atol: 1e-5, rtol: 1e-4 });
      assertEquals(why, undefined, o.name);
    }
  });
}
