/**
 * `optimize --check` and `run --compare` on inputs a user controls: dim sizes by name or by
 * input and axis, values from `--inputs` JSON (some or all), inputs that set a shape or a branch
 * (refused unless given), index inputs drawn in range, malformed JSON as one line, ONNX Runtime's
 * errors as one line naming the model and what to give, inputs with defaults fed by the check,
 * integer error statistics and per-dtype tolerances. Ends with the real models of
 * `../shared/real/` (skipped when absent), each checked with the sizes and values a caller uses.
 */
import * as path from "node:path";
import { runCli } from "./_helpers.ts";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { attr, graphModel, node } from "./_models.ts";
import { SaturnError } from "../errors.ts";
import { DataType } from "../ir/dtype.ts";
import type { Graph, Model } from "../ir/graph.ts";
import { float32Tensor, fromNumbers, int64Tensor, Tensor, toNumbers } from "../ir/tensor.ts";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { optimize } from "../optimize/verified.ts";
import { checkEquivalent } from "../verify/check.ts";
import { errorStats, toleranceFor } from "../conformance/compare.ts";
import {
  defaultedDims,
  inputRoles,
  inputsFromJson,
  inputShape,
  parseDimSizes,
  randomInputs,
} from "../verify/inputs.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

/** Exit 2 with one `saturn:` line on stderr, containing each of `parts`. */
function assertOneLine(r: { code: number; stderr: string }, ...parts: string[]): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assert(lines[0].startsWith("saturn: ") && !lines[0].includes("internal error"), lines[0]);
  for (const p of parts) assert(lines[0].includes(p), `'${p}' not in: ${lines[0]}`);
}

async function assertRejects(fn: () => Promise<unknown>, includes: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof SaturnError && e.message.includes(includes), String(e));
    return;
  }
  throw new Error(`expected a SaturnError with '${includes}'`);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function save(dir: string, name: string, model: Model): string {
  const file = path.join(dir, name);
  saveOnnx(model, file);
  return file;
}

/** x: float32 [1, n] reshaped to [2, 4]: runs only when n is 8. */
function reshapeTo8(): Model {
  return graphModel(
    [node("Reshape", ["x", "shape"], ["y"])],
    { x: [1, "n"] },
    ["y"],
    { shape: int64Tensor([2], [2, 4]) },
  );
}

/** y = Reshape(x, s): s (int64 [2]) is a shape a caller gives. */
function reshapeByInput(): Model {
  return graphModel([node("Reshape", ["x", "s"], ["y"])], { x: [6], s: [DataType.INT64, [2]] }, ["y"]);
}

/** A body of one node, reading `x` from the outer scope. */
function body(name: string, op: string): Graph {
  return {
    name,
    nodes: [node(op, ["x"], [`${name}_y`])],
    inputs: [],
    outputs: [{ name: `${name}_y`, type: { kind: "tensor", dtype: DataType.FLOAT, shape: [4] } }],
    initializers: new Map(),
    sparseInitializers: [],
    valueInfo: [],
  };
}

/** A sample rate compared to 16000 picks a branch, as Silero's VAD does. */
function sampleRateBranch(): Model {
  return graphModel(
    [
      node("Equal", ["sr", "sr16k"], ["is16k"]),
      {
        ...node("If", ["is16k"], ["y"]),
        attributes: [
          { name: "then_branch", type: "graph", value: body("then", "Relu") },
          { name: "else_branch", type: "graph", value: body("else", "Neg") },
        ],
      },
    ],
    { x: [4], sr: [DataType.INT64, []] },
    ["y"],
    { sr16k: int64Tensor([], [16000]) },
  );
}

// ---- dim sizes

Deno.test("parseDimSizes reads NAME=N and INPUT:AXIS=N, and refuses a spec without a whole size", () => {
  assertEquals(parseDimSizes(["batch=2", "x:0=512", "a=b=3"]), { batch: 2, "x:0": 512, "a=b": 3 });
  for (const bad of ["batch", "=3", "batch=", "batch=-1", "batch=1.5", "batch=0", "batch=99999999999"]) {
    assertThrows(() => parseDimSizes([bad]), SaturnError, bad);
  }
});

