/**
 * Depth comes from the model, so nothing may recurse over it: a 5,000-node chain through both
 * extractors, the graph rebuild, `optimize --check`, the reference interpreter and the WebGPU
 * fusion; an `If` nested 1,000 deep through `inspect`, `run` and `optimize`; model-local functions
 * that call themselves (directly or through another) refused in one line; a rule pattern nested
 * 5,000 deep refused with `FILE:LINE`. None of them may exit 70 (an internal error).
 * GPU runs are skipped where WebGPU has no adapter.
 * @module
 */
import * as path from "node:path";
import { runCli } from "./_helpers.ts";
import { assert, assertEquals } from "./_assert.ts";
import { gpuAdapter, graphModel, node, rand } from "./_models.ts";
import { SaturnError } from "../errors.ts";
import type { FunctionDef, Graph, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { runModel } from "../ir/interpreter.ts";
import { inferModel } from "../ir/infer.ts";
import { fromNumbers } from "../ir/tensor.ts";
import { saveOnnx } from "../onnx/load.ts";
import { MAX_NESTING } from "../ir/functions.ts";
import { EGraph } from "../egraph/egraph.ts";
import { makeENode } from "../egraph/enode.ts";
import { extractGreedy } from "../egraph/extract_greedy.ts";
import { extractIlp } from "../egraph/extract_ilp.ts";
import { NodeCountCost } from "../cost/analytical.ts";
import { parseRules } from "../rules/parser.ts";

const gpu = await gpuAdapter();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

/** Assert a CLI run succeeded; the message shows what it printed. */
function assertOk(r: Run, what: string): void {
  assertEquals(r.code, 0, `${what} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
}

// ---------------------------------------------------------------------------------------------
// models

/** `n` nodes in a row over x: [1, 4], alternating Relu(prev) and Add(prev, x); the last writes y. */
function chainModel(n: number): Model {
  const nodes: Node[] = [];
  let prev = "x";
  for (let i = 0; i < n; i++) {
    const out = i === n - 1 ? "y" : `v${i}`;
    nodes.push(i % 2 === 0 ? node("Relu", [prev], [out]) : node("Add", [prev, "x"], [out]));
    prev = out;
  }
  return graphModel(nodes, { x: [1, 4] }, ["y"]);
}

function body(name: string, nodes: Node[], output: string): Graph {
  return {
    name,
    nodes,
    inputs: [],
    outputs: [{ name: output }],
    initializers: new Map(),
    sparseInitializers: [],
    valueInfo: [],
  };
}

/**
 * y = If(c) nested `depth` deep: each then-branch holds the next If, the innermost one Relu(x);
 * each else-branch is Neg(x). With c true, y = Relu(x). With `known`, c is an initializer (true),
 * so the WebGPU backend can inline every branch.
 */
function nestedIfModel(depth: number, known = false): Model {
  let inner: Node = node("Relu", ["x"], [`t${depth}`]);
  for (let k = depth; k >= 1; k--) {
    const out = k === 1 ? "y" : `t${k - 1}`;
    inner = {
      name: `if${k}`,
      opType: "If",
      domain: "",
      inputs: ["c"],
      outputs: [out],
      attributes: [
        { name: "then_branch", type: "graph", value: body(`then${k}`, [inner], inner.outputs[0]) },
        { name: "else_branch", type: "graph", value: body(`else${k}`, [node("Neg", ["x"], [`e${k}`])], `e${k}`) },
      ],
    };
  }
  if (known) return graphModel([inner], { x: [1, 4] }, ["y"], { c: fromNumbers(DataType.BOOL, [], [1]) });
  return graphModel([inner], { x: [1, 4], c: [DataType.BOOL, []] }, ["y"]);
}

/** Protobuf wire format, just enough to write a model nested deeper than `saveOnnx` will. */
const wire = {
  varint(n: number): number[] {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
    out.push(n);
    return out;
  },
  bytes(field: number, b: Uint8Array | string): Uint8Array {
    const data = typeof b === "string" ? new TextEncoder().encode(b) : b;
    return Uint8Array.from([...wire.varint(field * 8 + 2), ...wire.varint(data.length), ...data]);
  },
  int(field: number, n: number): Uint8Array {
    return Uint8Array.from([...wire.varint(field * 8), ...wire.varint(n)]);
  },
  cat(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) out.set(p, at), at += p.length;
    return out;
  },
};

/**
 * The bytes of `nestedIfModel(depth)` (types left out), written from the inside out without
 * recursion: GraphProto node 1, name 2, output 12; NodeProto input 1, output 2, name 3,
 * op_type 4, attribute 5; AttributeProto name 1, g 6, type 20 (GRAPH = 5).
 */
function nestedIfBytes(depth: number): Uint8Array {
  const { bytes, int, cat } = wire;
  const plain = (op: string, out: string) => cat(bytes(1, "x"), bytes(2, out), bytes(3, out), bytes(4, op));
  const graph = (name: string, nodeBytes: Uint8Array, out: string) =>
    cat(bytes(1, nodeBytes), bytes(2, name), bytes(12, bytes(1, out)));
  let inner = plain("Relu", `t${depth}`), innerOut = `t${depth}`;
  for (let k = depth; k >= 1; k--) {
    const out = k === 1 ? "y" : `t${k - 1}`;
    const attr = (name: string, g: Uint8Array) => bytes(5, cat(bytes(1, name), bytes(6, g), int(20, 5)));
    inner = cat(
      bytes(1, "c"),
      bytes(2, out),
      bytes(3, `if${k}`),
      bytes(4, "If"),
      attr("then_branch", graph(`then${k}`, inner, innerOut)),
      attr("else_branch", graph(`else${k}`, plain("Neg", `e${k}`), `e${k}`)),
    );
    innerOut = out;
  }
  const io = (name: string) => bytes(1, name);
  const main = cat(bytes(1, inner), bytes(2, "g"), bytes(11, io("x")), bytes(11, io("c")), bytes(12, io("y")));
  return cat(int(1, 8), bytes(8, cat(bytes(1, ""), int(2, 17))), bytes(7, main));
}

function fn(name: string, calls: string): FunctionDef {
  return {
    name,
    domain: "local",
    inputs: ["a"],
    outputs: ["b"],
    attributes: [],
    attributeProtos: [],
    nodes: [node(calls, ["a"], ["b"], [], "local")],
    opsetImports: [{ domain: "", version: 17 }, { domain: "local", version: 1 }],
    valueInfo: [],
  };
}

/** y = F(x), where the local functions are `functions` (F's body calls the next). */
function functionModel(functions: FunctionDef[]): Model {
  const m = graphModel([node("F", ["x"], ["y"], [], "local")], { x: [1, 4] }, ["y"], {}, {
    domains: [{ domain: "local", version: 1 }],
  });
  return { ...m, functions };
}

const dir = Deno.makeTempDirSync({ prefix: "saturn_deep_" });
const chainFile = path.join(dir, "chain5000.onnx");
saveOnnx(chainModel(5000), chainFile);
const tooDeepFile = path.join(dir, "if1000.onnx");
Deno.writeFileSync(tooDeepFile, nestedIfBytes(1000));
const deepFile = path.join(dir, `if${MAX_NESTING}.onnx`);
saveOnnx(nestedIfModel(MAX_NESTING), deepFile);
const inputsFile = path.join(dir, "inputs.json");
Deno.writeTextFileSync(inputsFile, JSON.stringify({ x: [[1, -2, 3, -4]], c: true }));

// ---------------------------------------------------------------------------------------------
// long chains

Deno.test("both extractors and the reference interpreter handle a 5,000-node chain", async () => {
  const eg = new EGraph([{ domain: "", version: 17 }]);
  let c = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
  for (let i = 0; i < 5000; i++) c = eg.add(makeENode("Relu", [c]));
  eg.rebuild();
  assertEquals(extractGreedy(eg, new NodeCountCost(), [c]).cost, 5000);
  const ilp = await extractIlp(eg, new NodeCountCost(), [c]);
  assertEquals(ilp.cost, 5000);
  const m = chainModel(5000);
  const y = runModel(m, new Map([["x", rand([1, 4], 1)]])).get("y");
  assert(y !== undefined);
  assertEquals(inferModel(m).types.get("y")?.kind, "tensor");
});

Deno.test("greedy extraction stays finite and exact when every value is used twice, 2,000 deep", () => {
  // y_{i+1} = y_i + y_i: a tree cost doubles with each node (2^2000 overflows); the DAG costs 2,000
  const eg = new EGraph([{ domain: "", version: 17 }]);
  let c = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
  for (let i = 0; i < 2000; i++) c = eg.add(makeENode("Add", [c, c]));
  eg.rebuild();
  assertEquals(extractGreedy(eg, new NodeCountCost(), [c]).cost, 2000);
});

for (const extract of ["greedy", "ilp"]) {
  Deno.test(`optimize --check --extract ${extract} handles a 5,000-node chain`, async () => {
    const out = path.join(dir, `chain.${extract}.onnx`);
    const t0 = performance.now();
    const r = await cli("optimize", chainFile, "-o", out, "--check", "--extract", extract, "--json");
    console.log(
      `  optimize --check --extract ${extract}, 5,000 nodes: ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    assertOk(r, `optimize --extract ${extract}`);
    assertEquals(JSON.parse(r.stdout).check?.passed, true);
  });
}

