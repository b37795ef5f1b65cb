/**
 * Attributes a pattern does not mention mean their ONNX default at the node's opset, never
 * "anything"; a rule that leaves out an attribute ONNX requires is refused when read; and a
 * copied attribute survives into the rewritten model with its meaning at that model's opset
 * (Softmax's axis -1 at opset 11 stays -1, not the old default 1), checked by running the
 * rewritten model in the reference interpreter against the original.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { EGraph } from "../egraph/egraph.ts";
import { type ClassId, makeENode } from "../egraph/enode.ts";
import { searchPatterns } from "../egraph/pattern.ts";
import { runRules } from "../egraph/runner.ts";
import type { Attribute, Model } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { runModel } from "../ir/interpreter.ts";
import { SaturnError } from "../errors.ts";
import { parseRules } from "../rules/parser.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import { missingRequiredAttrs, onnxAttrDefault } from "../rules/attr_defaults.ts";
import type { Rule } from "../rules/rule.ts";
import { optimizeModel } from "../optimize/optimize.ts";
import { NodeCountCost } from "../cost/analytical.ts";
import { extractGreedy } from "../egraph/extract_greedy.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import { compareTensors } from "../conformance/compare.ts";
import { int64Tensor, type Tensor } from "../ir/tensor.ts";

const rules = (text: string): Rule[] => parseRules(text, "t.rules", "user");

/** An e-graph at `opset` with a float input `x` of `shape`. */
function graph(opset: number, shape: number[] = [2, 3]): { eg: EGraph; x: ClassId } {
  const eg = new EGraph([{ domain: "", version: opset }]);
  const x = eg.add(makeENode("$in", [], [
    { name: "name", type: "string", value: "x" },
    { name: "type", type: "type_proto", value: { kind: "tensor", dtype: DataType.FLOAT, shape } } as Attribute,
  ]));
  return { eg, x };
}

const leaky = (eg: EGraph, x: ClassId, alpha?: number): ClassId =>
  eg.add(makeENode("LeakyRelu", [x], alpha === undefined ? [] : [{ name: "alpha", type: "float", value: alpha }]));

/** The matches of `rule`'s left side in `eg`. */
function matches(eg: EGraph, rule: Rule): ReturnType<typeof searchPatterns> {
  eg.rebuild();
  return searchPatterns({ eg, defaults: attrDefaults }, rule.lhs);
}

// ---- matching: an unmentioned attribute is its default

const [noAlpha] = rules("lr-neg: (LeakyRelu ?x) => (Neg ?x)");
const [bindAlpha] = rules("lr-bind: (LeakyRelu ?x :alpha ?a) => (LeakyRelu (Neg ?x) :alpha ?a)");

Deno.test("a rule that mentions no alpha does not fire on LeakyRelu(alpha=0.2)", () => {
  const { eg, x } = graph(17);
  leaky(eg, x, Math.fround(0.2));
  assertEquals(matches(eg, noAlpha).length, 0);
});

Deno.test("a rule that mentions no alpha fires on LeakyRelu with alpha unset or set to its default 0.01 (as float32)", () => {
  for (const alpha of [undefined, Math.fround(0.01), 0.01]) {
    const { eg, x } = graph(17);
    leaky(eg, x, alpha);
    assertEquals(matches(eg, noAlpha).length, 1, `alpha ${alpha}`);
  }
});

Deno.test("binding :alpha ?a fires on both the default and 0.2 and carries the value to the right-hand side", () => {
  for (const [alpha, want] of [[undefined, undefined], [Math.fround(0.2), Math.fround(0.2)]] as const) {
    const { eg, x } = graph(17);
    const root = leaky(eg, x, alpha);
    const ms = matches(eg, bindAlpha);
    assertEquals(ms.length, 1);
    // unset binds the default; a copy equal to a default stable across opsets stays unset
    assertEquals(ms[0].subst.attrs.get("a"), alpha ?? onnxAttrDefault("", "LeakyRelu", "alpha", 17));
    runRules({ eg, defaults: attrDefaults }, ruleLibrary, [bindAlpha], { iterLimit: 1 });
    const made = eg.eclass(eg.find(root)).nodes.find((n) => n.op === "LeakyRelu" && n.children[0] !== x);
    assert(made, "the rule fired");
    assertEquals(made.attrs.find((a) => a.name === "alpha")?.value, want);
  }
});

