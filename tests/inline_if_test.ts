/**
 * `If` nodes whose condition is known at plan time (`codegen/inline_if.ts`): the flat graph
 * `inlineKnownIfs` makes computes what the reference computes, and the WebGPU backend runs such
 * models (shape conditions both ways, branches reading outer values and holding initializers,
 * names shared between a branch and the outer graph, nested Ifs) while an `If` whose condition
 * is only known at run time is still refused. GPU tests are skipped where WebGPU has no adapter.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { assertOutputsMatch, graphModel, matchesReference, node, rand, TIGHT_TOL } from "./_models.ts";
import { SaturnError } from "../errors.ts";
import type { Graph, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, int64Tensor, Tensor } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { inlineKnownIfs } from "../codegen/inline_if.ts";
import { planModel, unsupportedNodes } from "../codegen/plan.ts";
import { createSession } from "../webgpu/session.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("inline_if_test: no WebGPU adapter here; GPU tests skipped");

// ---------------------------------------------------------------------------------------------
// building models

function branch(name: string, nodes: Node[], outputs: string[], inits: Record<string, Tensor> = {}): Graph {
  return {
    name,
    nodes,
    inputs: [],
    outputs: outputs.map((o) => ({ name: o })),
    initializers: new Map(Object.entries(inits)),
    sparseInitializers: [],
    valueInfo: [],
  };
}

function ifNode(name: string, cond: string, outputs: string[], thenG: Graph, elseG: Graph): Node {
  return {
    name,
    opType: "If",
    domain: "",
    inputs: [cond],
    outputs,
    attributes: [
      { name: "then_branch", type: "graph", value: thenG },
      { name: "else_branch", type: "graph", value: elseG },
    ],
  };
}

/** `out = (dim `axis` of `x` == `size`)`, from shape math only; needs the initializers `SHAPE_INITS`. */
function dimIs(x: string, axis: number, size: number, out: string): Node[] {
  return [
    node("Shape", [x], [`${out}_shape`]),
    node("Gather", [`${out}_shape`, `axis${axis}`], [`${out}_dim`]),
    node("Equal", [`${out}_dim`, `size${size}`], [out]),
  ];
}

const SHAPE_INITS: Record<string, Tensor> = {
  axis0: int64Tensor([], [0]),
  axis1: int64Tensor([], [1]),
  size1: int64Tensor([], [1]),
  size4: int64Tensor([], [4]),
};

/** The same model with its symbolic input dims fixed (what `planModel` does before inlining). */
function withShapes(m: Model, shapes: Record<string, number[]>): Model {
  const inputs = m.graph.inputs.map((i) =>
    i.type?.kind === "tensor" && shapes[i.name] ? { ...i, type: { ...i.type, shape: shapes[i.name] } } : i
  );
  return { ...m, graph: { ...m.graph, inputs } };
}

function countIfs(g: Graph): number {
  let k = 0;
  for (const n of g.nodes) {
    if (n.opType === "If") k++;
    for (const a of n.attributes) if (a.type === "graph") k += countIfs(a.value);
  }
  return k;
}

/** Inline with static shapes; assert no If is left and the reference gives the same outputs. */
function checkFlat(m: Model, inputs: Record<string, Tensor>): Model {
  const shapes = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, [...t.dims]]));
  const fixed = withShapes(m, shapes);
  const flat = inlineKnownIfs(fixed);
  assertEquals(countIfs(flat.graph), 0, "an If is left");
  const feeds = new Map(Object.entries(inputs));
  assertOutputsMatch(runModel(flat, feeds), runModel(m, feeds), TIGHT_TOL, "inlined model");
  const defined = [...flat.graph.initializers.keys(), ...flat.graph.nodes.flatMap((n) => n.outputs)];
  assertEquals(defined.length, new Set(defined).size, "a value is defined twice");
  return flat;
}

/** Run `m` on WebGPU with the inputs' shapes and compare with the reference interpreter. */
function checkGpu(m: Model, inputs: Record<string, Tensor>): Promise<void> {
  const inputShapes = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, [...t.dims]]));
  const label = `shapes ${JSON.stringify(inputShapes)}`;
  return matchesReference(m, inputs, { tol: TIGHT_TOL, inputShapes, supported: true, label });
}

// ---------------------------------------------------------------------------------------------
// models

/** y = If(dim 0 of x == 1) then Neg(x) else Relu(x); z = y + x. */
const shapeIf = graphModel(
  [
    ...dimIs("x", 0, 1, "c"),
    ifNode(
      "if_shape",
      "c",
      ["y"],
      branch("then", [node("Neg", ["x"], ["neg"])], ["neg"]),
      branch("else", [node("Relu", ["x"], ["relu"])], ["relu"]),
    ),
    node("Add", ["y", "x"], ["z"]),
  ],
  { x: ["n", 4] },
  ["z"],
  SHAPE_INITS,
);

