/**
 * One generated graph through every Saturn stage, judged against ONNX Runtime (the oracle):
 * the reference interpreter on the loaded file, `optimize` then ONNX Runtime on the optimized file,
 * and the WebGPU backend. A graph ONNX Runtime refuses is discarded; a `SaturnError` whose code says
 * "not supported" is counted as unsupported; any other error, and any output outside tolerance, is
 * a finding of its stage.
 * @module
 */
import { join } from "node:path";
import type { Model } from "../ir/graph.ts";
import { fromNumbers, Tensor, toNumbers } from "../ir/tensor.ts";
import { DataType, isFloat } from "../ir/dtype.ts";
import { runModel } from "../ir/interpreter.ts";
import { SaturnError, type SaturnErrorCode } from "../errors.ts";
import { encodeModel } from "../onnx/encode.ts";
import { loadOnnxBytes } from "../onnx/load.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors, type Tolerance } from "../conformance/compare.ts";
import { optimize } from "../optimize/verified.ts";
import { createSession } from "../webgpu/session.ts";

/** The Saturn stages a graph goes through. */
export type Stage = "reference" | "optimize" | "webgpu";

/** Every stage, in the order they run. */
export const STAGES: readonly Stage[] = ["reference", "optimize", "webgpu"];

/** What one stage made of a graph. */
export type Outcome =
  | { kind: "ok" }
  /** a `SaturnError` saying Saturn does not support something in the graph */
  | { kind: "unsupported"; message: string }
  /** an output differs from ONNX Runtime's (or is missing) */
  | { kind: "mismatch"; message: string }
  /**
   * the output differs from ONNX Runtime's only where the reference interpreter computes NaN, and
   * the stage computes what the reference does: NaN handling that ONNX leaves open and ONNX Runtime's
   * kernels resolve otherwise than ONNX's numpy reference (ReduceMin/Max skip NaN there); or a
   * float comparison decided between values within rounding of each other (`withinRoundingOfDoubt`)
   */
  | { kind: "divergent"; message: string }
  /** any other `SaturnError` on a graph ONNX Runtime runs: Saturn refused a valid graph */
  | { kind: "refusal"; code: SaturnErrorCode; message: string }
  /** anything thrown that is not a `SaturnError`: an internal error */
  | { kind: "crash"; message: string };

/** Comparisons whose answer one rounding step can flip. */
const COMPARISONS = new Set(["Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal"]);
/** Ops whose answer on NaN ONNX leaves open (which index a NaN has among the values). */
const NAN_ORDER = new Set(["ArgMax", "ArgMin", "TopK"]);
/** Periodic functions: past |x| ≥ 512 one float32 ulp of x (≥ 6e-5) moves the result past atol. */
const PERIODIC = new Set(["Sin", "Cos", "Tan"]);
const PERIODIC_ILL = 512;

/**
 * Whether some float comparison in `model` decides, on these feeds, between values within
 * float32 rounding of each other (|a − b| ≤ 1e-6·max(|a|, |b|)): there a backend computing its
 * operands in float32, or in another order, may answer otherwise than the float64 reference and
 * ONNX Runtime, with every output before it within tolerance (Mean(x, x, x) > x). Likewise a
 * Sin/Cos/Tan of an argument of magnitude ≥ 512, where float32 rounding of the argument alone
 * (Pow computed in float32 or float64) moves the result past the tolerance. Such a mismatch is
 * counted as divergent, as NaN rules are, not as a bug. So is an ArgMax/ArgMin/TopK over values
 * with a NaN, whose place in the order ONNX leaves open (the reference follows numpy: the first
 * NaN wins; ONNX Runtime skips it).
 */
