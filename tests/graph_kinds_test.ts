/**
 * Valid ONNX graph kinds `optimize` must keep whole: inputs with defaults (an initializer named
 * as a graph input) stay inputs that a caller may override, and models with local functions
 * are expanded into plain nodes so that rules see inside them and WebGPU runs them.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, EXACT, graphModel, matchesReference, node, rand, TOL } from "./_models.ts";
import { optimize } from "../optimize/verified.ts";
import { encodeModel } from "../onnx/encode.ts";
import { loadOnnxBytes } from "../onnx/load.ts";
import { runModel } from "../ir/interpreter.ts";
import { compareTensors } from "../conformance/compare.ts";
import { float32Tensor, Tensor } from "../ir/tensor.ts";
import { DataType } from "../ir/dtype.ts";
import type { FunctionDef, Model } from "../ir/graph.ts";
import { expandFunctions } from "../ir/expand_functions.ts";
import { SaturnError } from "../errors.ts";
import { assertThrows } from "./_assert.ts";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** y = x · (scale · 2) + scale, where `scale` is an input whose default is [2, 3]. */
function withDefault(irVersion: number): Model {
  const m = graphModel(
    [node("Mul", ["scale", "two"], ["s2"]), node("Mul", ["x", "s2"], ["p"]), node("Add", ["p", "scale"], ["y"])],
    { x: [2], scale: [2] },
    ["y"],
    { scale: float32Tensor([2], [2, 3]), two: float32Tensor([], [2]) },
    { irVersion },
  );
  return m;
}

function outputOf(m: Model, feeds: Record<string, Tensor>): Tensor {
  return runModel(m, new Map(Object.entries(feeds))).get("y") as Tensor;
}

Deno.test("optimize keeps an input that has a default as an input, its default beside it, never folded", async () => {
  const model = withDefault(8);
  const { model: opt } = await optimize(model, { guard: false });
  const out = loadOnnxBytes(encodeModel(opt).bytes);
  assertEquals(out.graph.inputs.map((i) => i.name), ["x", "scale"]);
  const def = out.graph.initializers.get("scale");
  assert(def && Array.from(def.data as Float32Array).join() === "2,3", "the default is kept");
  const x = float32Tensor([2], [1, -1]);
  // the default and an overriding value give the same results before and after
  assertEquals(compareTensors(outputOf(out, { x }), outputOf(model, { x }), EXACT), undefined);
  const scale = float32Tensor([2], [5, 7]);
  const want = outputOf(model, { x, scale });
  assertEquals(Array.from(want.data as Float32Array).join(), "15,-7");
  assertEquals(compareTensors(outputOf(out, { x, scale }), want, EXACT), undefined);
});

Deno.test("optimize reads an IR 3 model's initializers listed as inputs as weights, as ONNX Runtime does", async () => {
  const { model: opt } = await optimize(withDefault(3), { guard: false });
  assert(!opt.graph.nodes.some((n) => n.inputs.includes("two")), "scale · 2 is folded");
});

/** A local function: `domain.name(inputs) -> outputs` over `nodes`, under `opsets`. */
function fn(
  domain: string,
  name: string,
  io: [string[], string[]],
  nodes: FunctionDef["nodes"],
  opsets: FunctionDef["opsetImports"],
  attributes: string[] = [],
  attributeProtos: FunctionDef["attributeProtos"] = [],
): FunctionDef {
  return {
    domain,
    name,
    inputs: io[0],
    outputs: io[1],
    nodes,
    opsetImports: opsets,
    attributes,
    attributeProtos,
    valueInfo: [],
  };
}

/**
 * y = Outer(Outer(x, w; slope 0.1), w; slope 0.3), where Outer(a, w) = Inner(a·w; alpha = slope) + a·w,
 * Inner a LeakyRelu whose alpha refers to the caller's attribute, in a domain only Outer imports;
 * Outer's `slope` defaults to 0.2 and its second output is left out by the calls.
 */
