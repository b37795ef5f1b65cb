/**
 * The ONNX backend tests on the WebGPU backend. Each test's model is planned with the shapes of
 * its test data; inputs that an op needs at plan time (a Reshape's shape, a Slice's starts…)
 * are specialized to the test's values. A test whose model uses an op, dtype or attribute the
 * backend lacks is unsupported, as is one whose outputs were all computed at plan time on the
 * CPU (it would test nothing on the GPU); never counted as passed.
 * @module
 */
import * as path from "node:path";
import { SaturnError } from "../errors.ts";
import { loadOnnx, readFileOrFail } from "../onnx/load.ts";
import type { Model } from "../ir/graph.ts";
import { findOp, isNondeterministic } from "../ir/ops/registry.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { decodeValue } from "../conformance/data.ts";
import { compareValues, type Tolerance } from "../conformance/compare.ts";
import { type ConformanceOptions, type ConformanceReport, findTests, type TestResult } from "../conformance/runner.ts";
import { findLowering } from "../codegen/lowering.ts";
import { unsupportedNodes } from "../codegen/plan.ts";
import { acquireDevice } from "./device.ts";
import { createSession } from "./session.ts";

function opOf(model: Model): string {
  const ns = model.graph.nodes;
  return ns.length === 1 ? (ns[0].domain ? `${ns[0].domain}.${ns[0].opType}` : ns[0].opType) : "";
}

function randomOp(model: Model): string | undefined {
  for (const n of model.graph.nodes) {
    const def = findOp(n.domain, n.opType);
    if (def && isNondeterministic(def, n)) return n.opType;
  }
  return undefined;
}

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

/** Run one test folder on the GPU. */
export async function runTestGpu(dir: string, tol: Tolerance = { rtol: 1e-3, atol: 1e-7 }): Promise<TestResult> {
  const name = `${path.basename(path.dirname(dir))}/${path.basename(dir)}`;
  const t0 = performance.now();
  const done = (status: TestResult["status"], op: string, reason?: string): TestResult => ({
    name,
    op,
    status,
    reason,
    ms: Math.round(performance.now() - t0),
  });
  let model: Model;
  try {
    model = loadOnnx(path.join(dir, "model.onnx"));
  } catch (e) {
    return done("failed", "", `load: ${(e as Error).message}`);
  }
  const op = opOf(model);
  const random = randomOp(model);
  if (random) return done("unsupported", op, `op ${random} is random: its outputs cannot be compared`);
  const g = model.graph;
  const feedable = g.inputs.filter((i) => !g.initializers.has(i.name));
  const sets = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && e.name.startsWith("test_data_set"))
    .map((e) => e.name).sort();
  const fixed = planTimeInputs(model);
  try {
    for (const set of sets) {
      const sdir = path.join(dir, set);
      const files = [...Deno.readDirSync(sdir)].map((e) => e.name);
      const count = (p: string) => files.filter((f) => f.startsWith(p) && f.endsWith(".pb")).length;
      const inputs = new Map<string, Value>();
      const nIn = count("input_");
      const targets = nIn <= feedable.length ? feedable : g.inputs;
      for (let k = 0; k < nIn; k++) {
        const info = targets[k];
        if (!info) throw new Error(`test data has input_${k} but the model has ${targets.length} inputs`);
        inputs.set(info.name, decodeValue(readFileOrFail(path.join(sdir, `input_${k}.pb`)), info.type));
      }
      const shapes: Record<string, number[]> = {};
      const specialize = new Map<string, Tensor>();
      const feeds = new Map<string, Value>();
      for (const [k, v] of inputs) {
        if (!(v instanceof Tensor)) return done("unsupported", op, `input '${k}' is not a tensor`);
        shapes[k] = [...v.dims];
        if (fixed.has(k)) specialize.set(k, v);
        else feeds.set(k, v);
      }
      const missing = unsupportedNodes(model, { inputShapes: shapes, specialize });
      if (missing.length) {
        const u = missing[0];
        return done("unsupported", op, `op ${u.op}: ${u.reason}`);
      }
      const session = await createSession(model, { inputShapes: shapes, specialize });
      try {
        if (session.plan.outputs.every((o) => o.constant)) {
          return done("unsupported", op, "every output was computed at plan time (no GPU kernel to test)");
        }
        const outs = await session.run(feeds);
        const nOut = count("output_");
        for (let k = 0; k < nOut; k++) {
          const info = g.outputs[k];
          const expected = decodeValue(readFileOrFail(path.join(sdir, `output_${k}.pb`)), info.type);
          const why = compareValues(outs.get(info.name), expected, tol);
          if (why) return done("failed", op, `${set} output '${info.name}': ${why}`);
        }
      } finally {
        session.destroy();
      }
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof SaturnError && e.code !== "OP_ERROR") return done("unsupported", op, msg);
    return done("failed", op, msg.split("\n")[0]);
  }
  return done("passed", op);
}

/**
 * Run every test folder under `dirs` on the WebGPU backend.
 * @example
 * ```ts ignore
 * const r = await runConformanceGpu(["../shared/onnx-tests/node"], { filter: /softmax/ });
 * console.log(r.passed, r.failed, r.unsupported);
 * ```
 */
export async function runConformanceGpu(
  dirs: readonly string[],
  opts: ConformanceOptions = {},
): Promise<ConformanceReport> {
  await acquireDevice();
  const all = findTests(dirs).filter((d) => !opts.filter || opts.filter.test(path.basename(d)));
  const tests: TestResult[] = [];
  for (let i = 0; i < all.length; i++) {
    const r = await runTestGpu(all[i], opts.tolerance);
    tests.push(r);
    opts.onResult?.(r, i + 1, all.length);
  }
  const byName = new Map(tests.map((t) => [t.name, t]));
  for (const t of tests) {
    if (t.op) continue;
    const base = t.name.replace(/_expanded.*$/, "");
    t.op = byName.get(base)?.op || (base !== t.name ? base.replace(/^.*\/test_/, "") : "(model)");
  }
  const count = (s: TestResult["status"]) => tests.filter((t) => t.status === s).length;
  return {
    passed: count("passed"),
    failed: count("failed"),
    unsupported: count("unsupported"),
    total: tests.length,
    tests,
  };
}
