/**
 * Half-precision storage (`--f16`): the six shared models against onnxruntime-node within
 * atol 1e-2 / rtol 1e-2 — with real f16 buffers where the adapter has `shader-f16` (the H100),
 * and everywhere in the emulated form (f32 buffers, every store rounded to an f16 value), which
 * exercises the same source rewrite on llvmpipe. Also the rewrite itself on hand-written kernels,
 * and the clear refusal of `--f16` on an adapter without the feature.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, MODELS } from "./_helpers.ts";
import { runShader } from "./_models.ts";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors } from "../conformance/compare.ts";
import { planModel } from "../codegen/plan.ts";
import { type HalfMode, halfStorageKernel, type HalfStore } from "../codegen/f16.ts";
import type { KernelSpec } from "../codegen/kernel.ts";
import { createSession } from "../webgpu/session.ts";
import { buildProgram, moduleSource } from "../webgpu/compile.ts";
import { f16BitsToF32, f32ToF16Bits } from "../webgpu/runtime.ts";
import { runModel } from "../ir/interpreter.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import type { Model, ValueInfo } from "../ir/graph.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
const hasF16 = adapter?.features.has("shader-f16") ?? false;
if (ignore) console.warn("f16_test: no WebGPU adapter here; GPU tests skipped");
else if (!hasF16) console.warn("f16_test: the adapter lacks shader-f16; real f16 runs skipped (emulated ones run)");

const TOL = { atol: 1e-2, rtol: 1e-2 };
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

async function matchesOrt(file: string, f16: true | "emulated"): Promise<void> {
  const model = loadOnnx(file);
  const inputs = randomInputs(model, { seed: 0 });
  const session = await createSession(model, { f16 });
  try {
    const got = await session.run(inputs);
    const want = await runOrt(file, inputs);
    for (const [name, t] of want) {
      const why = compareTensors(got.get(name)!, t, TOL);
      assert(!why, `${path.basename(file)} (${f16 === true ? "f16" : "emulated f16"}) output '${name}': ${why}`);
    }
  } finally {
    session.destroy();
  }
}

for (const name of MODELS) {
  Deno.test({
    name: `webgpu --f16 (emulated) runs ${name} and matches onnxruntime-node within 1e-2`,
    ignore,
    fn: () => matchesOrt(modelPath(name), "emulated"),
  });
  Deno.test({
    name: `webgpu --f16 runs ${name} and matches onnxruntime-node within 1e-2`,
    ignore: ignore || !hasF16,
    fn: () => matchesOrt(modelPath(name), true),
  });
}

function half(values: string[], mode: HalfMode): Map<string, HalfStore> {
  return new Map(values.map((v) => [v, { mode, saturate: true }]));
}

function kernel(wgsl: string, values: string[]): KernelSpec {
  return {
    name: "k",
    nodes: [],
    wgsl,
    entryPoint: "main",
    bindings: values.map((value, i) => ({ value, access: i === values.length - 1 ? "read_write" : "read" })),
    dispatch: [1, 1, 1],
  };
}

Deno.test("f16 rewrite: loads widen, stores narrow and saturate, other bindings are left alone", () => {
  const src = `@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<i32>;
@group(0) @binding(2) var<storage, read> in2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
fn main() {
  let a = in0[u32(in1[0])] + in2[in1[1]].y;
  if (in0[1] == a) { out3[0] = a; }
  out3[in1[2]] += in0[in1[3]] * 2.0;
}`;
  const k = halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), half(["x", "w", "y"], "f16"));
  const w = k.wgsl;
  assert(w.startsWith("enable f16;\n"), w);
  assert(w.includes("in0: array<f16>;") && w.includes("in2: array<vec4<f16>>;") && w.includes("out3: array<f16>;"), w);
  assert(w.includes("in1: array<i32>;"), w);
  assert(w.includes("let a = f32(in0[u32(in1[0])]) + vec4<f32>(in2[in1[1]]).y;"), w);
  assert(w.includes("if (f32(in0[1]) == a) { out3[0] = h16rs(a); }"), w);
  assert(w.includes("out3[in1[2]] = h16rs(f32(out3[in1[2]]) + (f32(in0[in1[3]]) * 2.0));"), w);
  assert(w.includes("fn h16rs(v: f32) -> f16 {"), w);
  const e = halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), half(["y"], "emulated")).wgsl;
  assert(e.includes("out3: array<f32>;") && !e.includes("enable f16"), e);
  assert(e.includes("out3[0] = h16es(a);") && e.includes("fn h16es(v: f32) -> f32 {"), e);
  assertEquals(halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), new Map()).wgsl, src);
});

/** One kernel storing `x` through the store helper of `how` (emulated, so it runs on any adapter). */
async function storeThrough(x: number[], saturate: boolean, mode: HalfMode = "emulated"): Promise<number[]> {
  const requiredFeatures: GPUFeatureName[] = mode === "f16" ? ["shader-f16"] : [];
  const device = await (await navigator.gpu.requestAdapter())!.requestDevice({ requiredFeatures });
  const src = `@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out1: array<f32>;
@compute @workgroup_size(1) fn main() {
  for (var i = 0u; i < ${x.length}u; i = i + 1u) { out1[i] = in0[i]; }
}`;
  const k = halfStorageKernel(kernel(src, ["x", "y"]), new Map([["y", { mode, saturate }]]));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const a = device.createBuffer({ size: 4 * x.length, usage });
  const outBytes = mode === "f16" ? Math.ceil(x.length / 2) * 4 : 4 * x.length;
  const b = device.createBuffer({ size: outBytes, usage });
  device.queue.writeBuffer(a, 0, new Float32Array(x));
  const raw = await runShader(device, k.wgsl, [a, b], 1, outBytes);
  const out = mode === "f16" ? [...new Float16Array(raw, 0, x.length)] : [...new Float32Array(raw)];
  device.destroy();
  return out;
}

