/**
 * `verify` and the verification gate of `optimize` as a user meets them: verdict tables and
 * JSON, exit 1 on a refuted rule, a refuted user rule never applied, verdicts cached, and the
 * committed verdicts of the shipped packs current.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath } from "./_helpers.ts";
import { shippedRules } from "../rules/load.ts";
import { ruleKey, shippedVerdicts } from "../verify/cache.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

async function cli(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

const RIGHT = "# Neg(Neg(x)) = x\nneg-neg: (Neg (Neg ?x)) => ?x\n";
const WRONG = "# a - b = b - a (wrong)\nsub-swap: (Sub ?a ?b) => (Sub ?b ?a)\n";

Deno.test("verify --json gives a verdict per rule with file and line, and exits 1 on a refuted rule", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "mixed.rules");
    Deno.writeTextFileSync(f, RIGHT + WRONG);
    const r = await cli({ SATURN_CACHE_DIR: dir }, "verify", f, "--json");
    assertEquals(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals(j.rules.map((x: { name: string }) => x.name), ["neg-neg", "sub-swap"]);
    const [ok, bad] = j.rules;
    assert(ok.status === "proved" || ok.status === "tested", ok.status);
    assertEquals([ok.file, ok.line], [f, 2]);
    assertEquals([bad.status, bad.line], ["refuted", 4]);
    assert(/element \d+:/.test(bad.counterexample), bad.counterexample);
    // the cache now holds both verdicts
    const cache = JSON.parse(Deno.readTextFileSync(path.join(dir, "verdicts.json")));
    assertEquals(cache.verdicts.length, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("verify prints a table and a refutation report with the rule, shapes, inputs and both sides", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "wrong.rules");
    Deno.writeTextFileSync(f, WRONG);
    const r = await cli({ SATURN_CACHE_DIR: dir }, "verify", f);
    assertEquals(r.code, 1, r.stderr);
    assert(r.stdout.includes(`refuted: sub-swap (${f}:2)`), r.stdout);
    assert(r.stdout.includes("sub-swap: (Sub ?a ?b) => (Sub ?b ?a)"), r.stdout);
    assert(/input x_a = \[/.test(r.stdout) && /left side near element/.test(r.stdout), r.stdout);
    assert(/1 rules: \d proved, \d tested, 1 refuted, 0 unknown/.test(r.stdout), r.stdout);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("optimize refuses a refuted user rule, verifies a new one once, then reads the cache", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "user.rules");
    // zero-add is shipped; a user copy of it is right, sub-swap is wrong
    Deno.writeTextFileSync(f, "my-zero-add: (Add 0 ?x) => ?x if (same-shape ?x $root)\n" + WRONG);
    const args = ["optimize", modelPath("bert_tiny"), "-o", path.join(dir, "o.onnx"), "--rules", f, "--json"];
    const first = await cli({ SATURN_CACHE_DIR: dir }, ...args, "--without", "zero-add");
    assertEquals(first.code, 0, first.stderr);
    assert(first.stderr.includes("not applying rule sub-swap"), first.stderr);
    const j1 = JSON.parse(first.stdout);
    assertEquals(j1.verification.skipped.map((s: { rule: string }) => s.rule), ["sub-swap"]);
    assertEquals(j1.verification.verifiedNow.map((v: { rule: string }) => v.rule).sort(), ["my-zero-add", "sub-swap"]);
    assert(j1.rules["my-zero-add"] > 0, JSON.stringify(j1.rules));
    assert(!("sub-swap" in j1.rules));
    const second = await cli({ SATURN_CACHE_DIR: dir }, ...args, "--without", "zero-add");
    const j2 = JSON.parse(second.stdout);
    assertEquals(j2.verification.verifiedNow, []);
    assertEquals(j2.verification.skipped.map((s: { rule: string }) => s.rule), ["sub-swap"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("--trust-rules applies a new user rule without verifying it", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const f = path.join(dir, "user.rules");
    Deno.writeTextFileSync(f, RIGHT);
    const r = await cli(
      { SATURN_CACHE_DIR: dir },
      "optimize",
      modelPath("bert_tiny"),
      "-o",
      path.join(dir, "o.onnx"),
      "--rules",
      f,
      "--trust-rules",
      "--json",
    );
    assertEquals(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assertEquals(j.verification.trusted, ["neg-neg"]);
    assertEquals(j.verification.verifiedNow, []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the committed verdicts cover every shipped rule, are current, and none is refuted or unknown", async () => {
  const verdicts = await shippedVerdicts();
  for (const rule of await shippedRules()) {
    const v = verdicts.get(rule.name);
    assert(v, `no committed verdict for ${rule.name}: run \`saturn verify --all --write-shipped\``);
    assertEquals(v.key, ruleKey(rule), `stale verdict for ${rule.name}: run \`saturn verify --all --write-shipped\``);
    assert(v.status === "proved" || v.status === "tested", `${rule.name}: ${v.status} ${v.note ?? ""}`);
  }
});