/**
 * A branch that reads outer values (x, r), holds its own initializer, and outputs an outer value
 * and its initializer directly; the condition is an initializer.
 */
const outerReads = graphModel(
  [
    node("Relu", ["x"], ["r"]),
    ifNode(
      "if_outer",
      "flag",
      ["y1", "y2", "y3"],
      branch("then", [node("Mul", ["r", "w"], ["p"]), node("Add", ["p", "x"], ["q"])], ["q", "r", "w"], {
        w: float32Tensor([4], [0.5, -1, 2, 3]),
      }),
      branch("else", [node("Sub", ["x", "r"], ["e"])], ["e", "x", "bw"], { bw: float32Tensor([4], [1, 1, 1, 1]) }),
    ),
    node("Add", ["y1", "y2"], ["z1"]),
    node("Mul", ["y1", "y3"], ["z2"]),
  ],
  { x: [2, 4] },
  ["z1", "z2", "y2"],
  { flag: new Tensor(DataType.BOOL, [], Uint8Array.of(1)) },
);

/** The then branch defines `t`, `c` and an initializer `w`, as the outer graph does. */
const collision = graphModel(
  [
    node("Relu", ["x"], ["t"]),
    ...dimIs("x", 0, 1, "c"),
    ifNode(
      "if_names",
      "c",
      ["y"],
      branch("then", [node("Neg", ["x"], ["t"]), node("Add", ["t", "w"], ["c"])], ["c"], {
        w: float32Tensor([4], [10, 20, 30, 40]),
      }),
      branch("else", [node("Sub", ["x", "t"], ["u"])], ["u"]),
    ),
    node("Add", ["y", "t"], ["z1"]),
    node("Mul", ["y", "w"], ["z2"]),
  ],
  { x: ["n", 4] },
  ["z1", "z2"],
  { ...SHAPE_INITS, w: float32Tensor([4], [1, 2, 3, 4]) },
);

/**
 * Nested Ifs: the outer then branch computes `a` and its own shape condition, and its inner If's
 * branches read `a` (a branch value) and `s` (an outer value).
 */
const nested = graphModel(
  [
    node("Sigmoid", ["x"], ["s"]),
    ...dimIs("x", 0, 1, "c"),
    ifNode(
      "if_outer",
      "c",
      ["y"],
      branch(
        "then",
        [
          node("Relu", ["x"], ["a"]),
          ...dimIs("a", 1, 4, "c2"),
          ifNode(
            "if_inner",
            "c2",
            ["b"],
            branch("inner_then", [node("Mul", ["a", "s"], ["m"])], ["m"]),
            branch("inner_else", [node("Neg", ["a"], ["m"])], ["m"]),
          ),
          node("Add", ["b", "a"], ["o"]),
        ],
        ["o"],
      ),
      branch("else", [node("Sub", ["x", "s"], ["o"])], ["o"]),
    ),
  ],
  { x: ["n", "k"] },
  ["y"],
  SHAPE_INITS,
);

/** An If whose condition is an If's output: known once the first If is inlined. */
const chained = graphModel(
  [
    ...dimIs("x", 0, 1, "c"),
    ifNode(
      "if_first",
      "c",
      ["c2"],
      branch("then", dimIs("x", 1, 4, "k"), ["k"]),
      branch("else", [node("Identity", ["c"], ["k"])], ["k"]),
    ),
    ifNode(
      "if_second",
      "c2",
      ["y"],
      branch("then", [node("Neg", ["x"], ["v"])], ["v"]),
      branch("else", [node("Abs", ["x"], ["v"])], ["v"]),
    ),
  ],
  { x: ["n", "k"] },
  ["y"],
  SHAPE_INITS,
);

/** y = If(sum(x) > 0): known only at run time. */
const runtimeIf = graphModel(
  [
    node("ReduceSum", ["x"], ["sum"], [{ name: "keepdims", type: "int", value: 0 }]),
    node("Greater", ["sum", "zero"], ["c"]),
    ifNode(
      "if_runtime",
      "c",
      ["y"],
      branch("then", [node("Neg", ["x"], ["v"])], ["v"]),
      branch("else", [node("Relu", ["x"], ["v"])], ["v"]),
    ),
  ],
  { x: [2, 4] },
  ["y"],
  { zero: float32Tensor([], [0]) },
);

// ---------------------------------------------------------------------------------------------
// the transformation (no GPU)

