/**
 * The evidence behind a verdict: for each kind of hole the randomized side of the verifier had
 * (values never drawn, shapes never built, dtypes never used, IEEE comparison, Z3's reals,
 * evidence that is not evidence), a small wrong rule that used to get through is now refuted,
 * and a correct rule of the same kind still passes. Verdicts say how they were reached and what
 * was exercised.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { parseRules } from "../rules/parser.ts";
import { type Verdict, verifyRule } from "../verify/verify_rule.ts";
import { compareSides, testInstance, toFloat64 } from "../verify/differential.ts";
import { sampleInstances } from "../verify/instances.ts";
import { schemaViolation } from "../verify/op_types.ts";
import { runModel } from "../ir/interpreter.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import { graphModel, node } from "./_models.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

function rule(text: string) {
  return parseRules(text, "evidence.rules", "user")[0];
}

/** Verify with Z3 (short timeouts: these rules are small). */
function verify(text: string): Promise<Verdict> {
  return verifyRule(rule(text), { timeoutMs: 3000 });
}

async function refuted(text: string): Promise<Verdict> {
  const v = await verify(text);
  assertEquals(v.status, "refuted", `${text}: ${v.status} (${v.note})`);
  assert(v.counterexample, "a refutation carries its counterexample");
  return v;
}

async function passes(text: string): Promise<Verdict> {
  const v = await verify(text);
  assert(
    v.status === "proved" || v.status === "tested",
    `${text}: ${v.status} (${v.note}) ${v.counterexample?.bindings ?? ""}`,
  );
  return v;
}

const f64 = (xs: number[]) => fromNumbers(DataType.DOUBLE, [xs.length], xs);

// ---- IEEE comparison

Deno.test("a finite value never matches an infinity, NaN matches only NaN, and +0 matches -0", () => {
  const differs = (a: number[], b: number[]) => "reason" in compareSides(f64(a), f64(b), true);
  assert(differs([1, 2], [1, Infinity]), "finite vs +inf (the tolerance used to become infinite)");
  assert(differs([1, Infinity], [1, 2]), "+inf vs finite");
  assert(differs([Infinity], [-Infinity]), "+inf vs -inf");
  assert(differs([NaN], [0]) && differs([0], [NaN]), "NaN vs a number");
  assert(!differs([NaN, Infinity, -0], [NaN, Infinity, 0]), "NaN vs NaN, inf vs inf, -0 vs +0 agree");
  const c = compareSides(f64([1e300, 5]), f64([1e300, Infinity]), true);
  assert("reason" in c && c.error === Infinity, "the error of such an element is reported, not dropped");
});

Deno.test("exp(a + b) = exp(a)·exp(b) is refuted where exp overflows float32 on one side only", async () => {
  const v = await refuted("exp-split: (Exp (Add ?a ?b)) => (Mul (Exp ?a) (Exp ?b)) if (same-shape ?a ?b)");
  assertEquals(v.counterexample!.by, "test");
  await passes("exp-neg: (Exp (Neg ?x)) => (Reciprocal (Exp ?x))");
});

// ---- values never drawn

Deno.test("Reshape targets with 0 entries are drawn: a Reshape pair merged without a no-zero guard is refuted", async () => {
  await refuted("rr: (Reshape (Reshape ?x ?s1) ?s2) => (Reshape ?x ?s2)");
  await passes(
    "rr-ok: (Reshape (Reshape ?x ?s1) ?s2 :allowzero ?az) => (Reshape ?x ?s2 :allowzero ?az) if (no-zero ?s2)",
  );
});

Deno.test("Slice steps of -1 are drawn: dropping a shape-keeping Slice whatever its steps is refuted", async () => {
  await refuted("slice-keep: (Slice ?x ?st ?en ?ax ?sp) => ?x if (same-shape ?x $root)");
  await passes("slice-keep-ok: (Slice ?x ?st ?en ?ax ?sp) => ?x if (same-shape ?x $root) (all ?sp 1)");
});

Deno.test("Clip bounds come in either order: Clip as Max(Min(x, hi), lo) is refuted, Min(Max(x, lo), hi) passes", async () => {
  await refuted("clip-wrong: (Clip ?x ?lo ?hi) => (Max (Min ?x ?hi) ?lo)");
  await passes("clip-ok: (Clip ?x ?lo ?hi) => (Min (Max ?x ?lo) ?hi)");
});

Deno.test("integer-valued negative bases reach Pow: pow(x, y) = exp(y·log x) is refuted", async () => {
  await refuted("pow-exp-log: (Pow ?x ?y) => (Exp (Mul ?y (Log ?x))) if (same-shape ?x ?y)");
  await passes("pow-one-ok: (Pow ?x 1) => ?x if (same-shape ?x $root)");
});

