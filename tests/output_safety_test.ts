/**
 * Nothing a user has is lost: `optimize` and `compile` never write over any file the input uses
 * (the model and its external-data files, however the output path reaches them: as given, through
 * a symlinked folder, through `..` past a link), refusing with one line, exit 2, nothing written;
 * and an interrupt (SIGINT, SIGTERM) during `optimize --check` removes the temporary model.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, runCli } from "./_helpers.ts";
import { graphModel, node, rand } from "./_models.ts";
import { saveOnnx } from "../onnx/load.ts";
import { loadInput, refuseOverwrite, resolveReal } from "../cli/output_guard.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const unix = Deno.build.os !== "windows";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

/** Every file under `dir` (links listed, not followed) with its bytes' hash. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const snap: Record<string, string> = {};
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of Deno.readDirSync(d)) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymlink) snap[rel] = `-> ${Deno.readLinkSync(p)}`;
      else if (e.isDirectory) stack.push(p);
      else {
        const h = await crypto.subtle.digest("SHA-256", Deno.readFileSync(p));
        snap[rel] = [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
      }
    }
  }
  return snap;
}

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `dir/m.onnx` whose weights live in `dir/m.weights` (external data); a Relu(MatMul) that optimize can run. */
function externalModel(dir: string): string {
  const m = graphModel(
    [node("MatMul", ["x", "w"], ["y"]), node("Relu", ["y"], ["z"])],
    { x: [2, 64] },
    ["z"],
    { w: rand([64, 64], 1) },
  );
  const file = path.join(dir, "m.onnx");
  saveOnnx(m, file, { externalData: { location: "m.weights", threshold: 1024 } });
  return file;
}

/** The refusal: exit 2, one line naming the input, nothing written or changed under `dir`. */
async function assertRefused(dir: string, args: string[]): Promise<void> {
  const before = await snapshot(dir);
  const r = await cli(...args);
  assertEquals(r.code, 2, `${args.join(" ")}: exit ${r.code}, stderr ${r.stderr}`);
  assert(/^saturn: [^\n]*refusing to write over the input[^\n]*\n$/.test(r.stderr), `stderr: ${r.stderr}`);
  assertEquals(r.stdout, "");
  assertEquals(await snapshot(dir), before, `${args.join(" ")}: something was written or changed`);
}

Deno.test("resolveReal follows links of existing paths and of the folder of paths not written yet", async () => {
  await withTempDir((dir) => {
    const real = Deno.realPathSync(dir);
    Deno.mkdirSync(path.join(dir, "a", "b"), { recursive: true });
    Deno.writeTextFileSync(path.join(dir, "a", "f"), "");
    if (unix) Deno.symlinkSync(path.join(dir, "a", "b"), path.join(dir, "link"));
    assertEquals(resolveReal(path.join(dir, "a", "f")), path.join(real, "a", "f"));
    assertEquals(resolveReal(path.join(dir, "a", "new", "deeper", "g")), path.join(real, "a", "new", "deeper", "g"));
    if (unix) {
      assertEquals(resolveReal(path.join(dir, "link", "g")), path.join(real, "a", "b", "g"));
      // `..` after a link is the link target's parent, as the system resolves it
      assertEquals(resolveReal(`${dir}/link/../f`), path.join(real, "a", "f"));
      assertEquals(resolveReal(`${dir}/link/../new/g`), path.join(real, "a", "new", "g"));
    }
  });
});

Deno.test("loadInput lists the model and its external-data files; refuseOverwrite names the input", async () => {
  await withTempDir((dir) => {
    const file = externalModel(dir);
    const { files } = loadInput(file);
    const real = Deno.realPathSync(dir);
    assertEquals([...files].sort(), [path.join(real, "m.onnx"), path.join(real, "m.weights")]);
    refuseOverwrite(files, file, [path.join(dir, "other.onnx")]);
    let threw = false;
    try {
      refuseOverwrite(files, file, [path.join(dir, "other.onnx"), path.join(dir, ".", "m.weights")]);
    } catch (e) {
      threw = /refusing to write over the input/.test((e as Error).message);
    }
    assert(threw, "writing over the external data must be refused");
  });
});

Deno.test("saveOnnx tells beforeWrite every file it will write, and a refusal there writes nothing", async () => {
  await withTempDir(async (dir) => {
    const file = externalModel(dir);
    const { model, files } = loadInput(file);
    const before = await snapshot(dir);
    let seen: string[] = [];
    // a new model whose external data would land on the input's weights
    const target = path.join(dir, "new.onnx");
    let refused = false;
    try {
      saveOnnx(model, target, {
        externalData: { location: "m.weights", threshold: 1024 },
        beforeWrite: (fs) => {
          seen = fs;
          refuseOverwrite(files, file, fs);
        },
      });
    } catch (e) {
      refused = /refusing to write over the input's external data/.test((e as Error).message);
    }
    assertEquals(seen, [target, path.join(dir, "m.weights")]);
    assert(refused, "the input's external data must not be written over");
    assertEquals(await snapshot(dir), before, "something was written");
  });
});

