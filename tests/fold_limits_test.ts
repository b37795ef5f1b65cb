/**
 * Constant folding has one size cap (`ir/fold_limit.ts`): a tiny model whose constant
 * sub-expressions would make huge tensors (Expand, Tile, ConstantOfShape, Range) keeps those
 * nodes computed — `optimize` writes a file about as small as its input, with the same outputs —
 * and `inspect` reports such a value by its shape without materializing it.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, EXACT, graphModel, node } from "./_models.ts";
import { optimize } from "../optimize/verified.ts";
import { encodeModel } from "../onnx/encode.ts";
import { loadOnnxBytes } from "../onnx/load.ts";
import { runModel } from "../ir/interpreter.ts";
import { compareTensors } from "../conformance/compare.ts";
import { float32Tensor, int64Tensor, Tensor } from "../ir/tensor.ts";
import { DataType } from "../ir/dtype.ts";
import { findOp, registerOps } from "../ir/ops/registry.ts";
import type { Model } from "../ir/graph.ts";
import { inspectCommand } from "../cli/inspect.ts";
import { processIO } from "../cli/io.ts";
import { inferModel } from "../ir/infer.ts";
import { FOLD_FREE_ELEMENTS, foldAllowed } from "../ir/fold_limit.ts";

/** Run `fn` with `ops` watched; returns the most elements one run of them made. */
async function largestRun(ops: string[], fn: () => unknown): Promise<number> {
  const saved = ops.map((op) => findOp("", op)!);
  let most = 0;
  registerOps(saved.map((def) => ({
    ...def,
    run: (ctx) => {
      const out = def.run(ctx);
      for (const v of out) if (v instanceof Tensor) most = Math.max(most, v.size);
      return out;
    },
  })));
  try {
    await fn();
  } finally {
    registerOps(saved);
  }
  return most;
}

const x = () => new Map([["x", float32Tensor([1], [0.25])]]);

/** A model whose output is `x + Relu(big)`, `big` made from tiny constants by `nodes`. */
function blowUp(nodes: ReturnType<typeof node>[], inits: Record<string, Tensor>): Model {
  return graphModel(
    [...nodes, node("Relu", ["big"], ["r"]), node("Add", ["x", "r"], ["y"])],
    { x: [1] },
    ["y"],
    inits,
  );
}

const cases: [string, Model][] = [
  [
    "ConstantOfShape",
    blowUp([node("ConstantOfShape", ["shape"], ["big"], [{
      name: "value",
      type: "tensor",
      value: float32Tensor([1], [0.5]),
    }])], { shape: int64Tensor([2], [1024, 2048]) }),
  ],
  [
    "Expand",
    blowUp([node("Expand", ["one", "shape"], ["big"])], {
      one: float32Tensor([], [1]),
      shape: int64Tensor([2], [2048, 1024]),
    }),
  ],
  [
    "Tile",
    blowUp([node("Tile", ["t", "reps"], ["big"])], {
      t: float32Tensor([2, 2], [1, 2, 3, 4]),
      reps: int64Tensor([2], [1000, 1000]),
    }),
  ],
  [
    "Range",
    blowUp([node("Range", ["start", "limit", "delta"], ["big"])], {
      start: float32Tensor([], [0]),
      limit: float32Tensor([], [3e6]),
      delta: float32Tensor([], [1]),
    }),
  ],
  // a chain: each step small enough alone, the last one huge
  [
    "Expand of a folded Concat",
    blowUp([
      node("Concat", ["a", "a"], ["shape"], [attr("axis", 0)]),
      node("Expand", ["one", "shape"], ["big"]),
    ], { a: int64Tensor([1], [1500]), one: float32Tensor([], [2]) }),
  ],
];

for (const [name, model] of cases) {
  Deno.test(`optimize keeps a ${name} that would fold to a huge constant computed: small file, same output`, async () => {
    const before = encodeModel(model).bytes.length;
    const { model: out } = await optimize(model, { guard: false });
    const bytes = encodeModel(out).bytes;
    assert(bytes.length < 10 * before, `${name}: ${before} bytes became ${bytes.length}`);
    const back = loadOnnxBytes(bytes);
    const want = runModel(model, x()).get("y") as Tensor;
    const got = runModel(back, x()).get("y") as Tensor;
    assertEquals(compareTensors(got, want, EXACT), undefined);
  });
}