// ---- shapes never built

Deno.test("1-D MatMul operands are built: MatMul as Gemm without a rank check on the second operand is refuted", async () => {
  await refuted("mm-gemm: (MatMul ?a ?b) => (Gemm ?a ?b) if (rank ?a 2) (dtype-float ?a)");
  await passes("mm-gemm-ok: (MatMul ?a ?b) => (Gemm ?a ?b) if (rank ?a 2) (rank ?b 2) (dtype-float ?a)");
});

Deno.test("a second operand larger than the first is built: dropping an added zero of the same rank is refuted", async () => {
  await refuted("add-zeros: (Add ?x ?z) => ?x if (all ?z 0) (same-rank ?x ?z)");
  await passes("add-zeros-ok: (Add ?x ?z) => ?x if (all ?z 0) (same-shape ?x $root)");
});

Deno.test("DepthToSpace gets a block size and channels it divides: CRD is not DCR", async () => {
  await refuted('d2s-mode: (DepthToSpace ?x :blocksize ?b :mode "CRD") => (DepthToSpace ?x :blocksize ?b)');
  await passes('d2s-mode-ok: (DepthToSpace ?x :blocksize ?b :mode "DCR") => (DepthToSpace ?x :blocksize ?b)');
});

// ---- dtypes never used

Deno.test("integer data is drawn: (x / 2) * 2 = x is refuted by integer Div's truncation", async () => {
  const v = await refuted("div-mul: (Mul (Div ?x ?c) ?c) => ?x if (all ?c 2) (same-shape ?x $root)");
  assert(/int/.test(v.counterexample!.bindings), v.counterexample!.bindings);
  await passes("neg-neg-ok: (Neg (Neg ?x)) => ?x");
});

Deno.test("int64 → int32 → int64 is refuted past int32's range; int32 → int64 → int32 passes", async () => {
  await refuted("cast-narrow: (Cast (Cast ?x :to 6) :to 7) => ?x if (same-dtype ?x $root)");
  await passes("cast-widen-ok: (Cast (Cast ?x :to 7) :to 6) => ?x if (same-dtype ?x $root)");
});

Deno.test("a Cast to float32 rounds even when the test runs in float64: float64 → float32 → float64 is refuted past float32's range", async () => {
  await refuted("cast-f32: (Cast (Cast ?x :to 1) :to 11) => ?x if (same-dtype ?x $root)");
  await passes("cast-f64-ok: (Cast (Cast ?x :to 11) :to 1) => ?x if (same-dtype ?x $root)");
});

Deno.test("toFloat64 keeps a Cast to float32 as a rounding step", () => {
  const m = graphModel(
    [node("Cast", ["x"], ["y"], [{ name: "to", type: "int", value: DataType.FLOAT }])],
    { x: [1] },
    ["y"],
  );
  const wide = toFloat64(m);
  const out = runModel(wide, new Map([["x", fromNumbers(DataType.DOUBLE, [1], [0.1])]]));
  const y = out.get("y") as Tensor;
  assertEquals(y.dtype, DataType.DOUBLE);
  assertEquals(toNumbers(y)[0], Math.fround(0.1));
});

// ---- Z3 over the reals

Deno.test("Z3's reals are not IEEE: Where(IsNaN(x), y, x) = x is refuted by a test, not proved", async () => {
  const v = await refuted("isnan-where: (Where (IsNaN ?x) ?y ?x) => ?x if (same-shape ?x ?y) (same-shape ?x $root)");
  assertEquals(v.counterexample!.by, "test");
});

Deno.test("Z3's reals are not IEEE: (x - x)·y = y - y is refuted at infinity", async () => {
  const v = await refuted("sub-self: (Mul (Sub ?x ?x) ?y) => (Sub ?y ?y) if (same-shape ?x ?y)");
  assertEquals(v.decidedBy, "tests");
});

Deno.test("a proof counts only with the IEEE special values tested: neg-neg is proved by z3+tests", async () => {
  const v = await passes("neg-neg: (Neg (Neg ?x)) => ?x");
  assertEquals(v.status, "proved", v.note);
  assertEquals(v.decidedBy, "z3+tests");
  for (const s of ["inf", "-inf", "nan", "-0", "denormal", "overflow"]) {
    assert(v.exercised.specials.includes(s), `${s} not exercised: ${v.exercised.specials}`);
  }
  assert(v.exercised.dtypes.includes("float32") && v.exercised.dtypes.length > 1, `${v.exercised.dtypes}`);
});

// ---- evidence that is not evidence

