/**
 * The ONNX backend tests on the WebGPU backend. Each test's model is planned with the shapes of
 * its test data; inputs that an op needs at plan time (a Reshape's shape, a Slice's starts…)
 * are specialized to the test's values. A test whose model uses an op, dtype or attribute the
 * backend lacks is unsupported, as is one whose outputs were all computed at plan time on the
 * CPU (it would test nothing on the GPU); never counted as passed.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import type { Tolerance } from "../conformance/compare.ts";
import {
  type ConformanceBackend,
  type ConformanceOptions,
  type ConformanceReport,
  runTestOn,
  selectTests,
  summarize,
  type TestResult,
} from "../conformance/runner.ts";
import { findLowering } from "../codegen/lowering.ts";
import { unsupportedNodes } from "../codegen/plan.ts";
import { acquireDevice } from "./device.ts";
import { createSession } from "./session.ts";

/** Inputs that some node needs at plan time (by its lowering's `constInputs`). */
function planTimeInputs(model: Model): Set<string> {
  const feeds = new Set(model.graph.inputs.map((i) => i.name));
  const out = new Set<string>();
  for (const n of model.graph.nodes) {
    const l = findLowering(n.domain, n.opType);
    for (const i of l?.constInputs ?? []) if (feeds.has(n.inputs[i])) out.add(n.inputs[i]);
  }
  return out;
}

/** The WebGPU backend as a conformance backend: one session per data set, planned for its shapes. */
const GPU: ConformanceBackend<Promise<Map<string, Value | undefined> | { unsupported: string }>> = {
  unsupported: () => undefined, // known only once the data set's shapes are (below)
  async run(model, data) {
    const fixed = planTimeInputs(model);
    const shapes: Record<string, number[]> = {};
    const specialize = new Map<string, Tensor>();
    const feeds = new Map<string, Value>();
    for (const [k, v] of data.inputs) {
      if (!(v instanceof Tensor)) return { unsupported: `input '${k}' is not a tensor` };
      shapes[k] = [...v.dims];
      if (fixed.has(k)) specialize.set(k, v);
      else feeds.set(k, v);
    }
    const missing = unsupportedNodes(model, { inputShapes: shapes, specialize });
    if (missing.length) return { unsupported: `op ${missing[0].op}: ${missing[0].reason}` };
    const session = await createSession(model, { inputShapes: shapes, specialize });
    try {
      if (session.plan.outputs.every((o) => o.constant)) {
        return { unsupported: "every output was computed at plan time (no GPU kernel to test)" };
      }
      return await session.run(feeds);
    } finally {
      session.destroy();
    }
  },
  isUnsupported: (e) => e instanceof SaturnError && e.code !== "OP_ERROR",
};

/** Run one test folder on the GPU. */
export function runTestGpu(dir: string, tol: Tolerance = { rtol: 1e-3, atol: 1e-7 }): Promise<TestResult> {
  return runTestOn(dir, GPU, tol);
}

/**
 * Run every test folder under `dirs` on the WebGPU backend (test folders as `runConformance`
 * takes them). A test whose outputs were all computed at plan time is unsupported, never passed.
 * @param dirs folders to search, two levels deep
 * @param opts a name filter, a progress callback, the tolerance
 * @returns totals and one result per test
 * @throws {SaturnError} `NO_GPU` without an adapter
 * @example
 * ```ts
 * import { type Model, NO_GPU, runConformanceGpu, SaturnError, saveOnnx } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     outputs: [{ name: "y", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     nodes: [{ name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const suite = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${suite}/test_relu/test_data_set_0`, { recursive: true });
 * saveOnnx(model, `${suite}/test_relu/model.onnx`);
 * // a TensorProto: dims [n] (field 1), data_type FLOAT (field 2), raw_data (field 9)
 * const pb = (xs: number[]) =>
 *   new Uint8Array([8, xs.length, 16, 1, 74, 4 * xs.length, ...new Uint8Array(new Float32Array(xs).buffer)]);
 * Deno.writeFileSync(`${suite}/test_relu/test_data_set_0/input_0.pb`, pb([-1, 0, 2]));
 * Deno.writeFileSync(`${suite}/test_relu/test_data_set_0/output_0.pb`, pb([0, 0, 2]));
 * if (navigator.gpu && await navigator.gpu.requestAdapter()) {
 *   const report = await runConformanceGpu([suite]);
 *   if (report.passed !== 1) throw new Error(JSON.stringify(report.tests));
 * } else {
 *   const e = await runConformanceGpu([suite]).catch((e) => e);
 *   if (!(e instanceof SaturnError) || e.code !== NO_GPU) throw new Error("no adapter: a NO_GPU error");
 * }
 * Deno.removeSync(suite, { recursive: true });
 * ```
 */
export async function runConformanceGpu(
  dirs: readonly string[],
  opts: ConformanceOptions = {},
): Promise<ConformanceReport> {
  await acquireDevice();
  const all = selectTests(dirs, opts);
  const tests: TestResult[] = [];
  for (let i = 0; i < all.length; i++) {
    const r = await runTestGpu(all[i], opts.tolerance);
    tests.push(r);
    opts.onResult?.(r, i + 1, all.length);
  }
  return summarize(tests);
}