Deno.test("inputShape sizes an unnamed dim by input:axis, a named one by name or axis, the rest 1", () => {
  const info = { name: "x", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: ["?__7", "n", 3, "m"] } };
  assertEquals(inputShape(info, { "x:0": 5, n: 6 }), [5, 6, 3, 1]);
  assertEquals(inputShape(info, { "x:1": 2, n: 6 }), [1, 2, 3, 1], "an axis entry wins over the name");
  assertEquals(defaultedDims([info], { n: 6 }), ["x:0", "m"], "an unnamed dim is named by its input and axis");
  assertThrows(() => inputShape(info, { "x:2": 4 }), SaturnError, "has size 3 on axis 2");
});

Deno.test("optimize --check names --dim when dims that took size 1 break the model, and passes with --dim", async () => {
  await withDir(async (dir) => {
    const file = save(dir, "m.onnx", reshapeTo8());
    const out = path.join(dir, "o.onnx");
    const r = await cli("optimize", file, "-o", out, "--check");
    assertOneLine(r, file, "dims n took size 1", "--dim");
    for (const dim of ["n=8", "x:1=8"]) {
      const ok = await cli("optimize", file, "-o", out, "--check", "--dim", dim);
      assertEquals(ok.code, 0, ok.stderr);
      assert(/check: outputs match/.test(ok.stdout), ok.stdout);
    }
    assertOneLine(await cli("optimize", file, "-o", out, "--check", "--dim", "nn=8"), "dim nn", "named dims: n");
    assertOneLine(await cli("optimize", file, "-o", out, "--check", "--dim", "x:5=8"), "dim x:5");
    assertOneLine(await cli("optimize", file, "-o", out, "--dim", "n=8"), "--check");
  });
});

Deno.test("run names --dim when dims that took size 1 break the model on the reference backend", async () => {
  await withDir(async (dir) => {
    const file = save(dir, "m.onnx", reshapeTo8());
    assertOneLine(await cli("run", file, "--backend", "ref"), file, "n took size 1", "--dim");
    const ok = await cli("run", file, "--backend", "ref", "--dim", "x:1=8", "--compare", "ort");
    assertEquals(ok.code, 0, ok.stderr + ok.stdout);
  });
});

// ---- inputs that set structure, and index inputs

Deno.test("inputRoles finds a shape input, a condition behind Equal, and the bound of an index", () => {
  assertEquals(inputRoles(reshapeByInput()).get("s")?.structural?.what, "shape");
  assertEquals(inputRoles(sampleRateBranch()).get("sr")?.structural, {
    node: "If_y",
    opType: "If",
    what: "condition",
  });
  assert(!inputRoles(sampleRateBranch()).has("x"), "x only flows through the branches");
  const gather = graphModel(
    [node("Cast", ["i"], ["j"], [attr("to", DataType.INT64)]), node("Gather", ["table", "j"], ["y"])],
    { i: [DataType.INT32, [64]] },
    ["y"],
    { table: float32Tensor([3, 2], [1, 2, 3, 4, 5, 6]) },
  );
  assertEquals(inputRoles(gather).get("i")?.indexBound, 3);
  const drawn = toNumbers(randomInputs(gather, { seed: 1 }).get("i") as Tensor);
  assert(drawn.every((v) => v >= 0 && v < 3), `indices in [0, 3): ${drawn}`);
  const computed = graphModel(
    [node("Sqrt", ["s"], ["t"]), node("Cast", ["t"], ["u"], [attr("to", DataType.INT64)])],
    { s: [2] },
    ["u"],
  );
  computed.graph.nodes.push(node("Reshape", ["x", "u"], ["y"]));
  assert(!inputRoles(computed).has("s"), "a float reaching a shape only through arithmetic is data");
  const scales = graphModel([node("Resize", ["x", "", "s"], ["y"])], { x: [1, 1, 2, 2], s: [4] }, ["y"]);
  assertEquals(inputRoles(scales).get("s")?.structural?.what, "scales", "a float that is Resize's scales");
});