for (const mode of ["emulated", "f16"] as const) {
  Deno.test({
    name:
      `f16 stores (${mode}): round to nearest, NaN stays NaN, overflow saturates (--f16) or becomes infinity (float16)`,
    ignore: ignore || (mode === "f16" && !hasF16),
    fn: async () => {
      const x = [1 / 3, -2.5, 65504, 65519, 65520, -1e6, Infinity, -Infinity, NaN, 1e-8, 0];
      const f16 = (v: number) => new Float16Array([v])[0];
      const ieee = await storeThrough(x, false, mode);
      assertEquals(ieee.map(String), x.map((v) => String(f16(v))));
      const sat = await storeThrough(x, true, mode);
      const want = x.map((v) => (Number.isFinite(v) ? f16(Math.max(-65504, Math.min(65504, v))) : v));
      assertEquals(sat.map(String), want.map(String));
    },
  });
}

Deno.test("f16 plan: float values are half, index tables and integer values are not", () => {
  const model = loadOnnx(modelPath("bert_tiny"));
  const plan = planModel(model, { f16: true });
  const temporaries = new Set(plan.kernels.flatMap((k) => (k.temporaries ?? []).map((t) => t.name)));
  assert(temporaries.size > 0, "expected split-K partial sums on a hardware target");
  let half = 0;
  for (const v of plan.values.values()) {
    if (temporaries.has(v.name)) assertEquals(v.elemType, "f32", v.name);
    else if (v.dtype === 1) {
      assertEquals(v.elemType, "f16", v.name);
      half++;
    } else assert(v.elemType !== "f16" && !v.half, v.name);
  }
  assert(half > 10);
  const f32 = planModel(model);
  // a float weight takes half the bytes
  const [name, bytes] = [...f32.weights].find(([n]) => f32.values.get(n)?.dtype === 1)!;
  assertEquals(plan.weights.get(name)!.byteLength, Math.max(4, Math.ceil(bytes.byteLength / 4 / 2) * 4));
  for (const k of plan.kernels) if (k.wgsl.includes("array<f16>")) assert(k.wgsl.startsWith("enable f16;"), k.name);
});

Deno.test({
  name: "run --f16 on an adapter without shader-f16 is one line, exit 2",
  ignore: ignore || hasF16,
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "run", modelPath("squeezenet1_1"), "--f16"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assertEquals(out.code, 2, err);
    assertEquals(err.split("\n").length, 1, err);
    assert(/shader-f16/.test(err), err);
  },
});

