/**
 * Rule verification: right rules of the shipped packs are never refuted, instances respect
 * guards and shapes, Z3's time limit holds. The wrong rules of tests/data/wrong.rules (and the
 * right rules of tests/data/right.rules) are checked by tests/verify_corpus_test.ts, which
 * re-runs each counterexample in the instance's own element types.
 */
import { assert, assertEquals } from "./_assert.ts";
import { loadRulePacks } from "../rules/load.ts";
import { verifyRule, z3Prover } from "../verify/verify_rule.ts";
import { ruleInstances } from "../verify/instances.ts";
import { parseRules } from "../rules/parser.ts";
import { runModel } from "../ir/interpreter.ts";
import type { Tensor } from "../ir/tensor.ts";
import { randomInputs } from "../verify/inputs.ts";

Deno.test("every shipped rule has instances where it fires, and none is refuted by the tests", async () => {
  for (const rule of await loadRulePacks()) {
    const v = await verifyRule(rule, { prover: null });
    assert(v.status === "tested", `${rule.name}: ${v.status} ${v.note ?? ""} ${v.counterexample?.bindings ?? ""}`);
    assert(v.cases >= 20, `${rule.name}: only ${v.cases} cases`);
  }
});

Deno.test("instances respect the rule's guard and shapes: x + 0 = x only where 0 does not broadcast x", () => {
  const [rule] = parseRules("t: (Add ?x 0) => ?x if (same-shape ?x $root)", "t.rules", "user");
  const insts = ruleInstances(rule, { want: 10 });
  assert(insts.length >= 5, `only ${insts.length} instances`);
  for (const inst of insts) {
    const out = runModel(inst.model, randomInputs(inst.model, { seed: 0 }));
    assertEquals((out.get("lhs0") as Tensor).dims, (out.get("rhs0") as Tensor).dims);
  }
});

Deno.test("a query Z3 cannot decide in its time limit is 'unknown', promptly; with time it is proved", async () => {
  // √(x² + 2·√(x²y²) + y²) = √(x²) + √(y²) takes nlsat seconds; a polynomial identity such as MatMul
  // associativity is normalized in milliseconds and can beat Z3's 1 ms timer to the answer on a fast machine.
  // Over IEEE floats the rule is wrong (x = inf, y = 0: inf·0 is NaN inside the left side only), so the
  // verdict is a refutation by the tests; Z3's time limit is checked on the query itself.
  const s = "(Sqrt (Mul (Mul ?x ?x) (Mul ?y ?y)))";
  const [rule] = parseRules(
    `sqrt-square-sum: (Sqrt (Add (Add (Mul ?x ?x) (Add ${s} ${s})) (Mul ?y ?y))) => ` +
      "(Add (Sqrt (Mul ?x ?x)) (Sqrt (Mul ?y ?y))) if (rank ?x 0) (rank ?y 0)",
    "t.rules",
    "user",
  );
  const v = await verifyRule(rule, { timeoutMs: 1 });
  assertEquals([v.status, v.counterexample?.by], ["refuted", "test"], v.note);
  const prover = (await z3Prover())!;
  const [inst] = ruleInstances(rule, { want: 1 });
  const ask = (timeoutMs: number) =>
    prover(inst.model, "lhs0", "rhs0", { timeoutMs, symbolic: new Set(inst.dataInputs) });
  const t0 = performance.now();
  const hurried = await ask(1);
  assertEquals(hurried.status, "unknown", JSON.stringify(hurried));
  assert(/timeout/.test((hurried as { reason: string }).reason), JSON.stringify(hurried));
  assert(performance.now() - t0 < 30_000, "a timed-out query must not hang");
  const patient = await ask(30_000);
  assertEquals(patient.status, "proved", JSON.stringify(patient));
  assert(/\?x: float32\[\]/.test(inst.bindings), inst.bindings);
});