Deno.test("the schema table refuses float indices, float shapes and mixed element types", () => {
  assert(schemaViolation("Gather", [DataType.FLOAT, DataType.FLOAT]));
  assert(schemaViolation("Expand", [DataType.FLOAT, DataType.FLOAT]));
  assert(schemaViolation("Mul", [DataType.FLOAT, DataType.INT64]));
  assert(schemaViolation("Exp", [DataType.INT32]));
  assertEquals(schemaViolation("Mul", [DataType.INT32, DataType.INT32]), undefined);
  assertEquals(schemaViolation("Gather", [DataType.FLOAT, DataType.INT64]), undefined);
});

Deno.test("instances invalid by the schema are discarded, and a rule with no valid instance is an error saying why", async () => {
  // Gather's indices cast to float32: invalid ONNX whatever the sampler draws
  const text = "float-idx: (Gather ?x (Cast ?i :to 1) :axis 0) => ?x";
  const s = sampleInstances(rule(text), { tries: 100 });
  assertEquals(s.instances.length, 0);
  assert([...s.rejected.keys()].some((k) => /schema/.test(k)), [...s.rejected.keys()].join("; "));
  const v = await verify(text);
  assertEquals(v.status, "error");
  assertEquals(v.decidedBy, "none");
  assert(/invalid by the ONNX schema: Gather input 1 cannot be float/.test(v.note ?? ""), v.note);
  const g = await verify("rank9: (Relu ?x) => ?x if (rank ?x 9)");
  assertEquals(g.status, "error");
  assert(/the guard does not hold/.test(g.note ?? ""), g.note);
});

Deno.test("every instance counted is valid: Gather gets in-range int64 indices, never float ones", () => {
  const s = sampleInstances(rule("g: (Gather ?x ?i :axis ?a) => (Gather ?x ?i :axis ?a)"), { want: 8 });
  assert(s.instances.length >= 4, `${s.instances.length}`);
  for (const inst of s.instances) {
    assert(/\?i = int64/.test(inst.bindings), inst.bindings);
    assert(!testInstance(inst).invalid, inst.bindings);
  }
});

Deno.test("an approx guard is tested at the edges of its tolerance: a 5% tolerance on √2 in Gelu is refuted", async () => {
  await refuted(
    'gelu-loose: (Mul (Mul ?x 0.5) (Add (Erf (Div ?x ?s)) 1)) => (@gelu ?x "none") ' +
      "if (approx ?s 1.4142135 0.05) (dtype-float ?x) (same-shape ?x $root)",
  );
  await passes(
    'gelu-ok: (Mul (Mul ?x 0.5) (Add (Erf (Div ?x ?s)) 1)) => (@gelu ?x "none") ' +
      "if (approx ?s 1.4142135) (dtype-float ?x) (same-shape ?x $root)",
  );
});

// ---- attribute variables

Deno.test("a bound attribute variable takes non-default values: Shape's start and end are drawn", () => {
  const s = sampleInstances(rule("sh: (Shape ?x :start ?s :end ?e) => (Shape ?x :start ?s :end ?e)"), { want: 8 });
  const starts = new Set(s.instances.map((i) => JSON.stringify(i.attrs.s)));
  assert(starts.size >= 2 && [...starts].some((x) => x !== "null"), [...starts].join());
});

// ---- what verify --json says

Deno.test("verify --json says per rule how it was decided and what was exercised, and a refutation's finder", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "r.rules");
    Deno.writeTextFileSync(
      f,
      "neg-neg: (Neg (Neg ?x)) => ?x\nisnan-where: (Where (IsNaN ?x) ?y ?x) => ?x if (same-shape ?x ?y) (same-shape ?x $root)\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path.join(root, "cli.ts"), "verify", f, "--json"],
      env: { SATURN_CACHE_DIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 1, new TextDecoder().decode(out.stderr));
    const j = JSON.parse(new TextDecoder().decode(out.stdout));
    const [ok, bad] = j.rules;
    assertEquals([ok.status, ok.decidedBy], ["proved", "z3+tests"]);
    assert(ok.exercised.instances >= 5 && ok.exercised.cases > 0, JSON.stringify(ok.exercised));
    assert(ok.exercised.specials.includes("nan") && ok.exercised.dtypes.length > 1, JSON.stringify(ok.exercised));
    assertEquals([bad.status, bad.refutedBy, bad.decidedBy], ["refuted", "test", "tests"]);
    assert(bad.exercised.kinds.includes("special"), JSON.stringify(bad.exercised));
    const table = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path.join(root, "cli.ts"), "verify", f],
      env: { SATURN_CACHE_DIR: dir },
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(table.stdout);
    assert(/neg-neg\s+proved\s+z3\+tests/.test(text), text);
    assert(/isnan-where\s+refuted\s+test/.test(text), text);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("extreme constants are drawn: a huge constant absorbs x, so (x + c) − c = x is refuted", async () => {
  const v = await refuted("t: (Sub (Add ?x ?c) ?c) => ?x if (const ?c) (dtype-float ?x) (same-shape ?x $root)");
  assert(v.counterexample!.native, "the difference shows in the instance's own types too");
});

