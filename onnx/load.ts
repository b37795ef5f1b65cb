/**
 * Reading and writing model files: `loadOnnx` (decode + structural validation) and
 * `saveOnnx` (encode, external data, atomic write).
 * @module
 */
import * as path from "node:path";
import { SaturnError } from "../errors.ts";
import { decodeModel } from "./decode.ts";
import { encodeModel, type ExternalDataOptions } from "./encode.ts";
import { externalReader } from "./external.ts";
import { readFileOrFail } from "./read_file.ts";

export { readFileOrFail };
import { validateGraph } from "../ir/validate.ts";
import type { Model } from "../ir/graph.ts";

/**
 * Load an ONNX model: decode it (weights stay views into the file's bytes, external data is
 * read from beside the model), check the graph, and sort its nodes topologically.
 * @param file path of a .onnx file
 * @returns the model
 * @throws {SaturnError} `FILE_NOT_FOUND`, `NOT_ONNX`, `TRUNCATED`, `UNSUPPORTED_OPSET`, … naming the file
 * @example
 * ```ts
 * import { loadOnnx } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const seen = new Set([...model.graph.inputs.map((i) => i.name), ...model.graph.initializers.keys()]);
 * for (const n of model.graph.nodes) {
 *   for (const i of n.inputs) if (i && !seen.has(i)) throw new Error(`'${i}' read before it is written`);
 *   for (const o of n.outputs) seen.add(o);
 * }
 * const w = [...model.graph.initializers.values()].find((t) => t.byteLength > 1024)!;
 * if (w.raw === undefined) throw new Error("weights stay undecoded views until read");
 * ```
 */
export function loadOnnx(file: string): Model {
  const bytes = readFileOrFail(file);
  return loadOnnxBytes(bytes, { dir: path.dirname(file), name: file });
}

/** Options for `loadOnnxBytes`. */
export interface LoadBytesOptions {
  /** Folder that external data is read from; without it, external data is refused. */
  dir?: string;
  /** Name used in error messages. */
  name?: string;
}

/**
 * Load a model from bytes (see `loadOnnx`): decode, validate, sort. Initializers are views
 * into `bytes`, so the caller must not modify them afterwards.
 * @param bytes a serialized ModelProto
 * @param opts where external data lives, and the name errors use
 * @returns the model
 * @throws {SaturnError} `NOT_ONNX`, `TRUNCATED`, `EXTERNAL_DATA` (external data without `dir`), …
 * @example
 * ```ts
 * import { loadOnnxBytes, SaturnError } from "../mod.ts";
 * const bytes = Deno.readFileSync("examples/bert_tiny.onnx");
 * const model = loadOnnxBytes(bytes, { name: "bert_tiny.onnx" });
 * if (model.graph.outputs.length !== 1) throw new Error("one output");
 * try {
 *   loadOnnxBytes(bytes.subarray(0, 1000), { name: "cut.onnx" });
 *   throw new Error("a truncated file must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || !e.message.startsWith("cut.onnx")) throw e;
 * }
 * ```
 */
export function loadOnnxBytes(bytes: Uint8Array, opts: LoadBytesOptions = {}): Model {
  const model = decodeModel(bytes, opts.dir === undefined ? undefined : externalReader(opts.dir), opts.name ?? "model");
  validateGraph(model.graph);
  return model;
}

/** Options for `saveOnnx`. */
export interface SaveOptions {
  /** Write initializers of at least `threshold` bytes to `location` beside the model. */
  externalData?: ExternalDataOptions;
  /**
   * Called with every file the save will write (the model, then its external-data file when
   * there is one) before any is written; if it throws, nothing is written.
   */
  beforeWrite?: (files: string[]) => void;
}

/**
 * Write a model atomically (temporary file + rename): a reader never sees a half-written
 * file. Past protobuf's 2 GiB limit the weights always go to `<file>.data` beside it.
 * @param model the model
 * @param file where to write it
 * @param opts external data: which initializers leave the protobuf, and to which file
 * @example
 * ```ts
 * import { loadOnnx, saveOnnx } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const dir = Deno.makeTempDirSync();
 * saveOnnx(model, `${dir}/m.onnx`, { externalData: { location: "m.weights", threshold: 4096 } });
 * if (Deno.statSync(`${dir}/m.weights`).size === 0) throw new Error("large weights went external");
 * const back = loadOnnx(`${dir}/m.onnx`);
 * if (back.graph.initializers.size !== model.graph.initializers.size) throw new Error("round trip");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function saveOnnx(model: Model, file: string, opts: SaveOptions = {}): void {
  const enc = encodeModel(model, opts.externalData, path.basename(file) + ".data");
  const dir = path.dirname(file);
  const target = enc.external ? path.join(dir, enc.external.location) : undefined;
  opts.beforeWrite?.(target === undefined ? [file] : [file, target]);
  if (enc.external && target !== undefined) {
    atomicWrite(target, (f) => {
      for (const c of enc.external!.chunks) writeAll(f, c);
    });
  }
  atomicWrite(file, (f) => writeAll(f, enc.bytes));
}

function writeAll(f: Deno.FsFile, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += f.writeSync(bytes.subarray(off));
}

function atomicWrite(file: string, fill: (f: Deno.FsFile) => void): void {
  const tmp = `${file}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    const f = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    try {
      fill(f);
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, file);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing to clean */ }
    if (e instanceof SaturnError) throw e;
    throw new SaturnError("FILE_UNREADABLE", `${file}: cannot be written (${(e as Error).message})`, file);
  }
}
