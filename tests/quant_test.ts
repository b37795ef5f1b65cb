/**
 * Quantization (`optimize --quant`, `optimize/quantize.ts`, `rules/quant/`): file sizes and
 * measured errors on the three small transformers, ONNX Runtime and WebGPU running the quantized
 * files, the accuracy budget keeping layers in float, the packing arithmetic, and the CLI's flags.
 */
import { fileURLToPath } from "node:url";
import { assert } from "./_assert.ts";
import { DataType } from "../ir/dtype.ts";
import type { Model } from "../ir/graph.ts";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { Tensor, toNumbers } from "../ir/tensor.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { optimize } from "../optimize/verified.ts";
import { quantizeModel } from "../optimize/quantize.ts";
import { compareValues } from "../optimize/quant_error.ts";
import { dequantRows, packCodes, quantizeRows } from "../optimize/quant_pack.ts";
import { SaturnError } from "../errors.ts";
import { createSession } from "../webgpu/session.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const MODELS = ["gpt2_tiny", "llama_tiny_dynamo", "bert_tiny"];
const modelPath = (m: string) => fileURLToPath(new URL(`./data/models/${m}.onnx`, import.meta.url));

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;

/** Optimize with --quant as the CLI does, save, and return the file and the model. */
async function quantized(name: string, precision: "int8" | "int4", dir: string) {
  const source = loadOnnx(modelPath(name));
  const { model, quant } = await optimize(source, {
    guard: false,
    quant: { precision },
    cacheFile: `${dir}/verdicts.json`,
  });
  const file = `${dir}/${name}.${precision}.onnx`;
  saveOnnx(model, file);
  return { source, model, file, report: quant! };
}

/** ONNX Runtime's outputs of the float and the quantized file agree within the default budget. */
async function withinBudget(source: Model, file: string, original: string, seeds: number[]): Promise<number> {
  let worst = 1;
  for (const seed of seeds) {
    const inputs = randomInputs(source, { seed, intHigh: 1 << 30 });
    const a = await runOrt(original, inputs), b = await runOrt(file, inputs);
    for (const [name, t] of a) {
      const c = compareValues(toNumbers(t), toNumbers(b.get(name)!)).cosine;
      worst = Math.min(worst, c);
    }
  }
  return worst;
}

