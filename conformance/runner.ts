/**
 * The ONNX backend conformance runner: runs test folders (model.onnx + test_data_set_N) on a
 * backend and classifies each test as passed, failed or unsupported. A test whose model uses
 * an op the backend lacks, or a random op, is unsupported — never counted as a pass.
 * @module
 */
import * as path from "node:path";
import { SaturnError } from "../errors.ts";
import { loadOnnx, readFileOrFail } from "../onnx/load.ts";
import { findUnsupported, runModel } from "../ir/interpreter.ts";
import { findOp, isNondeterministic } from "../ir/ops/registry.ts";
import type { Graph, Model } from "../ir/graph.ts";
import type { Value } from "../ir/values.ts";
import { decodeValue } from "./data.ts";
import { subgraphsOf } from "../ir/functions.ts";
import { compareValues, type Tolerance } from "./compare.ts";

/** Outcome of one test folder. */
export interface TestResult {
  /** e.g. `node/test_abs` */
  name: string;
  /** The op the test is about (for `*_expanded` tests, the op of the test it expands). */
  op: string;
  /** Passed: every output of every data set matched; unsupported: the backend cannot run it (never a pass). */
  status: "passed" | "failed" | "unsupported";
  /** Why it failed or is unsupported. */
  reason?: string;
  /** Wall time of the test, load included, in milliseconds. */
  ms: number;
}

/** Totals and per-test results. */
export interface ConformanceReport {
  /** Tests whose every output matched. */
  passed: number;
  /** Tests that ran and differed, threw, or failed to load. */
  failed: number;
  /** Tests the backend cannot run (an op, dtype or random op it lacks). */
  unsupported: number;
  /** `passed + failed + unsupported`. */
  total: number;
  /** One result per test folder, in the order they ran. */
  tests: TestResult[];
}

/** Options for `runConformance`. */
export interface ConformanceOptions {
  /** Only tests whose folder name matches. */
  filter?: RegExp;
  /** Called after each test (progress). */
  onResult?: (r: TestResult, done: number, total: number) => void;
  /** Float tolerance of output comparisons (default rtol 1e-3, atol 1e-7, ONNX's own). */
  tolerance?: Tolerance;
}

/** Every test folder under `dirs` (a test folder, a suite of them, or a folder of suites). */
export function findTests(dirs: readonly string[]): string[] {
  const out: string[] = [];
  const visit = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      throw new SaturnError("FILE_NOT_FOUND", `${dir}: no such folder`, dir);
    }
    if (entries.some((e) => e.name === "model.onnx" && e.isFile)) {
      out.push(dir);
      return;
    }
    if (depth >= 2) return;
    for (const e of entries.filter((e) => e.isDirectory).sort((a, b) => a.name < b.name ? -1 : 1)) {
      visit(path.join(dir, e.name), depth + 1);
    }
  };
  for (const d of dirs) visit(d, 0);
  return out;
}

/** The first node (subgraphs included) whose op is random (its outputs cannot be compared). */
export function randomNode(g: Graph): string | undefined {
  for (const n of g.nodes) {
    const def = findOp(n.domain, n.opType);
    if (def && isNondeterministic(def, n)) return n.domain ? `${n.domain}.${n.opType}` : n.opType;
    for (const sg of subgraphsOf(n)) {
      const r = randomNode(sg);
      if (r) return r;
    }
  }
  return undefined;
}

/** The op a one-node test is about ("" for bigger models: named after the tests they expand). */
export function primaryOp(model: Model): string {
  const ns = model.graph.nodes;
  if (ns.length === 1) return ns[0].domain ? `${ns[0].domain}.${ns[0].opType}` : ns[0].opType;
  return "";
}

/** One test_data_set: its inputs by model input name, and the expected outputs in order. */
export interface DataSet {
  set: string;
  inputs: Map<string, Value>;
  outputs: { name: string; expected: Value }[];
}

/** The data sets of a test folder, decoded against the model's inputs and outputs. */
export function dataSets(dir: string, model: Model): DataSet[] {
  const sets = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && e.name.startsWith("test_data_set"))
    .map((e) => e.name).sort();
  const g = model.graph;
  const feedable = g.inputs.filter((i) => !g.initializers.has(i.name));
  return sets.map((set) => {
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
    const outputs = Array.from({ length: count("output_") }, (_, k) => {
      const info = g.outputs[k];
      return { name: info.name, expected: decodeValue(readFileOrFail(path.join(sdir, `output_${k}.pb`)), info.type) };
    });
    return { set, inputs, outputs };
  });
}

/**
 * What a backend does with a test: say why it cannot run the model (unsupported) before any
 * data is read, and run one data set.
 */
export interface ConformanceBackend<R> {
  /** a reason the model is unsupported here, or undefined */
  unsupported(model: Model): string | undefined;
  /** outputs by name, or `{ unsupported: reason }` for a data set this backend cannot run */
  run(model: Model, data: DataSet): R;
  /** errors that mean "unsupported" rather than "failed" */
  isUnsupported(e: unknown): boolean;
}

type Outputs = Map<string, Value | undefined> | { unsupported: string };

