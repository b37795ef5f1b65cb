/**
 * Low-precision weights, measured (issue 14): ONNX Runtime CPU latency, float32 vs int8 vs int4.
 *
 * 1. Decode-shaped matmuls (M = 1): 1×768·768×3072 and 1×4096·4096×11008 as a float32 MatMul and as
 *    MatMulNBits with 8- and 4-bit codes (block 32, no zero points: symmetric), at accuracy_level 0
 *    (float compute, what Saturn's rules emit) and 4 (A quantized to int8: ONNX Runtime's fast path,
 *    not the graph's exact semantics).
 * 2. The test models gpt2_tiny and llama_tiny_dynamo: their input is fixed at [1, 32] tokens (the
 *    Reshape targets are constants of the export, so a 1-token input is refused by ONNX Runtime's
 *    shape inference: "incompatible shapes"), so a true one-token step cannot be made from them.
 *    Measured instead: (a) the whole model at its 32 tokens, float32 vs `optimize/quantize.ts`'s
 *    int8 and int4 (block 32) output; (b) its decode-shaped step of weight layers: every MatMul/Gemm
 *    of the model with a 2-D weight, at M = 1, side by side in one graph (float32 vs MatMulNBits
 *    8/4 bits, block 32) — the part of a decode step that streams weights.
 * 3. For the record: Saturn's WebGPU GEMV (`codegen/matmul_nbits.ts`) on this machine's adapter,
 *    int4 MatMulNBits vs the float32 MatMul, same process, 1×768·768×3072.
 *
 * Every comparison is interleaved (each round runs every variant once, the order rotating), the
 * median reported. Run: `deno run -A bench/quant.ts [--rounds 30] [--json out.json]`.
 * @module
 */
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { attr, graphModel, node } from "../tests/_models.ts";
import { modelPath } from "../tests/_helpers.ts";
import { loadOnnx } from "../onnx/load.ts";
import { encodeModel } from "../onnx/encode.ts";
import { DataType } from "../ir/dtype.ts";
import type { Model, Node } from "../ir/graph.ts";
import { Tensor } from "../ir/tensor.ts";
import { randomInputs } from "../verify/inputs.ts";
import { ORT_QUIET } from "../verify/ort.ts";
import { quantizeModel } from "../optimize/quantize.ts";
import { createSession } from "../webgpu/session.ts";
import "../rules/contrib_ops.ts";

const args = parseArgs({ options: { rounds: { type: "string", default: "30" }, json: { type: "string" } } });
const ROUNDS = Number(args.values.rounds);