Deno.test("optimize -o the input's external-data file is refused: nothing written, the weights intact", async () => {
  await withTempDir(async (dir) => {
    const file = externalModel(dir);
    await assertRefused(dir, ["optimize", file, "-o", path.join(dir, "m.weights")]);
    await assertRefused(dir, ["optimize", file, "-o", path.join(dir, "m.weights"), "--json"]);
  });
});

Deno.test("optimize -o through a symlinked folder, or .. past a link, onto the input is refused", {
  ignore: !unix,
}, async () => {
  await withTempDir(async (dir) => {
    const models = path.join(dir, "models");
    Deno.mkdirSync(models);
    const file = externalModel(models);
    Deno.symlinkSync(models, path.join(dir, "alias"));
    Deno.mkdirSync(path.join(dir, "elsewhere"));
    Deno.symlinkSync(path.join(models, "m.onnx"), path.join(dir, "elsewhere", "link.onnx"));
    Deno.mkdirSync(path.join(models, "sub"));
    Deno.symlinkSync(path.join(models, "sub"), path.join(dir, "elsewhere", "sub"));
    for (
      const o of [
        path.join(dir, "alias", "m.onnx"),
        path.join(dir, "alias", "m.weights"),
        path.join(dir, "alias", ".", "m.onnx"),
        path.join(dir, "elsewhere", "link.onnx"), // a link to the input
        // elsewhere/sub/.. is `models` for the system, `elsewhere` for path.resolve
        `${dir}/elsewhere/sub/../m.onnx`,
        `${dir}/elsewhere/sub/../m.weights`,
      ]
    ) {
      await assertRefused(dir, ["optimize", file, "-o", o]);
    }
    // the input named through the link is the same input
    await assertRefused(dir, ["optimize", path.join(dir, "alias", "m.onnx"), "-o", path.join(models, "m.weights")]);
  });
});

Deno.test("compile -o DIR is refused when its module or weights file would replace a file the input uses", async () => {
  await withTempDir(async (dir) => {
    // the input's external data is named as compile names its weights: m.weights.bin
    const m = graphModel([node("MatMul", ["x", "w"], ["y"])], { x: [2, 64] }, ["y"], { w: rand([64, 64], 1) });
    const file = path.join(dir, "m.onnx");
    saveOnnx(m, file, { externalData: { location: "m.weights.bin", threshold: 1024 } });
    await assertRefused(dir, ["compile", file, "-o", dir]);
    if (unix) {
      Deno.symlinkSync(dir, path.join(dir, "alias"));
      await assertRefused(dir, ["compile", file, "-o", path.join(dir, "alias")]);
    }
  });
});

Deno.test("optimize writes beside the input when no file of the input is in the way, and leaves no temporary file", async () => {
  await withTempDir(async (dir) => {
    const file = externalModel(dir);
    const r = await cli("optimize", file, "--check");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(Object.keys(await snapshot(dir)).sort(), ["m.onnx", "m.opt.onnx", "m.weights"]);
  });
});

/** Spawn `optimize --check`, wait for its temporary model, send `signal`: it exits 128+n and leaves nothing. */
async function interruptCheck(signal: Deno.Signal, code: number): Promise<void> {
  await withTempDir(async (dir) => {
    const input = path.join(dir, "in.onnx");
    Deno.copyFileSync(modelPath("shufflenet_v2_x0_5"), input);
    const out = path.join(dir, "out.onnx");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path.join(root, "cli.ts"), "optimize", input, "-o", out, "--check"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const tmp = `${out}.tmp-check-${child.pid}.onnx`;
    const t0 = Date.now();
    let seen = false;
    while (!seen && Date.now() - t0 < 300_000) {
      try {
        seen = Deno.statSync(tmp).isFile;
      } catch { /* not yet */ }
      if (!seen) await new Promise((r) => setTimeout(r, 5));
    }
    assert(seen, "the temporary model never appeared");
    child.kill(signal);
    const res = await child.output();
    assertEquals(res.code, code, new TextDecoder().decode(res.stderr));
    assertEquals(Object.keys(await snapshot(dir)), ["in.onnx"], "a temporary or output file was left behind");
  });
}

Deno.test("SIGINT during optimize --check removes the temporary model and exits 130", { ignore: !unix }, async () => {
  await interruptCheck("SIGINT", 130);
});

Deno.test("SIGTERM during optimize --check removes the temporary model and exits 143", { ignore: !unix }, async () => {
  await interruptCheck("SIGTERM", 143);
});
