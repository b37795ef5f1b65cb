/**
 * Gradient-boosted trees (cost/gbt.ts): they fit known functions, are deterministic for a seed,
 * round-trip through JSON exactly, and a malformed saved model is refused. Tiny data, no timing.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { fitGbt, gbtFromJson, gbtToJson, predictGbt } from "../cost/gbt.ts";
import { rng } from "../verify/inputs.ts";

/** Rows of `nf` features uniform in [0, 1), seeded. */
function rows(n: number, nf: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: nf }, () => r()));
}

Deno.test("boosted trees fit a smooth function of two features and ignore a noise feature", () => {
  const f = (x: number[]) => Math.sin(3 * x[0]) + 2 * x[1] * x[1];
  const train = rows(600, 3, 1), test = rows(200, 3, 2);
  const m = fitGbt(train, train.map(f), { trees: 150, depth: 4, learningRate: 0.1 });
  const err = test.map((x) => Math.abs(predictGbt(m, x) - f(x)));
  const mean = err.reduce((a, b) => a + b, 0) / err.length;
  assert(mean < 0.08, `mean absolute error ${mean}`);
  // while there is signal left, the noise feature (column 2) is never the best split at the root
  assert(m.trees.slice(0, 20).every((t) => t.feature[0] !== 2), "a root split on noise");
});

Deno.test("boosted trees fit a step exactly enough to order both sides", () => {
  const x = Array.from({ length: 100 }, (_, i) => [i]);
  const y = x.map(([v]) => (v < 37 ? -1 : 5));
  const m = fitGbt(x, y, { trees: 60, depth: 1, subsample: 1 });
  assert(Math.abs(predictGbt(m, [10]) + 1) < 0.01 && Math.abs(predictGbt(m, [90]) - 5) < 0.01);
  assertEquals(m.trees[0].threshold[0], 36.5);
});

Deno.test("boosted trees are deterministic: one seed gives one model, another seed another", () => {
  const x = rows(300, 4, 3), y = x.map((r) => r[0] * 3 + r[1] - r[2]);
  const a = fitGbt(x, y, { trees: 20, seed: 7 }), b = fitGbt(x, y, { trees: 20, seed: 7 });
  assertEquals(gbtToJson(a), gbtToJson(b));
  assert(gbtToJson(fitGbt(x, y, { trees: 20, seed: 8 })) !== gbtToJson(a), "the seed picks the subsample");
});

Deno.test("a model round-trips through JSON and predicts exactly what it predicted", () => {
  const x = rows(200, 3, 4), y = x.map((r) => Math.exp(r[0]) * r[1]);
  const m = fitGbt(x, y, { trees: 30, depth: 3 });
  const back = gbtFromJson(JSON.parse(gbtToJson(m)));
  for (const r of rows(50, 3, 5)) assertEquals(predictGbt(back, r), predictGbt(m, r));
});

Deno.test("a malformed saved model is refused, never half-read: wrong version, a looping tree, a feature out of range", () => {
  const m = JSON.parse(gbtToJson(fitGbt(rows(50, 2, 6), rows(50, 1, 7).map((r) => r[0]), { trees: 2, depth: 2 })));
  assertThrows(() => gbtFromJson({ ...m, version: 2 }), RangeError);
  assertThrows(() => gbtFromJson(null), RangeError);
  const loop = structuredClone(m);
  loop.trees[0].left[0] = 0;
  assertThrows(() => gbtFromJson(loop), RangeError);
  const far = structuredClone(m);
  far.trees[0].feature[0] = 5;
  assertThrows(() => gbtFromJson(far), RangeError);
  const nan = structuredClone(m);
  nan.trees[1].value = nan.trees[1].value.map(() => "x");
  assertThrows(() => gbtFromJson(nan), RangeError);
});

Deno.test("constant targets give a model that predicts the constant (no split has any gain)", () => {
  const m = fitGbt(rows(40, 2, 8), new Array(40).fill(3), { trees: 5 });
  assert(m.trees.every((t) => t.feature.length === 1));
  assertEquals(predictGbt(m, [0.5, 0.5]), 3);
});

Deno.test("with an offset column the trees fit the target minus that column, and predictions add it back", () => {
  const x = rows(200, 2, 9).map((r) => [r[0], 100 * r[1]]);
  const y = x.map((r) => r[1] + (r[0] < 0.5 ? 1 : 2));
  const m = fitGbt(x, y, { trees: 60, depth: 2 }, 1);
  assertEquals(m.offset, 1);
  // far outside the training range of the offset column the prediction follows it
  assert(Math.abs(predictGbt(m, [0.2, 1e4]) - (1e4 + 1)) < 0.1);
  assert(Math.abs(predictGbt(m, [0.9, -50]) - (-50 + 2)) < 0.1);
  const back = gbtFromJson(JSON.parse(gbtToJson(m)));
  assertEquals(predictGbt(back, [0.3, 7]), predictGbt(m, [0.3, 7]));
  assertThrows(() => gbtFromJson({ ...m, offset: 2 }), RangeError);
  assertThrows(() => gbtFromJson({ ...m, offset: 0.5 }), RangeError);
  assertThrows(() => fitGbt(x, y, {}, 5), RangeError);
});
