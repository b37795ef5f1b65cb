/**
 * Model inputs for runs and checks: seeded random inputs that fit each input's type, and
 * inputs read from a JSON file. Symbolic dims take sizes from `dims` (default 1).
 * @module
 */
import { SaturnError } from "../errors.ts";
import { DataType, dtypeFromName, dtypeName, isBigInt, isFloat } from "../ir/dtype.ts";
import type { Model } from "../ir/graph.ts";
import { fromNumbers, sizeOf, Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

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
  /** Sizes for symbolic dims by name (unnamed or unlisted dims get 1). */
  dims?: Record<string, number>;
  /** Integer inputs are drawn from [0, intHigh) (indices, token ids). Default 16. */
  intHigh?: number;
}

/** The graph inputs a caller must feed (initializers excluded). */
export function feedInputs(model: Model) {
  return model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name));
}

/**
 * Seeded random values for every input: floats uniform in [-1, 1), integers in [0, intHigh),
 * booleans fair coins. Inputs that have an initializer (a default) are left out.
 * @param model the model; every input to feed must have a declared tensor type
 * @param opts seed, sizes of symbolic dims, integer range
 * @returns a value for every input to feed
 * @throws {SaturnError} `BAD_INPUT` for an input that is not a tensor, `DIMENSION_TOO_LARGE` for one too big
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
  const out = new Map<string, Value>();
  for (const inp of feedInputs(model)) {
    const t = inp.type;
    if (t?.kind !== "tensor") {
      throw new SaturnError("BAD_INPUT", `input '${inp.name}' is not a tensor: give its value`, inp.name, "inputs");
    }
    const dims = (t.shape ?? []).map((d) => typeof d === "number" ? d : opts.dims?.[d] ?? 1);
    const n = sizeOf(dims);
    if (n > MAX_RUN_ELEMENTS) {
      throw new SaturnError(
        "DIMENSION_TOO_LARGE",
        `input '${inp.name}' has shape [${dims}], too large to allocate`,
        inp.name,
      );
    }
    const vals = new Float64Array(n);
    if (isFloat(t.dtype)) { for (let i = 0; i < n; i++) vals[i] = next() * 2 - 1; }
    else if (t.dtype === DataType.BOOL) { for (let i = 0; i < n; i++) vals[i] = next() < 0.5 ? 0 : 1; }
    else if (t.dtype === DataType.STRING) {
      out.set(inp.name, new Tensor(t.dtype, dims, Array.from({ length: n }, () => `s${Math.floor(next() * 100)}`)));
      continue;
    } else for (let i = 0; i < n; i++) vals[i] = Math.floor(next() * (opts.intHigh ?? 16));
    out.set(inp.name, fromNumbers(t.dtype, dims, vals));
  }
  return out;
}

interface JsonInput {
  dtype?: string;
  shape?: number[];
  data: unknown[];
}

/**
 * Inputs from JSON: `{ "name": { "dtype": "float32", "shape": [1, 3], "data": [..] } }`, or
 * `{ "name": [..] }` with the model's declared dtype and shape. Nested arrays are flattened.
 * @param model the model whose inputs are given
 * @param text the JSON text
 * @param file name used in error messages
 * @returns a value for every input to feed
 * @throws {SaturnError} `BAD_INPUT` for bad JSON, an unknown or missing input, a wrong count or dtype
 * @example
 * ```ts
 * import { inputsFromJson, loadOnnx, SaturnError } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const ids = Array.from({ length: 32 }, (_, i) => i);
 * const inputs = inputsFromJson(model, JSON.stringify({ input_ids: [ids] }));
 * const t = inputs.get("input_ids")!;
 * if (!("dims" in t) || t.dims.join() !== "1,32") throw new Error("shape from the model's declaration");
 * try {
 *   inputsFromJson(model, JSON.stringify({ input_ids: [1, 2, 3] }), "in.json");
 *   throw new Error("3 values for [1,32] must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.code !== "BAD_INPUT") throw e;
 * }
 * ```
 */
export function inputsFromJson(model: Model, text: string, file = "inputs"): Map<string, Value> {
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new SaturnError("BAD_INPUT", `${file}: not valid JSON (${(e as Error).message})`, file);
  }
  const out = new Map<string, Value>();
  const feeds = feedInputs(model);
  for (const [name, raw] of Object.entries(obj)) {
    const info = feeds.find((i) => i.name === name);
    if (!info) throw new SaturnError("BAD_INPUT", `${file}: the model has no input named '${name}'`, name);
    const spec: JsonInput = Array.isArray(raw) ? { data: raw } : raw as JsonInput;
    const declared = info.type?.kind === "tensor" ? info.type : undefined;
    const dtype = spec.dtype ? dtypeFromName(spec.dtype) : declared?.dtype;
    if (dtype === undefined) {
      throw new SaturnError("BAD_INPUT", `${file}: input '${name}' has unknown dtype '${spec.dtype}'`, name);
    }
    const flat = (spec.data as unknown[]).flat(Infinity as 1) as unknown[];
    const shape = spec.shape ??
      (declared?.shape?.every((d) => typeof d === "number") ? declared.shape as number[] : [flat.length]);
    if (sizeOf(shape) !== flat.length) {
      throw new SaturnError(
        "BAD_INPUT",
        `${file}: input '${name}' has ${flat.length} values for shape [${shape}]`,
        name,
      );
    }
    if (dtype === DataType.STRING) out.set(name, new Tensor(dtype, shape, flat.map(String)));
    else if (isBigInt(dtype)) {
      out.set(
        name,
        new Tensor(
          dtype,
          shape,
          dtype === DataType.INT64
            ? BigInt64Array.from(flat, (v) => BigInt(v as number))
            : BigUint64Array.from(flat, (v) => BigInt(v as number)),
        ),
      );
    } else out.set(name, fromNumbers(dtype, shape, flat.map(Number)));
    if (declared && declared.dtype !== dtype) {
      throw new SaturnError(
        "BAD_INPUT",
        `${file}: input '${name}' is ${dtypeName(dtype)}, the model expects ${dtypeName(declared.dtype)}`,
        name,
      );
    }
  }
  for (const f of feeds) {
    if (!out.has(f.name)) throw new SaturnError("BAD_INPUT", `${file}: input '${f.name}' is missing`, f.name);
  }
  return out;
}
