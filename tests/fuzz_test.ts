/**
 * The differential fuzzer (`fuzz/`): a short seeded run finds nothing, the generator is a pure
 * function of its seed, the shrinker reduces a failing graph to the node that fails, and the
 * command line refuses bad arguments with exit 2.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { fuzz, summaryLine } from "../fuzz/fuzz.ts";
import { generateGraph } from "../fuzz/generate.ts";
import { graphSeed } from "../fuzz/random.ts";
import { encodeModel } from "../onnx/encode.ts";
import { toNumbers } from "../ir/tensor.ts";
import { type Case, shrink } from "../fuzz/shrink.ts";
import { runGraph } from "../fuzz/pipeline.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;

Deno.test("a seeded fuzz run of 40 graphs finds no mismatch, crash or refusal in any stage", async () => {
  const stats = await fuzz({
    seed: 20261205,
    graphs: 40,
    stages: adapter ? undefined : ["reference", "optimize"],
    shrink: false,
  });
  const found = stats.findings.map((f) => `${f.stage} ${f.outcome.kind} (graph ${f.graph}): ${f.outcome.message}`);
  assertEquals(found, [], summaryLine(stats));
  assertEquals(stats.tried, 40);
  assert(stats.discarded < 8, `ONNX Runtime refused ${stats.discarded} of 40 graphs: the generator makes invalid ones`);
});

Deno.test("the generator gives the same graph and feeds for the same seed, and others for others", () => {
  const bytes = (s: number) => encodeModel(generateGraph(s).model).bytes.join();
  assertEquals(bytes(graphSeed(7, 3)), bytes(graphSeed(7, 3)));
  const distinct = new Set(Array.from({ length: 20 }, (_, i) => bytes(graphSeed(7, i))));
  assert(distinct.size >= 18, `only ${distinct.size} distinct graphs of 20`);
  const a = generateGraph(graphSeed(7, 3)).feeds, b = generateGraph(graphSeed(7, 3)).feeds;
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) assertEquals([...toNumbers(t)], [...toNumbers(b.get(k)!)]);
});

Deno.test("the shrinker reduces a graph to the one op that 'fails', keeping it valid for ONNX Runtime", async () => {
  // the stand-in failure: the graph still has a Transpose node and ONNX Runtime still runs it
  let start: Case | undefined;
  for (let i = 0; !start; i++) {
    const g = generateGraph(graphSeed(11, i), { maxNodes: 10 });
    if (g.model.graph.nodes.length >= 6 && g.model.graph.nodes.some((n) => n.opType === "Transpose")) start = g;
  }
  const dir = await Deno.makeTempDir();
  try {
    const fails = async (c: Case) =>
      c.model.graph.nodes.some((n) => n.opType === "Transpose") &&
      (await runGraph(c.model, c.feeds, { dir, stages: ["reference"] })).discarded === undefined;
    assert(start && await fails(start));
    const { case: small } = await shrink(start, fails, { dir });
    assertEquals(small.model.graph.nodes.map((n) => n.opType), ["Transpose"]);
    assertEquals(small.model.graph.outputs.length, 1);
    assert(await fails(small));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fuzz/main.ts refuses a missing budget and a bad seed with exit 2", async () => {
  for (const args of [["--seed", "1"], ["--seed", "x", "--budget", "1"], ["--budget", "1", "--what"]]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "fuzz/main.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 2, args.join(" "));
    assert(new TextDecoder().decode(out.stderr).startsWith("fuzz: "), args.join(" "));
  }
});