function withFunctions(): Model {
  const inner = fn(
    "local.inner",
    "Inner",
    [["a"], ["b"]],
    [
      node("LeakyRelu", ["a"], ["b"], [{ name: "alpha", type: "float", value: 0, refAttrName: "alpha" }]),
    ],
    [{ domain: "", version: 17 }],
    ["alpha"],
  );
  const outer = fn(
    "local",
    "Outer",
    [["a", "w"], ["y", "t"]],
    [
      node("MatMul", ["a", "w"], ["t"]),
      node("Inner", ["t"], ["u"], [{ name: "alpha", type: "float", value: 0, refAttrName: "slope" }], "local.inner"),
      node("Add", ["u", "t"], ["y"]),
    ],
    [{ domain: "", version: 17 }, { domain: "local.inner", version: 1 }],
    [],
    [attr("slope", 0.2)],
  );
  const m = graphModel(
    [
      node("Outer", ["x", "w"], ["h"], [attr("slope", 0.1)], "local"),
      node("Outer", ["h", "w"], ["y"], [attr("slope", 0.3)], "local"),
      node("Outer", ["y", "w"], ["z"], [], "local"),
    ],
    { x: [2, 8] },
    ["y", "z"],
    { w: rand([8, 8], 3) },
    { domains: [{ domain: "local", version: 1 }] },
  );
  return { ...m, functions: [outer, inner] };
}

const fnInputs = () => new Map([["x", rand([2, 8], 7)]]);

Deno.test("expandFunctions inlines nested calls with attribute references, values renamed uniquely", () => {
  const model = withFunctions();
  const out = expandFunctions(model);
  assertEquals(out.functions.length, 0);
  assertEquals(out.graph.nodes.map((n) => n.opType).join(), "MatMul,LeakyRelu,Add,".repeat(3).slice(0, -1));
  const alphas = out.graph.nodes.filter((n) => n.opType === "LeakyRelu").map((n) => n.attributes[0].value as number);
  assertEquals(alphas.map((a) => a.toFixed(2)).join(), "0.10,0.30,0.20");
  const produced = out.graph.nodes.flatMap((n) => n.outputs);
  assertEquals(new Set(produced).size, produced.length, "every value is defined once");
  const want = runModel(model, fnInputs());
  const got = runModel(out, fnInputs());
  for (const o of ["y", "z"]) {
    assertEquals(compareTensors(got.get(o) as Tensor, want.get(o) as Tensor, EXACT), undefined);
  }
});

Deno.test("a model with local functions runs on WebGPU and matches the reference", async () => {
  await matchesReference(withFunctions(), fnInputs(), { supported: true, tol: TOL });
});

Deno.test("optimize sees inside local functions: the output has no calls and the same outputs", async () => {
  const model = withFunctions();
  const { model: out } = await optimize(model, { guard: false });
  assert(!out.graph.nodes.some((n) => n.domain.startsWith("local")), "no call is left");
  assertEquals(out.functions.length, 0);
  const back = loadOnnxBytes(encodeModel(out).bytes);
  const want = runModel(model, fnInputs());
  const got = runModel(back, fnInputs());
  for (const o of ["y", "z"]) assertEquals(compareTensors(got.get(o) as Tensor, want.get(o) as Tensor, TOL), undefined);
});

Deno.test("saturn optimize --check passes on a model with local functions", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = path.join(dir, "fn.onnx");
    Deno.writeFileSync(file, encodeModel(withFunctions()).bytes);
    const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path.join(root, "cli.ts"), "optimize", file, "-o", path.join(dir, "out.onnx"), "--check"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 0, text);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a local function that calls itself, directly or through another, is refused in one line", () => {
  const self = fn("local", "F", [["a"], ["b"]], [node("F", ["a"], ["b"], [], "local")], [{
    domain: "local",
    version: 1,
  }]);
  const g = fn("local", "G", [["a"], ["b"]], [node("H", ["a"], ["b"], [], "local")], [{ domain: "local", version: 1 }]);
  const h = fn("local", "H", [["a"], ["b"]], [node("G", ["a"], ["b"], [], "local")], [{ domain: "local", version: 1 }]);
  for (const [functions, op] of [[[self], "F"], [[g, h], "G"]] as const) {
    const m = graphModel([node(op, ["x"], ["y"], [], "local")], { x: [1] }, ["y"], {}, {
      domains: [{ domain: "local", version: 1 }],
    });
    const e = assertThrows(() => expandFunctions({ ...m, functions: [...functions] }), SaturnError, "calls itself");
    assert(!e.message.includes("\n"), e.message);
  }
});

