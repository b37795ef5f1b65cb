/**
 * Rule files and plugins with mistakes, written the way a user gets them wrong: each is refused
 * when it is read, before anything runs, with one line `FILE:LINE: reason` naming the problem —
 * through the library (`loadRuleFile`), `saturn verify FILE` and `saturn optimize MODEL --rules
 * FILE` (exit 2, nothing on stdout, no file written, no stack trace, never exit 70). And what a
 * user means is accepted: `name:(…)` without a space, element types by name (`:to "float32"`).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath } from "./_helpers.ts";
import { SaturnError } from "../errors.ts";
import { loadRuleFile, shippedRules } from "../rules/load.ts";
import { parseRules } from "../rules/parser.ts";
import { DataType } from "../ir/dtype.ts";
import type { Pattern } from "../egraph/pattern.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A bad rule file: its text, the line the error names, and what the message must say. */
type Bad = [what: string, text: string, line: number, says: RegExp];

const BAD_RULES: Bad[] = [
  // syntax
  ["no rule name", "(Relu ?x) => ?x\n", 1, /expected a rule name/],
  ["an empty rule name", ": (Relu ?x) => ?x\n", 1, /a rule needs a name before its ':'/],
  ["'->' for '=>'", "r: (Relu ?x) -> ?x\n", 1, /'->'.*arrow is '=>'/],
  ["'=' for '=>'", "r: (Relu ?x) = ?x\n", 1, /arrow is '=>'/],
  ["no arrow", "r: (Relu ?x) ?x\n", 1, /expected '=>' or '<=>'/],
  ["nothing after the arrow", "a: (Neg ?x) => ?x\nr: (Relu ?x) =>\n", 2, /unexpected end of rule/],
  ["an unclosed bracket", "r: (Relu (Neg ?x) => ?x\n", 1, /unclosed '\(' of Relu/],
  ["an unclosed bracket on a later line", "a: (Neg ?x) => ?x\n\nr: (Relu ?x\n  => ?x\n", 4, /unclosed '\(' of Relu/],
  ["one ')' too many", "r: (Relu ?x)) => ?x\n", 1, /unbalanced '\)'/],
  ["an unterminated string", 'r: (Cast ?x :to "float32) => ?x\n', 1, /unterminated string/],
  ["curly quotes", "r: (Cast ?x :to \u201cfloat32\u201d) => ?x\n", 1, /plain double quotes/],
  ["single quotes", "r: (Cast ?x :to 'float32') => ?x\n", 1, /double quotes/],
  ["a '//' comment", "r: (Relu ?x) => ?x // relu\n", 1, /comments start with '#'/],
  ["a space before an output index", "r: (Split ?x :axis 0) #0 => ?x\n", 1, /right after '\)' with no space/],
  ["a number for a rule name", "123: (Relu ?x) => ?x\n", 1, /'123' cannot be a rule name/],
  ["an output index on a variable", "r: (Split ?x#0) => ?x\n", 1, /output index follows a pattern's '\)'/],
  ["a variable without a name", "r: (Relu ?1) => ?1\n", 1, /variable name right after '\?'/],
  ["a rule that lost its name", "r: (Relu ?x) => ?x\n(Neg ?y) => ?y\n", 2, /lack its 'name:'/],
  ["a rule that lost its name after a guard", "r: (Relu ?x) => ?x if (rank ?x 2)\n(Neg ?y) => ?y\n", 2, /is an op/],
  ["a stray word", "r: (Relu ?x) => ?x\nzz\n", 2, /expected 'if' or the next rule, found 'zz'/],
  ["'iff' for 'if'", "r: (Relu ?x) => ?x iff (rank ?x 2)\n", 1, /found 'iff'/],
  ["'if' without a guard", "r: (Relu ?x) => ?x if\n", 1, /'if' without a guard/],
  ["a guard without brackets", "r: (Relu ?x) => ?x if rank ?x 2\n", 1, /expected a guard '\('/],
  ["a list that is not closed", "r: (Transpose ?x :perm [0 1) => ?x\n", 1, /unexpected '\)' in the list/],
  ["$root inside a pattern", "r: (Relu $root) => ?x\n", 1, /only for guards and builders/],
  // names
  [
    "a duplicate rule name",
    "a: (Relu ?x) => ?x\nb: (Neg ?x) => ?x\na: (Abs ?x) => ?x\n",
    3,
    /duplicate rule name a \(first on line 1\)/,
  ],
  [
    "a name that '<=>' already made",
    "a: (Neg ?x) <=> (Neg ?x)\na-rev: (Relu ?x) => ?x\n",
    2,
    /duplicate rule name a-rev/,
  ],
  // ops
  ["a misspelt op", "r: (Rellu ?x) => ?x\n", 1, /unknown op Rellu \(did you mean Relu\?\)/],
  ["an op in lower case", "r: (relu ?x) => ?x\n", 1, /did you mean Relu\?/],
  ["a misspelt contrib op", "r: (Relu ?x) => (com.microsoft.Gleu ?x)\n", 1, /did you mean com\.microsoft\.Gelu\?/],
  ["too many inputs", "r: (Relu ?x ?y) => ?x\n", 1, /Relu takes 1 input, got 2/],
  ["too few inputs", "r: (Add ?x) => ?x\n", 1, /Add takes 2 inputs, got 1/],
  ["too few inputs on the right", "r: (Relu ?x) => (Conv ?x)\n", 1, /Conv takes at least 2 inputs, got 1/],
  ["an output index on a one-output op", "r: (Relu ?x)#0 => ?x\n", 1, /Relu has one output/],
  ["an output index past the outputs", "r: (Dropout ?x)#2 => ?x\n", 1, /at most 2 outputs/],
  ["#0 alone on the right", "r: (Relu ?x) => (Split ?x :axis 0)#0\n", 1, /only #0 of \(Split …\)/],
  ["a perm that is no permutation", "r: (Transpose ?x :perm [0 0]) => ?x\n", 1, /must be a permutation/],
  ["a fraction for a builder's integer", "r: (Relu ?x) => (Reshape ?x (@ints 1.5))\n", 1, /@ints takes integers/],
  ["an element type that is none", 'r: (Cast ?x :to "undefined") => ?x\n', 1, /unknown element type "undefined"/],
  ["a number on the right", "r: (Mul ?x ?y) => (Mul ?x 2)\n", 1, /needs a dtype/],
  ["a number as the whole right side", "r: (Relu ?x) => 1\n", 1, /needs a dtype/],
  ["a left side that is a variable", "r: ?x => (Relu ?x)\n", 1, /left-hand side must be an op pattern/],
  // variables
  ["a variable the left never binds", "r: (Relu ?x) => ?y\n", 1, /unbound variable \?y on the right-hand side/],
  ["a right side of '<=>' that binds less", "r: (Mul ?x ?y) <=> (Neg ?x)\n", 1, /\?y.*'<=>'/],
  ["an attribute '<=>' drops", "r: (Softmax ?x :axis ?a) <=> (Softmax ?x)\n", 1, /\?a.*'<=>'/],
  ["a tensor used as an attribute", "r: (Softmax ?x :axis ?x) => ?x\n", 1, /both as a tensor and as an attribute/],
  [
    "an attribute variable of another kind",
    "r: (Transpose ?x :perm ?p) => (Softmax ?x :axis ?p)\n",
    1,
    /\?p holds :perm/,
  ],
  // attributes
  ["an attribute the op lacks", "r: (Relu ?x :alpha 0.1) => ?x\n", 1, /Relu has no attribute :alpha/],
  ["a misspelt attribute", "r: (Softmax ?x :axes -1) => ?x\n", 1, /no attribute :axes \(did you mean :axis\?\)/],
  ["an attribute given twice", "r: (Softmax ?x :axis -1 :axis 1) => ?x\n", 1, /:axis is given twice/],
  ["an attribute without a value", "r: (Softmax ?x :axis) => ?x\n", 1, /:axis/],
  ["a fraction for an int", "r: (Softmax ?x :axis 1.5) => ?x\n", 1, /:axis of Softmax takes an integer, got 1\.5/],
  ["a string for an int", 'r: (Softmax ?x :axis "last") => ?x\n', 1, /takes an integer, got "last"/],
  ["a number for a list", "r: (Transpose ?x :perm 1) => ?x\n", 1, /:perm of Transpose takes a list of integers/],
  ["fractions in an ints list", "r: (Transpose ?x :perm [0.5 1]) => ?x\n", 1, /list of integers/],
  ["a string for a float", 'r: (LeakyRelu ?x :alpha "a") => ?x\n', 1, /:alpha of LeakyRelu takes a number/],
  ["a number for a string", "r: (Gelu ?x :approximate 1) => ?x\n", 1, /takes a string/],
  ["a string without quotes", "r: (Gelu ?x :approximate tanh) => ?x\n", 1, /in quotes: :approximate "tanh"/],
  [
    "a misspelt dtype",
    'r: (Cast ?x :to "flaot32") => ?x\n',
    1,
    /unknown element type "flaot32".*did you mean "float32"/,
  ],
  ["a dtype without quotes", "r: (Cast ?x :to float32) => ?x\n", 1, /in quotes: :to "float32"/],
  ["a dtype code that is none", "r: (Cast ?x :to 99) => ?x\n", 1, /:to of Cast takes an element type/],
  ["a string for a saturate flag", 'r: (Cast ?x :to "float16" :saturate "yes") => ?x\n', 1, /:saturate.*integer/],
  [
    "a tensor attribute written out",
    "r: (ConstantOfShape ?s :value 1) => ?s\n",
    1,
    /:value of ConstantOfShape takes a tensor/,
  ],
  ["a required attribute left out on the right", "r: (Concat ?x ?y :axis 0) => (Concat ?y ?x)\n", 1, /needs :axis/],
  ["a Cast without :to on the right", "r: (Relu ?x) => (Cast ?x)\n", 1, /needs :to/],
  [
    "'absent' on the right",
    "r: (Softmax ?x :axis 1) => (Softmax ?x :axis absent)\n",
    1,
    /'absent' is for left-hand sides/,
  ],
  // builders and attribute functions
  ["a builder missing an argument", "r: (Relu ?x) => (@scalar-like ?x)\n", 1, /@scalar-like is written/],
  ["a misspelt builder", "r: (Relu ?x) => (@scalar-lik ?x 1)\n", 1, /did you mean @scalar-like\?/],
  ["a pattern given to a builder", "r: (Relu ?x) => (@shape-of (Relu ?x))\n", 1, /not a pattern/],
  ["a builder reading a root the rule lacks", "r: (Relu ?x) => (@shape-of $root1)\n", 1, /\$root1.*has 1/],
  ["@gelu with an unknown mode", 'r: (Relu ?x) => (@gelu ?x "fast")\n', 1, /"none" or "tanh"/],
  [
    "a permutation function of a tensor",
    "r: (Transpose ?x :perm ?p) => (Transpose ?x :perm (invert ?x))\n",
    1,
    /invert/,
  ],
  [
    "an attribute function of the wrong kind",
    "r: (Transpose ?x :perm ?p) => (Softmax ?x :axis (invert ?p))\n",
    1,
    /gives a list/,
  ],
  [
    "a misspelt attribute function",
    "r: (Transpose ?x :perm ?p) => (Transpose ?x :perm (inverse ?p))\n",
    1,
    /did you mean invert/,
  ],
  // guards that can never hold
  [
    "$root1 in a one-pattern rule",
    "r: (Relu ?x) => ?x if (same-shape ?x $root1)\n",
    1,
    /\$root1 names left-hand pattern 2/,
  ],
  [
    "a value guard on an attribute",
    "r: (LeakyRelu ?x :alpha ?a) => ?x if (all ?a 1)\n",
    1,
    /\?a is an attribute value/,
  ],
  ["a shape guard on an attribute", "r: (Transpose ?x :perm ?p) => ?x if (same-shape ?p ?x)\n", 1, /not a tensor/],
  ["a guard on a variable the rule lacks", "r: (Relu ?x) => ?x if (same-shape ?x ?y)\n", 1, /unbound variable \?y/],
  ["a guard missing an argument", "r: (Relu ?x) => ?x if (rank ?x)\n", 1, /guard rank takes 2 arguments/],
  ["a guard with an extra argument", "r: (Relu ?x) => ?x if (rank ?x 2 3)\n", 1, /guard rank takes 2 arguments/],
  ["an unknown guard", "r: (Relu ?x) => ?x if (ranks ?x 2)\n", 1, /unknown guard ranks \(did you mean rank\?\)/],
  [
    "a guard's arguments swapped",
    "r: (Relu ?x) => ?x if (rank 2 ?x)\n",
    1,
    /argument 1 of \(rank …\) must be a tensor/,
  ],
  ["a fraction for a rank", "r: (Relu ?x) => ?x if (rank ?x 2.5)\n", 1, /must be an integer/],
  [
    "a variable where a number belongs",
    "r: (Mul ?x ?c) => ?x if (all ?c ?x)\n",
    1,
    /argument 2 of \(all …\) must be a number/,
  ],
  ["a misspelt dtype in a guard", 'r: (Relu ?x) => ?x if (dtype ?x "flaot32")\n', 1, /unknown element type "flaot32"/],
  ["a dtype without quotes in a guard", "r: (Relu ?x) => ?x if (dtype ?x float32)\n", 1, /in quotes/],
  ["an unknown op in has-op", 'r: (Relu ?x) => ?x if (has-op ?x "Rellu")\n', 1, /unknown op "Rellu"/],
  ["not of a variable", "r: (Relu ?x) => ?x if (not ?x)\n", 1, /must be a guard/],
  ["a bad guard inside not", "r: (Relu ?x) => ?x\n  if (not (rank ?x))\n", 2, /guard rank takes 2/],
  ["a value guard on a root", "r: (Relu ?x) => ?x if (eq $root 1)\n", 1, /argument 1 of \(eq …\)/],
  [
    "eq of an attribute and a value of another kind",
    "r: (Pad ?x ?p :mode ?m) => ?x if (eq ?m 1)\n",
    1,
    /never holds: \?m holds :mode of Pad/,
  ],
  [
    "eq of a dtype attribute and an unknown type",
    'r: (Cast ?x :to ?t) => ?x if (eq ?t "flot32")\n',
    1,
    /did you mean "float32"/,
  ],
  ["a negative rank", "r: (Relu ?x) => ?x if (rank ?x -1)\n", 1, /never holds/],
  ["an opset that is not an integer", "r: (Relu ?x) => ?x if (opset>= 13.5)\n", 1, /must be an integer/],
];

/** Rule files a user means, that must be read as meant. */
Deno.test("a rule name written right against its pattern, or with a space before its colon, is a rule name", () => {
  const [a] = parseRules("name:(Relu ?x) => ?x\n", "a.rules", "user");
  assertEquals([a.name, (a.lhs[0] as { op: string }).op], ["name", "Relu"]);
  const [b] = parseRules("relu-relu : (Relu (Relu ?x)) => (Relu ?x)\n", "b.rules", "user");
  assertEquals(b.name, "relu-relu");
});

Deno.test("an element type may be written by name where an attribute is one, and becomes its ONNX code", () => {
  const attr = (p: Pattern, name: string) => p.kind === "op" ? p.attrs.find((a) => a.name === name)?.term : undefined;
  const [cast] = parseRules('c: (Cast ?x :to "float32") => ?x if (dtype ?x "float32")\n', "c.rules", "user");
  assertEquals(attr(cast.lhs[0], "to"), { kind: "lit", value: DataType.FLOAT, type: "int" });
  const [eye] = parseRules('e: (Relu ?x) => (EyeLike ?x :dtype "int64")\n', "e.rules", "user");
  assertEquals(attr(eye.rhs[0], "dtype"), { kind: "lit", value: DataType.INT64, type: "int" });
  const [ln] = parseRules(
    'l: (LayerNormalization ?x ?g :stash_type "float32") => (LayerNormalization ?x ?g)\n',
    "l.rules",
    "user",
  );
  assertEquals(attr(ln.lhs[0], "stash_type"), { kind: "lit", value: DataType.FLOAT, type: "int" });
  // and in (eq ?t "float32") where ?t binds one
  const [eq] = parseRules('q: (Cast ?x :to ?t) => ?x if (eq ?t "float32") (dtype ?x "float32")\n', "q.rules", "user");
  assertEquals(eq.guardCalls![0].args[1], { kind: "num", value: DataType.FLOAT });
  // codes still work, and a list may be written with commas
  const [code, perm] = parseRules(
    "c: (Cast ?x :to 1) => ?x\np: (Transpose ?x :perm [0, 2, 1]) => ?x\n",
    "p.rules",
    "user",
  );
  assertEquals(attr(code.lhs[0], "to"), { kind: "lit", value: 1, type: "int" });
  assertEquals(attr(perm.lhs[0], "perm"), { kind: "lit", value: [0, 2, 1], type: "ints" });
});

Deno.test("Windows line ends and a byte-order mark read like plain text", () => {
  const rs = parseRules(
    "\uFEFF# relu\r\nr: (Relu (Relu ?x)) => (Relu ?x)\r\ns: (Neg (Neg ?x))\r\n  => ?x\r\n",
    "w.rules",
    "user",
  );
  assertEquals(rs.map((r) => [r.name, r.line, r.comment]), [["r", 2, "relu"], ["s", 3, undefined]]);
});

Deno.test("a model given as a rule file is refused as not a rule file, in one line", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "model.rules");
    Deno.copyFileSync(modelPath("squeezenet1_1"), f);
    await refusedByBoth(dir, f, 1, /not a rule file: it holds binary/, "a model as rules");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ai.onnx.Op is ONNX's own op, matched like Op", () => {
  const [r] = parseRules("r: (ai.onnx.Relu (ai.onnx.Relu ?x)) => (Relu ?x)\n", "r.rules", "user");
  const p = r.lhs[0] as Extract<Pattern, { kind: "op" }>;
  assertEquals([p.op, p.domain], ["Relu", undefined]);
});