Deno.test("optimize --check refuses random values for a shape input or a sample rate, and runs with --inputs", async () => {
  await withDir(async (dir) => {
    const out = path.join(dir, "o.onnx");
    const reshape = save(dir, "reshape.onnx", reshapeByInput());
    assertOneLine(await cli("optimize", reshape, "-o", out, "--check"), "input 's'", "shape", "--inputs");
    const json = path.join(dir, "s.json");
    await Deno.writeTextFile(json, JSON.stringify({ s: [2, 3] }));
    const ok = await cli("optimize", reshape, "-o", out, "--check", "--inputs", json);
    assertEquals(ok.code, 0, ok.stderr);
    assert(ok.stdout.includes(`with s from ${json}`), ok.stdout);

    const vad = save(dir, "vad.onnx", sampleRateBranch());
    assertOneLine(await cli("optimize", vad, "-o", out, "--check"), "input 'sr'", "condition", "If", "--inputs");
    await Deno.writeTextFile(json, JSON.stringify({ sr: 16000 }));
    const ok2 = await cli("optimize", vad, "-o", out, "--check", "--inputs", json, "--json");
    assertEquals(ok2.code, 0, ok2.stderr);
    const check = JSON.parse(ok2.stdout).check;
    assertEquals(check.inputs.given, ["sr"]);
    assertEquals(check.inputs.drawn, ["x"]);

    // a value that does not fit: ONNX Runtime's error, one line naming the model
    await Deno.writeTextFile(json, JSON.stringify({ s: [4, 4] }));
    assertOneLine(await cli("optimize", reshape, "-o", out, "--check", "--inputs", json), reshape, "Reshape");
    assertOneLine(await cli("run", reshape, "--backend", "ref", "--inputs", json), reshape);
  });
});

// ---- malformed --inputs

Deno.test("malformed --inputs JSON is one line and exit 2, for run and optimize --check alike", async () => {
  await withDir(async (dir) => {
    const file = save(dir, "reshape.onnx", reshapeByInput());
    const json = path.join(dir, "in.json");
    const nested = "[".repeat(100_000) + "]".repeat(100_000);
    const cases: [string, string][] = [
      ["{", "not valid JSON"],
      ["null", "expected an object"],
      ["[1, 2]", "expected an object"],
      [`{"s": null}`, "input 's'"],
      [`{"s": {"dtype": "int64"}}`, `"data" must be an array`],
      [`{"s": {"dtype": 7, "data": [2, 3]}}`, "dtype 7"],
      [`{"s": {"dtype": "1", "data": [2, 3]}}`, `dtype "1"`],
      [`{"s": {"dtype": "float31", "data": [2, 3]}}`, "float31"],
      [`{"s": {"dtype": "float32", "data": [2, 3]}}`, "the model expects int64"],
      [`{"s": [1.5, 4]}`, "1.5 is not an int64"],
      [`{"s": ["NaN", 4]}`, `"NaN" is not an int64`],
      [`{"s": [2, 3, 4]}`, "3 values for shape [2]"],
      [`{"s": {"shape": [1e9, 1e9], "data": [2, 3]}}`, "too many"],
      [`{"s": {"shape": [-2], "data": [2, 3]}}`, "whole numbers"],
      [`{"s": {"shape": [2], "dims": [2], "data": [2, 3]}}`, "unknown field 'dims'"],
      [`{"s": [1e30, 3]}`, "out of int64's range"],
      [`{"s": [9007199254740993, 3]}`, "write it as a string"],
      [`{"nope": [1]}`, "no input named 'nope'"],
      [`{"s": ${nested}}`, "input 's'"],
    ];
    for (const [text, why] of cases) {
      await Deno.writeTextFile(json, text);
      assertOneLine(await cli("run", file, "--backend", "ref", "--inputs", json), json, why);
    }
    await Deno.writeTextFile(json, `{"s": {"dtype": 1, "data": [2, 3]}}`);
    assertOneLine(await cli("optimize", file, "-o", path.join(dir, "o.onnx"), "--check", "--inputs", json), "dtype 1");
  });
});

Deno.test("inputsFromJson reads scalars, 64-bit integers as strings, NaN for floats, and checks declared shapes", () => {
  const model = graphModel([node("Add", ["x", "x"], ["y"])], { x: [2], n: [DataType.INT64, []] }, ["y"]);
  const got = inputsFromJson(model, `{"x": ["NaN", 1], "n": "9007199254740993"}`);
  assert(Number.isNaN(toNumbers(got.get("x") as Tensor)[0]));
  assertEquals((got.get("n") as Tensor).data[0], 9007199254740993n);
  assertEquals((got.get("n") as Tensor).dims, []);
  assertThrows(() => inputsFromJson(model, `{"x": {"shape": [1, 2], "data": [1, 2]}}`), SaturnError, "declares [2]");
  assertThrows(() => inputsFromJson(model, `{"x": [1, 2]}`), SaturnError, "input 'n' is missing");
  assertEquals(inputsFromJson(model, `{"x": [1, 2]}`, { partial: true }).size, 1);
});