for (const precision of ["int4", "int8"] as const) {
  Deno.test(`optimize --quant ${precision} shrinks gpt2_tiny, llama_tiny_dynamo and bert_tiny ${precision === "int4" ? "≥ 6×" : "≥ 3.5×"} within cosine 0.99 in ONNX Runtime`, async () => {
    const dir = Deno.makeTempDirSync();
    try {
      for (const name of MODELS) {
        const { source, file, report } = await quantized(name, precision, dir);
        const ratio = Deno.statSync(modelPath(name)).size / Deno.statSync(file).size;
        assert(
          ratio >= (precision === "int4" ? 6 : 3.5),
          `${name} ${precision}: file only ${ratio.toFixed(2)}× smaller`,
        );
        assert(report.withinBudget, `${name}: reported over the budget`);
        assert(
          report.layers.some((l) => l.op === "Gather" && l.quantized),
          `${name}: the embedding table is quantized`,
        );
        const cos = await withinBudget(source, file, modelPath(name), report.seeds);
        assert(cos >= 0.99, `${name} ${precision}: ONNX Runtime's outputs have cosine ${cos}`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test({
  name: "a model quantized to int4 runs on WebGPU and agrees with ONNX Runtime",
  ignore: adapter === null,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      for (const name of MODELS) {
        const { model, file, report } = await quantized(name, "int4", dir);
        const inputs = randomInputs(model, { seed: report.seeds[0], intHigh: 1 << 30 });
        const session = await createSession(model);
        try {
          const got = await session.run(inputs);
          // ONNX Runtime's own rewrites ("extended": DequantizeLinear(int8) + MatMul into an 8-bit
          // MatMulNBits) compute in lower precision (measured: max rel err 8e-3 on llama_tiny_dynamo);
          // without them it computes what the graph says
          const exact = await runOrt(file, inputs, { graphOptimizationLevel: "basic" });
          const fused = await runOrt(file, inputs);
          for (const [out, t] of exact) {
            const e = compareValues(toNumbers(t), toNumbers(got.get(out)!));
            // the same int4 weights in both: only float rounding and accumulation order differ
            assert(e.maxRelError < 1e-4, `${name} '${out}': WebGPU vs ONNX Runtime max rel err ${e.maxRelError}`);
            const f = compareValues(toNumbers(fused.get(out)!), toNumbers(got.get(out)!));
            assert(
              f.cosine > 0.9999,
              `${name} '${out}': WebGPU vs ONNX Runtime (all optimizations) cosine ${f.cosine}`,
            );
          }
        } finally {
          session.destroy();
        }
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("a layer whose error breaks the budget stays in float, and the report says why", () => {
  const model = loadOnnx(modelPath("bert_tiny"));
  const { model: out, report } = quantizeModel(model, { precision: "int4", accuracyBudget: 1e-9, seeds: [1] });
  // the embedding table and the MLP weights move the output far more than 1e-9
  const big = report.layers.filter((l) => l.bytesBefore >= 256 * 1024);
  assert(big.length === 5 && big.every((l) => !l.quantized), "the large weights stay float");
  assert(big.every((l) => l.reason?.includes("over the budget")), "each says why");
  // what was quantized (attention's query/key weights barely reach bert's output) measured within it
  assert(report.layers.every((l) => !l.quantized || 1 - l.cosine <= 1e-9), "quantized only within the budget");
  assert(out.graph.initializers.size > 0 && report.withinBudget, "within the budget");
  assert(report.outputs.every((o) => 1 - o.cosine <= 1e-9), "outputs within the budget");
});

Deno.test("an int4 layer over the budget falls back to int8 before float", () => {
  const model = loadOnnx(modelPath("bert_tiny"));
  const loose = quantizeModel(model, { precision: "int4", seeds: [1] }).report;
  // a budget between the int8 and the int4 errors of the largest layer
  const big = loose.layers.find((l) => l.op === "MatMul")!;
  const budget = (1 - big.cosine) / 2;
  const { report } = quantizeModel(model, { precision: "int4", accuracyBudget: budget, seeds: [1] });
  const same = report.layers.find((l) => l.weight === big.weight)!;
  assert(same.quantized && same.rule === "matmul-int8-channel", `fell back: ${same.rule} ${same.reason}`);
  assert(report.withinBudget, "within the budget");
});

Deno.test("quantizeRows keeps codes in range, zero exact, asymmetric codes within half a step, the padding at the zero point", () => {
  const len = 40, rows = 3;
  const data = Array.from({ length: rows * len }, (_, i) => Math.sin(i * 1.7) * (i % 7 === 0 ? 3 : 1));
  data[5] = 0;
  for (const symmetric of [true, false]) {
    for (const bits of [4, 8] as const) {
      const q = quantizeRows((r, i) => data[r * len + i], rows, len, { bits, block: 16, symmetric });
      const back = dequantRows(q);
      assert(q.blocks === 3 && q.codes.every((c) => c < 1 << bits), "codes in range");
      assert(back[5] === 0, "zero is exact");
      // asymmetric codes cover the block's range; symmetric may clip a peak if that lowers the block's error
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < len; i++) {
          const s = q.scales[r * q.blocks + Math.floor(i / 16)];
          const d = Math.abs(back[r * len + i] - data[r * len + i]);
          assert(symmetric ? d <= Math.abs(data[r * len + i]) + s : d <= s / 2 + 1e-7, `error ${d} at ${r},${i}`);
        }
        // the last block's padding (8 values past 40) holds the zero point
        const at = r * q.blocks + 2;
        for (let i = 8; i < 16; i++) assert(q.codes[at * 16 + i] === q.zeroPoints[at], "padding");
      }
    }
  }
  assert(packCodes(new Uint8Array([1, 2, 15]), 4).join() === [0x21, 0x0f].join(), "low nibble first");
});

Deno.test("quantizeModel refuses a block, precision or budget out of range with a SaturnError", () => {
  const model = loadOnnx(modelPath("bert_tiny"));
  for (
    const bad of [
      { precision: "int4", block: 24 },
      { precision: "int3" },
      { precision: "int8", accuracyBudget: 1 },
      { precision: "int8", accuracyBudget: -0.1 },
    ]
  ) {
    try {
      quantizeModel(model, bad as never);
      throw new Error(`accepted ${JSON.stringify(bad)}`);
    } catch (e) {
      assert(e instanceof SaturnError && e.code === "BAD_ARGUMENT", `${JSON.stringify(bad)}: ${e}`);
    }
  }
});

Deno.test("optimize's --quant flags are checked before any work, each refusal one line with exit 2", async () => {
  const dir = Deno.makeTempDirSync();
  const cases = [
    ["--quant", "int2"],
    ["--block", "64"],
    ["--quant", "int4", "--block", "48"],
    ["--quant", "int8", "--block", "64"],
    ["--quant", "int4", "--accuracy-budget", "x"],
    ["--quant", "int4", "--check"],
  ];
  try {
    for (const extra of cases) {
      const p = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "optimize", modelPath("bert_tiny"), "-o", `${dir}/o.onnx`, ...extra],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(p.stderr).trim();
      assert(p.code === 2, `${extra.join(" ")}: exit ${p.code}: ${err}`);
      assert(err.split("\n").length === 1 && err.startsWith("saturn: "), `${extra.join(" ")}: ${err}`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a Gemm's constant bias becomes MatMulNBits' bias input and the dequantized weight is what ONNX Runtime computes with", async () => {
  const { MATMUL_RULES } = await import("../rules/quant/matmul.ts");
  const rule = MATMUL_RULES.find((r) => r.name === "gemm-int4-nbits")!;
  const { node, inputs } = rule.example(3, 32);
  const used = new Set<string>();
  const rw = rule.rewrite(node, {
    block: 32,
    opset: 17,
    constant: (n) => (n === "x" ? undefined : inputs.get(n)),
    fresh: (b) => {
      let n = b;
      for (let i = 1; used.has(n); i++) n = `${b}_${i}`;
      used.add(n);
      return n;
    },
  });
  assert(rw.nodes.length === 1 && rw.nodes[0].inputs[5] === "c", "bias is input 5");
  const dir = Deno.makeTempDirSync();
  try {
    const x = inputs.get("x")!;
    const model: Model = {
      irVersion: 8,
      opsetImports: [{ domain: "", version: 17 }, { domain: "com.microsoft", version: 1 }],
      metadataProps: [],
      trainingInfo: [],
      functions: [],
      graph: {
        name: "g",
        nodes: rw.nodes,
        inputs: [{ name: "x", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [...x.dims] } }],
        outputs: [{ name: "y" }],
        initializers: new Map([...rw.initializers, ["c", inputs.get("c")!]]),
        sparseInitializers: [],
        valueInfo: [],
      },
    };
    saveOnnx(model, `${dir}/q.onnx`);
    const got = toNumbers((await runOrt(`${dir}/q.onnx`, new Map([["x", x]]))).get("y")!);
    // x · dequantized + c in float64
    const w = toNumbers(rw.dequantized), c = toNumbers(inputs.get("c")!), xs = toNumbers(x);
    const [M, K] = x.dims, N = c.length;
    const want = new Float64Array(M * N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = c[n];
        for (let k = 0; k < K; k++) s += xs[m * K + k] * w[k * N + n];
        want[m * N + n] = s;
      }
    }
    const e = compareValues(want, got);
    assert(e.maxRelError < 1e-4, `ONNX Runtime's MatMulNBits differs from x · dequantized + c: ${e.maxRelError}`);
    assert(!(rw.dequantized instanceof Tensor) || rw.dequantized.dims.join() === [K, N].join(), "W's layout");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("every quant rule has a measured error bound: int8 rules within 3%, int4 within 50%, never exact", async () => {
  const { quantBounds } = await import("../verify/quant_bound.ts");
  const { QUANT_RULES } = await import("../rules/quant/mod.ts");
  const bounds = quantBounds();
  assert(bounds.map((b) => b.rule).join() === QUANT_RULES.map((r) => r.name).join(), "one bound per rule");
  for (const b of bounds) {
    assert(b.instances >= 4, `${b.rule}: ${b.instances} instances`);
    assert(b.maxRelError > 0, `${b.rule}: a quantization is never exact`);
    assert(b.maxRelError < (b.bits === 8 ? 0.03 : 0.5), `${b.rule}: ${b.maxRelError}`);
  }
});