Deno.test("optimize never materializes a 3·10^8-element Range made of three scalars", async () => {
  const model = blowUp([node("Range", ["start", "limit", "delta"], ["big"])], {
    start: float32Tensor([], [0]),
    limit: float32Tensor([], [3e8]),
    delta: float32Tensor([], [1]),
  });
  const before = encodeModel(model).bytes.length;
  let out = model;
  const most = await largestRun(["Range"], async () => out = (await optimize(model, { guard: false })).model);
  assert(most <= FOLD_FREE_ELEMENTS, `a Range of ${most} elements was run`);
  const after = encodeModel(out).bytes.length;
  assert(after < 10 * before, `${before} bytes became ${after}`);
  assert(out.graph.nodes.some((n) => n.opType === "Range"), "the Range stays a node");
});

Deno.test("optimize still folds small constant sub-expressions", async () => {
  const model = graphModel(
    [node("Add", ["a", "b"], ["c"]), node("Mul", ["x", "c"], ["y"])],
    { x: [4] },
    ["y"],
    { a: float32Tensor([4], [1, 2, 3, 4]), b: float32Tensor([4], [1, 1, 1, 1]) },
  );
  const { model: out } = await optimize(model, { guard: false });
  assertEquals(out.graph.nodes.map((n) => n.opType), ["Mul"]);
});

Deno.test("foldAllowed lets a fold grow to its inputs' size or a small allowance, never past the cap", () => {
  assert(foldAllowed(FOLD_FREE_ELEMENTS, 1), "a small result from a scalar");
  assert(!foldAllowed(FOLD_FREE_ELEMENTS + 1, 1), "a result past the allowance from a scalar");
  assert(foldAllowed(2_000_000, 2_000_000), "a result the size of its inputs (Concat of weights)");
  assert(!foldAllowed(Infinity, 10), "an unknown size");
  assert(!foldAllowed(1 << 30, 1 << 30), "past the absolute cap");
});

/** A model whose one output is a ConstantOfShape of 2^40 elements. */
function hugeConstantOfShape(): Model {
  return graphModel(
    [
      node("ConstantOfShape", ["shape"], ["big"], [{ name: "value", type: "tensor", value: float32Tensor([1], [1]) }]),
      node("Add", ["big", "x"], ["y"]),
    ],
    { x: [1] },
    ["y"],
    { shape: int64Tensor([4], [1024, 1024, 1024, 1024]) },
  );
}

Deno.test("inspect reports a 2^40-element ConstantOfShape by its shape within 2 s", async () => {
  const model = hugeConstantOfShape();
  const file = Deno.makeTempFileSync({ suffix: ".onnx" });
  try {
    Deno.writeFileSync(file, encodeModel(model).bytes);
    const lines: string[] = [];
    const t0 = performance.now();
    let code = -1;
    const io = { ...processIO(), out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    const most = await largestRun(["ConstantOfShape"], () => code = inspectCommand([file], io));
    const ms = performance.now() - t0;
    assertEquals(most, 0, "ConstantOfShape was never run");
    assertEquals(code, 0);
    assert(ms < 2000, `inspect took ${ms.toFixed(0)} ms`);
    assert(lines.some((l) => l.includes("y: float32[1024,1024,1024,1024]")), lines.join("\n"));
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("shape inference types a huge constant without holding its value", () => {
  const inf = inferModel(hugeConstantOfShape());
  assertEquals(inf.constants.has("big"), false);
  const t = inf.types.get("big");
  assert(t?.kind === "tensor" && t.shape?.join() === "1024,1024,1024,1024" && t.dtype === DataType.FLOAT);
});

Deno.test("inspect counts a sparse initializer of 2^40 dense elements by what it stores, never densified", async () => {
  const base = graphModel([node("Add", ["s", "x"], ["y"])], { x: [1] }, ["y"]);
  const sparse = {
    name: "s",
    values: float32Tensor([2], [1, 2]),
    indices: int64Tensor([2], [0, 5]),
    dims: [1 << 20, 1 << 20],
  };
  const model: Model = { ...base, graph: { ...base.graph, sparseInitializers: [sparse] } };
  const file = Deno.makeTempFileSync({ suffix: ".onnx" });
  try {
    Deno.writeFileSync(file, encodeModel(model).bytes);
    const lines: string[] = [];
    const t0 = performance.now();
    const io = {
      ...processIO(),
      json: (v: unknown) => lines.push(JSON.stringify(v)),
      out: (l: string) => lines.push(l),
      err: (l: string) => lines.push(l),
    };
    assertEquals(inspectCommand([file, "--json"], io), 0);
    assert(performance.now() - t0 < 2000, "within 2 s");
    const report = JSON.parse(lines.join("\n"));
    assertEquals(report.parameters, 2);
    assertEquals(report.outputs[0].shape, [1 << 20, 1 << 20]);
  } finally {
    Deno.removeSync(file);
  }
});
