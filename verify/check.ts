/**
 * Whole-model equivalence: run an original and a rewritten model on the same seeded random
 * inputs and compare every output. ONNX Runtime runs each model where it can; a model it cannot
 * load (an op it lacks) runs on the reference interpreter.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import { runModel } from "../ir/interpreter.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { compareTensors, type Tolerance } from "../conformance/compare.ts";
import { randomInputs } from "./inputs.ts";
import { runOrt } from "./ort.ts";

/** One output that differs. */
export interface Mismatch {
  /** The original model's output name. */
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
  /** The seeds of the inputs tried. */
  seeds: number[];
}

async function execute(
  file: string,
  model: Model,
  inputs: Map<string, Value>,
): Promise<[Map<string, Value | undefined>, "ort" | "ref"]> {
  try {
    return [await runOrt(file, inputs), "ort"];
  } catch (e) {
    if (!(e instanceof SaturnError)) throw e;
    return [runModel(model, inputs), "ref"];
  }
}

/**
 * Compare two models on seeded random inputs: each runs on ONNX Runtime from its file, or on
 * the reference interpreter where ONNX Runtime cannot load it. Outputs are matched by the
 * original's output names. Agreement on random inputs is evidence, not proof.
 * @param original the original model and the file it was loaded from
 * @param optimized the rewritten model and the file it was saved to
 * @param opts seeds (default [0, 1]) and tolerance (default atol 1e-4, rtol 1e-3)
 * @returns the mismatches, and which executor ran each side
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
  opts: { seeds?: number[]; tolerance?: Tolerance } = {},
): Promise<CheckResult> {
  const seeds = opts.seeds ?? [0, 1];
  const tol = opts.tolerance ?? { atol: 1e-4, rtol: 1e-3 };
  const mismatches: Mismatch[] = [];
  let ex: CheckResult["executors"] = { original: "ort", optimized: "ort" };
  for (const seed of seeds) {
    const inputs = randomInputs(original.model, { seed });
    const [a, ea] = await execute(original.file, original.model, inputs);
    const [b, eb] = await execute(optimized.file, optimized.model, inputs);
    ex = { original: ea, optimized: eb };
    for (const o of original.model.graph.outputs) {
      const x = a.get(o.name), y = b.get(o.name);
      if (!(x instanceof Tensor) || !(y instanceof Tensor)) {
        if (x !== y) mismatches.push({ output: o.name, seed, reason: "missing output" });
        continue;
      }
      const why = compareTensors(y, x, tol);
      if (why) mismatches.push({ output: o.name, seed, reason: why });
    }
  }
  return { mismatches, executors: ex, seeds };
}