Deno.test("inlineKnownIfs() replaces an If on a shape condition by the branch it takes", () => {
  const then = checkFlat(shapeIf, { x: rand([1, 4], 1) });
  assert(then.graph.nodes.some((n) => n.opType === "Neg") && !then.graph.nodes.some((n) => n.opType === "Relu"));
  const other = checkFlat(shapeIf, { x: rand([3, 4], 2) });
  assert(other.graph.nodes.some((n) => n.opType === "Relu") && !other.graph.nodes.some((n) => n.opType === "Neg"));
  // the branch node takes the If's output name: no Identity in between
  assert(!then.graph.nodes.some((n) => n.opType === "Identity"));
});

Deno.test("inlineKnownIfs() leaves a model with symbolic shapes and no known condition as it is", () => {
  assert(inlineKnownIfs(shapeIf) === shapeIf);
  assert(inlineKnownIfs(runtimeIf) === runtimeIf);
});

Deno.test("inlineKnownIfs() keeps outer reads, moves branch initializers, and feeds direct outputs", () => {
  const flat = checkFlat(outerReads, { x: rand([2, 4], 3) });
  const inits = [...flat.graph.initializers.keys()];
  assert(inits.some((k) => k.startsWith("if_outer/then/") && k.endsWith("w")), inits.join(","));
  assertEquals(flat.graph.nodes.filter((n) => n.opType === "Identity").length, 2);
});

Deno.test("inlineKnownIfs() renames branch values that share a name with outer ones", () => {
  checkFlat(collision, { x: rand([1, 4], 4) });
  checkFlat(collision, { x: rand([3, 4], 5) });
});

Deno.test("inlineKnownIfs() inlines nested Ifs and Ifs whose condition an inlined branch makes known", () => {
  for (const dims of [[1, 4], [1, 3], [2, 4]]) checkFlat(nested, { x: rand(dims, 6) });
  for (const dims of [[1, 4], [1, 3], [2, 4]]) checkFlat(chained, { x: rand(dims, 7) });
});

Deno.test("an If whose condition is known only at run time is still refused, naming the If", () => {
  assertEquals(unsupportedNodes(runtimeIf).map((u) => [u.op, u.node.name]), [["If", "if_runtime"]]);
  let err: unknown;
  try {
    planModel(runtimeIf);
  } catch (e) {
    err = e;
  }
  assert(err instanceof SaturnError, `expected a SaturnError, got ${err}`);
  assertEquals(err.code, "UNSUPPORTED_OP");
  assert(err.message.includes("If") && err.message.includes("'if_runtime'"), err.message);
  assertEquals(err.message.split("\n").length, 1);
});

Deno.test("an If with a runtime condition inside an inlined branch is refused, naming the inner If", () => {
  const inner = runtimeIf.graph.nodes[2];
  const m = graphModel(
    [
      ...runtimeIf.graph.nodes.slice(0, 2),
      ...dimIs("x", 0, 2, "known"),
      ifNode("if_known", "known", ["y"], branch("then", [inner], ["y"]), branch("else", [], ["x"])),
    ],
    { x: [2, 4] },
    ["y"],
    { ...Object.fromEntries(runtimeIf.graph.initializers), ...SHAPE_INITS, size2: int64Tensor([], [2]) },
  );
  assertEquals(unsupportedNodes(m).map((u) => [u.op, u.node.name]), [["If", "if_known/then/if_runtime"]]);
});

// ---------------------------------------------------------------------------------------------
// on the GPU

Deno.test({
  name: "webgpu runs an If on a shape condition, both ways",
  ignore,
  async fn() {
    await checkGpu(shapeIf, { x: rand([1, 4], 1) });
    await checkGpu(shapeIf, { x: rand([3, 4], 2) });
  },
});

Deno.test({
  name: "webgpu runs an If whose branch reads outer values and holds its own initializer",
  ignore,
  fn: () => checkGpu(outerReads, { x: rand([2, 4], 3) }),
});

Deno.test({
  name: "webgpu runs an If whose branch names collide with outer names",
  ignore,
  async fn() {
    await checkGpu(collision, { x: rand([1, 4], 4) });
    await checkGpu(collision, { x: rand([3, 4], 5) });
  },
});

Deno.test({
  name: "webgpu runs nested and chained Ifs with known conditions",
  ignore,
  async fn() {
    for (const dims of [[1, 4], [1, 3], [2, 4]]) {
      await checkGpu(nested, { x: rand(dims, 6) });
      await checkGpu(chained, { x: rand(dims, 7) });
    }
  },
});

Deno.test({
  name: "webgpu refuses an If with a runtime condition with UNSUPPORTED_OP naming the If",
  ignore,
  async fn() {
    let err: unknown;
    try {
      await createSession(runtimeIf);
    } catch (e) {
      err = e;
    }
    assert(err instanceof SaturnError && err.code === "UNSUPPORTED_OP", `${err}`);
    assert(err.message.includes("op If") && err.message.includes("'if_runtime'"), err.message);
  },
});