Deno.test("run --backend ref handles a 5,000-node chain", async () => {
  assertOk(await cli("run", chainFile, "--backend", "ref"), "run --backend ref");
});

Deno.test({
  name: "run on WebGPU handles a 5,000-node chain and matches the reference",
  ignore: gpu === null,
  fn: async () => assertOk(await cli("run", chainFile, "--compare", "ref"), "run --compare ref"),
});

// ---------------------------------------------------------------------------------------------
// nesting

Deno.test(`an If nested ${MAX_NESTING} deep runs in the reference interpreter and infers its type`, () => {
  const m = nestedIfModel(MAX_NESTING);
  const x = rand([1, 4], 2);
  const y = runModel(m, new Map([["x", x], ["c", fromNumbers(DataType.BOOL, [], [1])]])).get("y");
  assertEquals(
    Array.from((y as typeof x).data as Float32Array),
    Array.from(x.data as Float32Array, (v) => Math.max(v, 0)),
  );
  assertEquals(inferModel(m).types.get("y"), { kind: "tensor", dtype: DataType.FLOAT, shape: [1, 4] });
});

Deno.test(`inspect, run --backend ref and optimize --check handle an If nested ${MAX_NESTING} deep`, async () => {
  assertOk(await cli("inspect", deepFile), "inspect");
  const r = await cli("run", deepFile, "--backend", "ref", "--inputs", inputsFile);
  assertOk(r, "run --backend ref");
  assert(r.stdout.includes("[1.0000, 0.0000, 3.0000, 0.0000]"), r.stdout);
  const out = path.join(dir, "if.opt.onnx");
  assertOk(await cli("optimize", deepFile, "-o", out, "--check", "--inputs", inputsFile), "optimize --check");
});