Deno.test("expandFunctions refuses calls that would expand past its node budget", () => {
  // F0 = Neg; Fk calls Fk-1 twice: F40 would be 2^40 nodes
  const fns: FunctionDef[] = [
    fn("local", "F0", [["a"], ["b"]], [node("Neg", ["a"], ["b"])], [{ domain: "", version: 17 }]),
  ];
  for (let k = 1; k <= 40; k++) {
    fns.push(fn("local", `F${k}`, [["a"], ["b"]], [
      node(`F${k - 1}`, ["a"], ["m"], [], "local"),
      node(`F${k - 1}`, ["m"], ["b"], [], "local"),
    ], [{ domain: "", version: 17 }, { domain: "local", version: 1 }]));
  }
  const m = graphModel([node("F40", ["x"], ["y"], [], "local")], { x: [1] }, ["y"], {}, {
    domains: [{ domain: "local", version: 1 }],
  });
  assertThrows(() => expandFunctions({ ...m, functions: fns }), SaturnError, "more than 1,000,000 nodes");
});

Deno.test("a function importing the ONNX domain at another version than the model keeps its calls", () => {
  const f = fn("local", "F", [["a"], ["b"]], [node("Relu", ["a"], ["b"])], [{ domain: "", version: 13 }]);
  const m = graphModel([node("F", ["x"], ["y"], [], "local")], { x: [1] }, ["y"], {}, {
    domains: [{ domain: "local", version: 1 }],
  });
  const out = expandFunctions({ ...m, functions: [f] });
  assertEquals(out.graph.nodes.map((n) => n.opType), ["F"]);
  assertEquals(out.functions.length, 1);
});

Deno.test("expandFunctions renames values inside a function's If branches and expands calls inside If bodies", () => {
  const branch = (name: string, nodes: FunctionDef["nodes"], out: string) => ({
    name,
    nodes,
    inputs: [],
    outputs: [{ name: out }],
    initializers: new Map(),
    sparseInitializers: [],
    valueInfo: [],
  });
  // Sel(a, c) = If c then a·a else LeakyRelu(a; alpha = caller's alpha); both branches read the body's `a2`
  const sel = fn(
    "local",
    "Sel",
    [["a", "c"], ["b"]],
    [
      node("Add", ["a", "a"], ["a2"]),
      node("If", ["c"], ["b"], [
        { name: "then_branch", type: "graph", value: branch("t", [node("Mul", ["a2", "a2"], ["r"])], "r") },
        {
          name: "else_branch",
          type: "graph",
          value: branch("e", [
            node("LeakyRelu", ["a2"], ["r"], [{ name: "alpha", type: "float", value: 0, refAttrName: "alpha" }]),
          ], "r"),
        },
      ]),
    ],
    [{ domain: "", version: 17 }],
    ["alpha"],
  );
  const outerIf = node("If", ["c"], ["z"], [
    {
      name: "then_branch",
      type: "graph",
      value: branch("t2", [node("Sel", ["x", "c"], ["r"], [attr("alpha", 0.5)], "local")], "r"),
    },
    { name: "else_branch", type: "graph", value: branch("e2", [node("Neg", ["x"], ["r"])], "r") },
  ]);
  const base = graphModel(
    [node("Sel", ["x", "c"], ["y"], [attr("alpha", 0.25)], "local"), outerIf],
    { x: [3], c: [DataType.BOOL, []] },
    ["y", "z"],
    {},
    { domains: [{ domain: "local", version: 1 }] },
  );
  const model = { ...base, functions: [sel] };
  const out = expandFunctions(model);
  assertEquals(out.functions.length, 0);
  const text = JSON.stringify(out.graph, (_k, v) => (v instanceof Map ? [...v] : v));
  assert(!text.includes('"domain":"local"'), "no call is left, inside If bodies either");
  for (const c of [true, false]) {
    const feeds = new Map<string, Tensor>([["x", float32Tensor([3], [-1, 0.5, 2])], [
      "c",
      new Tensor(DataType.BOOL, [], Uint8Array.of(c ? 1 : 0)),
    ]]);
    const want = runModel(model, feeds), got = runModel(out, feeds);
    if (!c) assertEquals((got.get("y") as Tensor).data[0], -0.5, "LeakyRelu(2·-1) with the caller's alpha 0.25");
    for (const o of ["y", "z"]) {
      assertEquals(compareTensors(got.get(o) as Tensor, want.get(o) as Tensor, EXACT), undefined, `${o} when ${c}`);
    }
  }
});