export function withinRoundingOfDoubt(model: Model, feeds: ReadonlyMap<string, Tensor>): boolean {
  const operands = model.graph.nodes.filter((n) => COMPARISONS.has(n.opType)).map((n) => n.inputs.slice(0, 2));
  const periodic = model.graph.nodes.filter((n) => PERIODIC.has(n.opType)).map((n) => n.inputs[0]);
  const ordered = model.graph.nodes.filter((n) => NAN_ORDER.has(n.opType)).map((n) => n.inputs[0]);
  if (!operands.length && !periodic.length && !ordered.length) return false;
  const names = [...new Set([...operands.flat(), ...periodic, ...ordered])];
  const probe: Model = { ...model, graph: { ...model.graph, outputs: names.map((name) => ({ name })) } };
  let values: ReadonlyMap<string, unknown>;
  try {
    values = runModel(probe, feeds);
  } catch {
    return false;
  }
  for (const o of ordered) {
    const t = values.get(o);
    if (t instanceof Tensor && isFloat(t.dtype) && toNumbers(t).some(Number.isNaN)) return true;
  }
  for (const p of periodic) {
    const t = values.get(p);
    if (t instanceof Tensor && isFloat(t.dtype) && toNumbers(t).some((v) => Math.abs(v) >= PERIODIC_ILL)) return true;
  }
  for (const [a, b] of operands) {
    const ta = values.get(a), tb = values.get(b);
    if (!(ta instanceof Tensor) || !(tb instanceof Tensor) || !isFloat(ta.dtype)) continue;
    const x = toNumbers(ta), y = toNumbers(tb);
    const n = Math.max(x.length, y.length);
    for (let i = 0; i < n; i++) {
      const u = x[x.length === 1 ? 0 : i % x.length], v = y[y.length === 1 ? 0 : i % y.length];
      if (Number.isFinite(u) && Number.isFinite(v) && Math.abs(u - v) <= 1e-6 * Math.max(Math.abs(u), Math.abs(v))) {
        return true;
      }
    }
  }
  return false;
}

/**
 * Whether an integer output of ONNX Runtime holds its type's largest or smallest value: where
 * integer arithmetic overflows (ReduceProd of 35 int32 factors), ONNX leaves the result open and
 * ONNX Runtime's kernels saturate while the reference and Saturn's kernels wrap; such a mismatch is
 * divergence, not a bug (a real int32 model does not count on overflow).
 */
export function saturatedByOnnxRuntime(want: ReadonlyMap<string, Tensor>): boolean {
  for (const t of want.values()) {
    if (t.dtype !== DataType.INT32 && t.dtype !== DataType.INT64) continue;
    const [lo, hi] = t.dtype === DataType.INT32 ? [-(2 ** 31), 2 ** 31 - 1] : [-(2 ** 63), 2 ** 63 - 1];
    if (toNumbers(t).some((v) => v === hi || v === lo)) return true;
  }
  return false;
}

/** A graph's result: discarded by ONNX Runtime, or one outcome per stage run. */
export type GraphResult = { discarded: string } | { discarded?: undefined; outcomes: Map<Stage, Outcome> };

/** `a` with its NaN elements (in float outputs) replaced by `e`'s; undefined when it has none. */
function nanFilled(a: Tensor, e: Tensor): Tensor | undefined {
  if (!isFloat(a.dtype) || a.dtype !== e.dtype || a.size !== e.size) return undefined;
  const x = toNumbers(a), y = toNumbers(e);
  let any = false;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) && !Number.isNaN(y[i])) [x[i], any] = [y[i], true];
  }
  return any ? fromNumbers(a.dtype, a.dims, x) : undefined;
}

/**
 * Whether a mismatch is ONNX Runtime's graph optimizer's, not Saturn's: ONNX Runtime with its
 * optimizer off (`plain`) answers otherwise than at level "all" (`want`, the oracle), and `got`
 * agrees with the unoptimized answer — ONNX Runtime disagrees with itself, and Saturn with the
 * optimized side only. Found by the fuzzer (seed 800, graph 358): onnxruntime-node 1.30.0 at
 * "extended"/"all" computes MatMul(Transpose(A), b) with a 1-D b as if the Transpose were not there.
 */
export function ortOptimizerChanges(
  got: ReadonlyMap<string, unknown>,
  want: ReadonlyMap<string, Tensor>,
  plain: ReadonlyMap<string, Tensor> | undefined,
): boolean {
  return !!plain && compareOutputs(plain, want) !== undefined && compareOutputs(got, plain) === undefined;
}

