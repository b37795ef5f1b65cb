/**
 * Never over the input: the files a command writes are checked against every file its input
 * model uses — the model file and each external-data file — with links resolved, before anything
 * is written. Paths are compared as the system resolves them (`Deno.realPathSync` of what exists,
 * of the nearest existing folder for what does not yet), and existing files also by device and
 * inode, so a symlinked folder, `..` past a link, a link to the input or another spelling of the
 * same file on a case-insensitive system all name the input.
 * @module
 */
import * as path from "node:path";
import { SaturnError } from "../errors.ts";
import type { Model } from "../ir/graph.ts";
import { validateGraph } from "../ir/validate.ts";
import { decodeModel } from "../onnx/decode.ts";
import { externalReader } from "../onnx/external.ts";
import { readFileOrFail } from "../onnx/load.ts";

/**
 * Where `p` is, links resolved: the real path of `p` when it exists, else the real path of its
 * nearest existing ancestor joined with the rest (which, not existing, holds no link). Like the
 * system and unlike `path.resolve`, `link/..` is the parent of the link's target.
 * @param p a path, relative to the working directory or absolute
 * @returns an absolute path without links
 */
export function resolveReal(p: string): string {
  const rest: string[] = [];
  let cur = p;
  for (;;) {
    try {
      return path.join(Deno.realPathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return path.resolve(p);
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** The files an input model uses. */
export interface InputFiles {
  /** The model. */
  model: Model;
  /** The model file and each external-data file, as `resolveReal` gives them. */
  files: Set<string>;
}

/**
 * Load a model as `loadOnnx` does, noting every external-data file its tensors read.
 * @param file path of a .onnx file
 * @returns the model and the files it uses
 * @throws {SaturnError} as `loadOnnx`
 */
export function loadInput(file: string): InputFiles {
  const bytes = readFileOrFail(file);
  const dir = path.dirname(file);
  const read = externalReader(dir);
  const files = new Set([resolveReal(file)]);
  const model = decodeModel(bytes, (location, offset, length, tensor) => {
    const data = read(location, offset, length, tensor);
    files.add(resolveReal(path.join(dir, location)));
    return data;
  }, file);
  validateGraph(model.graph);
  return { model, files };
}

function identity(p: string): string | undefined {
  try {
    const s = Deno.statSync(p);
    return s.ino === null ? undefined : `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Refuse, before anything is written, to write any of `outputs` over a file the input uses.
 * @param used the input's files (`loadInput`)
 * @param input the input model's path as the user gave it (for the message)
 * @param outputs the files about to be written
 * @throws {SaturnError} `BAD_ARGUMENT`: one line, "OUT: refusing to write over the input …"
 */
export function refuseOverwrite(used: ReadonlySet<string>, input: string, outputs: readonly string[]): void {
  const inputReal = resolveReal(input);
  const ids = new Map<string, string>();
  for (const f of used) {
    const id = identity(f);
    if (id) ids.set(id, f);
  }
  for (const out of outputs) {
    const real = resolveReal(out);
    const id = identity(real);
    const hit = used.has(real) ? real : id === undefined ? undefined : ids.get(id);
    if (hit === undefined) continue;
    throw new SaturnError(
      "BAD_ARGUMENT",
      hit === inputReal
        ? `${out}: refusing to write over the input ${input}`
        : `${out}: refusing to write over the input's external data ${hit}`,
      out,
    );
  }
}
