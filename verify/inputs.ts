/**
 * Model inputs for runs and checks: seeded random inputs that fit each input's type and use,
 * and inputs read from a JSON file. Symbolic dims take sizes from `dims` (default 1).
 * @module
 */
import { SaturnError } from "../errors.ts";
import { DataType, isFloat } from "../ir/dtype.ts";
import type { Model, ValueInfo } from "../ir/graph.ts";
import { fromNumbers, sizeOf, Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import { defaultedDims, type DimSizes, inputShape } from "./input_dims.ts";
import { type InputRole, inputRoles } from "./input_uses.ts";

export { inputsFromJson, type JsonInputOptions } from "./inputs_json.ts";
export { checkDimNames, defaultedDims, type DimSizes, inputShape, parseDimSizes } from "./input_dims.ts";
export { type InputRole, inputRoles, type StructuralUse } from "./input_uses.ts";

/** Largest input (elements) generated for a run: 2^31, past what one typed array holds here. */
const MAX_RUN_ELEMENTS = 2 ** 31;

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same inputs everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options for `randomInputs`. */
export interface RandomInputOptions {
  /** Seed of the generator (default 0): the same seed gives the same inputs on every machine. */
  seed?: number;
  /** Sizes of symbolic dims, by name or `input:axis` (see `parseDimSizes`); unlisted dims get 1. */
  dims?: DimSizes;
  /** Integer inputs are drawn from [0, intHigh) (indices, token ids), and below a known index bound. Default 16. */
  intHigh?: number;
  /** Values to use as they are (e.g. read from JSON); only the other inputs are drawn. */
  given?: ReadonlyMap<string, Value>;
  /**
   * Draw values for inputs that have a default (an initializer of the same name) too, in its
   * shape — except those whose values set structure, which keep their default. Default false.
   */
  feedDefaults?: boolean;
  /** Draw values for inputs whose values set a shape, count, axes or branch too. Default false: refused. */
  randomStructure?: boolean;
}

/** The graph inputs a caller must feed (initializers excluded). */
export function feedInputs(model: Model): ValueInfo[] {
  return model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
}

/**
 * The graph inputs that have a default: an initializer of the same name.
 * @param model the model
 * @returns those inputs
 * @example
 * ```ts
 * import { DataType, defaultInputs, float32Tensor, type Model } from "../mod.ts";
 * const x = { name: "x", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: [2] } };
 * const w = { name: "w", type: { kind: "tensor" as const, dtype: DataType.FLOAT, shape: [2] } };
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", nodes: [{ name: "a", opType: "Add", domain: "", inputs: ["x", "w"], outputs: ["y"], attributes: [] }],
 *     inputs: [x, w], outputs: [{ name: "y" }], initializers: new Map([["w", float32Tensor([2], [1, 2])]]),
 *     sparseInitializers: [], valueInfo: [],
 *   },
 * };
 * if (defaultInputs(model).map((i) => i.name).join() !== "w") throw new Error("w has a default");
 * ```
 */
export function defaultInputs(model: Model): ValueInfo[] {
  return model.graph.inputs.filter((i) => model.graph.initializers.has(i.name));
}

/**
 * Seeded random values for every input not `given`: floats uniform in [-1, 1), integers in
 * [0, intHigh) (and below the size they index, where that is known), booleans fair coins.
 * An input whose values set a shape, count, axes or branch (Reshape's shape, an If condition,
 * a sample rate compared to a constant…) is refused unless given: random values there break
 * the model or take a path no caller takes. Inputs with a default are left out unless
 * `feedDefaults`.
 * @param model the model; every input to draw must have a declared tensor type
 * @param opts seed, sizes of symbolic dims, integer range, given values
 * @returns a value for every input to feed (given ones included)
 * @throws {SaturnError} `BAD_INPUT` (option `inputs`) for an input that is not a tensor or sets structure,
 * `DIMENSION_TOO_LARGE` for one too big
 * @example
 * ```ts
 * import { DataType, loadOnnx, randomInputs, toNumbers } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const a = randomInputs(model, { seed: 7, intHigh: 100 }).get("input_ids")!;
 * const b = randomInputs(model, { seed: 7, intHigh: 100 }).get("input_ids")!;
 * if (!("dtype" in a) || a.dtype !== DataType.INT64 || a.dims.join() !== "1,32") throw new Error("int64 [1,32]");
 * if (!("dtype" in b) || toNumbers(a).join() !== toNumbers(b).join()) throw new Error("same seed, same inputs");
 * if (!toNumbers(a).every((v) => v >= 0 && v < 100)) throw new Error("ids in [0, intHigh)");
 * ```
 */
export function randomInputs(model: Model, opts: RandomInputOptions = {}): Map<string, Value> {
  const next = rng(opts.seed ?? 0);
  const out = new Map<string, Value>(opts.given ?? []);
  const roles = inputRoles(model);
  const inits = model.graph.initializers;
  for (const inp of model.graph.inputs) {
    if (out.has(inp.name)) continue;
    const init = inits.get(inp.name);
    const role: InputRole = roles.get(inp.name) ?? {};
    if (init && (!opts.feedDefaults || role.structural)) continue;
    if (role.structural && !opts.randomStructure) {
      const s = role.structural;
      throw new SaturnError(
        "BAD_INPUT",
        `input '${inp.name}' sets the ${s.what} of ${s.opType} node '${s.node}': random values will not do; give its value`,
        inp.name,
        "inputs",
      );
    }
    const t = inp.type;
    if (t?.kind !== "tensor" && !init) {
      throw new SaturnError("BAD_INPUT", `input '${inp.name}' is not a tensor: give its value`, inp.name, "inputs");
    }
    const dtype = init ? init.dtype : t!.kind === "tensor" ? t!.dtype : 0;
    const dims = init ? [...init.dims] : inputShape(inp, opts.dims);
    const n = sizeOf(dims);
    if (n > MAX_RUN_ELEMENTS) {
      throw new SaturnError(
        "DIMENSION_TOO_LARGE",
        `input '${inp.name}' has shape [${dims}], too large to allocate`,
        inp.name,
      );
    }
    const vals = new Float64Array(n);
    if (isFloat(dtype)) { for (let i = 0; i < n; i++) vals[i] = next() * 2 - 1; }
    else if (dtype === DataType.BOOL) { for (let i = 0; i < n; i++) vals[i] = next() < 0.5 ? 0 : 1; }
    else if (dtype === DataType.STRING) {
      out.set(inp.name, new Tensor(dtype, dims, Array.from({ length: n }, () => `s${Math.floor(next() * 100)}`)));
      continue;
    } else {
      const high = Math.min(opts.intHigh ?? 16, role.indexBound ?? Infinity);
      for (let i = 0; i < n; i++) vals[i] = Math.floor(next() * high);
    }
    out.set(inp.name, fromNumbers(dtype, dims, vals));
  }
  return out;
}

/** Error codes of a run that failed on its inputs (a shape that does not fit, a value out of range). */
const RUN_FAILURES = new Set(["OP_ERROR", "SHAPE_ERROR", "BAD_INPUT"]);

/**
 * A model failed running on inputs that were partly drawn at random: the error as the user's,
 * naming the model file and what would fix it — sizes for the symbolic dims that took 1
 * (option `dims`), else shapes or values for the inputs drawn (option `dims|inputs`). Errors
 * of other kinds come back unchanged.
 * @param e the error of the run
 * @param file the model's file
 * @param model the model
 * @param opts the dim sizes and the names of the inputs given (not drawn)
 * @returns the error to throw
 * @example
 * ```ts
 * import { DataType, explainFailure, type Model, SaturnError } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", nodes: [{ name: "r", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: DataType.FLOAT, shape: ["batch", "?__1", 8] } }],
 *     outputs: [{ name: "y" }], initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *   },
 * };
 * const e = explainFailure(new SaturnError("SHAPE_ERROR", "Reshape node 'r': cannot reshape"), "m.onnx", model);
 * // the dims that took size 1 are named, and the error points at the option that sizes them
 * if (!e.message.includes("batch") || e.option !== "dims") throw new Error(e.message);
 * ```
 */
export function explainFailure(
  e: SaturnError,
  file: string,
  model: Model,
  opts: { dims?: DimSizes; given?: ReadonlySet<string> } = {},
): SaturnError {
  if (!RUN_FAILURES.has(e.code) || e.option !== undefined) return e;
  const msg = e.message.includes(file) ? e.message : `${file}: ${e.message}`;
  const drawn = model.graph.inputs.filter((i) => !opts.given?.has(i.name) && !model.graph.initializers.has(i.name));
  const defaulted = defaultedDims(drawn, opts.dims);
  if (defaulted.length) {
    const list = defaulted.slice(0, 6).join(", ") + (defaulted.length > 6 ? ", …" : "");
    return new SaturnError(e.code, `${msg} (dims ${list} took size 1: give their sizes)`, e.where, "dims");
  }
  if (!drawn.length) return new SaturnError(e.code, msg, e.where);
  const names = drawn.slice(0, 6).map((i) => `'${i.name}'`).join(", ") + (drawn.length > 6 ? ", …" : "");
  return new SaturnError(
    e.code,
    `${msg} (inputs ${names} were drawn at random: give their shapes or values)`,
    e.where,
    "dims|inputs",
  );
}