Deno.test("a literal float attribute matches the float32 a model stores (:alpha 0.2 matches alpha 0.2f)", () => {
  const [lit] = rules("lr-lit: (LeakyRelu ?x :alpha 0.2) => (Neg ?x)");
  const { eg, x } = graph(17);
  leaky(eg, x, Math.fround(0.2));
  assertEquals(matches(eg, lit).length, 1);
});

Deno.test("a bound float attribute guarded by (eq ?a 0.01) holds for the float32 0.01 a model stores, not for 0.2", () => {
  const [guarded] = rules("lr-eq: (LeakyRelu ?x :alpha ?a) => (Neg ?x) if (eq ?a 0.01)");
  for (const [alpha, want] of [[Math.fround(0.01), true], [undefined, true], [Math.fround(0.2), false]] as const) {
    const { eg, x } = graph(17);
    leaky(eg, x, alpha);
    const env = { eg, defaults: attrDefaults };
    const ms = matches(eg, guarded);
    assertEquals(ms.length, 1);
    assertEquals(guarded.guard!(env, ms[0].subst, ms[0].roots), want, `alpha ${alpha}`);
  }
});

Deno.test("an unmentioned attribute whose default is unknown matches only when the node leaves it unset", () => {
  // Shape's end has no default: a rule without :end is about the whole shape
  const [shape] = rules("shape-id: (Shape ?x) => (Shape ?x)");
  const int = (name: string, value: number): Attribute[] => [{ name, type: "int", value }];
  const cases: [Attribute[], number][] = [[[], 1], [int("end", -1), 0], [int("start", 0), 1], [int("start", 1), 0]];
  for (const [attrs, want] of cases) {
    const { eg, x } = graph(17);
    eg.add(makeENode("Shape", [x], attrs));
    assertEquals(matches(eg, shape).length, want, JSON.stringify(attrs));
  }
});

Deno.test("unmentioned attributes follow the node's opset: Softmax without :axis matches axis 1 at opset 11 and -1 at 13", () => {
  const [soft] = rules("soft: (Softmax ?x) => (Softmax ?x)");
  for (const [opset, axis, want] of [[11, 1, 1], [11, -1, 0], [13, -1, 1], [13, 1, 0], [13, undefined, 1]] as const) {
    const { eg, x } = graph(opset, [2, 3, 4]);
    eg.add(makeENode("Softmax", [x], axis === undefined ? [] : [{ name: "axis", type: "int", value: axis }]));
    assertEquals(matches(eg, soft).length, want, `opset ${opset}, axis ${axis}`);
  }
});

Deno.test("a Transpose without :perm matches only the reversed perm, set or unset", () => {
  const [tr] = rules("tr: (Transpose ?x) => (Transpose ?x)");
  for (const [perm, want] of [[undefined, 1], [[2, 1, 0], 1], [[0, 2, 1], 0]] as const) {
    const { eg, x } = graph(17, [2, 3, 4]);
    eg.add(makeENode("Transpose", [x], perm === undefined ? [] : [{ name: "perm", type: "ints", value: [...perm] }]));
    assertEquals(matches(eg, tr).length, want, `perm ${perm}`);
  }
});

Deno.test("Gemm without :transA/:alpha matches only the defaults; a set transB or beta keeps it from matching", () => {
  const [g] = rules("g: (Gemm ?a ?b ?c) => (Gemm ?a ?b ?c)");
  for (
    const [name, value, want] of [["alpha", 1, 1], ["alpha", 2, 0], ["transB", 0, 1], ["transB", 1, 0], [
      "beta",
      0.5,
      0,
    ]] as const
  ) {
    const { eg, x } = graph(17, [2, 2]);
    eg.add(makeENode("Gemm", [x, x, x], [{ name, type: name === "transB" ? "int" : "float", value } as Attribute]));
    assertEquals(matches(eg, g).length, want, `${name} ${value}`);
  }
});