Deno.test("a denormal constant's reciprocal overflows float32: x / c as x · (1/c) is refuted as built", async () => {
  const v = await refuted("t: (Div ?x ?c) => (Mul ?x (Reciprocal ?c)) if (const ?c) (dtype-float ?x)");
  assert(v.counterexample!.native, JSON.stringify(v.counterexample!.reason));
});

Deno.test("values past the square root of float32's max are drawn: √(x·x) = |x| is refuted where x·x overflows", async () => {
  const v = await refuted('t: (Sqrt (Mul ?x ?x)) => (Abs ?x) if (dtype ?x "float32")');
  assert(v.counterexample!.native && !v.counterexample!.float64, "found as built: float64 does not overflow");
});

Deno.test("a counterexample shows in the instance's own types: dropping BatchNormalization's epsilon is refuted where the variance is tiny", async () => {
  const v = await refuted(
    "t: (BatchNormalization ?x ?s ?b ?m ?v :epsilon ?e :training_mode 0) => " +
      "(BatchNormalization ?x ?s ?b ?m ?v :epsilon 0.0 :training_mode 0) if (const ?v)",
  );
  assert(v.counterexample!.native, `${v.counterexample!.bindings}: ${v.counterexample!.reason}`);
});

Deno.test("Pad gets int64 pads within its input and every mode: dropping :mode is refuted, keeping it passes", async () => {
  await refuted("t: (Pad ?x ?p :mode ?m) => (Pad ?x ?p) if (opset>= 11)");
  await passes('t: (Pad (Pad ?x ?p :mode "constant") ?q :mode "constant") => (Pad (Pad ?x ?p) ?q) if (opset>= 11)');
});

Deno.test("Split gets int64 sizes summing to its axis, in 2 or 3 parts: parts concatenated back pass, two of three do not", async () => {
  await passes(
    "t: (Concat (Split ?x ?s :axis ?a)#0 (Split ?x ?s :axis ?a)#1 :axis ?a) => ?x if (same-shape ?x $root) (opset>= 13)",
  );
  await refuted("t: (Concat (Split ?x ?s :axis 1)#0 (Split ?x ?s :axis 1)#1 :axis 1) => ?x if (opset>= 13)");
});

Deno.test("a guard that names an element type gets it: int8 → int16 → int8 passes, with int8 exercised", async () => {
  const v = await passes('t: (Cast (Cast ?x :to 5) :to 3) => ?x if (dtype ?x "int8")');
  assert(v.exercised.dtypes.includes("int8"), v.exercised.dtypes.join());
});

Deno.test("a number an eq guard names for an attribute is drawn: HardSigmoid with alpha 0.5 is Clip(x/2 + 0.5) there", async () => {
  await passes(
    "t: (HardSigmoid ?x :alpha ?a :beta ?b) => (Clip (Add (Mul ?x (@scalar-like ?x 0.5)) (@scalar-like ?x 0.5)) " +
      '(@scalar-like ?x 0) (@scalar-like ?x 1)) if (eq ?a 0.5) (eq ?b 0.5) (dtype ?x "float32") (opset>= 11)',
  );
});

Deno.test("CastLike's target has its own element type: CastLike to it and back is refuted by float16 rounding", async () => {
  await refuted("t: (CastLike (CastLike ?x ?y) ?x) => ?x if (dtype-float ?x) (dtype-float ?y)");
});

Deno.test("element types must agree: a rule that drops a CastLike to float16 is refuted by the output's type", () => {
  const f16 = fromNumbers(DataType.FLOAT16, [1], [1]);
  const f32 = fromNumbers(DataType.FLOAT, [1], [1]);
  assert("reason" in compareSides(f16, f32, false, "kind"), "float16 vs float32 differ");
  assert("reason" in compareSides(f16, f32, true), "float16 vs float32 differ in a float64 run too");
});

Deno.test("a Z3 timeout with tests that reached the special values is 'tested', not 'unknown'", async () => {
  const v = await verifyRule(rule("t: (Abs (Neg ?x)) => (Abs ?x)"), {
    prover: () => Promise.resolve({ status: "unknown", reason: "timeout" }),
  });
  assertEquals(v.status, "tested", v.note);
  assert(/Z3 gave no answer/.test(v.note ?? ""), v.note);
});
