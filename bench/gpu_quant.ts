/**
 * Low-precision weights on a GPU (issue 15): Saturn's MatMulNBits kernels (`codegen/matmul_nbits.ts`)
 * against Saturn's float32 MatMul and against ONNX Runtime Web's MatMulNBits, in one Deno process
 * on one adapter.
 *
 * 1. Decode-shaped GEMV, y = x · W with x [1, K] (default 1×768·768×3072 and 1×4096·4096×11008):
 *    float32 MatMul vs MatMulNBits with 8- and 4-bit codes (block 32, symmetric). One graph holds
 *    L layers side by side, each with its own weight and the same x, so that the weights streamed
 *    per inference exceed the GPU's L2 (50 MB on an H100) and come from memory: L is chosen so that
 *    the int4 layers hold ≥ 200 MB (`--layers N` overrides). Reported per layer: Saturn's GPU time
 *    (sum of its per-kernel timestamps / L, median over rounds), the bytes each kernel reads for
 *    the weight (float32: 4 B a weight; MatMulNBits: the codes plus Saturn's f32 (scale, zero)
 *    pair per block, 6 / 10 bits a weight at block 32) and the bandwidth that makes; the GPU span
 *    of each submit (see "GPU spans" below) for Saturn and for ONNX Runtime Web on the same model;
 *    the wall time of one inference (upload, every layer, read-back of all outputs) for both.
 *    Saturn's and ONNX Runtime Web's first output are compared (max |Δ| / max |y|).
 * 2. End to end (`--gpt2 a.onnx,…`): each model as given (float32) and with every weight layer that
 *    `optimize --quant` would rewrite rewritten by the same rules (int4: MatMulNBits block 32; int8:
 *    DequantizeLinear per channel) but without the accuracy search (which runs the reference
 *    interpreter about twice per layer: hours on a 124M-parameter model). Wall medians alternated
 *    in one process, GPU time by timestamps, the cosine of each output against float32 on the GPU,
 *    and ONNX Runtime Web on the int4 model.
 *
 * Every comparison alternates its variants round by round. Writes `$OUT/gpu_quant.json` when `$OUT`
 * is set, else `--json FILE`.
 *
 *     deno run -A bench/gpu_quant.ts [--shapes 768x3072,4096x11008] [--layers N] [--rounds 20]
 *       [--gpt2 a.onnx,…] [--no-ortweb] [--json FILE]
 * @module
 */
import { parseArgs } from "node:util";
import "onnxruntime-web/webgpu";
import { attr, graphModel, node } from "../tests/_models.ts";
import { encodeModel } from "../onnx/encode.ts";
import { loadOnnx } from "../onnx/load.ts";
import { DataType } from "../ir/dtype.ts";
import { type Graph, type Model, type Node, opsetVersion } from "../ir/graph.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { randomInputs } from "../verify/inputs.ts";
import { ortFeeds } from "../verify/ort.ts";
import { createSession, type Session } from "../webgpu/session.ts";
import { CONSTANT_RULES } from "../rules/quant/constants.ts";
import { QUANT_RULES, type QuantContext } from "../rules/quant/mod.ts";
import "../rules/contrib_ops.ts";
import { median } from "./peers.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "768x3072,4096x11008" },
    layers: { type: "string" },
    rounds: { type: "string", default: "20" },
    gpt2: { type: "string", default: "" },
    "no-ortweb": { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const ROUNDS = Number(args.rounds);
const results: Record<string, unknown> = { date: new Date().toISOString() };
const outFile = Deno.env.get("OUT") ? `${Deno.env.get("OUT")}/gpu_quant.json` : args.json;
const save = () => outFile && Deno.writeTextFileSync(outFile, JSON.stringify(results, null, 1));

/** Seeded uniform floats in [−scale, scale) (xorshift: fast for hundreds of millions). */
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
  const u = new Uint8Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  const w = new Uint32Array(u.buffer, 0, n >> 2);
  for (let i = 0; i < w.length; i++) {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    w[i] = s >>> 0;
  }
  return u;
}

type Variant = "float32" | "int8" | "int4";
const VARIANTS: Variant[] = ["float32", "int8", "int4"];
const BLOCK = 32;