Deno.test("an If nested 1,000 deep is refused in one line, built in code or read from a file", async () => {
  const m = nestedIfModel(1000);
  for (const use of [() => runModel(m, new Map([["x", rand([1, 4], 2)]])), () => inferModel(m)]) {
    try {
      use();
      throw new Error("an If nested 1,000 deep must be refused");
    } catch (e) {
      assert(e instanceof SaturnError && e.code === "INVALID_GRAPH", `not INVALID_GRAPH: ${e}`);
      assert(e.message.includes(`more than ${MAX_NESTING} levels`), e.message);
    }
  }
  for (const args of [["inspect"], ["run", "--backend", "ref", "--inputs", inputsFile], ["optimize", "--check"]]) {
    const r = await cli(args[0], tooDeepFile, ...args.slice(1));
    assertEquals(r.code, 2, `${args[0]} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert(r.stderr.includes(`more than ${MAX_NESTING} levels`), r.stderr);
  }
});

Deno.test({
  name: `run on WebGPU inlines an If nested ${MAX_NESTING} deep whose condition is known`,
  ignore: gpu === null,
  fn: async () => {
    const file = path.join(dir, "if_known.onnx");
    saveOnnx(nestedIfModel(MAX_NESTING, true), file);
    assertOk(await cli("run", file, "--compare", "ref"), "run --compare ref");
  },
});

// ---------------------------------------------------------------------------------------------
// recursive functions

for (
  const [what, fns] of [
    ["calling itself", [fn("F", "F")]],
    ["calling another that calls it back", [fn("F", "G"), fn("G", "F")]],
  ] as const
) {
  Deno.test(`a local function ${what} is refused in one line`, async () => {
    const m = functionModel([...fns]);
    for (const use of [() => runModel(m, new Map([["x", rand([1, 4], 3)]])), () => inferModel(m)]) {
      try {
        use();
        throw new Error("a recursive function must be refused");
      } catch (e) {
        assert(e instanceof SaturnError, `not a SaturnError: ${e}`);
        assert(/recursive|calls itself/.test(e.message), e.message);
      }
    }
    const file = path.join(dir, `fn_${fns.length}.onnx`);
    saveOnnx(m, file);
    for (
      const args of [["inspect", file], ["run", file, "--backend", "ref"], ["optimize", file, "-o", file + ".opt"]]
    ) {
      const r = await cli(...args);
      assertEquals(r.code, 2, `${args[0]} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// rule patterns

Deno.test("a rule pattern nested 5,000 deep is refused with FILE:LINE", async () => {
  const deep = "(Relu ".repeat(5000) + "?x" + ")".repeat(5000);
  const text = `# fine\nok: (Neg (Neg ?x)) => ?x\ndeep:\n  ${deep} => ?x\n`;
  try {
    parseRules(text, "deep.rules", "user");
    throw new Error("a pattern nested 5,000 deep must be refused");
  } catch (e) {
    assert(e instanceof SaturnError, `not a SaturnError: ${e}`);
    assert(e.message.startsWith("deep.rules:4: "), e.message);
  }
  const file = path.join(dir, "deep.rules");
  Deno.writeTextFileSync(file, text);
  const r = await cli("optimize", chainFile, "-o", path.join(dir, "x.onnx"), "--rules", file);
  assertEquals(r.code, 2, r.stderr);
  assert(r.stderr.includes("deep.rules:4: "), r.stderr);
});

Deno.test("a rule pattern nested 100 deep still parses", () => {
  const p = "(Relu ".repeat(100) + "?x" + ")".repeat(100);
  assertEquals(parseRules(`r: ${p} => (Relu ?x)`, "ok.rules", "user").length, 1);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
