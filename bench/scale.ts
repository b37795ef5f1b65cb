/**
 * Scale: Saturn on a model with more than 2 GB of weights in external data and on a 96-layer
 * transformer-shaped graph (~2,600 nodes deep). Each is built here (seeded weights), then taken
 * through the CLI as a user would — `inspect`, `optimize --check` (ONNX Runtime on both), `run
 * --backend ref --compare ort`, and `run` on WebGPU where it fits — with each command's wall time
 * and peak resident memory (GNU time's maximum RSS). Prints a Markdown table and writes JSON.
 *
 *   deno run -A bench/scale.ts [--dir DIR] [--skip-big] [--skip-deep] [--json OUT.json]
 *
 * The big model's files (≈ 2.3 GB) go to DIR (default: a temporary folder, removed at the end).
 * @module
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { Tensor } from "../ir/tensor.ts";
import { saveOnnx } from "../onnx/load.ts";
import { rng } from "../verify/inputs.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

function tensor(dims: number[], seed: number, scale: number): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const r = rng(seed), data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (r() * 2 - 1) * scale;
  return new Tensor(DataType.FLOAT, dims, data);
}

function ints(values: number[]): Tensor {
  return new Tensor(DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)));
}

function attr(name: string, value: number | number[]): Attribute {
  return Array.isArray(value)
    ? { name, type: "ints", value }
    : Number.isInteger(value)
    ? { name, type: "int", value }
    : { name, type: "float", value };
}

function model(nodes: Node[], inputs: [string, number[]][], outputs: string[], inits: Map<string, Tensor>): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: "", version: 17 }],
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name: "scale",
      nodes,
      inputs: inputs.map(([name, shape]) => ({ name, type: { kind: "tensor", dtype: DataType.FLOAT, shape } })),
      outputs: outputs.map((name) => ({ name })),
      initializers: inits,
      sparseInitializers: [],
      valueInfo: [],
    },
  };
}

/** `layers` MatMul(4096×4096) + Relu blocks: 64 MiB of float32 weights each, in external data. */
function bigModel(layers: number): Model {
  const d = 4096;
  const nodes: Node[] = [], inits = new Map<string, Tensor>();
  let x = "x";
  for (let l = 0; l < layers; l++) {
    const w = `w${l}`, m = `m${l}`, y = `h${l}`;
    inits.set(w, tensor([d, d], 100 + l, 1 / Math.sqrt(d)));
    nodes.push({ name: `mm${l}`, opType: "MatMul", domain: "", inputs: [x, w], outputs: [m], attributes: [] });
    nodes.push({ name: `relu${l}`, opType: "Relu", domain: "", inputs: [m], outputs: [y], attributes: [] });
    x = y;
  }
  return model(nodes, [["x", [1, d]]], [x], inits);
}

/** A pre-LayerNorm transformer encoder of `layers` layers (hidden 64, 4 heads, MLP 256, sequence 16). */
function deepTransformer(layers: number): Model {
  const h = 64, heads = 4, hd = h / heads, mlp = 256, seq = 16;
  const nodes: Node[] = [], inits = new Map<string, Tensor>();
  let seed = 1;
  const add = (opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []) =>
    nodes.push({ name: `${opType}_${outputs[0]}`, opType, domain: "", inputs, outputs, attributes });
  const w = (name: string, dims: number[], scale = 0.1) => (inits.set(name, tensor(dims, seed++, scale)), name);
  inits.set("heads_shape", ints([1, seq, heads, hd]));
  inits.set("model_shape", ints([1, seq, h]));
  inits.set("scale", new Tensor(DataType.FLOAT, [], Float32Array.of(Math.sqrt(hd))));
  inits.set("sqrt2", new Tensor(DataType.FLOAT, [], Float32Array.of(Math.SQRT2)));
  inits.set("one", new Tensor(DataType.FLOAT, [], Float32Array.of(1)));
  inits.set("half", new Tensor(DataType.FLOAT, [], Float32Array.of(0.5)));
  let x = "x";
  for (let l = 0; l < layers; l++) {
    const p = (s: string) => `l${l}_${s}`;
    add("LayerNormalization", [x, w(p("g1"), [h], 1), w(p("b1"), [h])], [p("n1")], [attr("axis", -1)]);
    for (const q of ["q", "k", "v"]) {
      add("MatMul", [p("n1"), w(p(`w${q}`), [h, h])], [p(q)]);
      add("Reshape", [p(q), "heads_shape"], [p(`${q}r`)]);
      add("Transpose", [p(`${q}r`)], [p(`${q}t`)], [attr("perm", q === "k" ? [0, 2, 3, 1] : [0, 2, 1, 3])]);
    }
    add("MatMul", [p("qt"), p("kt")], [p("s")]);
    add("Div", [p("s"), "scale"], [p("sd")]);
    add("Softmax", [p("sd")], [p("a")], [attr("axis", -1)]);
    add("MatMul", [p("a"), p("vt")], [p("o")]);
    add("Transpose", [p("o")], [p("ot")], [attr("perm", [0, 2, 1, 3])]);
    add("Reshape", [p("ot"), "model_shape"], [p("or")]);
    add("MatMul", [p("or"), w(p("wo"), [h, h])], [p("proj")]);
    add("Add", [x, p("proj")], [p("r1")]);
    add("LayerNormalization", [p("r1"), w(p("g2"), [h], 1), w(p("b2"), [h])], [p("n2")], [attr("axis", -1)]);
    add("MatMul", [p("n2"), w(p("w1"), [h, mlp])], [p("f1")]);
    add("Add", [p("f1"), w(p("c1"), [mlp])], [p("f1b")]);
    // Gelu(x) = x · ½ · (1 + erf(x / √2)), as exporters write it
    add("Div", [p("f1b"), "sqrt2"], [p("e0")]);
    add("Erf", [p("e0")], [p("e1")]);
    add("Add", [p("e1"), "one"], [p("e2")]);
    add("Mul", [p("f1b"), p("e2")], [p("e3")]);
    add("Mul", [p("e3"), "half"], [p("e4")]);
    add("MatMul", [p("e4"), w(p("w2"), [mlp, h])], [p("f2")]);
    add("Add", [p("r1"), p("f2")], [p("r2")]);
    x = p("r2");
  }
  return model(nodes, [["x", [1, seq, h]]], [x], inits);
}

