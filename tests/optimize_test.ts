/**
 * `saturn optimize` end to end, as a user meets it: the CLI run as a subprocess on each shared
 * model, its output checked against the original in ONNX Runtime, the default output path, the
 * refusal to write over the input, `--check`, a user's own rule file and TypeScript plugin, and
 * one-line `FILE:LINE:` errors for broken rule files.
 */
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath, MODELS, runCli } from "./_helpers.ts";
import { loadOnnx } from "../onnx/load.ts";
import type { Model } from "../ir/graph.ts";
import { checkEquivalent } from "../verify/check.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

/** `optimize ... --json`, asserting exit 0 and a parseable object on stdout. */
async function optimizeJson(...args: string[]): Promise<Record<string, unknown> & OptimizeJson> {
  const r = await cli("optimize", ...args, "--json");
  assertEquals(r.code, 0, `optimize ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface OptimizeJson {
  input: string;
  output: string;
  nodesBefore: number;
  nodesAfter: number;
  opsBefore: Record<string, number>;
  opsAfter: Record<string, number>;
  rules: Record<string, number>;
  stopReason: { kind: string };
  check: null | { passed: boolean; seeds: number[]; executors: { original: string; optimized: string } };
}

async function sha256(file: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(file)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(file: string): boolean {
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Graph inputs/outputs as name and element type (shapes may be refined by inference). */
function signature(m: Model) {
  const io = (vs: Model["graph"]["inputs"]) =>
    vs.map((v) => ({ name: v.name, dtype: v.type?.kind === "tensor" ? v.type.dtype : v.type?.kind }));
  const inits = new Set(m.graph.initializers.keys());
  return { inputs: io(m.graph.inputs.filter((v) => !inits.has(v.name))), outputs: io(m.graph.outputs) };
}

/** The optimized file loads in ONNX Runtime and matches the original at atol 1e-4 / rtol 1e-3. */
async function assertEquivalent(original: string, optimized: string): Promise<void> {
  const a = loadOnnx(original), b = loadOnnx(optimized);
  assertEquals(signature(b), signature(a), `${optimized}: graph inputs/outputs changed`);
  const r = await checkEquivalent({ file: original, model: a }, { file: optimized, model: b });
  assertEquals(r.mismatches, [], `${optimized} differs from ${original}`);
  // a model ONNX Runtime cannot load would silently fall back to the reference interpreter
  assertEquals(r.executors, { original: "ort", optimized: "ort" }, `${optimized}: not run by ONNX Runtime`);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saturn-optimize-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sum(h: Record<string, number>): number {
  return Object.values(h).reduce((a, b) => a + b, 0);
}

const STOP_KINDS = ["saturated", "iteration-limit", "node-limit", "time-limit"];

// ---- each shared model with default settings

for (const name of MODELS) {
  Deno.test(`optimize ${name}: exit 0, input untouched, fewer or equal nodes, same outputs as the original in ORT`, async () => {
    await withTempDir(async (dir) => {
      const input = modelPath(name);
      const out = path.join(dir, "out.onnx");
      const before = await sha256(input);
      const j = await optimizeJson(input, "-o", out);
      assertEquals(await sha256(input), before, `${input} was modified`);
      assert(exists(out), `${out} was not written`);
      assertEquals(listDir(dir), ["out.onnx"], "stray files beside the output");
      assertEquals([j.input, j.output], [input, out]);

      assert(Number.isInteger(j.nodesBefore) && Number.isInteger(j.nodesAfter), JSON.stringify(j));
      assert(j.nodesAfter <= j.nodesBefore, `${name}: nodes ${j.nodesBefore} → ${j.nodesAfter}`);
      assertEquals(sum(j.opsBefore), j.nodesBefore, "opsBefore does not add up to nodesBefore");
      assertEquals(sum(j.opsAfter), j.nodesAfter, "opsAfter does not add up to nodesAfter");
      assert(j.stopReason && STOP_KINDS.includes(j.stopReason.kind), `stopReason: ${JSON.stringify(j.stopReason)}`);
      assertEquals(j.check, null);
      for (const [rule, n] of Object.entries(j.rules)) assert(Number.isInteger(n) && n > 0, `rules.${rule} = ${n}`);

      // the report describes the file written, and the file the graph that was read
      const written = loadOnnx(out);
      assertEquals(written.graph.nodes.length, j.nodesAfter, "nodesAfter is not the written model's node count");
      assertEquals(loadOnnx(input).graph.nodes.length, j.nodesBefore, "nodesBefore is not the input's node count");

      await assertEquivalent(input, out);
    });
  });
}

// ---- output path

Deno.test("without -o the output is <name>.opt.onnx beside the input; -o equal to the input is refused", async () => {
  await withTempDir(async (dir) => {
    const input = path.join(dir, "bert.onnx");
    await Deno.copyFile(modelPath("bert_tiny"), input);
    const before = await sha256(input);

    const j = await optimizeJson(input);
    const expected = path.join(dir, "bert.opt.onnx");
    assertEquals(j.output, expected);
    assertEquals(listDir(dir), ["bert.onnx", "bert.opt.onnx"]);
    assertEquals(await sha256(input), before, "the input was modified");
    await assertEquivalent(input, expected);

    // the same file spelt three ways: as given, relative to the working directory, and with ./ and ..
    await Deno.remove(expected);
    for (const o of [input, path.relative(root, input), path.join(dir, "sub", "..", ".", "bert.onnx")]) {
      const r = await cli("optimize", input, "-o", o);
      assertEquals(r.code, 2, `-o ${o}: exit ${r.code}, stderr ${r.stderr}`);
      assert(/^saturn: [^\n]*refusing to write over the input[^\n]*\n$/.test(r.stderr), `stderr: ${r.stderr}`);
      assertEquals(r.stdout, "");
      assertEquals(listDir(dir), ["bert.onnx"], `-o ${o}: something was written`);
      assertEquals(await sha256(input), before, `-o ${o}: the input was modified`);
    }
  });
});

// ---- --check

Deno.test("--check passes on a model and says so: a check line, or the JSON check field", async () => {
  await withTempDir(async (dir) => {
    const input = modelPath("gpt2_tiny");
    const out = path.join(dir, "gpt2.onnx");
    const r = await cli("optimize", input, "-o", out, "--check");
    assertEquals(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assertEquals(lines[0], `${input} → ${out}`);
    const check = lines.filter((l) => /^\s+check: /.test(l));
    assertEquals(check.length, 1, r.stdout);
    assert(/outputs match on seeds \d+(, \d+)* \(ort vs ort, atol 1e-4, rtol 1e-3\)$/.test(check[0]), check[0]);
    assert(exists(out));
    assertEquals(listDir(dir), ["gpt2.onnx"], "the check's temporary file was left behind");

    await Deno.remove(out);
    const j = await optimizeJson(input, "-o", out, "--check");
    assert(j.check !== null, "no check field");
    assertEquals(j.check.passed, true);
    assertEquals(j.check.executors, { original: "ort", optimized: "ort" });
    assert(j.check.seeds.length >= 1, JSON.stringify(j.check));
    assertEquals(listDir(dir), ["gpt2.onnx"]);
  });
});

// ---- the user's own rules

Deno.test("a user's .rules file replaces a shipped rule left out with --without, fires, and keeps outputs", async () => {
  await withTempDir(async (dir) => {
    const rules = path.join(dir, "mine.rules");
    await Deno.writeTextFile(
      rules,
      "# 0 + x = x, my way\nmy-zero-add: (Add 0 ?x)\n  => ?x if (same-shape ?x $root)\n",
    );
    const input = modelPath("bert_tiny");
    const out = path.join(dir, "bert.onnx");
    const j = await optimizeJson(input, "-o", out, "--without", "zero-add", "--rules", rules);
    assert(!("zero-add" in j.rules), `zero-add fired despite --without: ${JSON.stringify(j.rules)}`);
    assert((j.rules["my-zero-add"] ?? 0) > 0, `my-zero-add did not fire: ${JSON.stringify(j.rules)}`);
    assert(j.nodesAfter <= j.nodesBefore);
    await assertEquivalent(input, out);

    // the same rule name twice (mine and shipped) is an error
    const clash = path.join(dir, "clash.rules");
    await Deno.writeTextFile(clash, "# 0 + x = x\nzero-add: (Add 0 ?x) => ?x if (same-shape ?x $root)\n");
    const r = await cli("optimize", input, "-o", path.join(dir, "clash.onnx"), "--rules", clash);
    assertEquals(r.code, 2, r.stderr);
    assert(/^saturn: [^\n]*:2: rule zero-add is already defined[^\n]*\n$/.test(r.stderr), r.stderr);
    assert(!exists(path.join(dir, "clash.onnx")));
  });
});

Deno.test("a TypeScript plugin rule (defineRules) fires on a shared model and keeps outputs", async () => {
  await withTempDir(async (dir) => {
    const ruleTs = pathToFileURL(path.join(root, "rules", "rule.ts")).href;
    const plugin = path.join(dir, "plugin.ts");
    // Concat(x) = x, as data with a guard written in TypeScript
    await Deno.writeTextFile(
      plugin,
      `import { defineRules } from "${ruleTs}";\n` +
        `export default defineRules("user", [{\n` +
        `  name: "plugin-concat-one",\n` +
        `  comment: "Concat(x) = x",\n` +
        // Concat's axis is required: a pattern that leaves it out matches no Concat (it has no default)
        `  lhs: [{ kind: "op", op: "Concat", attrs: [{ name: "axis", term: { kind: "var", name: "a" } }],\n` +
        `    children: [{ kind: "var", name: "x" }] }],\n` +
        `  rhs: [{ kind: "var", name: "x" }],\n` +
        `  guard: (_env, s) => s.classes.has("x"),\n` +
        `}]);\n`,
    );
    const input = modelPath("gpt2_tiny");
    const out = path.join(dir, "gpt2.onnx");
    const j = await optimizeJson(input, "-o", out, "--without", "concat-one", "--rules", plugin);
    assert(!("concat-one" in j.rules), `concat-one fired despite --without: ${JSON.stringify(j.rules)}`);
    assert((j.rules["plugin-concat-one"] ?? 0) > 0, `plugin-concat-one did not fire: ${JSON.stringify(j.rules)}`);
    await assertEquivalent(input, out);

    // a plugin whose default export is not a rule list: one line, FILE:1:
    const bad = path.join(dir, "bad.ts");
    await Deno.writeTextFile(bad, `export default { name: "not-a-list" };\n`);
    const r = await cli("optimize", input, "-o", path.join(dir, "bad.onnx"), "--rules", bad);
    assertEquals(r.code, 2, r.stderr);
    assert(r.stderr.startsWith(`saturn: ${bad}:1: `) && /^[^\n]+\n$/.test(r.stderr), r.stderr);
    assert(!exists(path.join(dir, "bad.onnx")));
  });
});

// ---- rule-file errors through the CLI

const BROKEN: { what: string; text: string; line: number; reason: RegExp }[] = [
  {
    what: "a syntax error",
    text: "# fine\nok: (Relu ?x) => (Relu ?x)\n\n# broken\nbad: (Relu ?x)) => ?x\n",
    line: 5,
    reason: /unbalanced '\)'/,
  },
  {
    what: "an unknown op",
    text: "# fine\nok: (Relu ?x) => (Relu ?x)\n# broken\nbad: (Relu ?x)\n  => (Sigmoidd ?x)\n",
    line: 5,
    reason: /unknown op Sigmoidd/,
  },
  {
    what: "an unbound variable on the right",
    text: "# fine\nok: (Relu ?x) => (Relu ?x)\n# broken\n\nbad: (Relu ?x)\n  => (Sigmoid ?q)\n",
    line: 6,
    reason: /unbound variable \?q/,
  },
];

for (const b of BROKEN) {
  Deno.test(`a rule file with ${b.what}: exit 2, one FILE:LINE: line on stderr, nothing written`, async () => {
    await withTempDir(async (dir) => {
      const rules = path.join(dir, "broken.rules");
      await Deno.writeTextFile(rules, b.text);
      const out = path.join(dir, "out.onnx");
      const r = await cli("optimize", modelPath("squeezenet1_1"), "-o", out, "--rules", rules);
      assertEquals(r.code, 2, `exit ${r.code}: ${r.stderr}`);
      assertEquals(r.stdout, "");
      assert(/^[^\n]+\n$/.test(r.stderr), `not one line: ${JSON.stringify(r.stderr)}`);
      const prefix = `saturn: ${rules}:${b.line}: `;
      assert(r.stderr.startsWith(prefix), `expected '${prefix}…', got ${r.stderr}`);
      assert(b.reason.test(r.stderr.slice(prefix.length)), `reason: ${r.stderr}`);
      assertEquals(listDir(dir), ["broken.rules"], "something was written");
    });
  });
}

Deno.test("--json with an unknown --without name: exit 2, one line, nothing on stdout or disk", async () => {
  await withTempDir(async (dir) => {
    const out = path.join(dir, "out.onnx");
    const r = await cli("optimize", modelPath("bert_tiny"), "-o", out, "--without", "no-such-rule", "--json");
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.stdout, "");
    assert(/^[^\n]+\n$/.test(r.stderr), `not one line: ${JSON.stringify(r.stderr)}`);
    assert(r.stderr.includes("--without no-such-rule"), r.stderr);
    assertEquals(listDir(dir), []);
  });
});
