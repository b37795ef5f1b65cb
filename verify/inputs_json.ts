/**
 * Model inputs read from JSON, validated element by element: anything malformed is one
 * `BAD_INPUT` line naming the file, the input and what is wrong — never a crash, never a
 * silently wrapped or truncated value.
 * @module
 */
import { SaturnError } from "../errors.ts";
import {
  DataType,
  dtypeFromName,
  dtypeName,
  intRange,
  isBigInt,
  isComplex,
  isFloat,
  isKnownDtype,
} from "../ir/dtype.ts";
import type { Model } from "../ir/graph.ts";
import { fromNumbers, Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

/** Largest number of elements one input read from JSON may declare. */
const MAX_JSON_ELEMENTS = 2 ** 31;

/** Options for `inputsFromJson`. */
export interface JsonInputOptions {
  /** Name of the file, for messages (default "inputs"). */
  file?: string;
  /** Allow inputs to be left out (the caller draws them); default false: every input to feed must be given. */
  partial?: boolean;
}

/** Nested arrays flattened with an explicit stack (nesting depth comes from the file). */
function flatten(data: unknown[]): unknown[] {
  const out: unknown[] = [];
  const stack: [unknown[], number][] = [[data, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top[1] >= top[0].length) {
      stack.pop();
      continue;
    }
    const v = top[0][top[1]++];
    if (Array.isArray(v)) stack.push([v, 0]);
    else out.push(v);
  }
  return out;
}

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

/** One element as the dtype holds it, or a reason it cannot be. */
function element(v: unknown, dtype: DataType): number | bigint | string | { bad: string } {
  const shown = typeof v === "string" ? JSON.stringify(v) : String(v);
  if (dtype === DataType.STRING) return typeof v === "string" ? v : { bad: `${shown} is not a string` };
  if (dtype === DataType.BOOL) {
    if (v === true || v === 1) return 1;
    if (v === false || v === 0) return 0;
    return { bad: `${shown} is not a bool (true, false, 1 or 0)` };
  }
  if (isFloat(dtype)) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && v in SPECIAL) return SPECIAL[v];
    return { bad: `${shown} is not a number` };
  }
  // integers: whole numbers in the type's range; 64-bit ones may be written as strings of digits
  const name = dtypeName(dtype);
  if (isBigInt(dtype) && typeof v === "string" && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    const ok = dtype === DataType.INT64 ? BigInt.asIntN(64, b) === b : BigInt.asUintN(64, b) === b;
    return ok ? b : { bad: `${v} is out of ${name}'s range` };
  }
  if (typeof v !== "number" || !Number.isInteger(v)) return { bad: `${shown} is not an ${name}` };
  const [lo, hi] = intRange(dtype);
  if (v < lo || v > hi) return { bad: `${v} is out of ${name}'s range` };
  if (isBigInt(dtype) && !Number.isSafeInteger(v)) return { bad: `${v} is past 2^53: write it as a string` };
  return v;
}

/**
 * Inputs from JSON: `{ "name": { "dtype": "float32", "shape": [1, 3], "data": [..] } }`, or
 * `{ "name": [..] }` / `{ "name": 3 }` with the model's declared dtype and shape. Nested arrays
 * are flattened. Floats may be `"NaN"`, `"Infinity"`, `"-Infinity"`; 64-bit integers may be
 * strings of digits. Inputs with a default (an initializer of the same name) may be given too.
 * @param model the model whose inputs are given
 * @param text the JSON text
 * @param opts the file's name for messages; whether inputs may be left out
 * @returns a value for each input given
 * @throws {SaturnError} `BAD_INPUT` for bad JSON, an unknown or missing input, a bad field, dtype, shape or element
 * @example
 * ```ts
 * import { inputsFromJson, loadOnnx, SaturnError } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const ids = Array.from({ length: 32 }, (_, i) => i);
 * const inputs = inputsFromJson(model, JSON.stringify({ input_ids: [ids] }), { partial: true });
 * const t = inputs.get("input_ids")!;
 * if (!("dims" in t) || t.dims.join() !== "1,32") throw new Error("shape from the model's declaration");
 * try {
 *   inputsFromJson(model, JSON.stringify({ input_ids: { data: [1.5] } }), { file: "in.json" });
 *   throw new Error("a fractional int64 must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.code !== "BAD_INPUT") throw e;
 * }
 * ```
 */