Deno.test("the shipped packs and the test corpora read without a complaint", async () => {
  const shipped = await shippedRules();
  assert(shipped.length > 50, `${shipped.length} shipped rules`);
  for (const f of ["wrong.rules", "right.rules"]) {
    const file = path.join(root, "tests", "data", f);
    try {
      Deno.statSync(file);
    } catch {
      continue;
    }
    assert((await loadRuleFile(file)).length > 0, f);
  }
});

Deno.test("every bad rule file is refused by loadRuleFile with one line FILE:LINE naming the problem", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [what, text, line, says] of BAD_RULES) {
      const f = path.join(dir, "bad.rules");
      Deno.writeTextFileSync(f, text);
      let err: unknown;
      try {
        await loadRuleFile(f);
      } catch (e) {
        err = e;
      }
      assert(err instanceof SaturnError, `${what}: not refused (${err})`);
      const msg = (err as SaturnError).message;
      assertEquals((err as SaturnError).code, "RULE_ERROR", `${what}: ${msg}`);
      assert(msg.startsWith(`${f}:${line}: `), `${what}: wants line ${line}: ${msg}`);
      assert(says.test(msg), `${what}: ${msg} does not match ${says}`);
      assert(!msg.includes("\n"), `${what}: one line: ${msg}`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

async function cli(cwd: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd,
    env: { SATURN_CACHE_DIR: cwd },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

/** `verify FILE` and `optimize MODEL --rules FILE` both exit 2 with the one line, writing nothing. */
async function refusedByBoth(dir: string, file: string, line: number, says: RegExp, what: string): Promise<void> {
  const out = path.join(dir, "out.onnx");
  const runs = [["verify", file], ["optimize", modelPath("squeezenet1_1"), "-o", out, "--rules", file]];
  // both at once: each fails within a second, mostly Deno's start-up
  const results = await Promise.all(runs.map((args) => cli(dir, ...args)));
  for (const [k, args] of runs.entries()) {
    const r = results[k];
    const lines = r.stderr.trim().split("\n");
    assertEquals(r.code, 2, `${what} (${args[0]}): exit ${r.code}: ${r.stderr}`);
    assertEquals(lines.length, 1, `${what} (${args[0]}): one line: ${r.stderr}`);
    assert(lines[0].startsWith(`saturn: ${file}:${line}: `), `${what} (${args[0]}): ${lines[0]}`);
    assert(says.test(lines[0]), `${what} (${args[0]}): ${lines[0]} does not match ${says}`);
    assertEquals(r.stdout, "", `${what} (${args[0]}): nothing on stdout`);
    assert(!/internal error|\n\s+at /.test(r.stderr), `${what} (${args[0]}): ${r.stderr}`);
    let written = true;
    try {
      Deno.statSync(out);
    } catch {
      written = false;
    }
    assert(!written, `${what}: optimize wrote ${out}`);
  }
}

Deno.test("saturn verify and saturn optimize --rules refuse every bad rule file: one line, exit 2, nothing written", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [i, [what, text, line, says]] of BAD_RULES.entries()) {
      const f = path.join(dir, `bad${i}.rules`);
      Deno.writeTextFileSync(f, text);
      await refusedByBoth(dir, f, line, says, what);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test('a rule with :to "float32" is verified like any other, not an abort naming a node the user never wrote', async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "cast.rules");
    Deno.writeTextFileSync(f, 'cast-f32: (Cast ?x :to "float32") => ?x if (dtype ?x "float32")\n');
    const r = await cli(dir, "verify", f, "--json");
    assert(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
    const [v] = JSON.parse(r.stdout).rules;
    assertEquals(v.name, "cast-f32");
    assert(["proved", "tested"].includes(v.status), JSON.stringify(v));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// ---- plugins

const NEG = `const x = { kind: "var", name: "x" };
const neg = (p) => ({ kind: "op", op: "Neg", attrs: [], children: [p] });`;

const BAD_PLUGINS: Bad[] = [
  [
    "a plugin that throws at import",
    `${NEG}\nthrow new Error("no weights here");\nexport default [];\n`,
    3,
    /failed to load: no weights here/,
  ],
  ["a plugin that throws a non-error", "throw 42;\n", 1, /failed to load: .*42/],
  ["a plugin with a syntax error", "export default [\n  { name: 'a', \n", 2, /failed to load: /],
  ["a plugin without a default export", "export const rules = [];\n", 1, /default export must be a Rule\[\]/],
  ["a default export that is no list", "export default { name: 'a' };\n", 1, /default export must be a Rule\[\]/],
  ["a rule without a name", `${NEG}\nexport default [{ lhs: [neg(neg(x))], rhs: [x] }];\n`, 1, /rule 1 has no name/],
  [
    "a rule whose lhs is not a list",
    `${NEG}\nexport default [{ name: "a", lhs: neg(x), rhs: [x] }];\n`,
    1,
    /rule a: lhs must be a non-empty list/,
  ],
  [
    "an lhs that is not a pattern",
    `${NEG}\nexport default [{ name: "a", lhs: ["Neg"], rhs: [x] }];\n`,
    1,
    /rule a: lhs\[0\] must be an op pattern/,
  ],
  [
    "a pattern op that is not a string",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: 42, attrs: [], children: [x] }], rhs: [x] }];\n`,
    1,
    /op must be a string/,
  ],
  [
    "an unknown op",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: "Rellu", attrs: [], children: [x] }], rhs: [x] }];\n`,
    1,
    /unknown op Rellu/,
  ],
  [
    "a child that is not a pattern",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: "Neg", attrs: [], children: ["x"] }], rhs: [x] }];\n`,
    1,
    /children\[0\] is the string "x", not a pattern/,
  ],
  [
    "an op with the wrong number of inputs",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: "Add", attrs: [], children: [x] }], rhs: [x] }];\n`,
    1,
    /Add takes 2 input/,
  ],
  [
    "a right side with a variable the left lacks",
    `${NEG}\nexport default [{ name: "a", lhs: [neg(neg(x))], rhs: [{ kind: "var", name: "y" }] }];\n`,
    1,
    /variable y is not bound/,
  ],
  [
    "fewer right sides than left",
    `${NEG}\nexport default [{ name: "a", lhs: [neg(neg(x))], rhs: [] }];\n`,
    1,
    /1 left-hand pattern\(s\) but 0/,
  ],
  [
    "an attribute the op lacks",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: "Relu", attrs: [{ name: "alpha", term: { kind: "lit", value: 1 } }], children: [x] }], rhs: [x] }];\n`,
    1,
    /Relu has no attribute alpha/,
  ],
  [
    "an attribute of the wrong kind",
    `${NEG}\nexport default [{ name: "a", lhs: [{ kind: "op", op: "Transpose", attrs: [{ name: "perm", term: { kind: "lit", value: 1 } }], children: [x] }], rhs: [x] }];\n`,
    1,
    /perm\) takes a list of integers/,
  ],
  [
    "two rules of one name",
    `${NEG}\nexport default [{ name: "a", lhs: [neg(neg(x))], rhs: [x] }, { name: "a", lhs: [neg(neg(x))], rhs: [x] }];\n`,
    1,
    /rule a: the name is used twice/,
  ],
  [
    "a guard that is not a function",
    `${NEG}\nexport default [{ name: "a", lhs: [neg(neg(x))], rhs: [x], guard: true }];\n`,
    1,
    /guard must be a function/,
  ],
];

Deno.test("every bad plugin is refused by loadRuleFile, verify and optimize with one line FILE:LINE", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const [i, [what, text, line, says]] of BAD_PLUGINS.entries()) {
      const f = path.join(dir, `bad${i}.ts`);
      Deno.writeTextFileSync(f, text);
      let err: unknown;
      try {
        await loadRuleFile(f);
      } catch (e) {
        err = e;
      }
      assert(err instanceof SaturnError, `${what}: not refused (${err})`);
      const msg = (err as SaturnError).message;
      assert(msg.startsWith(`${f}:${line}: `) && says.test(msg) && !msg.includes("\n"), `${what}: ${msg}`);
      await refusedByBoth(dir, f, line, says, what);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a plugin may name element types, and its guard that throws while optimizing is one line naming the plugin", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const ok = path.join(dir, "cast.ts");
    Deno.writeTextFileSync(
      ok,
      `const x = { kind: "var", name: "x" };
