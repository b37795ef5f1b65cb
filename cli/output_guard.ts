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
import { loadOnnxBytes, readFileOrFail } from "../onnx/load.ts";
import { proto } from "../onnx/schema.ts";

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
 * Load a model as `loadOnnx` does, and list the files it uses: the model file and every
 * external-data location named anywhere in it (initializers, sparse tensors, constants in
 * attributes, subgraphs, functions, training info).
 * @param file path of a .onnx file
 * @returns the model and the files it uses
 * @throws {SaturnError} as `loadOnnx`
 */
export function loadInput(file: string): InputFiles {
  const bytes = readFileOrFail(file);
  const dir = path.dirname(file);
  const model = loadOnnxBytes(bytes, { dir, name: file });
  const files = new Set([resolveReal(file)]);
  for (const location of externalLocations(bytes)) files.add(resolveReal(path.join(dir, location)));
  return { model, files };
}

/**
 * Every external-data location in a ModelProto (that `loadOnnxBytes` has accepted): a walk over
 * the decoded message tree with an explicit stack, for tensors with `data_location` EXTERNAL,
 * wherever they are. A model with no `location` key anywhere is not decoded again.
 */
function externalLocations(bytes: Uint8Array): Set<string> {
  const found = new Set<string>();
  if (!holds(bytes, "location")) return found;
  const stack: unknown[] = [proto.ModelProto.decode(bytes)];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null || ArrayBuffer.isView(v)) continue;
    if (Array.isArray(v)) {
      // lists of numbers (dims, float_data) hold no tensor
      if (v.length && typeof v[0] === "object") { for (const x of v) stack.push(x); }
      continue;
    }
    const m = v as Record<string, unknown>;
    if (m.data_location === 1 && Array.isArray(m.external_data)) {
      for (const e of m.external_data as { key?: string; value?: string }[]) {
        if (e.key === "location" && e.value) found.add(e.value);
      }
    }
    for (const x of Object.values(m)) if (typeof x === "object" && x !== null) stack.push(x);
  }
  return found;
}

/** Whether `bytes` contain the ASCII string `s`. */
function holds(bytes: Uint8Array, s: string): boolean {
  const first = s.charCodeAt(0);
  for (let i = bytes.indexOf(first); i >= 0 && i + s.length <= bytes.length; i = bytes.indexOf(first, i + 1)) {
    let j = 1;
    while (j < s.length && bytes[i + j] === s.charCodeAt(j)) j++;
    if (j === s.length) return true;
  }
  return false;
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
