/**
 * Per-channel affines folded into convolutions, and hard-swish shortened (rules/core/fusion.rules):
 * a Conv's output scale into its weights and bias (`conv-mul-scale`), a scalar scale of a Conv's
 * input into its weights at any padding (`scale-into-conv`), a scalar shift of its input into its
 * bias when nothing is padded (`shift-into-conv`), and `x · clip(x + 3, 0, 6) / 6` as
 * `x · HardSigmoid(x, 1/6, 1/2)`, HardSwish from opset 14.
 *
 * Checked here: the verifier proves or tests every one of these rules; a small PP-LCNet-like model
 * (a depthwise 3×3 block with pads 1 and a pointwise 1×1 block with pads 0, learnable scalar
 * affines and hard-swish, at opsets 11 and 17) goes through `saturn optimize --check` and
 * computes in ONNX Runtime what the input does with fewer nodes, no Clip or Div left, no affine
 * after a Conv, and the shift before the padded Conv kept (folding it would be wrong); and
 * PaddleOCR's PP-OCRv4 detector (`../shared/real/`, skipped when absent) loses elementwise nodes
 * and still computes what it did. The wrong variants (the shift folded into a padded Conv, a
 * non-scalar shift, hard-swish shifted by 2, a spatially varying scale) are in
 * tests/data/wrong.rules, refuted in tests/verify_corpus_test.ts.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import { runCli } from "./_helpers.ts";
import {
  compareTensors,
  float32Tensor,
  loadOnnx,
  type Model,
  optimize,
  runOrt,
  saveOnnx,
  type Tensor,
} from "../mod.ts";
import type { Node } from "../ir/graph.ts";
import { loadRulePacks } from "../rules/load.ts";
import { verifyRule } from "../verify/verify_rule.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const REAL_DET = path.join(here, "..", "..", "shared", "real", "ppocrv4_det.onnx");
const hasDet = (() => {
  try {
    return Deno.statSync(REAL_DET).isFile;
  } catch {
    return false;
  }
})();
if (!hasDet) console.log(`conv_affine_test: ${REAL_DET} is absent; the PP-OCRv4 detector test is skipped`);

/** The rules this file is about. */
const RULES = [
  "conv-mul-scale",
  "conv-mul-scale-nobias",
  "scale-into-conv",
  "scale-into-conv-nobias",
  "shift-into-conv",
  "shift-into-conv-13",
  "shift-into-conv-nobias",
  "shift-into-conv-nobias-13",
  "hardswish-div",
  "hardswish-mul",
  "hardswish-op",
];

/**
 * Shipped rules with no committed verdict yet are verified when `optimize` starts; its default
 * budget (10 s) may run out first on a busy machine, leaving some unapplied: give it room.
 */
const TIME_LIMIT_S = 120;

Deno.test("the conv-affine and hard-swish rules are shipped, and each is proved or tested", async () => {
  const shipped = await loadRulePacks();
  for (const name of RULES) {
    const rule = shipped.find((r) => r.name === name);
    assert(rule, `${name} is not shipped`);
    assertEquals(rule.pack, "core");
    assert((rule.comment ?? "").length > 8, `${name} has no algebra comment`);
    const v = await verifyRule(rule);
    assert(v.status === "proved" || v.status === "tested", `${name}: ${v.status} (${v.note})`);
  }
});

// ---------------------------------------------------------------------------------------------
// a PP-LCNet-like model

/** `Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)` as PaddleOCR's exporter writes hard-swish (opset ≥ 11). */
function hardswish(x: string, y: string): Node[] {
  return [
    node("Add", [x, "three"], [`${y}_a`]),
    node("Clip", [`${y}_a`, "zero", "six"], [`${y}_c`]),
    node("Mul", [x, `${y}_c`], [`${y}_m`]),
    node("Div", [`${y}_m`, "six"], [y]),
  ];
}

/** A learnable affine: `Add(Mul(x, s), t)` with scalar s and t (shape [1], as the exporter writes). */
function affine(x: string, y: string, s: string, t: string): Node[] {
  return [node("Mul", [x, s], [`${y}_s`]), node("Add", [`${y}_s`, t], [y])];
}