// ---- inputs with defaults

/** y = x + w, where w is an input with a default (an initializer of the same name). */
function withDefault(): Model {
  const m = graphModel([node("Add", ["x", "w"], ["y"])], { x: [3], w: [3] }, ["y"], {
    w: float32Tensor([3], [1, 2, 3]),
  });
  return m;
}

Deno.test("checkEquivalent feeds inputs with defaults: a rewrite that folded the default in is caught", async () => {
  await withDir(async (dir) => {
    const original = withDefault();
    const a = { file: save(dir, "a.onnx", original), model: original };
    const same = await checkEquivalent(a, a);
    assertEquals(same.mismatches, []);
    assertEquals(same.inputs.defaultsFed, ["w"]);

    // w kept as an input, but the sum reads a constant copy of its default
    const folded = graphModel([node("Add", ["x", "c"], ["y"])], { x: [3], w: [3] }, ["y"], {
      w: float32Tensor([3], [1, 2, 3]),
      c: float32Tensor([3], [1, 2, 3]),
    });
    const b = { file: save(dir, "b.onnx", folded), model: folded };
    const r = await checkEquivalent(a, b);
    assert(r.mismatches.some((m) => m.output === "y" && m.seed === 1), JSON.stringify(r.mismatches));
    assert(!r.mismatches.some((m) => m.seed === 0), "on its default the folded model agrees");

    // w gone from the inputs
    const gone = graphModel([node("Add", ["x", "w"], ["y"])], { x: [3] }, ["y"], { w: float32Tensor([3], [1, 2, 3]) });
    const g = await checkEquivalent(a, { file: save(dir, "g.onnx", gone), model: gone });
    assert(g.mismatches.some((m) => m.reason.includes("input 'w' has a default")), JSON.stringify(g.mismatches));
  });
});

Deno.test("checkEquivalent reports an optimized model that fails where the original runs as a mismatch", async () => {
  await withDir(async (dir) => {
    const original = graphModel([node("Relu", ["x"], ["y"])], { x: [6] }, ["y"]);
    const broken = graphModel([node("Reshape", ["x", "s"], ["y"])], { x: [6] }, ["y"], { s: int64Tensor([1], [4]) });
    const r = await checkEquivalent(
      { file: save(dir, "a.onnx", original), model: original },
      { file: save(dir, "b.onnx", broken), model: broken },
    );
    assertEquals(r.mismatches.length, 2, JSON.stringify(r.mismatches));
    assert(r.mismatches[0].reason.startsWith("the optimized model fails where the original runs"));
  });
});

// ---- error statistics and tolerances

Deno.test("errorStats measures integer outputs: uint8 values that differ by 1 differ by 1, not NaN", () => {
  const a = fromNumbers(DataType.UINT8, [3], [0, 200, 7]), e = fromNumbers(DataType.UINT8, [3], [1, 200, 7]);
  assertEquals(errorStats(a, e).maxAbs, 1);
  const big = new Tensor(DataType.INT64, [1], new BigInt64Array([2n ** 62n + 1n]));
  assertEquals(errorStats(big, new Tensor(DataType.INT64, [1], new BigInt64Array([2n ** 62n]))).maxAbs, 1);
  assertEquals(errorStats(float32Tensor([1], [NaN]), float32Tensor([1], [1])).maxAbs, Infinity);
});

Deno.test("a float16 model is judged at float16 tolerance, a float32 one at float32's", async () => {
  await withDir(async (dir) => {
    assertEquals(toleranceFor(DataType.FLOAT16), { atol: 1e-2, rtol: 1e-2 });
    for (const [dtype, passes] of [[DataType.FLOAT16, true], [DataType.FLOAT, false]] as const) {
      const c = fromNumbers(dtype, [4], [0.004, 0.004, 0.004, 0.004]);
      const plain = graphModel([node("Relu", ["x"], ["y"])], { x: [dtype, [4]] }, ["y"]);
      const shifted = graphModel(
        [node("Relu", ["x"], ["r"]), node("Add", ["r", "c"], ["y"])],
        { x: [dtype, [4]] },
        ["y"],
        { c },
      );
      const r = await checkEquivalent(
        { file: save(dir, `a${dtype}.onnx`, plain), model: plain },
        { file: save(dir, `b${dtype}.onnx`, shifted), model: shifted },
      );
      assertEquals(r.mismatches.length === 0, passes, JSON.stringify(r));
    }
  });
});

