/**
 * Names from a model never reach the terminal raw: a model whose input, node, output names,
 * op type, domain and producer hold escape codes (clear the screen, return to the start of the
 * line and forge "saturn: all good"), C1 controls, bidi overrides and line separators, and whose
 * output name is 8 MB long, goes through `inspect`, `run --backend ref`, `optimize` and error
 * paths as a subprocess: stdout and stderr hold no raw control character and no line of more than
 * a few KB; `--json` stays valid and exact.
 */
import * as path from "node:path";
import { runCli } from "./_helpers.ts";
import { assert, assertEquals } from "./_assert.ts";
import { graphModel, node } from "./_models.ts";
import { saveOnnx } from "../onnx/load.ts";
import { terminalJson, terminalLine } from "../cli/terminal.ts";


/** Escape codes that clear the screen and forge a line, a C1 CSI, a bidi override and a line separator. */
const EVIL = "x\x1b[2J\rsaturn: all good\n\u009b2J\u202e\u2028\x7fy";
/** 8 MiB of one name. */
const HUGE = "h".repeat(8 * 2 ** 20);
/** What must never appear raw: C0 controls except newline, DEL, C1, separators, bidi controls. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const MAX_LINE = 8192;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

/** Nothing raw, nothing huge, nothing forged, no internal error. */
function assertSafe(r: Run, what: string): void {
  assert(r.code !== 70, `${what}: internal error: ${terminalLine(r.stderr)}`);
  for (const [stream, text] of [["stdout", r.stdout], ["stderr", r.stderr]] as const) {
    const m = RAW.exec(text);
    assert(!m, `${what}: raw U+${m?.[0].charCodeAt(0).toString(16)} on ${stream}: ${terminalLine(text)}`);
    for (const line of text.split("\n")) {
      assert(line.length <= MAX_LINE, `${what}: a line of ${line.length} characters on ${stream}`);
      assert(!/^saturn: all good/.test(line), `${what}: a forged line on ${stream}`);
    }
  }
}

/** A model with EVIL names everywhere and an 8 MB output name; and one whose op and domain are EVIL. */
async function withEvilModels(fn: (named: string, op: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const named = graphModel(
      [{ ...node("Relu", [EVIL], [HUGE]), name: `node ${EVIL}` }],
      { [EVIL]: [1, 4] },
      [HUGE],
    );
    named.producerName = EVIL;
    named.producerVersion = EVIL;
    // the file name itself holds the escape codes too
    const namedFile = path.join(dir, "named\x1b[2J.onnx");
    saveOnnx(named, namedFile);
    const op = graphModel(
      [node(`Op${EVIL}`, ["a"], ["b"], [], `dom${EVIL}`)],
      { a: [2] },
      ["b"],
      {},
      { domains: [{ domain: `dom${EVIL}`, version: 1 }] },
    );
    const opFile = path.join(dir, "op.onnx");
    saveOnnx(op, opFile);
    await fn(namedFile, opFile, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("terminalLine escapes every control, separator and bidi character and cuts long names", () => {
  assertEquals(terminalLine("plain line, kept as it is"), "plain line, kept as it is");
  assertEquals(terminalLine(EVIL), "x\\x1b[2J\\rsaturn: all good\\n\\x9b2J\\u202e\\u2028\\x7fy");
  assertEquals(terminalLine("a\tb\u0000\u2066c\ufeff"), "a\\tb\\x00\\u2066c\\ufeff");
  assertEquals(terminalLine(`in ${"n".repeat(300)} out`), `in ${"n".repeat(200)}…(100 more) out`);
  const huge = terminalLine(`name ${HUGE}: float32`);
  assertEquals(huge, `name ${"h".repeat(200)}…(${HUGE.length + 1 - 200} more) float32`);
  const words = terminalLine("ab ".repeat(10000));
  assert(words.length < 4200 && words.endsWith(`…(${30000 - 4096} more)`), words.slice(-40));
  // a cut never splits a surrogate pair
  assert(!/[\ud800-\udbff]…/.test(terminalLine("x" + "\u{1F600}".repeat(150))));
});

Deno.test("terminalJson denotes the same value with no raw control, separator or bidi character", () => {
  const value = { name: EVIL, huge: HUGE, list: [EVIL] };
  const text = terminalJson(JSON.stringify(value, null, 1));
  assert(!RAW.test(text.replaceAll("\n", "")));
  assertEquals(JSON.parse(text), value);
});

Deno.test("inspect, run, optimize and their errors print names from a hostile model escaped and cut", async () => {
  await withEvilModels(async (named, op, dir) => {
    const inspect = await cli("inspect", named);
    assertSafe(inspect, "inspect");
    assertEquals(inspect.code, 0, inspect.stderr);
    assert(inspect.stdout.includes("x\\x1b[2J\\rsaturn: all good\\n"), inspect.stdout.slice(0, 2000));
    assert(inspect.stdout.includes("…("), "the 8 MB name is cut");

    const inspectOp = await cli("inspect", op);
    assertSafe(inspectOp, "inspect (op)");

    const run = await cli("run", named, "--backend", "ref");
    assertSafe(run, "run --backend ref");
    assertEquals(run.code, 0, run.stderr);

    const runOp = await cli("run", op, "--backend", "ref");
    assertSafe(runOp, "run --backend ref (op)");
    assertEquals(runOp.code, 2, runOp.stderr);

    const out = path.join(dir, "out.onnx");
    const opt = await cli("optimize", named, "-o", out);
    assertSafe(opt, "optimize");
    assertEquals(opt.code, 0, opt.stderr);
    const optOp = await cli("optimize", op, "-o", out);
    assertSafe(optOp, "optimize (op)");

    // error paths that quote names: an input of the wrong size, and an input the model lacks
    const bad = path.join(dir, "bad.json");
    await Deno.writeTextFile(bad, JSON.stringify({ [EVIL]: { dtype: "float32", data: [1] } }));
    const wrong = await cli("run", named, "--backend", "ref", "--inputs", bad);
    assertSafe(wrong, "run --inputs (wrong size)");
    assertEquals(wrong.code, 2, wrong.stderr);
    await Deno.writeTextFile(bad, JSON.stringify({ [EVIL + HUGE]: [1, 2, 3, 4] }));
    const unknown = await cli("run", named, "--backend", "ref", "--inputs", bad);
    assertSafe(unknown, "run --inputs (no such input)");
    assertEquals(unknown.code, 2, unknown.stderr);
  });
});

Deno.test("--json output of a hostile model is valid JSON that holds its names exactly", async () => {
  await withEvilModels(async (named) => {
    const inspect = await cli("inspect", named, "--json");
    assertEquals(inspect.code, 0, inspect.stderr);
    assert(!RAW.test(inspect.stdout.replaceAll("\n", "")), "raw characters in inspect --json");
    const report = JSON.parse(inspect.stdout);
    assertEquals(report.inputs[0].name, EVIL);
    assertEquals(report.outputs[0].name, HUGE);

    const run = await cli("run", named, "--backend", "ref", "--json");
    assertEquals(run.code, 0, run.stderr);
    assert(!RAW.test(run.stdout.replaceAll("\n", "")), "raw characters in run --json");
    assertEquals(JSON.parse(run.stdout).outputs[0].name, HUGE);
  });
});
