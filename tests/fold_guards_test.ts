/**
 * Guards that keep constant folds inside float32's range, checked against the verifier across seeds:
 * without them a seed finds the counterexample (the reason the guard is there), with them none of
 * the seeds does. The shipped rules are the ones under test (loaded from rules/), the unguarded
 * variants are the same rules with the guard taken out.
 */
import { assert, assertEquals } from "./_assert.ts";
import { loadRulePacks } from "../rules/load.ts";
import { parseRules } from "../rules/parser.ts";
import { verifyRule } from "../verify/verify_rule.ts";
import type { Rule } from "../rules/rule.ts";

const shipped = await loadRulePacks({});
const named = (name: string): Rule => {
  const r = shipped.find((x) => x.name === name);
  assert(r, `shipped rule ${name}`);
  return r;
};
/** The shipped rule's source with `guard` removed, parsed as a user rule. */
const without = (name: string, guard: RegExp): Rule => {
  const src = (named(name).source ?? "").replace(guard, "");
  assert(src !== named(name).source, `${name} has the guard`);
  const [r] = parseRules(src, "unguarded.rules", "user");
  return r;
};

Deno.test("rmsnorm: eps 0 with float32 denormals is refuted at some seed; (at-least ?eps 1e-30) holds at all", async () => {
  const seeds = [1, 8, 14, 35];
  const bare = without("rmsnorm", /\(at-least \?eps 1e-30\)/);
  const refuted = [];
  for (const seed of seeds) if ((await verifyRule(bare, { seed })).status === "refuted") refuted.push(seed);
  assert(refuted.length > 0, "the unguarded RMSNorm fold is refuted at one of the seeds");
  for (const seed of seeds) assertEquals((await verifyRule(named("rmsnorm"), { seed })).status, "proved", `seed ${seed}`);
});

Deno.test("scale-into-conv: folding an extreme scale into extreme weights is refuted; (bounded … 1e15) holds", async () => {
  const bare = without("scale-into-conv-nobias", /\(bounded \?w 1e15\) \(bounded \?s 1e15\)/);
  const seeds = [1, 2, 4, 11];
  const refuted = [];
  for (const seed of seeds) if ((await verifyRule(bare, { seed })).status === "refuted") refuted.push(seed);
  assert(refuted.length > 0, "the unbounded fold is refuted at one of the seeds");
  for (const seed of seeds) {
    const v = await verifyRule(named("scale-into-conv-nobias"), { seed });
    assert(v.status === "proved" || v.status === "tested", `seed ${seed}: ${v.status}`);
  }
});