// ---- rules that leave out a required attribute

Deno.test("a rule that leaves out an attribute ONNX requires is refused when read, with FILE:LINE", () => {
  for (
    const [text, what] of [
      ["\ncat1: (Concat ?x) => ?x", ":axis"],
      ["\n\ncast: (Cast ?x) => ?x if (same-dtype ?x $root)", ":to"],
      ["\nd2s: (DepthToSpace ?x) => ?x", ":blocksize"],
      ["\nunsq: (Squeeze (Unsqueeze ?x) :axes [0]) => ?x", ":axes"],
    ] as const
  ) {
    const e = assertThrows(() => rules(text), SaturnError, what);
    assertEquals(e.code, "RULE_ERROR");
    const line = text.split("\n").findIndex((l) => l.includes(":"));
    assert(e.message.startsWith(`t.rules:${line + 1}: `), e.message);
  }
});

Deno.test("binding or giving a required attribute is accepted, and axes as an input needs no attribute", () => {
  rules("cat1: (Concat ?x :axis ?a) => ?x\ncast: (Cast ?x :to ?t) => ?x if (same-dtype ?x $root)");
  rules("unsq: (Squeeze (Unsqueeze ?x ?a) ?a) => ?x");
  assertEquals(missingRequiredAttrs("", "Slice", 3, []), []);
  assertEquals(missingRequiredAttrs("", "Slice", 1, []).sort(), ["ends", "starts"]);
});

// ---- copying attributes across opsets

/** Optimize `model` with `text`'s rules only, returning the rewritten model and the rules fired. */
async function rewrite(model: Model, text: string): Promise<{ out: Model; fired: number }> {
  const { model: out, report } = await optimizeModel(model, {
    rules: rules(text),
    library: ruleLibrary,
    defaults: attrDefaults,
    cost: new NodeCountCost(),
    extract: extractGreedy,
  });
  return { out, fired: [...report.run.rules.values()].reduce((n, s) => n + s.applied, 0) };
}

/** Both models give the same outputs in the reference interpreter on one seeded input. */
function sameOutputs(a: Model, b: Model, feeds: Record<string, Tensor>): void {
  const ins = new Map(Object.entries(feeds));
  const ra = runModel(a, ins), rb = runModel(b, ins);
  for (const o of a.graph.outputs) {
    const why = compareTensors(rb.get(o.name) as Tensor, ra.get(o.name) as Tensor, { atol: 1e-6, rtol: 1e-5 });
    assertEquals(why, undefined, o.name);
  }
}

for (const op of ["Softmax", "LogSoftmax", "Hardmax"]) {
  for (const opset of [11, 12, 13, 18]) {
    Deno.test(`${op}'s axis copied by a rule keeps its meaning at opset ${opset} (axis -1, 0, 1, 2, unset)`, async () => {
      for (const axis of [-1, 0, 1, 2, undefined]) {
        const model = graphModel(
          [node("Identity", ["x"], ["t"]), node(op, ["t"], ["y"], axis === undefined ? [] : [attr("axis", axis)])],
          { x: [2, 3, 4] },
          ["y"],
          {},
          { opset },
        );
        const { out, fired } = await rewrite(model, `copy: (${op} (Identity ?x) :axis ?a) => (${op} ?x :axis ?a)`);
        assertEquals(fired, 1, `axis ${axis}`);
        assert(!out.graph.nodes.some((n) => n.opType === "Identity"), "the rewritten graph was chosen");
        sameOutputs(model, out, { x: rand([2, 3, 4], 7) });
        // the value the node meant is the value it still means, written out when the default moved
        const want = axis ?? (opset >= 13 ? -1 : 1);
        const got = out.graph.nodes.find((n) => n.opType === op)!.attributes.find((a) => a.name === "axis")?.value;
        assertEquals(got ?? (opset >= 13 ? -1 : 1), want, `axis ${axis}`);
        if (opset < 13 && want === -1) assertEquals(got, -1, "a default that moved with the opset is written out");
      }
    });
  }
}