// ---- the real models

const REAL = path.join(root, "..", "shared", "real");
const hasReal = (() => {
  try {
    return Deno.statSync(REAL).isDirectory;
  } catch {
    return false;
  }
})();

/** Each real model with the sizes and values its callers give (see ../shared/real/README.md). */
const REAL_RUNS: Record<string, (dir: string) => Promise<string[]>> = {
  "oww_melspectrogram.onnx": () => Promise.resolve(["--dim", "batch_size=1", "--dim", "samples=1760"]),
  "ppocrv4_det.onnx": () => Promise.resolve(["--dim", "x:0=1", "--dim", "x:2=640", "--dim", "x:3=640"]),
  "silero_vad_v5.onnx": async (dir) => {
    const json = path.join(dir, "sr.json");
    await Deno.writeTextFile(json, JSON.stringify({ sr: 16000 }));
    return ["--inputs", json, "--dim", "input:0=1", "--dim", "input:1=512", "--dim", "state:1=1"];
  },
};

/** True while a dim with neither a value nor a name decodes as 0 (a bug of the decoder, issue 11). */
function unnamedDimsDecodeAsZero(): boolean {
  const t = loadOnnx(path.join(REAL, "silero_vad_v5.onnx")).graph.inputs[0].type;
  return t?.kind === "tensor" && t.shape?.[0] === 0;
}

for (const [name, flags] of Object.entries(REAL_RUNS)) {
  Deno.test({
    name: `optimize --check passes on the real model ${name} given its callers' sizes and values`,
    ignore: !hasReal || (name === "silero_vad_v5.onnx" && unnamedDimsDecodeAsZero()),
    fn: async () => {
      await withDir(async (dir) => {
        const r = await cli(
          "optimize",
          path.join(REAL, name),
          "-o",
          path.join(dir, name),
          "--check",
          ...await flags(dir),
        );
        assertEquals(r.code, 0, r.stderr);
        assert(/check: outputs match on seeds 0, 1/.test(r.stdout), r.stdout);
      });
    },
  });
}

Deno.test({
  name: "optimize --check on a real model without sizes is one line that names --dim, never an internal error",
  ignore: !hasReal,
  fn: async () => {
    await withDir(async (dir) => {
      const r = await cli(
        "optimize",
        path.join(REAL, "oww_melspectrogram.onnx"),
        "-o",
        path.join(dir, "o.onnx"),
        "--check",
      );
      assertOneLine(r, "oww_melspectrogram.onnx", "samples", "--dim");
      const vad = await cli(
        "optimize",
        path.join(REAL, "silero_vad_v5.onnx"),
        "-o",
        path.join(dir, "v.onnx"),
        "--check",
      );
      assertOneLine(vad, "input 'sr'", "--inputs");
    });
  },
});

Deno.test({
  name: "checkEquivalent passes on Silero's VAD, its unnamed dims sized by input:axis and its sample rate given",
  ignore: !hasReal,
  fn: async () => {
    await withDir(async (dir) => {
      const file = path.join(REAL, "silero_vad_v5.onnx");
      const model = loadOnnx(file);
      // unnamed dims as the decoder should give them (today it gives 0), in every graph and subgraph
      let k = 0;
      const graphs: Graph[] = [model.graph];
      while (graphs.length) {
        const g = graphs.pop()!;
        for (const i of [...g.inputs, ...g.outputs, ...g.valueInfo]) {
          if (i.type?.kind === "tensor" && i.name !== "sr") {
            i.type.shape = i.type.shape?.map((d) => d === 0 ? `?__t${k++}` : d);
          }
        }
        for (const n of g.nodes) for (const a of n.attributes) if (a.type === "graph") graphs.push(a.value);
      }
      const { model: optimized } = await optimize(model, { guard: false });
      const out = save(dir, "vad.opt.onnx", optimized);
      const sr = new Map([["sr", int64Tensor([], [16000])]]);
      const dims = { "input:0": 1, "input:1": 512, "state:1": 1 };
      const r = await checkEquivalent({ file, model }, { file: out, model: optimized }, { dims, inputs: sr });
      assertEquals(r.mismatches, []);
      assertEquals(r.inputs.drawn, ["input", "state"]);
      await assertRejects(
        () => checkEquivalent({ file, model }, { file: out, model: optimized }, { dims }),
        "input 'sr'",
      );
    });
  },
});
