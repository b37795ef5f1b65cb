/**
 * Whole-model equivalence: run an original and a rewritten model on the same inputs — given
 * ones, and seeded random ones for the rest — and compare every output at the tolerance of its
 * element type. ONNX Runtime runs each model where it can; a model it cannot load (an op it
 * lacks) runs on the reference interpreter.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { dtypeName } from "../ir/dtype.ts";
import type { Model } from "../ir/graph.ts";
import { runModel } from "../ir/interpreter.ts";
import { encodeModel } from "../onnx/encode.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { compareTensors, type Tolerance, toleranceFor } from "../conformance/compare.ts";
import { checkDimNames, type DimSizes } from "./input_dims.ts";
import { defaultInputs, explainFailure, randomInputs } from "./inputs.ts";
import { OrtRunError, runOrt } from "./ort.ts";

/** One output that differs. */
export interface Mismatch {
  /** The original model's output name; "" when the whole model differs (an input gone, a failed run). */
  output: string;
  /** The seed of the inputs on which it differs. */
  seed: number;
  /** How it differs (first differing element, or a missing output). */
  reason: string;
}

/** Result of `checkEquivalent`. */
export interface CheckResult {
  /** Every output that differs, per seed; empty when the models agree on every seed. */
  mismatches: Mismatch[];
  /** Which executor ran each side. */
  executors: { original: "ort" | "ref"; optimized: "ort" | "ref" };
  /** The seeds of the inputs tried (one when every input was given). */
  seeds: number[];
  /** Which inputs were given, which drawn at random, and which inputs with a default were fed. */
  inputs: { given: string[]; drawn: string[]; defaultsFed: string[] };
  /** The tolerance each output was judged at, by element type name ("float32", "float16"). */
  tolerances: Record<string, Tolerance>;
}

/** Options for `checkEquivalent`. */
export interface CheckOptions {
  /** Seeds of the random inputs (default [0, 1]). */
  seeds?: number[];
  /** The least tolerance (default float32's); each output is judged at its element type's, never tighter. */
  tolerance?: Tolerance;
  /** Sizes of symbolic input dims, by name or `input:axis` (unlisted: 1). */
  dims?: DimSizes;
  /** Values for some or all inputs; the others are drawn at random. */
  inputs?: ReadonlyMap<string, Value>;
}

async function execute(
  file: string,
  model: Model,
  inputs: Map<string, Value>,
): Promise<[Map<string, Value | undefined>, "ort" | "ref"]> {
  try {
    return [await runOrt(file, inputs), "ort"];
  } catch (e) {
    if (!(e instanceof SaturnError) || e instanceof OrtRunError) throw e;
    return [runModel(model, inputs), "ref"];
  }
}

/**
 * Run a model with values fed for some of its inputs that have defaults. ONNX Runtime's
 * JavaScript API feeds only inputs without an initializer (a value fed for one with a default
 * is dropped), so the model runs from bytes in memory with those initializers removed; where
 * that cannot be (too large to inline, or ONNX Runtime cannot load it), the reference
 * interpreter runs it, which honours fed values.
 */
async function executeFed(
  file: string,
  model: Model,
  inputs: Map<string, Value>,
  fed: readonly string[],
): Promise<[Map<string, Value | undefined>, "ort" | "ref"]> {
  const drop = fed.filter((n) => model.graph.initializers.has(n));
  if (!drop.length) return execute(file, model, inputs);
  const initializers = new Map([...model.graph.initializers].filter(([n]) => !drop.includes(n)));
  const variant: Model = { ...model, graph: { ...model.graph, initializers } };
  let bytes: Uint8Array | undefined;
  try {
    const enc = encodeModel(variant);
    if (!enc.external) bytes = enc.bytes;
  } catch (e) {
    if (!(e instanceof SaturnError)) throw e;
  }
  if (bytes) {
    try {
      return [await runOrt(bytes, inputs, { name: file }), "ort"];
    } catch (e) {
      if (!(e instanceof SaturnError) || e instanceof OrtRunError) throw e;
    }
  }
  return [runModel(model, inputs), "ref"];
}

