/**
 * ONNX Runtime (onnxruntime-node, CPU) as the reference executor: runs a model file on
 * Saturn tensors and returns Saturn tensors.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { DataType, dtypeName } from "../ir/dtype.ts";
import { Tensor } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";

const ORT_TYPES: Record<number, string> = {
  [DataType.FLOAT]: "float32",
  [DataType.DOUBLE]: "float64",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT16]: "int16",
  [DataType.UINT16]: "uint16",
  [DataType.INT32]: "int32",
  [DataType.UINT32]: "uint32",
  [DataType.INT64]: "int64",
  [DataType.UINT64]: "uint64",
  [DataType.BOOL]: "bool",
  [DataType.FLOAT16]: "float16",
  [DataType.STRING]: "string",
};

const FROM_ORT: Record<string, DataType> = Object.fromEntries(
  Object.entries(ORT_TYPES).map(([k, v]) => [v, Number(k) as DataType]),
);

/**
 * Session (and run) options of every ONNX Runtime session Saturn opens: fatal messages only.
 * ONNX Runtime's warnings and errors go straight to the terminal with colour codes and its source
 * paths (an unused initializer, a model it refuses); its errors also reach Saturn as exceptions,
 * which become one line of Saturn's, so its own log lines are never what a user needs to see.
 */
export const ORT_QUIET: { readonly logSeverityLevel: 4 } = { logSeverityLevel: 4 };

/** Options for `runOrt`. */
export interface OrtOptions {
  /** ONNX Runtime's graph optimization level (default "all"). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  /** Where ONNX Runtime should save the graph it optimized. */
  optimizedModelFilePath?: string;
  /** The model's name in messages when it is given as bytes. */
  name?: string;
}

/**
 * Run a model file in onnxruntime-node (CPU) on the given inputs; outputs by name. Outputs of
 * a type Saturn has no tensor for are left out.
 * @param file the .onnx file, or a model's bytes (named in messages by `opts.name`)
 * @param inputs a tensor for every input to feed
 * @param opts ONNX Runtime's optimization level, and where to save the graph it optimized
 * @returns each output's tensor
 * @throws {SaturnError} `BAD_INPUT` when ONNX Runtime cannot load the model; `OrtRunError` when it
 * loads it but fails running it on these inputs
 * @example
 * ```ts
 * import { compareTensors, loadOnnx, randomInputs, runModel, runOrt, Tensor } from "../mod.ts";
 * const file = "examples/bert_tiny.onnx";
 * const model = loadOnnx(file);
 * const inputs = randomInputs(model, { seed: 1 });
 * const ort = await runOrt(file, inputs);
 * const ref = runModel(model, inputs);
 * const name = model.graph.outputs[0].name;
 * const why = compareTensors(ort.get(name)!, ref.get(name) as Tensor, { atol: 1e-4, rtol: 1e-3 });
 * if (why) throw new Error(`ONNX Runtime and the reference interpreter differ: ${why}`);
 * ```
 */
export async function runOrt(
  source: string | Uint8Array,
  inputs: ReadonlyMap<string, Value>,
  opts: OrtOptions = {},
): Promise<Map<string, Tensor>> {
  const ort = await import("onnxruntime-node");
  const file = typeof source === "string" ? source : opts.name ?? "the model";
  let session;
  try {
    const create = ort.InferenceSession.create as (
      m: string | Uint8Array,
      o: Record<string, unknown>,
    ) => ReturnType<typeof ort.InferenceSession.create>;
    session = await create(source, {
      ...ORT_QUIET,
      graphOptimizationLevel: opts.graphOptimizationLevel ?? "all",
      ...(opts.optimizedModelFilePath ? { optimizedModelFilePath: opts.optimizedModelFilePath } : {}),
    });
  } catch (e) {
    throw new SaturnError(
      "BAD_INPUT",
      `ONNX Runtime cannot load ${file}: ${ortReason((e as Error).message ?? String(e))}`,
      file,
    );
  }
  try {
    // ONNX Runtime's JavaScript API drops a value fed for anything but its inputs (an input with a
    // default included): never silently
    const extra = [...inputs.keys()].find((n) => !session.inputNames.includes(n));
    if (extra !== undefined) {
      throw new OrtRunError(
        `ONNX Runtime takes no value for '${extra}' in ${file}${
          session.inputNames.length ? ` (its inputs: ${session.inputNames.slice(0, 8).join(", ")})` : ""
        }: an input with a default cannot be replaced through it`,
        extra,
      );
    }
    let res;
    try {
      res = await session.run(ortFeeds(ort.Tensor, inputs), ORT_QUIET);
    } catch (e) {
      if (e instanceof SaturnError) throw e;
      throw new OrtRunError(`ONNX Runtime cannot run ${file}: ${ortReason((e as Error).message ?? String(e))}`, file);
    }
    const out = new Map<string, Tensor>();
    for (const [name, t] of Object.entries(res)) {
      const dtype = FROM_ORT[t.type];
      if (dtype === undefined) continue;
      // float16 results as their bits (a Float16Array where onnxruntime-common made one)
      const raw = t.data as unknown as ArrayBufferView;
      const data = dtype === DataType.FLOAT16 && !(raw instanceof Uint16Array)
        ? new Uint16Array(raw.buffer, raw.byteOffset, t.size)
        : t.data;
      out.set(name, new Tensor(dtype, [...t.dims], data as Float32Array));
    }
    return out;
  } finally {
    await session.release();
  }
}