/**
 * x [1, 8, 6, 6] → depthwise 3×3 Conv (pads 1) → affine → hard-swish → affine → pointwise 1×1 Conv
 * (pads 0) → affine → hard-swish → affine → depthwise 3×3 Conv (pads 1) → y. The affines after the
 * Convs fold into them, the one before the pointwise Conv folds into it whole; the one before the
 * last depthwise Conv stays: its shift would meet the padding, and its scale, under the shift,
 * does not feed the Conv directly.
 */
function lcnetModel(opset: number): Model {
  const C = 8, D = 12;
  const nodes: Node[] = [
    node("Conv", ["x", "w1", "b1"], ["c1"], [
      attr("group", C),
      attr("kernel_shape", [3, 3]),
      attr("pads", [1, 1, 1, 1]),
    ]),
    ...affine("c1", "a1", "s1", "t1"),
    ...hardswish("a1", "h1"),
    ...affine("h1", "a2", "s2", "t2"),
    node("Conv", ["a2", "w2", "b2"], ["c2"], [attr("kernel_shape", [1, 1]), attr("pads", [0, 0, 0, 0])]),
    ...affine("c2", "a3", "s3", "t3"),
    ...hardswish("a3", "h2"),
    ...affine("h2", "a4", "s4", "t4"),
    node("Conv", ["a4", "w3", "b3"], ["y"], [
      attr("group", D),
      attr("kernel_shape", [3, 3]),
      attr("pads", [1, 1, 1, 1]),
    ]),
  ];
  const one = (v: number) => float32Tensor([1], [v]);
  const inits: Record<string, Tensor> = {
    w1: rand([C, 1, 3, 3], 1),
    b1: rand([C], 2),
    w2: rand([D, C, 1, 1], 3),
    b2: rand([D], 4),
    w3: rand([D, 1, 3, 3], 5),
    b3: rand([D], 6),
    s1: one(1.25),
    t1: one(0.5),
    s2: one(0.8),
    t2: one(-0.3),
    s3: one(1.1),
    t3: one(0.2),
    s4: one(0.9),
    t4: one(0.4),
    three: float32Tensor([], [3]),
    zero: float32Tensor([], [0]),
    six: float32Tensor([], [6]),
  };
  return graphModel(nodes, { x: [1, C, 6, 6] }, ["y"], inits, { opset });
}

function count(m: Model, ops: string[]): number {
  return m.graph.nodes.filter((n) => ops.includes(n.opType)).length;
}

/** Names of values that are constants of the graph (initializers and Constant outputs). */
function constants(m: Model): Set<string> {
  const out = new Set(m.graph.initializers.keys());
  for (const n of m.graph.nodes) if (n.opType === "Constant") out.add(n.outputs[0]);
  return out;
}

/** `op` nodes with a constant operand (an affine's scale or shift). */
function withConstant(m: Model, op: string): Node[] {
  const consts = constants(m);
  return m.graph.nodes.filter((n) => n.opType === op && n.inputs.some((i) => consts.has(i)));
}

/** Mul/Add nodes by a constant that read a Conv's output: an affine left after a Conv. */
function affinesAfterConv(m: Model): Node[] {
  const convOut = new Set(m.graph.nodes.filter((n) => n.opType === "Conv").map((n) => n.outputs[0]));
  return [...withConstant(m, "Mul"), ...withConstant(m, "Add")].filter((n) => convOut.has(n.inputs[0]));
}

