/**
 * What reaches a user's terminal from commands that run ONNX Runtime: Saturn's own lines only.
 * ONNX Runtime warns (with colour codes and its source paths) about models that are valid, e.g. an
 * initializer no node reads; `--check` and `--compare ort` must not pass that on.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node, rand } from "./_models.ts";
import { saveOnnx } from "../mod.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

/** Relu(x) + 1 with an initializer nothing reads: ONNX Runtime warns "Removing initializer 'unused'". */
function unusedInitializerModel(dir: string): string {
  const model = graphModel(
    [node("Relu", ["x"], ["r"]), node("Add", ["r", "one"], ["y"])],
    { x: [2, 3] },
    ["y"],
    { one: rand([1], 3, { lo: 1, hi: 1 }), unused: rand([4], 1) },
  );
  const file = path.join(dir, "unused_init.onnx");
  saveOnnx(model, file);
  return file;
}

function assertNoRuntimeLog(stderr: string, what: string): void {
  assert(!stderr.includes("onnxruntime"), `${what}: ONNX Runtime's log reached stderr:\n${stderr}`);
  assert(!stderr.includes("\x1b["), `${what}: colour codes on stderr:\n${JSON.stringify(stderr)}`);
}

Deno.test("run --compare ort prints no ONNX Runtime log line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = unusedInitializerModel(dir);
    const r = await cli("run", file, "--backend", "ref", "--compare", "ort");
    assertEquals(r.code, 0, r.stderr);
    assertNoRuntimeLog(r.stderr, "run --compare ort");
    assert(r.stdout.includes("all outputs match ONNX Runtime"), r.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("optimize --check prints no ONNX Runtime log line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = unusedInitializerModel(dir);
    const r = await cli("optimize", file, "--check");
    assertEquals(r.code, 0, r.stderr);
    assertNoRuntimeLog(r.stderr, "optimize --check");
    assert(r.stdout.includes("check: outputs match"), r.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a model ONNX Runtime refuses gives Saturn's one line, not ONNX Runtime's error log", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // auto_pad with pads: ONNX Runtime refuses it at session creation and logs an error line of its own
    const model = graphModel(
      [node("Conv", ["x", "w"], ["y"], [attr("auto_pad", "SAME_UPPER"), attr("pads", [0, 0, 0, 0])])],
      { x: [1, 1, 2, 2] },
      ["y"],
      { w: rand([1, 1, 1, 1], 1) },
    );
    const file = path.join(dir, "refused.onnx");
    saveOnnx(model, file);
    const r = await cli("run", file, "--backend", "ref", "--compare", "ort");
    assert(r.code !== 0 && r.code !== 70, `exit ${r.code}: ${r.stderr}`);
    assert(!r.stderr.includes("[E:onnxruntime") && !r.stderr.includes("onnxruntime_src"), r.stderr);
    assert(!r.stderr.includes("\x1b["), `colour codes on stderr: ${JSON.stringify(r.stderr)}`);
    assert(r.stderr.includes("both 'auto_pad' and 'pads'"), `ONNX Runtime's reason is lost: ${r.stderr}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
