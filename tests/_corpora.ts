/**
 * External test corpora the repository does not ship. One so far: the ONNX backend
 * conformance suite — a copy of the ONNX repository's `onnx/backend/test/data` (v1.22), a
 * folder holding `node/`, `simple/` and `pytorch-operator/`. It is looked for in
 * `$SATURN_ONNX_TESTS`, else in `../shared/onnx-tests` beside the repository root. Tests that
 * need it are skipped (`ignore`) without it, and their module prints one line saying so.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

function isDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

function find(): { dir: string | null; why: string } {
  const env = Deno.env.get("SATURN_ONNX_TESTS");
  if (env) {
    const dir = path.resolve(env);
    return isDir(path.join(dir, "node"))
      ? { dir, why: "" }
      : { dir: null, why: `SATURN_ONNX_TESTS=${env} holds no node/ folder` };
  }
  const dir = path.join(root, "..", "shared", "onnx-tests");
  return isDir(path.join(dir, "node"))
    ? { dir, why: "" }
    : { dir: null, why: "ONNX backend tests not found (SATURN_ONNX_TESTS unset, no ../shared/onnx-tests)" };
}

const found = find();

/** The ONNX backend test folder (holding `node/`, `simple/`, `pytorch-operator/`), or null when absent. */
export const ONNX_TESTS: string | null = found.dir;

/**
 * Whether the tests of module `who` that need the ONNX backend tests must be skipped; when so,
 * prints one line on stderr saying what is missing and how to get it. Call once per module.
 * @param who the test module's name, for the line
 * @returns true when `ONNX_TESTS` is null
 */
export function skipWithoutOnnxTests(who: string): boolean {
  if (ONNX_TESTS !== null) return false;
  console.warn(
    `${who}: ${found.why}; tests that need them skipped. Set SATURN_ONNX_TESTS to a copy of the ONNX repository's onnx/backend/test/data (v1.22).`,
  );
  return true;
}