interface Measured {
  model: string;
  step: string;
  code: number;
  seconds: number;
  maxRssMiB: number;
  note: string;
}

async function measure(modelName: string, step: string, args: string[]): Promise<Measured> {
  const t0 = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "MAXRSS %M", Deno.execPath(), "run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  const stdout = new TextDecoder().decode(out.stdout);
  const rss = Number(/MAXRSS (\d+)/.exec(stderr)?.[1] ?? NaN) / 1024;
  const lines = (stdout + stderr).split("\n").filter((l) => l && !l.startsWith("MAXRSS"));
  const note =
    (out.code === 0 ? lines.find((l) => /match|nodes:|ran on/.test(l)) : lines.find((l) => l.startsWith("saturn:"))) ??
      "";
  const m = { model: modelName, step, code: out.code, seconds, maxRssMiB: rss, note: note.trim().slice(0, 160) };
  console.error(`${modelName} ${step}: exit ${m.code}, ${seconds.toFixed(1)} s, ${rss.toFixed(0)} MiB  ${m.note}`);
  return m;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string" },
      "skip-big": { type: "boolean", default: false },
      "skip-deep": { type: "boolean", default: false },
      json: { type: "string" },
      "big-layers": { type: "string", default: "36" },
      "deep-layers": { type: "string", default: "96" },
    },
  });
  const dir = values.dir ?? await Deno.makeTempDir({ prefix: "saturn-scale-" });
  const results: Measured[] = [];
  try {
    if (!values["skip-deep"]) {
      const layers = Number(values["deep-layers"]);
      const file = path.join(dir, `transformer_${layers}.onnx`);
      const t0 = performance.now();
      saveOnnx(deepTransformer(layers), file);
      console.error(`built ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const name = `transformer ×${layers}`;
      results.push(await measure(name, "inspect", ["inspect", file]));
      results.push(
        await measure(name, "optimize --check", ["optimize", file, "-o", path.join(dir, "t.opt.onnx"), "--check"]),
      );
      results.push(
        await measure(name, "run --backend ref --compare ort", ["run", file, "--backend", "ref", "--compare", "ort"]),
      );
      results.push(await measure(name, "run (WebGPU) --compare ort", ["run", file, "--compare", "ort"]));
      results.push(
        await measure(name, "run optimized (WebGPU) --compare ort", [
          "run",
          path.join(dir, "t.opt.onnx"),
          "--compare",
          "ort",
        ]),
      );
    }
    if (!values["skip-big"]) {
      const layers = Number(values["big-layers"]);
      const file = path.join(dir, "big.onnx");
      const t0 = performance.now();
      saveOnnx(bigModel(layers), file, { externalData: { location: "big.weights" } });
      const bytes = Deno.statSync(path.join(dir, "big.weights")).size;
      console.error(
        `built ${file} + ${(bytes / 2 ** 30).toFixed(2)} GiB of external data in ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
      const name = `${layers} × MatMul 4096² (${(bytes / 2 ** 30).toFixed(2)} GiB external)`;
      results.push(await measure(name, "inspect", ["inspect", file]));
      results.push(
        await measure(name, "optimize --check", ["optimize", file, "-o", path.join(dir, "big.opt.onnx"), "--check"]),
      );
      results.push(
        await measure(name, "run --backend ref --compare ort", ["run", file, "--backend", "ref", "--compare", "ort"]),
      );
      results.push(await measure(name, "run (WebGPU) --compare ort", ["run", file, "--compare", "ort"]));
    }
  } finally {
    if (!values.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log("| model | step | exit | wall s | peak RSS MiB | output |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of results) {
    console.log(
      `| ${r.model} | ${r.step} | ${r.code} | ${r.seconds.toFixed(1)} | ${r.maxRssMiB.toFixed(0)} | ${r.note} |`,
    );
  }
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
}

if (import.meta.main) await main();