/** Run one test folder on a backend (sync or async, as the backend's `run` is). */
function testFolder(
  dir: string,
  tol: Tolerance,
  backend: ConformanceBackend<Outputs | Promise<Outputs>>,
): TestResult | Promise<TestResult> {
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
  const op = primaryOp(model);
  const why = backend.unsupported(model);
  if (why) return done("unsupported", op, why);
  const random = randomNode(model.graph);
  if (random) return done("unsupported", op, `op ${random} is random: its outputs cannot be compared`);
  const fail = (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    return backend.isUnsupported(e) ? done("unsupported", op, msg) : done("failed", op, msg.split("\n")[0]);
  };
  const check = (data: DataSet, outs: Outputs): TestResult | undefined => {
    if (!(outs instanceof Map)) return done("unsupported", op, outs.unsupported);
    for (const o of data.outputs) {
      const why = compareValues(outs.get(o.name), o.expected, tol);
      if (why) return done("failed", op, `${data.set} output '${o.name}': ${why}`);
    }
    return undefined;
  };
  let sets: DataSet[];
  try {
    sets = dataSets(dir, model);
  } catch (e) {
    return fail(e);
  }
  // sync while the backend answers synchronously, async from its first promise on
  const step = (i: number): TestResult | Promise<TestResult> => {
    for (; i < sets.length; i++) {
      let outs: Outputs | Promise<Outputs>;
      try {
        outs = backend.run(model, sets[i]);
      } catch (e) {
        return fail(e);
      }
      if (outs instanceof Promise) {
        const k = i;
        return outs.then((o) => check(sets[k], o) ?? step(k + 1), fail);
      }
      const r = check(sets[i], outs);
      if (r) return r;
    }
    return done("passed", op);
  };
  return step(0);
}

/** The reference interpreter as a conformance backend. */
const REFERENCE: ConformanceBackend<Outputs> = {
  unsupported(model) {
    const missing = findUnsupported(model);
    return missing ? `op ${missing.domain ? missing.domain + "." : ""}${missing.opType} is not implemented` : undefined;
  },
  run: (model, data) => runModel(model, data.inputs),
  isUnsupported: (e) => e instanceof SaturnError && e.code === "UNSUPPORTED_OP",
};

/** Run one test folder on the reference interpreter. */
export function runTest(dir: string, tol: Tolerance = { rtol: 1e-3, atol: 1e-7 }): TestResult {
  return testFolder(dir, tol, REFERENCE) as TestResult;
}

/** Run one test folder on a backend whose `run` may be async. */
export function runTestOn(
  dir: string,
  backend: ConformanceBackend<Outputs | Promise<Outputs>>,
  tol: Tolerance = { rtol: 1e-3, atol: 1e-7 },
): Promise<TestResult> {
  return Promise.resolve(testFolder(dir, tol, backend));
}

/** Totals of per-test results; expanded tests take the op of the test they expand. */
export function summarize(tests: TestResult[]): ConformanceReport {
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

/** The test folders under `dirs` that the options' filter keeps. */
export function selectTests(dirs: readonly string[], opts: ConformanceOptions = {}): string[] {
  return findTests(dirs).filter((d) => !opts.filter || opts.filter.test(path.basename(d)));
}

/**
 * Run every test folder under `dirs` on the reference interpreter. A test folder holds
 * `model.onnx` and `test_data_set_N/{input,output}_K.pb`; `dirs` may name test folders,
 * suites of them (`node/`), or folders of suites.
 * @param dirs folders to search, two levels deep
 * @param opts a name filter, a progress callback, the tolerance
 * @returns totals and one result per test
 * @throws {SaturnError} `FILE_NOT_FOUND` for a folder that does not exist
 * @example
 * ```ts
 * import { type Model, runConformance, saveOnnx } from "../mod.ts";
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
 * const report = runConformance([suite]);
 * if (report.passed !== 1 || report.tests[0].op !== "Relu") throw new Error(JSON.stringify(report.tests));
 * Deno.writeFileSync(`${suite}/test_relu/test_data_set_0/output_0.pb`, pb([0, 0, 3]));
 * if (runConformance([suite]).failed !== 1) throw new Error("a wrong expected output fails");
 * Deno.removeSync(suite, { recursive: true });
 * ```
 */
export function runConformance(dirs: readonly string[], opts: ConformanceOptions = {}): ConformanceReport {
  const all = selectTests(dirs, opts);
  const tests: TestResult[] = [];
  all.forEach((dir, i) => {
    const r = runTest(dir, opts.tolerance);
    tests.push(r);
    opts.onResult?.(r, i + 1, all.length);
  });
  return summarize(tests);
}

/** Per-op totals: op → [passed, failed, unsupported]. */
export function perOp(report: ConformanceReport): Map<string, [number, number, number]> {
  const m = new Map<string, [number, number, number]>();
  for (const t of report.tests) {
    const row = m.get(t.op) ?? [0, 0, 0];
    row[t.status === "passed" ? 0 : t.status === "failed" ? 1 : 2]++;
    m.set(t.op, row);
  }
  return new Map([...m].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}
