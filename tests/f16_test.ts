/**
 * Half-precision storage (`--f16`): the six shared models against onnxruntime-node within
 * atol 1e-2 / rtol 1e-2 — with real f16 buffers where the adapter has `shader-f16` (the H100),
 * and everywhere in the emulated form (f32 buffers, every store rounded to an f16 value), which
 * exercises the same source rewrite on llvmpipe. Also the rewrite itself on hand-written kernels,
 * and the clear refusal of `--f16` on an adapter without the feature.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, MODELS } from "./_helpers.ts";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors } from "../conformance/compare.ts";
import { planModel } from "../codegen/plan.ts";
import { halfStorageKernel } from "../codegen/f16.ts";
import type { KernelSpec } from "../codegen/kernel.ts";
import { createSession } from "../webgpu/session.ts";

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
  const k = halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), new Set(["x", "w", "y"]), "f16");
  const w = k.wgsl;
  assert(w.startsWith("enable f16;\n"), w);
  assert(w.includes("in0: array<f16>;") && w.includes("in2: array<vec4<f16>>;") && w.includes("out3: array<f16>;"), w);
  assert(w.includes("in1: array<i32>;"), w);
  assert(w.includes("let a = f32(in0[u32(in1[0])]) + vec4<f32>(in2[in1[1]]).y;"), w);
  assert(w.includes("if (f32(in0[1]) == a) { out3[0] = f16(clamp((a), -65504.0, 65504.0)); }"), w);
  assert(
    w.includes("out3[in1[2]] = f16(clamp(f32(out3[in1[2]]) + (f32(in0[in1[3]]) * 2.0), -65504.0, 65504.0));"),
    w,
  );
  const e = halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), new Set(["y"]), "emulated").wgsl;
  assert(e.includes("out3: array<f32>;") && !e.includes("enable f16"), e);
  assert(e.includes("out3[0] = f16r(clamp((a), -65504.0, 65504.0));"), e);
  assertEquals(halfStorageKernel(kernel(src, ["x", "idx", "w", "y"]), new Set(["idx"]), "f16").wgsl, src);
});

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