/** `model` with every float32 tensor (initializers, inputs, outputs, declared types) made float16. */
function toFloat16Model(model: Model): Model {
  const ty = (v: ValueInfo): ValueInfo =>
    v.type?.kind === "tensor" && v.type.dtype === DataType.FLOAT
      ? { ...v, type: { ...v.type, dtype: DataType.FLOAT16 } }
      : v;
  const g = model.graph;
  const initializers = new Map<string, Tensor>();
  for (const [k, t] of g.initializers) {
    initializers.set(k, t.dtype === DataType.FLOAT ? fromNumbers(DataType.FLOAT16, t.dims, toNumbers(t)) : t);
  }
  return {
    ...model,
    graph: { ...g, initializers, inputs: g.inputs.map(ty), outputs: g.outputs.map(ty), valueInfo: g.valueInfo.map(ty) },
  };
}

Deno.test({
  name: "a float16 model (squeezenet1_1 in float16) runs on WebGPU and matches the reference interpreter",
  ignore,
  fn: async () => {
    const model = toFloat16Model(loadOnnx(modelPath("squeezenet1_1")));
    const inputs = randomInputs(model, { seed: 0 });
    const want = runModel(model, inputs);
    const session = await createSession(model);
    try {
      const got = await session.run(inputs);
      assert(session.plan.inputs.every((v) => v.half !== undefined), "float16 inputs are held at half precision");
      for (const [name, t] of want) {
        const g = got.get(name)!;
        assertEquals(g.dtype, DataType.FLOAT16);
        const why = compareTensors(g, t as Tensor, TOL);
        assert(!why, `output '${name}': ${why}`);
      }
    } finally {
      session.destroy();
    }
  },
});

Deno.test({
  name: "compile: the standalone module of a float16 model gives the session's outputs (float16 bits)",
  ignore,
  fn: async () => {
    const model = toFloat16Model(loadOnnx(modelPath("squeezenet1_1")));
    const inputs = randomInputs(model, { seed: 1 });
    const dir = Deno.makeTempDirSync({ prefix: "saturn_f16_compile_" });
    // the same plan on both sides (kernels for a software adapter compile fast on llvmpipe)
    const target = { software: true };
    const session = await createSession(model, { target });
    try {
      const { program, weights } = buildProgram(model, { target });
      Deno.writeFileSync(path.join(dir, "m.weights.bin"), weights);
      Deno.writeTextFileSync(path.join(dir, "m.js"), moduleSource(program, "./m.weights.bin", "m"));
      const mod = await import(pathToFileURL(path.join(dir, "m.js")).href);
      const m = await mod.load();
      const feeds: Record<string, { data: unknown; dims: number[] }> = {};
      for (const [k, v] of inputs) feeds[k] = { data: (v as Tensor).data, dims: [...(v as Tensor).dims] };
      const got = await m.run(feeds);
      const want = await session.run(inputs);
      m.destroy();
      for (const [name, t] of want) {
        assert(got[name].data instanceof Uint16Array, "float16 outputs come back as their bits");
        assertEquals([...got[name].data], [...(t.data as Uint16Array)], `output '${name}'`);
      }
    } finally {
      session.destroy();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("the runtime's f16 bit conversions agree with Float16Array on every f16 and on f32 edge cases", () => {
  const h = new Float16Array(1), hb = new Uint16Array(h.buffer);
  for (let bits = 0; bits < 65536; bits++) {
    hb[0] = bits;
    const want = h[0], got = f16BitsToF32(bits);
    assert(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `bits ${bits}: ${got} vs ${want}`);
  }
  const edge = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e9, -1e9, Infinity, -Infinity, 6e-8, 2.9e-8, 3e-8, 5.96e-8];
  for (let i = 0; i < 2000; i++) edge.push((Math.sin(i) * 10) ** 5 / 7, 2 ** -14 * (1 + i / 4096), 2 ** -24 * (i / 3));
  for (const v of edge) {
    h[0] = v;
    assertEquals(f32ToF16Bits(v), hb[0], `${v}`);
  }
  assert(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
});