/** Seeded uniform floats in [−1, 1) (xorshift, fast for tens of millions). */
function floats(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    out[i] = (((s >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Seeded bytes. */
function bytes(n: number, seed: number): Uint8Array {
  const f = floats(Math.ceil(n / 4), seed);
  const u = new Uint8Array(n);
  const w = new Uint32Array(f.buffer);
  u.set(new Uint8Array(w.buffer, 0, n));
  return u;
}

/** float32 MatMul, or MatMulNBits 8/4 bits at accuracy_level 0 (float compute) or 4 (int8 compute). */
type Variant = "float32" | "int8" | "int4" | "int8·acc4" | "int4·acc4";
const VARIANTS: Variant[] = ["float32", "int8", "int4", "int8·acc4", "int4·acc4"];

/** A weight layer: y = x · W, x [1, K], W [K, N]; MatMulNBits for int8/int4 (block 32, symmetric). */
function layer(
  i: number,
  K: number,
  N: number,
  v: Variant,
  w?: Float32Array,
): { nodes: Node[]; inits: Record<string, Tensor> } {
  const x = `x${i}`, y = `y${i}`;
  if (v === "float32") {
    return {
      nodes: [node("MatMul", [x, `w${i}`], [y])],
      inits: { [`w${i}`]: new Tensor(DataType.FLOAT, [K, N], w ?? floats(K * N, i + 1, 1 / Math.sqrt(K))) },
    };
  }
  const bits = v.startsWith("int8") ? 8 : 4, block = 32, blocks = Math.ceil(K / block), blob = (block * bits) / 8;
  return {
    nodes: [
      node(
        "MatMulNBits",
        [x, `b${i}`, `s${i}`],
        [y],
        [
          attr("K", K),
          attr("N", N),
          attr("bits", bits),
          attr("block_size", block),
          attr("accuracy_level", v.endsWith("acc4") ? 4 : 0),
        ],
        "com.microsoft",
      ),
    ],
    inits: {
      [`b${i}`]: new Tensor(DataType.UINT8, [N, blocks, blob], bytes(N * blocks * blob, i + 1)),
      [`s${i}`]: new Tensor(DataType.FLOAT, [N, blocks], floats(N * blocks, i + 2, 0.01)),
    },
  };
}

/** One graph of side-by-side weight layers, each fed x_i [1, K_i]. */
function layersModel(shapes: [number, number][], v: Variant): Model {
  const nodes: Node[] = [], inits: Record<string, Tensor> = {}, inputs: Record<string, number[]> = {};
  shapes.forEach(([K, N], i) => {
    const l = layer(i, K, N, v);
    nodes.push(...l.nodes);
    Object.assign(inits, l.inits);
    inputs[`x${i}`] = [1, K];
  });
  return graphModel(nodes, inputs, shapes.map((_, i) => `y${i}`), inits, {
    opset: 21,
    domains: [{ domain: "com.microsoft", version: 1 }],
  });
}

/** The (K, N) of each MatMul/Gemm of `m` whose second operand is a 2-D initializer. */
function weightShapes(m: Model): [number, number][] {
  const out: [number, number][] = [];
  for (const n of m.graph.nodes) {
    if (n.opType !== "MatMul" && n.opType !== "Gemm") continue;
    const w = m.graph.initializers.get(n.inputs[1]);
    if (!w || w.dims.length !== 2) continue;
    const transB = n.attributes.find((a) => a.name === "transB")?.value === 1;
    out.push(transB ? [w.dims[1], w.dims[0]] : [w.dims[0], w.dims[1]]);
  }
  return out;
}

type Feeds = Record<string, ort.Tensor>;

function ortFeeds(m: Model, seed = 1): Feeds {
  const out: Feeds = {};
  for (const [name, t] of randomInputs(m, { seed })) {
    const v = t as Tensor;
    const data = v.data as Float32Array | BigInt64Array;
    out[name] = new ort.Tensor(v.dtype === DataType.INT64 ? "int64" : "float32", data, [...v.dims]);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Interleaved medians (ms) of `runs`, after 3 warm-up rounds. */
async function interleaved(runs: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const names = Object.keys(runs), times: Record<string, number[]> = {};
  for (const n of names) times[n] = [];
  for (let r = -3; r < ROUNDS; r++) {
    for (let j = 0; j < names.length; j++) {
      const n = names[(r + 3 + j) % names.length];
      const t0 = performance.now();
      await runs[n]();
      if (r >= 0) times[n].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(times[n])]));
}

/** ORT sessions of `models`, timed interleaved on seeded inputs. */
async function ortCompare(
  models: Record<string, Model>,
): Promise<{ ms: Record<string, number>; mb: Record<string, number> }> {
  const runs: Record<string, () => Promise<unknown>> = {}, mb: Record<string, number> = {};
  for (const [name, m] of Object.entries(models)) {
    const bytes = encodeModel(m).bytes;
    mb[name] = bytes.byteLength / 2 ** 20;
    const s = await ort.InferenceSession.create(bytes, { ...ORT_QUIET, graphOptimizationLevel: "all" });
    const feeds = ortFeeds(m);
    runs[name] = () => s.run(feeds);
  }
  return { ms: await interleaved(runs), mb };
}

const results: Record<string, unknown> = {};
const line = (label: string, r: { ms: Record<string, number>; mb: Record<string, number> }) => {
  const f = r.ms.float32;
  const cells = Object.keys(r.ms).map((v) =>
    `${v} ${r.ms[v].toFixed(3)} ms (${r.mb[v].toFixed(1)} MB${v === "float32" ? "" : `, ${(f / r.ms[v]).toFixed(2)}×`})`
  );
  console.log(`${label.padEnd(44)} ${cells.join(" | ")}`);
  results[label] = r;
};

console.log(`onnxruntime-node ${ort.env.versions.common}, ${navigator.hardwareConcurrency} cores, ${ROUNDS} rounds`);
for (const [K, N] of [[768, 3072], [4096, 11008]] as const) {
  const models = Object.fromEntries(VARIANTS.map((v) => [v, layersModel([[K, N]], v)]));
  line(`MatMul 1×${K}·${K}×${N}`, await ortCompare(models));
}
for (const name of ["gpt2_tiny", "llama_tiny_dynamo"]) {
  const m = loadOnnx(modelPath(name));
  const shapes = weightShapes(m);
  const step = Object.fromEntries(VARIANTS.map((v) => [v, layersModel(shapes, v)]));
  line(`${name}: ${shapes.length} weight layers at M = 1`, await ortCompare(step));
  try {
    const whole: Record<string, Model> = { float32: m };
    for (const p of ["int8", "int4"] as const) whole[p] = quantizeModel(m, { precision: p, block: 32 }).model;
    line(`${name}: whole model, 32 tokens`, await ortCompare(whole));
  } catch (e) {
    console.log(`${name}: whole model: quantizeModel failed: ${(e as Error).message.split("\n")[0]}`);
  }
}

// Saturn's WebGPU GEMV vs the float32 MatMul (gemm.ts), same process
const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
if (adapter) {
  const info = adapter.info;
  for (const [K, N] of [[768, 3072]] as const) {
    const runs: Record<string, () => Promise<unknown>> = {};
    const sessions = [];
    for (const v of ["float32", "int4"] as const) {
      const m = layersModel([[K, N]], v);
      const s = await createSession(m);
      sessions.push(s);
      const feeds = new Map([["x0", new Tensor(DataType.FLOAT, [1, K], floats(K, 3))]]);
      runs[v] = () => s.run(feeds);
    }
    const ms = await interleaved(runs);
    const label = `Saturn WebGPU (${
      [info.vendor, info.architecture, info.description].filter((x) => x).join(" ")
    }) 1×${K}·${K}×${N}`;
    console.log(
      `${label}: float32 ${ms.float32.toFixed(2)} ms | int4 ${ms.int4.toFixed(2)} ms (${
        (ms.float32 / ms.int4).toFixed(2)
      }×)`,
    );
    results[label] = { ms };
    for (const s of sessions) s.destroy();
  }
}
if (args.values.json) Deno.writeTextFileSync(args.values.json, JSON.stringify(results, null, 2));