/**
 * ONNX Runtime loaded the model but failed running it on the inputs given (a shape that does
 * not fit, an input it refuses): the inputs, or the model, are at fault — unlike a model ONNX
 * Runtime cannot load, which another executor may still run.
 * @example
 * ```ts
 * import { OrtRunError, SaturnError } from "../mod.ts";
 * const e = new OrtRunError("ONNX Runtime cannot run m.onnx: input 'x' has a wrong shape", "m.onnx");
 * if (!(e instanceof SaturnError) || e.code !== "OP_ERROR" || e.where !== "m.onnx") throw new Error();
 * ```
 */
export class OrtRunError extends SaturnError {
  /**
   * Make the error of a failed run.
   * @param message one line: the file and ONNX Runtime's reason
   * @param where the model file
   */
  constructor(message: string, where?: string) {
    super("OP_ERROR", message, where);
    this.name = "OrtRunError";
  }
}

/** Longest reason kept from an ONNX Runtime message. */
const MAX_REASON = 300;

/**
 * ONNX Runtime's error as one short line: the innermost node that failed and its status
 * message, without source paths and C++ signatures.
 * @param message the error's message
 * @returns e.g. `Pad node 'p': Cannot use 'reflect' mode to pad dimension with a value of 0`
 */
export function ortReason(message: string): string {
  const flat = message.replace(/\s+/g, " ").trim();
  const nodes = [...flat.matchAll(/running (\S+) node\. Name:'([^']*)'/g)];
  const status = flat.lastIndexOf("Status Message: ");
  let why = status >= 0 ? flat.slice(status + "Status Message: ".length) : flat;
  // "/path/op_kernel.cc:83 virtual … [ONNXRuntimeError] : 1 : FAIL : the reason"
  why = why.replace(/^.*\[ONNXRuntimeError\] : \d+ : \w+ : /, "").replace(/^Exception during initialization: /, "");
  // "/onnxruntime_src/…/conv_attributes.h:50 onnxruntime::…(…) [with …] cond was false. the reason"
  const failedCheck = /^\/\S+\.(?:cc|h):\d+ .*? was false\. (.+)$/.exec(why);
  why = failedCheck ? failedCheck[1] : why.replace(/^\S+\.(cc|h):\d+ \S+ /, "");
  const last = nodes.at(-1);
  const line = last ? `${last[1]} node '${last[2]}': ${why}` : why;
  return line.length > MAX_REASON ? line.slice(0, MAX_REASON) + "…" : line;
}

/**
 * Saturn tensors as ONNX Runtime tensors (for onnxruntime-node and onnxruntime-web alike: pass
 * the package's `Tensor` class).
 */
export function ortFeeds<T>(
  // deno-lint-ignore no-explicit-any
  OrtTensor: new (type: any, data: any, dims: number[]) => T,
  inputs: ReadonlyMap<string, Value>,
): Record<string, T> {
  const feeds: Record<string, T> = {};
  for (const [name, v] of inputs) {
    if (!(v instanceof Tensor)) {
      throw new SaturnError("BAD_INPUT", `input '${name}': ONNX Runtime takes tensors only`, name);
    }
    const type = ORT_TYPES[v.dtype];
    if (!type) {
      throw new SaturnError(
        "BAD_INPUT",
        `input '${name}': ONNX Runtime takes no ${dtypeName(v.dtype)} tensors here`,
        name,
      );
    }
    const t = new OrtTensor(type, v.data, [...v.dims]);
    // onnxruntime-common keeps float16 data as a Float16Array where the engine has one (Deno does),
    // which onnxruntime-node's native binding reads as empty: give it the bits as Uint16Array
    if (v.dtype === DataType.FLOAT16 && (t as { cpuData?: unknown }).cpuData !== undefined) {
      (t as { cpuData?: unknown }).cpuData = v.data;
    }
    feeds[name] = t;
  }
  return feeds;
}