/** Whether `got` differs from `want` only where `got` holds NaN (and somewhere does). */
export function differsOnlyByNaN(got: ReadonlyMap<string, unknown>, want: ReadonlyMap<string, Tensor>): boolean {
  let any = false;
  for (const [name, t] of want) {
    const g = got.get(name);
    if (!(g instanceof Tensor)) return false;
    if (!compareTensors(g, t, FUZZ_TOL)) continue;
    const filled = nanFilled(g, t);
    if (!filled || compareTensors(filled, t, FUZZ_TOL)) return false;
    any = true;
  }
  return any;
}

/** Codes that mean "Saturn does not support this", which are not findings. */
const UNSUPPORTED_CODES: ReadonlySet<SaturnErrorCode> = new Set([
  "UNSUPPORTED_OP",
  "UNSUPPORTED_OPSET",
  "UNSUPPORTED_IR",
  "DIMENSION_TOO_LARGE",
  "NO_GPU",
]);

/** Tolerance of every comparison against ONNX Runtime: `checkEquivalent`'s, atol 1e-4, rtol 1e-3. */
export const FUZZ_TOL: Tolerance = { atol: 1e-4, rtol: 1e-3 };

/** How `runGraph` runs. */
export interface RunOptions {
  /** The stages to run (all). */
  stages?: readonly Stage[];
  /** A scratch folder for the model files ONNX Runtime reads. */
  dir: string;
  /** `optimize`'s time limit in ms (2,000). */
  optimizeMs?: number;
}