Deno.test("ReduceMean's keepdims copied by a rule keeps its meaning at opsets 13 and 18 (0, 1, unset)", async () => {
  for (const opset of [13, 18]) {
    for (const keepdims of [0, 1, undefined]) {
      const attrs = keepdims === undefined ? [] : [attr("keepdims", keepdims)];
      const axesAttr = opset < 18 ? [attr("axes", [1])] : [];
      const model = graphModel(
        [
          node("Identity", ["x"], ["t"]),
          node("ReduceMean", opset < 18 ? ["t"] : ["t", "ax"], ["y"], [...attrs, ...axesAttr]),
        ],
        { x: [2, 3, 4] },
        ["y"],
        opset < 18 ? {} : { ax: int64Tensor([1], [1]) },
        { opset },
      );
      const text = opset < 18
        ? "copy: (ReduceMean (Identity ?x) :axes ?ax :keepdims ?k) => (ReduceMean ?x :axes ?ax :keepdims ?k)"
        : "copy: (ReduceMean (Identity ?x) ?ax :keepdims ?k) => (ReduceMean ?x ?ax :keepdims ?k)";
      const { out, fired } = await rewrite(model, text);
      assertEquals(fired, 1, `opset ${opset} keepdims ${keepdims}`);
      sameOutputs(model, out, { x: rand([2, 3, 4], 3) });
    }
  }
});

Deno.test("a copied attribute the model's opset does not have is never written (Reshape's allowzero at opset 13)", async () => {
  const model = graphModel(
    [node("Identity", ["x"], ["t"]), node("Reshape", ["t", "s"], ["y"])],
    { x: [2, 3, 4] },
    ["y"],
    { s: int64Tensor([2], [6, 4]) },
    { opset: 13 },
  );
  const { out, fired } = await rewrite(
    model,
    "copy: (Reshape (Identity ?x) ?s :allowzero ?az) => (Reshape ?x ?s :allowzero ?az)",
  );
  assertEquals(fired, 1);
  const reshape = out.graph.nodes.find((n) => n.opType === "Reshape")!;
  assertEquals(reshape.attributes.map((a) => a.name), []);
});

// ---- the shipped packs under these semantics

const SHIPPED = await loadRulePacks();
const shipped = (name: string): Rule => {
  const r = SHIPPED.find((x) => x.name === name);
  if (!r) throw new Error(`no shipped rule ${name}`);
  return r;
};

Deno.test("conv-bn fuses a BatchNormalization whatever its momentum (used only in training), never one with spatial 0", () => {
  for (const [extra, want] of [[{ name: "momentum", value: 0.99 }, 1], [{ name: "spatial", value: 0 }, 0]] as const) {
    const { eg, x } = graph(7, [1, 2, 3, 3]);
    const c = (dims: number[], seed: number) => eg.add(makeENode("$const", [], [], { value: rand(dims, seed) }));
    const conv = eg.add(makeENode("Conv", [x, c([2, 2, 1, 1], 1), c([2], 2)], []));
    const type = extra.name === "spatial" ? "int" : "float";
    eg.add(makeENode("BatchNormalization", [conv, c([2], 3), c([2], 4), c([2], 5), c([2], 6)], [
      { name: extra.name, type, value: type === "float" ? Math.fround(extra.value) : extra.value } as Attribute,
    ]));
    assertEquals(matches(eg, shipped("conv-bn")).length, want, extra.name);
  }
});

Deno.test("the shipped rules that copy a single input bind the attributes ONNX requires (Cast's to, Concat's axis)", () => {
  for (const [name, attr] of [["cast-same", "to"], ["concat-one", "axis"]]) {
    const lhs = shipped(name).lhs[0];
    assert(lhs.kind === "op" && lhs.attrs.some((a) => a.name === attr), `${name} binds :${attr}`);
  }
});