/** Bytes a kernel reads for one layer's weight: Saturn's tables (codes + an f32 (scale, zero) pair per block). */
function weightBytes(v: Variant, K: number, N: number): number {
  if (v === "float32") return 4 * K * N;
  const bits = v === "int8" ? 8 : 4, blocks = Math.ceil(K / BLOCK);
  return N * blocks * ((BLOCK * bits) / 8 + 8);
}

/** L layers y_i = x · W_i, x [1, K], each W_i its own seeded weight. */
function gemvModel(K: number, N: number, L: number, v: Variant): Model {
  const nodes: Node[] = [], inits: Record<string, Tensor> = {};
  for (let i = 0; i < L; i++) {
    if (v === "float32") {
      nodes.push(node("MatMul", ["x", `w${i}`], [`y${i}`]));
      inits[`w${i}`] = new Tensor(DataType.FLOAT, [K, N], floats(K * N, i + 1, 1 / Math.sqrt(K)));
      continue;
    }
    const bits = v === "int8" ? 8 : 4, blocks = Math.ceil(K / BLOCK), blob = (BLOCK * bits) / 8;
    nodes.push(node("MatMulNBits", ["x", `b${i}`, `s${i}`], [`y${i}`], [
      attr("K", K),
      attr("N", N),
      attr("bits", bits),
      attr("block_size", BLOCK),
    ], "com.microsoft"));
    inits[`b${i}`] = new Tensor(DataType.UINT8, [N, blocks, blob], bytes(N * blocks * blob, i + 1));
    inits[`s${i}`] = new Tensor(DataType.FLOAT, [N, blocks], floats(N * blocks, i + 2, 0.01));
  }
  return graphModel(nodes, { x: [1, K] }, Array.from({ length: L }, (_, i) => `y${i}`), inits, {
    opset: 21,
    domains: [{ domain: "com.microsoft", version: 1 }],
  });
}

/** Summed kernel GPU ms of one profiled run. */
async function gpuMs(s: Session, inputs: ReadonlyMap<string, Value>): Promise<number> {
  await s.run(inputs);
  return (s.lastProfile ?? []).reduce((a, k) => a + k.ms, 0);
}

/** Wall ms of one call. */
async function wall(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Largest |a − b| over the largest |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i] - b[i])), m = Math.max(m, Math.abs(b[i]));
  return m ? d / m : d;
}

/** Cosine similarity (NaN where a value is not finite). */
function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
  return aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb);
}

