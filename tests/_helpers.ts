/**
 * Test helpers: the six test models' paths (committed under `tests/data/models/`), and a
 * structural fingerprint of a model for round-trip comparisons (tensors by dtype, dims and a
 * hash of their bytes).
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Graph, Model } from "../ir/graph.ts";
import { encodeRaw, Tensor } from "../ir/tensor.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The committed test models: `tests/data/models/` (`export_log.json` says how each was exported). */
export const MODELS_DIR: string = path.join(here, "data", "models");
/** The six test models. */
export const MODELS: string[] = [
  "squeezenet1_1",
  "shufflenet_v2_x0_5",
  "bert_tiny",
  "gpt2_tiny",
  "llama_tiny_dynamo",
  "vit_tiny_dynamo",
];
/** Path of a test model. */
export function modelPath(name: string): string {
  return path.join(MODELS_DIR, `${name}.onnx`);
}

function hashBytes(b: Uint8Array): string {
  let h1 = 0x811c9dc5, h2 = 0;
  for (let i = 0; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i], 0x01000193);
    h2 = (h2 + b[i] * (i + 1)) % 2147483647;
  }
  return `${b.length}:${(h1 >>> 0).toString(16)}:${h2}`;
}

function tensorPrint(t: Tensor): unknown {
  return { dtype: t.dtype, dims: t.dims, data: t.dtype === 8 ? t.data : hashBytes(encodeRaw(t)) };
}

function replacer(_k: string, v: unknown): unknown {
  if (v instanceof Tensor) return tensorPrint(v);
  if (v instanceof Map) return [...v.entries()];
  return v;
}

/** A JSON fingerprint of everything a model holds. */
export function fingerprint(m: Model | Graph): string {
  // unnamed dims get fresh names on each decode: compare them as one
  return JSON.stringify(m, replacer).replace(/\?__\d+/g, "?");
}

/** What a CLI run printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `deno run -A cli.ts ...args` from the repository root, as a user would; collect its output. */
export async function runCli(...args: string[]): Promise<CliRun> {
  const root = path.join(here, "..");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}
