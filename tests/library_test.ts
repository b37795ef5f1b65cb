/**
 * The library as a Deno tool meets it: `optimize` from mod.ts keeps the CLI's promises — a refuted
 * rule is never applied (not even with `trustRules`), defaults are the CLI's, and errors name
 * library options, never command-line flags.
 */
import { assert, assertEquals } from "./_assert.ts";
import { graphModel, node, rand } from "./_models.ts";
import { compareTensors, optimize, OPTIMIZE_DEFAULTS, parseRules, runModel, SaturnError, type Tensor } from "../mod.ts";
import type { Model } from "../mod.ts";

/** Div(a, b) over two float32[2, 3] inputs: a graph the wrong rule `div-swap` matches. */
function divModel(): Model {
  return graphModel([node("Div", ["a", "b"], ["y"])], { a: [2, 3], b: [2, 3] }, ["y"]);
}

const WRONG = "div-swap: (Div ?a ?b) => (Div ?b ?a)";

async function tempCache(): Promise<string> {
  const dir = await Deno.makeTempDir();
  return `${dir}/verdicts.json`;
}

Deno.test("optimize() refuses a refuted rule given as a value and keeps outputs", async () => {
  const model = divModel();
  const rules = parseRules(WRONG, "mine.rules", "user");
  const { model: out, verification } = await optimize(model, { guard: false, rules, cacheFile: await tempCache() });
  const refused = verification.skipped.find((s) => s.rule.name === "div-swap");
  assert(refused, `div-swap was not refused: ${JSON.stringify(verification.skipped.map((s) => s.rule.name))}`);
  assertEquals(refused.status, "refuted");
  assert(!verification.applied.some((r) => r.name === "div-swap"), "div-swap is among the applied rules");
  const feeds = new Map([["a", rand([2, 3], 1)], ["b", rand([2, 3], 2, { lo: 0.5, hi: 2 })]]);
  const want = runModel(model, feeds).get("y") as Tensor;
  const got = runModel(out, feeds).get("y") as Tensor;
  assertEquals(compareTensors(got, want, { atol: 0, rtol: 0 }), undefined);
});

Deno.test("optimize() refuses a refuted rule from a rule file, caches the verdict, and trustRules cannot apply it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/mine.rules`;
    await Deno.writeTextFile(file, `# wrong: Div is not commutative\n${WRONG}\n`);
    const cacheFile = `${dir}/verdicts.json`;
    const first = await optimize(divModel(), { guard: false, ruleFiles: [file], cacheFile });
    assertEquals(first.verification.skipped.map((s) => [s.rule.name, s.status]), [["div-swap", "refuted"]]);
    assertEquals(first.verification.verifiedNow.map((v) => v.name), ["div-swap"]);
    // trustRules skips verifying rules no cache knows; a known refutation still stands
    const second = await optimize(divModel(), { guard: false, ruleFiles: [file], cacheFile, trustRules: true });
    assertEquals(second.verification.skipped.map((s) => s.rule.name), ["div-swap"]);
    assertEquals(second.verification.verifiedNow, [], "the cached verdict was not used");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("optimize() defaults are the shipped packs and OPTIMIZE_DEFAULTS' limits", async () => {
  const { report, verification } = await optimize(divModel(), { guard: false, cacheFile: await tempCache() });
  assert(verification.applied.length > 50, `only ${verification.applied.length} shipped rules applied`);
  assert(verification.applied.every((r) => r.shipped), "a non-shipped rule was applied by default");
  assertEquals(verification.skipped, []);
  assert(report.run.iterations.length <= OPTIMIZE_DEFAULTS.iterLimit);
  assertEquals(OPTIMIZE_DEFAULTS.extract, "ilp");
  assertEquals(OPTIMIZE_DEFAULTS.trustRules, false);
});

Deno.test("optimize() errors name library options, never command-line flags", async () => {
  const cases: [string, () => Promise<unknown>][] = [
    ["without", () => optimize(divModel(), { without: ["no-such-rule"] })],
    ["nodeLimit", () => optimize(divModel(), { nodeLimit: 0 })],
    ["extract", () => optimize(divModel(), { extract: "best" as "ilp" })],
    ["ruleFiles", () => optimize(divModel(), { ruleFiles: ["/no/such/file.rules"] })],
  ];
  for (const [what, call] of cases) {
    let err: unknown;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    assert(err instanceof SaturnError, `${what}: expected a SaturnError, got ${err}`);
    assert(!/(^|\s)--?[a-z]/.test(err.message), `${what}: message names a flag: ${err.message}`);
  }
});

Deno.test("optimize() bounds verification by timeLimitMs: rules not reached stay unapplied, the next call goes on", async () => {
  // 300 distinct correct rules, far more than one second of verification
  const text = Array.from({ length: 300 }, (_, i) => `comm-${i}: (Add (Mul ?a ?b) ?c${i}) => (Add ?c${i} (Mul ?b ?a))`)
    .join("\n");
  const rules = parseRules(text, "many.rules", "user");
  const cacheFile = await tempCache();
  const t0 = performance.now();
  const first = await optimize(divModel(), { guard: false, rules, cacheFile, timeLimitMs: 1000 });
  const ms = performance.now() - t0;
  const late = first.verification.skipped.filter((s) => s.status === "unverified");
  assert(late.length > 0, "every rule was verified within one second: the test needs more rules");
  assert(first.verification.verifiedNow.length > 0, "nothing was verified");
  assertEquals(late.length + first.verification.verifiedNow.length, 300);
  assert(!first.verification.applied.some((r) => late.some((s) => s.rule === r)), "an unverified rule was applied");
  assert(ms < 15_000, `optimize took ${ms.toFixed(0)} ms with a 1 s limit per phase`);
  const second = await optimize(divModel(), { guard: false, rules, cacheFile, timeLimitMs: 1000 });
  const lateAgain = second.verification.skipped.filter((s) => s.status === "unverified");
  assert(lateAgain.length < late.length, `no progress: ${late.length} then ${lateAgain.length} left`);
});
