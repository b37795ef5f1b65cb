/**
 * The optimized model is valid for every size the original accepts, not only for the sizes the
 * check ran at: guards over symbolic dims hold for all values of the symbols, and the shapes
 * written into the optimized model's value_info are true at every size. Each case builds a small
 * model with a pattern that is wrong at some sizes when two different symbols are taken as equal
 * (a broadcast of `n` against `m` is `n` only when `m` is 1 or `n`), optimizes it, and checks it
 * at two or more sizes in ONNX Runtime (`optimize --check --dim`) and in the reference, value by
 * value against the value_info written.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { graphModel, node, rand } from "./_models.ts";
import { saveOnnx } from "../onnx/load.ts";
import { optimize } from "../optimize/verified.ts";
import { runModel } from "../ir/interpreter.ts";
import type { Model } from "../ir/graph.ts";
import type { Dim } from "../ir/types.ts";
import { int64Tensor, type Tensor } from "../ir/tensor.ts";
import { DataType } from "../ir/dtype.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const REAL = path.join(root, "..", "shared", "real");

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** `optimize M --check` at each size (a list of `--dim` values), asserting each passes. */
async function checkAtSizes(model: string, sizes: string[][], extra: string[] = []): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const dims of sizes) {
      const r = await cli(
        "optimize",
        model,
        "-o",
        path.join(dir, "m.opt.onnx"),
        "--check",
        ...dims.flatMap((d) => ["--dim", d]),
        ...extra,
      );
      assertEquals(r.code, 0, `optimize --check ${dims.join(" ")}: ${r.out}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function saved(m: Model): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir();
  const file = path.join(dir, "m.onnx");
  await saveOnnx(m, file);
  return { file, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/**
 * Runs `m` in the reference with every value_info value as an extra output and asserts that
 * its value_info is true: each value has the shape written, one size per symbol across the model.
 */
function assertValueInfoHolds(m: Model, inputs: Map<string, Tensor>): void {
  const g = m.graph;
  const withAll: Model = {
    ...m,
    graph: { ...g, outputs: [...g.outputs, ...g.valueInfo.map((v) => ({ name: v.name }))] },
  };
  const got = runModel(withAll, inputs);
  const bound = new Map<string, number>();
  const agree = (name: string, declared: readonly Dim[] | undefined, dims: readonly number[]) => {
    if (!declared) return;
    assertEquals(declared.length, dims.length, `${name}: rank ${declared.length} written, ${dims.length} computed`);
    declared.forEach((d, i) => {
      if (typeof d === "number") return assertEquals(d, dims[i], `${name}: dim ${i} written ${d}, computed ${dims[i]}`);
      if (d.startsWith("?")) return;
      const was = bound.get(d);
      if (was === undefined) bound.set(d, dims[i]);
      else assertEquals(dims[i], was, `${name}: dim ${i} written '${d}' (= ${was} elsewhere), computed ${dims[i]}`);
    });
  };
  for (const i of g.inputs) {
    const t = inputs.get(i.name);
    if (t && i.type?.kind === "tensor") agree(i.name, i.type.shape, t.dims);
  }
  for (const v of [...g.valueInfo, ...g.outputs]) {
    const t = got.get(v.name) as Tensor | undefined;
    if (t && v.type?.kind === "tensor") agree(v.name, v.type.shape, t.dims);
  }
}

Deno.test("an Add of two tensors whose dims are different symbols is not given the first one's shape", async () => {
  // a: [1,4,h], b: [1,4,w] are valid whenever h = w, h = 1 or w = 1: the sum is [1,4,max(h,w)]
  const m = graphModel(
    [
      node("Relu", ["a"], ["r"]),
      node("Sigmoid", ["r"], ["s"]),
      node("Add", ["s", "b"], ["t"]),
      node("Mul", ["t", "c"], ["y"]),
    ],
    { a: [1, 4, "h"], b: [1, 4, "w"] },
    ["y"],
    { c: rand([1], 1) },
  );
  const { model: out } = await optimize(m, { guard: false, cacheFile: await Deno.makeTempFile() });
  for (const [h, w] of [[1, 3], [3, 1], [2, 2]]) {
    assertValueInfoHolds(out, new Map([["a", rand([1, 4, h], 2)], ["b", rand([1, 4, w], 3)]]));
  }
  const f = await saved(m);
  try {
    await checkAtSizes(f.file, [["h=1", "w=3"], ["h=5", "w=1"], ["h=4", "w=4"]]);
  } finally {
    await f.cleanup();
  }
});

Deno.test("an Expand to another input's shape is kept when the symbols differ (expand-same needs equal shapes at every size)", async () => {
  // Expand(x[n], Shape(y[m])) is x only when n = m; at n = 1, m = 3 it repeats x three times
  const m = graphModel(
    [node("Shape", ["y"], ["s"]), node("Expand", ["x", "s"], ["e"]), node("Relu", ["e"], ["z"])],
    { x: ["n"], y: ["m"] },
    ["z"],
  );
  const { model: out } = await optimize(m, { guard: false, cacheFile: await Deno.makeTempFile() });
  assert(out.graph.nodes.some((n) => n.opType === "Expand"), "Expand was removed");
  assertValueInfoHolds(out, new Map([["x", rand([1], 4)], ["y", rand([3], 5)]]));
  const f = await saved(m);
  try {
    await checkAtSizes(f.file, [["n=1", "m=3"], ["n=3", "m=3"]]);
  } finally {
    await f.cleanup();
  }
});

Deno.test("an Expand to a shape known only at run time keeps no symbolic dim of its input that may be 1", async () => {
  // the target is an input: x's 'n' may be 1 and broadcast to the target's 5
  const m = graphModel(
    [node("Relu", ["x"], ["rx"]), node("Expand", ["rx", "s"], ["e"]), node("Sigmoid", ["e"], ["z"])],
    { x: ["n"], s: [DataType.INT64, [1]] },
    ["z"],
  );
  const { model: out } = await optimize(m, { guard: false, cacheFile: await Deno.makeTempFile() });
  assertValueInfoHolds(out, new Map([["x", rand([1], 6)], ["s", int64Tensor([1], [5])]]));
  assertValueInfoHolds(out, new Map([["x", rand([5], 6)], ["s", int64Tensor([1], [5])]]));
});

Deno.test("a Slice of the last k of a symbolic dim is not given length k (a shorter dim keeps all it has)", async () => {
  // x[-3:] of x[n] is [min(3, n)]: 2 at n = 2
  const m = graphModel(
    [node("Slice", ["x", "st", "en"], ["y"]), node("Relu", ["y"], ["r"]), node("Sigmoid", ["r"], ["z"])],
    { x: ["n"] },
    ["z"],
    { st: int64Tensor([1], [-3]), en: int64Tensor([1], [2 ** 40]) },
  );
  const { model: out } = await optimize(m, { guard: false, cacheFile: await Deno.makeTempFile() });
  for (const n of [2, 5]) assertValueInfoHolds(out, new Map([["x", rand([n], 8)]]));
});

Deno.test("the PaddleOCR detector optimizes to a model valid at 1×1, 32×32, 64×96 and 640×640", {
  ignore: !exists(path.join(REAL, "ppocrv4_det.onnx")),
}, async () => {
  const sizes = [[1, 1], [32, 32], [64, 96], [640, 640]].map(([h, w]) => ["x:0=1", `x:2=${h}`, `x:3=${w}`]);
  await checkAtSizes(path.join(REAL, "ppocrv4_det.onnx"), sizes);
});

Deno.test("the real audio models optimize to models valid at sizes besides their callers'", {
  ignore: !exists(path.join(REAL, "silero_vad_v5.onnx")),
}, async () => {
  // (the six models of tests/data/models have only static inputs)
  await checkAtSizes(path.join(REAL, "oww_melspectrogram.onnx"), [["batch_size=2", "samples=4000"]]);
  const dir = await Deno.makeTempDir();
  try {
    for (const [sr, batch, samples] of [[8000, 2, 256], [16000, 2, 512]]) {
      const json = path.join(dir, `sr${sr}.json`);
      await Deno.writeTextFile(json, JSON.stringify({ sr }));
      await checkAtSizes(path.join(REAL, "silero_vad_v5.onnx"), [[
        `input:0=${batch}`,
        `input:1=${samples}`,
        `state:1=${batch}`,
      ]], ["--inputs", json]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