/**
 * Compare two models on the same inputs: `inputs` where given, seeded random values for the
 * rest (symbolic dims sized by `dims`). Each model runs on ONNX Runtime from its file, or on
 * the reference interpreter where ONNX Runtime cannot load it. Outputs are matched by the
 * original's output names, each at its element type's tolerance. Inputs with a default (an
 * initializer of the same name) are left to their default on the first seed and fed random
 * values on the others, so a rewrite that folded the default in is caught; one missing from the
 * optimized model is a mismatch. Agreement on these inputs is evidence, not proof.
 * @param original the original model and the file it was loaded from
 * @param optimized the rewritten model and the file it was saved to
 * @param opts seeds (default [0, 1]), least tolerance, dim sizes, given inputs
 * @returns the mismatches (a failed run of the optimized model is one), which executor ran each side
 * @throws {SaturnError} when the original cannot run on the inputs: its error, naming the file and
 * what to give (option `dims`, `inputs` or `dims|inputs`)
 * @example
 * ```ts
 * import { checkEquivalent, type Model, saveOnnx } from "../mod.ts";
 * const unary = (op: string): Model => ({
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [8] } }],
 *     outputs: [{ name: "y", type: { kind: "tensor", dtype: 1, shape: [8] } }],
 *     nodes: [{ name: "n", opType: op, domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * });
 * const dir = Deno.makeTempDirSync();
 * const side = (op: string) => {
 *   const model = unary(op), file = `${dir}/${op}.onnx`;
 *   saveOnnx(model, file);
 *   return { file, model };
 * };
 * const relu = side("Relu");
 * const same = await checkEquivalent(relu, relu);
 * if (same.mismatches.length !== 0) throw new Error("a model equals itself");
 * const diff = await checkEquivalent(relu, side("Abs"));
 * if (diff.mismatches[0]?.output !== "y") throw new Error("Relu and Abs differ on negative inputs");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function checkEquivalent(
  original: { file: string; model: Model },
  optimized: { file: string; model: Model },
  opts: CheckOptions = {},
): Promise<CheckResult> {
  const dims = opts.dims ?? {};
  checkDimNames(original.model, dims);
  const given = new Set(opts.inputs?.keys() ?? []);
  const defaults = defaultInputs(original.model).map((i) => i.name).filter((n) => !given.has(n));
  const kept = new Set(optimized.model.graph.inputs.map((i) => i.name));
  const mismatches: Mismatch[] = [];
  const seeds0 = opts.seeds ?? [0, 1];
  for (const name of defaults) {
    if (!kept.has(name)) {
      mismatches.push({
        output: "",
        seed: seeds0[0],
        reason: `input '${name}' has a default and the optimized model has no such input: a value given for it is lost`,
      });
    }
  }
  const feedable = defaults.length > 0 && mismatches.length === 0;
  const drawn = original.model.graph.inputs.filter((i) => !given.has(i.name) && !defaults.includes(i.name));
  // nothing random and no defaults to feed: every seed would run the same inputs
  const seeds = drawn.length === 0 && !feedable ? seeds0.slice(0, 1) : seeds0;
  let ex: CheckResult["executors"] = { original: "ort", optimized: "ort" };
  const tolerances: Record<string, Tolerance> = {};
  let defaultsFed: string[] = [];
  for (const [k, seed] of seeds.entries()) {
    const feedDefaults = feedable && k > 0;
    const inputs = randomInputs(original.model, { seed, dims, given: opts.inputs, feedDefaults });
    defaultsFed = feedDefaults ? defaults.filter((n) => inputs.has(n)) : [];
    let a: Map<string, Value | undefined>, ea: "ort" | "ref";
    try {
      [a, ea] = await executeFed(original.file, original.model, inputs, [...given, ...defaultsFed]);
    } catch (e) {
      if (e instanceof SaturnError) throw explainFailure(e, original.file, original.model, { dims, given });
      throw e;
    }
    let b: Map<string, Value | undefined>, eb: "ort" | "ref";
    try {
      [b, eb] = await executeFed(optimized.file, optimized.model, inputs, [...given, ...defaultsFed]);
    } catch (e) {
      if (!(e instanceof SaturnError)) throw e;
      mismatches.push({ output: "", seed, reason: `the optimized model fails where the original runs: ${e.message}` });
      continue;
    }
    ex = { original: ea, optimized: eb };
    for (const o of original.model.graph.outputs) {
      const x = a.get(o.name), y = b.get(o.name);
      if (!(x instanceof Tensor) || !(y instanceof Tensor)) {
        if (x !== y) mismatches.push({ output: o.name, seed, reason: "missing output" });
        continue;
      }
      const tol = toleranceFor(x.dtype, opts.tolerance);
      tolerances[dtypeName(x.dtype)] = tol;
      const why = compareTensors(y, x, tol);
      if (why) mismatches.push({ output: o.name, seed, reason: why });
    }
  }
  return {
    mismatches,
    executors: ex,
    seeds,
    inputs: { given: [...given], drawn: drawn.map((i) => i.name), defaultsFed },
    tolerances,
  };
}