export default [{ name: "cast-f32", pack: "user",
  lhs: [{ kind: "op", op: "Cast", attrs: [{ name: "to", term: { kind: "lit", value: "float32" } }], children: [x] }],
  rhs: [x] }];\n`,
    );
    const [rule] = await loadRuleFile(ok);
    const lhs = rule.lhs[0] as Extract<Pattern, { kind: "op" }>;
    assertEquals(lhs.attrs[0].term, { kind: "lit", value: DataType.FLOAT, type: "int" });
    assertEquals(rule.file, ok);

    const boom = path.join(dir, "boom.ts");
    Deno.writeTextFileSync(
      boom,
      `const x = { kind: "var", name: "x" };
export default [{ name: "boom", pack: "user",
  lhs: [{ kind: "op", op: "Relu", attrs: [], children: [x] }], rhs: [x],
  guard: () => { throw new Error("guard exploded"); } }];\n`,
    );
    // an applier that returns something other than class ids is the plugin's error, never a corrupt e-graph
    const odd = path.join(dir, "odd.ts");
    Deno.writeTextFileSync(
      odd,
      `const x = { kind: "var", name: "x" };
export default [{ name: "odd", lhs: [{ kind: "op", op: "Relu", attrs: [], children: [x] }], rhs: [], apply: () => "oops" }];\n`,
    );
    const [oddRule] = await loadRuleFile(odd);
    let applyErr: unknown;
    try {
      oddRule.apply!({} as never, { classes: new Map(), attrs: new Map() }, [0]);
    } catch (e) {
      applyErr = e;
    }
    assert(applyErr instanceof SaturnError && /rule odd: its apply returned the string "oops"/.test(applyErr.message));
    // the wrapped guard still reads as the plugin's own, so the verdict cache sees a changed guard
    const [wrapped] = await loadRuleFile(boom);
    assert(wrapped.guard!.toString().includes("guard exploded"), wrapped.guard!.toString());
    const out = path.join(dir, "o.onnx");
    const r = await cli(dir, "optimize", modelPath("squeezenet1_1"), "-o", out, "--rules", boom, "--trust-rules");
    assertEquals(r.code, 2, r.stderr);
    assert(/^saturn: .*boom\.ts: rule boom: its guard threw: guard exploded\n$/.test(r.stderr), r.stderr);
    assertEquals(r.stdout, "");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("saturn verify refuses a rule name defined in two files, as optimize does: one line naming both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(path.join(dir, "a.rules"), "twice: (Neg (Neg ?x)) => ?x\n");
    await Deno.writeTextFile(path.join(dir, "b.rules"), "# again\ntwice: (Abs (Abs ?x)) => (Abs ?x)\n");
    const r = await cli(dir, "verify", path.join(dir, "a.rules"), path.join(dir, "b.rules"));
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assert(/b\.rules:2: rule twice is already defined \(.*a\.rules:1\)/.test(lines[0]), lines[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