// ---- GPU spans of every submit, for any WebGPU user in this process (ONNX Runtime Web too) ----
// ONNX Runtime Web 1.30's WebGPU provider is the native one compiled to wasm, whose kernel
// profiling does not reach JavaScript. So each `queue.submit` is bracketed with two empty compute
// passes writing timestamps (the device asked for with `timestamp-query`), and the GPU time of a
// run is the sum of its submits' spans (begin of the first pass to end of the last): kernels and
// the barriers between them, as the GPU executed them. Saturn is measured the same way beside
// its own per-kernel sums.
interface SpanState {
  device: GPUDevice;
  qs: GPUQuerySet;
  resolve: GPUBuffer;
  read: GPUBuffer;
  n: number;
}
const SPAN_CAP = 4096;
const spanStates = new Map<GPUQueue, SpanState>();
let spansOn = false;
const realRequestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, desc?: GPUDeviceDescriptor) {
  const has = this.features.has("timestamp-query");
  const feats = [...(desc?.requiredFeatures ?? [])];
  if (has && !feats.includes("timestamp-query")) feats.push("timestamp-query");
  const device = await realRequestDevice.call(this, { ...desc, requiredFeatures: feats });
  if (has) {
    spanStates.set(device.queue, {
      device,
      qs: device.createQuerySet({ type: "timestamp", count: SPAN_CAP }),
      resolve: device.createBuffer({
        size: 8 * SPAN_CAP,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      }),
      read: device.createBuffer({ size: 8 * SPAN_CAP, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      n: 0,
    });
  }
  return device;
};
const realSubmit = GPUQueue.prototype.submit;
GPUQueue.prototype.submit = function (this: GPUQueue, bufs: Iterable<GPUCommandBuffer>) {
  const st = spanStates.get(this);
  if (!spansOn || !st || st.n + 2 > SPAN_CAP) return realSubmit.call(this, [...bufs]);
  const mark = (at: "beginningOfPassWriteIndex" | "endOfPassWriteIndex") => {
    const e = st.device.createCommandEncoder();
    e.beginComputePass({ timestampWrites: { querySet: st.qs, [at]: st.n + (at === "endOfPassWriteIndex" ? 1 : 0) } })
      .end();
    return e.finish();
  };
  const pre = mark("beginningOfPassWriteIndex"), post = mark("endOfPassWriteIndex");
  st.n += 2;
  return realSubmit.call(this, [pre, ...bufs, post]);
};

/** Run `f` with spans recorded; returns the summed span ms of every device's submits during it. */
async function spanMs(f: () => Promise<unknown>): Promise<number> {
  for (const st of spanStates.values()) st.n = 0;
  spansOn = true;
  try {
    await f();
  } finally {
    spansOn = false;
  }
  let ms = 0;
  for (const st of spanStates.values()) {
    if (!st.n) continue;
    const e = st.device.createCommandEncoder();
    e.resolveQuerySet(st.qs, 0, st.n, st.resolve, 0);
    e.copyBufferToBuffer(st.resolve, 0, st.read, 0, 8 * st.n);
    realSubmit.call(st.device.queue, [e.finish()]);
    await st.read.mapAsync(GPUMapMode.READ, 0, 8 * st.n);
    const t = new BigUint64Array(st.read.getMappedRange(0, 8 * st.n).slice(0));
    st.read.unmap();
    for (let i = 0; i < st.n; i += 2) if (t[i + 1] > t[i]) ms += Number(t[i + 1] - t[i]) / 1e6;
    st.n = 0;
  }
  return ms;
}

// ---- ONNX Runtime Web ----
type OrtWeb = typeof import("onnxruntime-web/webgpu");
let ortweb: OrtWeb | undefined;
async function ortWeb(): Promise<OrtWeb> {
  if (ortweb) return ortweb;
  ortweb = await import("onnxruntime-web/webgpu");
  ortweb.env.logLevel = "error";
  return ortweb;
}

/** ONNX Runtime Web on `model`: wall median, GPU span ms per run (median), first output. */
async function timeOrtWebModel(
  model: Model,
  inputs: ReadonlyMap<string, Value>,
  rounds: number,
): Promise<{ wallMs: number; spanMs: number; first: Float32Array }> {
  const ort = await ortWeb();
  const session = await ort.InferenceSession.create(encodeModel(model).bytes, {
    executionProviders: ["webgpu"],
    logSeverityLevel: 3,
  });
  const feeds = ortFeeds(ort.Tensor, inputs);
  const out0 = model.graph.outputs[0].name;
  let first: Float32Array = new Float32Array();
  for (let i = 0; i < 3; i++) {
    const r = await session.run(feeds);
    first = (r[out0] as unknown as { data: Float32Array }).data;
  }
  const walls: number[] = [], spans: number[] = [];
  for (let i = 0; i < rounds; i++) {
    walls.push(await wall(() => session.run(feeds)));
    spans.push(await spanMs(() => session.run(feeds)));
  }
  await session.release();
  return {
    wallMs: median(walls),
    spanMs: median(spans),
    first,
  };
}

// ---- 1. GEMV ----
const shapes = args.shapes.split(",").filter(Boolean).map((s) => s.split("x").map(Number) as [number, number]);
const gemv: Record<string, unknown>[] = [];
results.gemv = gemv;
for (const [K, N] of shapes) {
  const L = args.layers ? Number(args.layers) : Math.max(2, Math.ceil(200e6 / weightBytes("int4", K, N)));
  const x = new Map<string, Value>([["x", new Tensor(DataType.FLOAT, [1, K], floats(K, 7))]]);
  const models = Object.fromEntries(VARIANTS.map((v) => [v, gemvModel(K, N, L, v)])) as Record<Variant, Model>;
  const row: Record<string, unknown> = { shape: `1×${K}·${K}×${N}`, layers: L };
  gemv.push(row);
  const sessions: Partial<Record<Variant, { s: Session; p: Session }>> = {};
  for (const v of VARIANTS) {
    sessions[v] = { s: await createSession(models[v]), p: await createSession(models[v], { profile: true }) };
    row.device ??= sessions[v]!.s.device;
  }
  const gpu: Record<string, number[]> = {}, walls: Record<string, number[]> = {}, spans: Record<string, number[]> = {};
  const firsts: Record<string, Float32Array> = {};
  for (let r = -3; r < ROUNDS; r++) {
    for (let j = 0; j < VARIANTS.length; j++) {
      const v = VARIANTS[(r + 3 + j) % VARIANTS.length];
      const { s, p } = sessions[v]!;
      const g = await gpuMs(p, x);
      const w = await wall(async () => {
        const o = await s.run(x);
        firsts[v] = o.get("y0")!.data as Float32Array;
      });
      const sp = await spanMs(() => s.run(x));
      if (r >= 0) (gpu[v] ??= []).push(g), (walls[v] ??= []).push(w), (spans[v] ??= []).push(sp);
    }
  }
  for (const v of VARIANTS) {
    const layerMs = median(gpu[v]) / L, wb = weightBytes(v, K, N);
    row[v] = {
      kernel: sessions[v]!.p.lastProfile?.[0]?.kernel,
      gpuUsPerLayer: +(1000 * layerMs).toFixed(2),
      weightMB: +(wb / 1e6).toFixed(3),
      GBps: +(wb / layerMs / 1e6).toFixed(0),
      spanUsPerLayer: +(1000 * median(spans[v]) / L).toFixed(2),
      wallMs: +median(walls[v]).toFixed(3),
    };
    sessions[v]!.s.destroy();
    sessions[v]!.p.destroy();
  }
  const f = row.float32 as { gpuUsPerLayer: number };
  for (const v of ["int8", "int4"] as const) {
    (row[v] as Record<string, number>).speedupOverF32 = +(f.gpuUsPerLayer /
      (row[v] as { gpuUsPerLayer: number }).gpuUsPerLayer).toFixed(2);
  }
  save();
  if (!args["no-ortweb"]) {
    for (const v of VARIANTS) {
      // float32 layers past 0.5 GB: ONNX Runtime Web (a 32-bit wasm heap) is not asked to load them
      if (weightBytes(v, K, N) * L > 0.5e9) continue;
      try {
        const o = await timeOrtWebModel(models[v], x, ROUNDS);
        const layerMs = o.spanMs / L;
        row[`ortweb_${v}`] = {
          spanUsPerLayer: +(1000 * layerMs).toFixed(2),
          // ONNX Runtime's own format streams 4-bit codes and one f32 scale per block (4.5 / 8.5 bits a weight)
          wallMs: +o.wallMs.toFixed(3),
          saturnVsOrtwebRelDiff: +relDiff(firsts[v], o.first).toExponential(2),
          saturnSpeedupBySpans: +(layerMs * 1000 / (row[v] as { spanUsPerLayer: number }).spanUsPerLayer).toFixed(2),
        };
      } catch (e) {
        row[`ortweb_${v}`] = { error: (e as Error).message.split("\n")[0].slice(0, 300) };
      }
      save();
    }
  }
  console.log(JSON.stringify(row));
}

// ---- 2. end to end ----

/** Every layer `optimize --quant` would rewrite, rewritten by its rules, without the accuracy search. */
function quantizeAll(model: Model, precision: "int8" | "int4"): { model: Model; layers: number; bytes: number } {
  const bits = precision === "int4" ? 4 : 8;
  const rules = QUANT_RULES.filter((r) => r.bits === bits && (r.symmetric || bits === 8))
    .concat(bits === 4 ? CONSTANT_RULES : []);
  const g = model.graph;
  const readers = new Map<string, number>();
  for (const n of g.nodes) for (const i of new Set(n.inputs)) readers.set(i, (readers.get(i) ?? 0) + 1);
  const inputs = new Set(g.inputs.map((i) => i.name)), outputs = new Set(g.outputs.map((o) => o.name));
  const used = new Set<string>([...g.initializers.keys(), ...g.inputs.map((i) => i.name)]);
  for (const n of g.nodes) for (const o of [...n.inputs, ...n.outputs, n.name]) used.add(o);
  const ctx: QuantContext = {
    block: BLOCK,
    opset: opsetVersion(model.opsetImports, "") ?? 1,
    constant: (name) => (inputs.has(name) ? undefined : g.initializers.get(name)),
    fresh(base) {
      let name = base;
      for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
      used.add(name);
      return name;
    },
  };
  const nodes: Node[] = [], gone = new Set<string>(), initializers = new Map(g.initializers);
  for (const n of g.nodes) {
    const rule = rules.find((r) => {
      const at = r.match(n, ctx);
      return at !== undefined && readers.get(n.inputs[at]) === 1 && !outputs.has(n.inputs[at]);
    });
    if (!rule) {
      nodes.push(n);
      continue;
    }
    const w = n.inputs[rule.match(n, ctx)!];
    const rw = rule.rewrite(n, ctx);
    nodes.push(...rw.nodes);
    gone.add(w);
    initializers.delete(w);
    for (const [k, v] of rw.initializers) initializers.set(k, v);
  }
  const graph: Graph = {
    ...g,
    nodes,
    initializers,
    initializerMeta: g.initializerMeta && new Map([...g.initializerMeta].filter(([k]) => !gone.has(k))),
    valueInfo: g.valueInfo.filter((v) => !gone.has(v.name)),
  };
  const opsetImports = model.opsetImports.some((o) => o.domain === "com.microsoft")
    ? model.opsetImports
    : [...model.opsetImports, { domain: "com.microsoft", version: 1 }];
  let b = 0;
  for (const t of initializers.values()) b += (t.data as Uint8Array).byteLength;
  return { model: { ...model, opsetImports, graph }, layers: gone.size, bytes: b };
}

const e2e: Record<string, unknown>[] = [];
results.endToEnd = e2e;
for (const file of args.gpt2.split(",").filter(Boolean)) {
  const name = file.split("/").pop()!.replace(/\.onnx$/, "");
  const row: Record<string, unknown> = { model: name };
  e2e.push(row);
  try {
    const f32 = loadOnnx(file);
    let fb = 0;
    for (const t of f32.graph.initializers.values()) fb += (t.data as Uint8Array).byteLength;
    const models: Record<string, Model> = { float32: f32 };
    row.float32 = { weightMB: +(fb / 1e6).toFixed(1) };
    for (const p of ["int8", "int4"] as const) {
      const q = quantizeAll(f32, p);
      models[p] = q.model;
      row[p] = { layers: q.layers, weightMB: +(q.bytes / 1e6).toFixed(1) };
    }
    const inputs = randomInputs(f32, { seed: 0, intHigh: 100 });
    const names = Object.keys(models);
    const ss: Record<string, { s: Session; p: Session }> = {};
    for (const n of names) {
      ss[n] = { s: await createSession(models[n]), p: await createSession(models[n], { profile: true }) };
    }
    const gpu: Record<string, number[]> = {},
      walls: Record<string, number[]> = {},
      spans: Record<string, number[]> = {};
    const outs: Record<string, Map<string, Tensor>> = {};
    for (let r = -3; r < ROUNDS; r++) {
      for (let j = 0; j < names.length; j++) {
        const n = names[(r + 3 + j) % names.length];
        const g = await gpuMs(ss[n].p, inputs);
        const w = await wall(async () => (outs[n] = await ss[n].s.run(inputs)));
        const sp = await spanMs(() => ss[n].s.run(inputs));
        if (r >= 0) (gpu[n] ??= []).push(g), (walls[n] ??= []).push(w), (spans[n] ??= []).push(sp);
      }
    }
    for (const n of names) {
      const byKernel = new Map<string, number>();
      for (const k of ss[n].p.lastProfile ?? []) {
        const key = k.kernel.replace(/\d+/g, "#");
        byKernel.set(key, (byKernel.get(key) ?? 0) + k.ms);
      }
      Object.assign(row[n] as object, {
        wallMs: +median(walls[n]).toFixed(3),
        gpuMs: +median(gpu[n]).toFixed(3),
        spanMs: +median(spans[n]).toFixed(3),
        kernels: ss[n].s.kernels,
        top: [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v.toFixed(3)}`),
        cosineVsF32: Math.min(
          ...[...outs.float32].map(([k, v]) => cosine(outs[n].get(k)!.data as Float32Array, v.data as Float32Array)),
        ),
      });
      ss[n].s.destroy();
      ss[n].p.destroy();
    }
    save();
    if (!args["no-ortweb"]) {
      try {
        const o = await timeOrtWebModel(models.int4, inputs, Math.min(ROUNDS, 10));
        row.ortweb_int4 = { wallMs: +o.wallMs.toFixed(3), spanMs: +o.spanMs.toFixed(3) };
      } catch (e) {
        row.ortweb_int4 = { error: (e as Error).message.split("\n")[0].slice(0, 300) };
      }
    }
  } catch (e) {
    row.error = (e as Error).message.slice(0, 300);
  }
  console.log(JSON.stringify(row));
  save();
}
save();
Deno.exit(0);