export function inputsFromJson(model: Model, text: string, opts: JsonInputOptions = {}): Map<string, Value> {
  const file = opts.file ?? "inputs";
  const fail: (msg: string, where?: string) => never = (msg, where = file) => {
    throw new SaturnError("BAD_INPUT", `${file}: ${msg}`, where);
  };
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    fail(`expected an object of inputs by name, like {"x": [1, 2]}`);
  }
  const out = new Map<string, Value>();
  const inputs = model.graph.inputs;
  for (const [name, raw] of Object.entries(obj as Record<string, unknown>)) {
    const info = inputs.find((i) => i.name === name);
    if (!info) fail(`the model has no input named '${name}'`, name);
    const at = `input '${name}'`;
    let spec: Record<string, unknown>;
    if (Array.isArray(raw)) spec = { data: raw };
    else if (typeof raw === "number" || typeof raw === "boolean" || typeof raw === "string") {
      spec = { data: [raw], scalar: true };
    } else if (raw !== null && typeof raw === "object") spec = raw as Record<string, unknown>;
    else return fail(`${at}: expected data (an array) or {"dtype", "shape", "data"}, got ${raw}`, name);
    for (const k of Object.keys(spec)) {
      if (!["dtype", "shape", "data", "scalar"].includes(k)) fail(`${at}: unknown field '${k}' (dtype, shape, data)`);
    }
    const declared = info!.type?.kind === "tensor" ? info!.type : undefined;
    let dtype = declared?.dtype;
    if (spec.dtype !== undefined) {
      const d = typeof spec.dtype === "string" ? dtypeFromName(spec.dtype) : undefined;
      if (typeof d !== "number" || !isKnownDtype(d)) {
        fail(`${at}: dtype ${JSON.stringify(spec.dtype)} is not a type name like "float32" or "int64"`, name);
      }
      dtype = d;
    }
    if (dtype === undefined || !isKnownDtype(dtype)) return fail(`${at}: give its dtype`, name);
    if (isComplex(dtype)) fail(`${at}: ${dtypeName(dtype)} inputs cannot be read from JSON`, name);
    if (declared && declared.dtype !== dtype) {
      fail(`${at} is ${dtypeName(dtype)}, the model expects ${dtypeName(declared.dtype)}`, name);
    }
    if (!Array.isArray(spec.data)) fail(`${at}: "data" must be an array of values, got ${spec.data}`, name);
    const flat = flatten(spec.data as unknown[]);
    const static_ = declared?.shape?.every((d) => typeof d === "number") ? declared.shape as number[] : undefined;
    let shape: number[];
    if (spec.shape !== undefined) {
      if (
        !Array.isArray(spec.shape) ||
        !spec.shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
      ) {
        return fail(`${at}: "shape" must be an array of whole numbers ≥ 0`, name);
      }
      shape = spec.shape as number[];
    } else shape = spec.scalar ? (static_ && static_.length ? static_ : []) : static_ ?? [flat.length];
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > MAX_JSON_ELEMENTS) fail(`${at}: shape [${shape}] holds ${n} elements, too many`, name);
    if (n !== flat.length) fail(`${at} has ${flat.length} values for shape [${shape}]`, name);
    const ds = declared?.shape;
    if (ds && (ds.length !== shape.length || ds.some((d, i) => typeof d === "number" && d !== shape[i]))) {
      fail(`${at} has shape [${shape}], the model declares [${ds.map((d) => typeof d === "number" ? d : "?")}]`, name);
    }
    const vals: (number | bigint | string)[] = new Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const e = element(flat[i], dtype);
      if (typeof e === "object") return fail(`${at} element ${i}: ${e.bad}`, name);
      vals[i] = e;
    }
    if (dtype === DataType.STRING) out.set(name, new Tensor(dtype, shape, vals as string[]));
    else if (dtype === DataType.INT64) out.set(name, new Tensor(dtype, shape, BigInt64Array.from(vals, BigInt)));
    else if (dtype === DataType.UINT64) out.set(name, new Tensor(dtype, shape, BigUint64Array.from(vals, BigInt)));
    else out.set(name, fromNumbers(dtype, shape, vals as number[]));
  }
  if (!opts.partial) {
    for (const f of inputs) {
      if (!out.has(f.name) && !model.graph.initializers.has(f.name)) fail(`input '${f.name}' is missing`, f.name);
    }
  }
  return out;
}