for (const opset of [11, 17]) {
  Deno.test(`optimize --check folds a PP-LCNet-like model's affines and hard-swish (opset ${opset}), as ONNX Runtime computes`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const input = lcnetModel(opset);
      const inFile = path.join(dir, "lcnet.onnx"), outFile = path.join(dir, "lcnet.opt.onnx");
      saveOnnx(input, inFile);
      const r = await runCli(
        "optimize",
        inFile,
        "-o",
        outFile,
        "--check",
        "--no-guard",
        "--cost",
        "analytic",
        "--time-limit",
        String(TIME_LIMIT_S),
      );
      assertEquals(r.code, 0, r.stderr + r.stdout);
      assert(/check: outputs match/.test(r.stdout), r.stdout);
      const out = loadOnnx(outFile);

      // fewer nodes; hard-swish without Clip or Div; HardSwish itself from opset 14
      assert(out.graph.nodes.length < input.graph.nodes.length, r.stdout);
      assertEquals(count(out, ["Clip", "Div"]), 0, r.stdout);
      if (opset >= 14) {
        assertEquals(count(out, ["HardSwish"]), 2, r.stdout);
        assertEquals(count(out, ["HardSigmoid"]), 0, r.stdout);
      } else {
        assertEquals(count(out, ["HardSwish"]), 0, r.stdout);
        assertEquals(count(out, ["HardSigmoid"]), 2, r.stdout);
      }
      assertEquals(count(out, ["Conv"]), 3, r.stdout);
      // no affine after a Conv; of the four affines only the one before the padded depthwise
      // Conv is left, as it was (Add(Mul(h, s4), t4))
      assertEquals(affinesAfterConv(out).map((n) => n.name), [], r.stdout);
      assertEquals(withConstant(out, "Mul").length, 1, r.stdout);
      assertEquals(withConstant(out, "Add").length, 1, r.stdout);
      const lastConv = out.graph.nodes.find((n) => n.outputs[0] === "y")!;
      assertEquals(lastConv.opType, "Conv");
      const shift = out.graph.nodes.find((n) => n.outputs[0] === lastConv.inputs[0]);
      assertEquals(shift?.opType, "Add", "the shift before the padded Conv stays");
      const scale = out.graph.nodes.find((n) => n.outputs[0] === shift!.inputs[0]);
      assertEquals(scale?.opType, "Mul", "the scale under it stays");
      // the affine before the pointwise Conv is gone: that Conv reads the hard-swish
      const byOutput = new Map(out.graph.nodes.map((n) => [n.outputs[0], n]));
      const pw = out.graph.nodes.find((n) =>
        n.opType === "Conv" && !n.attributes.some((a) => a.name === "group" && a.value !== 1)
      );
      assert(pw, "the pointwise Conv");
      const pwIn = byOutput.get(pw.inputs[0]);
      if (opset >= 14) assertEquals(pwIn?.opType, "HardSwish", r.stdout);
      else {
        assertEquals(pwIn?.opType, "Mul", r.stdout);
        assert(pwIn!.inputs.some((i) => byOutput.get(i)?.opType === "HardSigmoid"), r.stdout);
      }

      // ONNX Runtime computes the same on both
      for (const seed of [7, 8]) {
        const feeds = new Map([["x", rand([1, 8, 6, 6], seed, { lo: -6, hi: 6 })]]);
        const want = (await runOrt(inFile, feeds)).get("y")!, got = (await runOrt(outFile, feeds)).get("y")!;
        assertEquals([...got.dims], [...want.dims]);
        assertEquals(compareTensors(got, want, { atol: 1e-4, rtol: 1e-4 }), undefined, `seed ${seed}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// PaddleOCR's PP-OCRv4 detector

Deno.test({
  name: "optimize leaves PP-OCRv4's detector fewer Add/Mul/Clip/Div nodes, computing what it did in ONNX Runtime",
  ignore: !hasDet,
  async fn() {
    const input = loadOnnx(REAL_DET);
    const cacheFile = await Deno.makeTempFile({ suffix: ".json" });
    const dir = await Deno.makeTempDir();
    try {
      const { model: out, verification } = await optimize(input, {
        dims: { "p2o.DynamicDimension.0": 1, "p2o.DynamicDimension.1": 64, "p2o.DynamicDimension.2": 64 },
        guard: false,
        cost: "analytic",
        cacheFile,
        timeLimitMs: TIME_LIMIT_S * 1000,
      });
      const applied = new Set(verification.applied.map((r) => r.name));
      for (const name of RULES) assert(applied.has(name), `${name} was not applied`);
      const ELEMENTWISE = ["Add", "Mul", "Clip", "Div"];
      const before = count(input, ELEMENTWISE), after = count(out, ELEMENTWISE);
      assert(after < before, `Add+Mul+Clip+Div: ${before} before, ${after} after`);
      assertEquals(count(out, ["Clip", "Div"]), 0, "hard-swish left written out");
      const outFile = path.join(dir, "det.opt.onnx");
      saveOnnx(out, outFile);
      const feeds = new Map([["x", rand([1, 3, 64, 64], 11)]]);
      const want = await runOrt(REAL_DET, feeds), got = await runOrt(outFile, feeds);
      for (const [name, t] of want) {
        const g = got.get(name);
        assert(g, `output ${name} missing`);
        assertEquals([...g.dims], [...t.dims], name);
        assertEquals(compareTensors(g, t, { atol: 1e-4, rtol: 1e-3 }), undefined, name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(cacheFile);
    }
  },
});