/** Classify something thrown by a stage. */
export function classify(e: unknown): Outcome {
  if (e instanceof SaturnError) {
    const message = `${e.code}: ${e.message.split("\n")[0]}`;
    return UNSUPPORTED_CODES.has(e.code)
      ? { kind: "unsupported", message }
      : { kind: "refusal", code: e.code, message };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const where = (err.stack ?? "").split("\n").find((l) => l.includes("at ")) ?? "";
  return { kind: "crash", message: `${err.name}: ${err.message.split("\n")[0]} ${where.trim()}`.trim() };
}

/** Undefined when every output `want` names matches in `got`, else the first difference. */
export function compareOutputs(
  got: ReadonlyMap<string, unknown>,
  want: ReadonlyMap<string, unknown>,
  tol: Tolerance = FUZZ_TOL,
): string | undefined {
  for (const [name, t] of want) {
    const g = got.get(name);
    if (!(t instanceof Tensor)) return `output '${name}' is not a tensor where expected`;
    if (!(g instanceof Tensor)) return `output '${name}' is missing`;
    const why = compareTensors(g, t, tol);
    if (why) return `output '${name}': ${why}`;
  }
  return undefined;
}

let fileCount = 0;

function writeModel(model: Model, dir: string): string {
  const file = join(dir, `m${fileCount++}.onnx`);
  Deno.writeFileSync(file, encodeModel(model).bytes);
  return file;
}

/**
 * Run `model` on `feeds` in ONNX Runtime and through each stage; see the module doc.
 * @param model the graph (as generated: not yet saved)
 * @param feeds a tensor for every graph input
 * @param options stages, scratch folder, optimize's time limit
 * @returns discarded (ONNX Runtime's reason), or each stage's outcome
 */
export async function runGraph(
  model: Model,
  feeds: ReadonlyMap<string, Tensor>,
  options: RunOptions,
): Promise<GraphResult> {
  const stages = options.stages ?? STAGES;
  let file: string, bytes: Uint8Array;
  try {
    bytes = encodeModel(model).bytes;
    file = join(options.dir, `m${fileCount++}.onnx`);
    Deno.writeFileSync(file, bytes);
  } catch (e) {
    return { outcomes: new Map(stages.map((s) => [s, classify(e)])) };
  }
  let want: Map<string, Tensor>;
  try {
    want = await runOrt(file, feeds);
  } catch (e) {
    Deno.removeSync(file);
    return { discarded: (e as Error).message.split("\n")[0] };
  }
  // ONNX Runtime without its graph optimizer, asked only on a mismatch (see `ortOptimizerChanges`)
  let plain: Map<string, Tensor> | null | undefined;
  const unoptimized = async () => {
    if (plain === undefined) {
      try {
        plain = await runOrt(file, feeds, { graphOptimizationLevel: "disabled" });
      } catch {
        plain = null;
      }
    }
    return plain ?? undefined;
  };
  try {
    return await judgeStages(bytes, feeds, want, unoptimized, options, stages);
  } finally {
    Deno.removeSync(file);
  }
}

/** Each stage's outcome against ONNX Runtime's `want` (the body of `runGraph`). */
async function judgeStages(
  bytes: Uint8Array,
  feeds: ReadonlyMap<string, Tensor>,
  want: Map<string, Tensor>,
  unoptimized: () => Promise<Map<string, Tensor> | undefined>,
  options: RunOptions,
  stages: readonly Stage[],
): Promise<GraphResult> {
  const outcomes = new Map<Stage, Outcome>();
  let loaded: Model;
  try {
    loaded = loadOnnxBytes(bytes, { name: "fuzz.onnx" });
  } catch (e) {
    for (const s of stages) outcomes.set(s, classify(e));
    return { outcomes };
  }
  // the reference's outputs, to tell a Saturn bug from a NaN rule ONNX Runtime reads otherwise
  let ref: ReadonlyMap<string, unknown> | undefined;
  try {
    ref = runModel(loaded, feeds);
  } catch {
    ref = undefined;
  }
  const nanRule = ref !== undefined && differsOnlyByNaN(ref, want);
  const overflow = saturatedByOnnxRuntime(want);
  let closeCall: boolean | undefined; // computed on the first mismatch only
  for (const stage of stages) {
    try {
      const got = stage === "reference" && ref ? ref : await STAGE_RUNNERS[stage](loaded, feeds, options);
      const why = compareOutputs(got, want);
      closeCall ??= why ? withinRoundingOfDoubt(loaded, feeds) : undefined;
      const ortOptimizer = !!why && ortOptimizerChanges(got, want, await unoptimized());
      const asRef = (nanRule && (stage === "reference" || compareOutputs(got, ref!) === undefined)) ||
        !!(why && (closeCall || overflow));
      outcomes.set(
        stage,
        !why
          ? { kind: "ok" }
          : ortOptimizer
          ? { kind: "divergent", message: `ONNX Runtime's graph optimizer changes the result: ${why}` }
          : asRef
          ? { kind: "divergent", message: why }
          : { kind: "mismatch", message: why },
      );
    } catch (e) {
      outcomes.set(stage, classify(e));
    }
  }
  return { outcomes };
}

type StageRunner = (
  model: Model,
  feeds: ReadonlyMap<string, Tensor>,
  options: RunOptions,
) => Promise<ReadonlyMap<string, unknown>>;

const STAGE_RUNNERS: Record<Stage, StageRunner> = {
  reference: (model, feeds) => Promise.resolve(runModel(model, feeds)),
  async optimize(model, feeds, options) {
    const { model: out } = await optimize(model, {
      timeLimitMs: options.optimizeMs ?? 2000,
      cacheFile: join(options.dir, "verdicts.json"),
      // the rewriting is under test, not the speed: the measured guard (1.5 s of timing per call)
      // only picks another extraction of the same verified rules, the clean-up rules' output or the input
      guard: false,
    });
    const file = writeModel(out, options.dir);
    // the optimized model may have dropped an input it no longer reads
    const names = new Set(out.graph.inputs.map((i) => i.name));
    const fed = new Map([...feeds].filter(([k]) => names.has(k)));
    try {
      return await runOrt(file, fed);
    } catch (e) {
      // ONNX Runtime refusing what optimize wrote is optimize's failure, not a user error
      if (e instanceof SaturnError) throw new Error(`ONNX Runtime refuses the optimized model: ${e.message}`);
      throw e;
    } finally {
      Deno.removeSync(file);
    }
  },
  async webgpu(model, feeds) {
    const session = await createSession(model);
    try {
      return await session.run(feeds);
    } finally {
      session.destroy();
    }
  },
};
