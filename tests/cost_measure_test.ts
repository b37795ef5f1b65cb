/**
 * Costs for the target they price: the analytical prior never prefers duplicating a Conv (SiLU and
 * hard-swish blocks built in code), the measured-cost cache (keys, atomic writes, a corrupt file
 * ignored), `MeasuredCost` (cache first, the prior elsewhere, ONNX Runtime's own Conv+activation
 * fusion priced as free), and `measureOrt` on a few signatures. Tests assert behaviour, never speed.
 */
import { assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import type { Model } from "../ir/graph.ts";
import { optimize } from "../optimize/verified.ts";
import { AnalyticalCost } from "../cost/analytical.ts";

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
    const { model: out } = await optimize(m, { cost: new AnalyticalCost() });
    assertEquals(convs(out), 1, out.graph.nodes.map((n) => n.opType).join(" "));
  });
  Deno.test(`the analytical cost never duplicates the Conv of a hard-swish block (${cin}→${cout}, ${k}×${k}, ${hw}²)`, async () => {
    const m = hardSwishBlock(cin, cout, k, hw);
    const { model: out } = await optimize(m, { cost: new AnalyticalCost() });
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
  const { model: out } = await optimize(m, { cost: new AnalyticalCost() });
  assertEquals(out.graph.nodes.map((n) => n.opType), ["FusedConv"]);
});
