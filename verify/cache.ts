/**
 * The verdict cache. A verdict is keyed by a hash of the rule (its text, or a plugin's patterns
 * and code) and of the semantics it depends on: the `run` and `infer` code of every op either
 * side names, the builders, attribute functions and guards it calls, and the verifier's
 * version. Change any of them and the old verdict no longer applies.
 *
 * Shipped packs' verdicts are committed in `rules/verdicts.json` (regenerate with
 * `saturn verify --all --write-shipped`), so `optimize` starts no solver for them; verdicts of a
 * user's rules live in `$XDG_CACHE_HOME/saturn/verdicts.json` (default `~/.cache/saturn/`).
 * @module
 */
import * as path from "node:path";
import type { Pattern } from "../egraph/pattern.ts";
import { findOp } from "../ir/ops/registry.ts";
import type { Rule } from "../rules/rule.ts";
import { ruleLibrary } from "../rules/library.ts";
import { type GuardCall, guardSource } from "../rules/guards.ts";
import type { Verdict } from "./verify_rule.ts";

/** Bump when the verifier changes what a verdict means (3: extreme constants, huge inputs, Pad/Split/InstanceNormalization instances, guard-named types, native counterexamples, a timeout with passing tests is "tested"). */
export const VERIFIER_VERSION = 3;

/** A verdict as stored (no instance models). */
export interface StoredVerdict extends Omit<Verdict, "counterexample" | "ms" | "exercised"> {
  /** Hash of the rule's text (`ruleKey`): a verdict counts only while the rule is unchanged. */
  key: string;
  /** refuted: the counterexample in words */
  counterexample?: string;
  /** refuted: "z3" (Z3's model, confirmed by the interpreter) or "test" (a randomized test) */
  refutedBy?: "z3" | "test";
}

/** 64-bit FNV-1a of a string, as hex (fast; the cache is not a security boundary). */
export function hashText(s: string): string {
  let h = 0xcbf29ce484222325n;
  const p = 0x100000001b3n, m = (1n << 64n) - 1n;
  for (let i = 0; i < s.length; i++) h = ((h ^ BigInt(s.charCodeAt(i))) * p) & m;
  return h.toString(16).padStart(16, "0");
}

function walk(p: Pattern | undefined, ops: Set<string>, calls: Set<string>, fns: Set<string>): void {
  if (!p) return;
  if (p.kind === "op") {
    ops.add(`${p.domain ?? ""}:${p.op}`);
    for (const a of p.attrs) if (a.term !== "absent" && a.term.kind === "call") fns.add(a.term.fn);
    p.children.forEach((c) => walk(c, ops, calls, fns));
  } else if (p.kind === "call") {
    calls.add(p.fn);
    for (const a of p.args) walk(a as Pattern, ops, calls, fns);
  }
}

function guardNames(gs: readonly GuardCall[] | undefined, out: Set<string>): void {
  for (const g of gs ?? []) {
    out.add(g.name);
    for (const a of g.args) if (a.kind === "guard") guardNames([a.guard], out);
  }
}

const keyCache = new WeakMap<Rule, string>();

/** The cache key of a rule: its text and the code of everything its meaning depends on. */
export function ruleKey(rule: Rule): string {
  const hit = keyCache.get(rule);
  if (hit) return hit;
  const ops = new Set<string>(), calls = new Set<string>(), fns = new Set<string>(), guards = new Set<string>();
  [...rule.lhs, ...rule.rhs].forEach((p) => walk(p, ops, calls, fns));
  guardNames(rule.guardCalls, guards);
  const parts: string[] = [
    `v${VERIFIER_VERSION}`,
    rule.source ?? JSON.stringify({ lhs: rule.lhs, rhs: rule.rhs }),
    rule.source ? "" : `${rule.guard?.toString() ?? ""}|${rule.apply?.toString() ?? ""}`,
  ];
  for (const o of [...ops].sort()) {
    const [domain, op] = o.split(":");
    const def = findOp(domain, op);
    parts.push(`${o}=${def?.run.toString() ?? "?"}|${def?.infer?.toString() ?? ""}`);
  }
  for (const c of [...calls].sort()) parts.push(`@${c}=${ruleLibrary.builders.get(c)?.toString() ?? "?"}`);
  for (const f of [...fns].sort()) parts.push(`fn ${f}=${ruleLibrary.attrFns.get(f)?.toString() ?? "?"}`);
  for (const g of [...guards].sort()) parts.push(`guard ${g}=${guardSource(g)}`);
  const key = hashText(parts.join("\n"));
  keyCache.set(rule, key);
  return key;
}

/** A verdict in the stored form. */
export function storeVerdict(rule: Rule, v: Verdict): StoredVerdict {
  const c = v.counterexample;
  return {
    key: ruleKey(rule),
    name: v.name,
    file: v.file,
    line: v.line,
    status: v.status,
    shapes: v.shapes,
    cases: v.cases,
    maxError: v.maxError,
    provedInstances: v.provedInstances,
    decidedBy: v.decidedBy,
    ...(v.note ? { note: v.note } : {}),
    ...(c ? { counterexample: `${c.bindings}: ${c.reason}`, refutedBy: c.by } : {}),
  };
}

/** The committed verdicts of the shipped packs, by rule name (empty when the file is missing). */
export async function shippedVerdicts(): Promise<Map<string, StoredVerdict>> {
  const url = new URL("../rules/verdicts.json", import.meta.url);
  let text: string;
  try {
    text = url.protocol === "file:" ? await Deno.readTextFile(url) : await (await fetch(url)).text();
  } catch {
    return new Map();
  }
  const data = JSON.parse(text) as { verdicts: StoredVerdict[] };
  return new Map(data.verdicts.map((v) => [v.name, v]));
}

/** Write the shipped packs' verdicts (for `verify --all --write-shipped`). */
export function writeShippedVerdicts(vs: StoredVerdict[]): string {
  const file = new URL("../rules/verdicts.json", import.meta.url);
  const text = JSON.stringify({ verifier: VERIFIER_VERSION, verdicts: vs }, null, 1) + "\n";
  Deno.writeTextFileSync(file, text);
  return file.pathname;
}

/** The user's cache folder: `$SATURN_CACHE_DIR`, else `$XDG_CACHE_HOME/saturn`, else `~/.cache/saturn`. */
export function saturnCacheDir(): string {
  return Deno.env.get("SATURN_CACHE_DIR") ??
    path.join(Deno.env.get("XDG_CACHE_HOME") ?? path.join(Deno.env.get("HOME") ?? ".", ".cache"), "saturn");
}

/** The user's verdict cache file. */
export function userCacheFile(): string {
  return path.join(saturnCacheDir(), "verdicts.json");
}

/** The user's cached verdicts, by key. */
export function readUserCache(file = userCacheFile()): Map<string, StoredVerdict> {
  try {
    const data = JSON.parse(Deno.readTextFileSync(file)) as { verdicts: StoredVerdict[] };
    return new Map(data.verdicts.map((v) => [v.key, v]));
  } catch {
    return new Map(); // missing or unreadable: verify again
  }
}

/** Add verdicts to the user's cache (atomically; a failure to write only costs a re-verification). */
export function writeUserCache(add: StoredVerdict[], file = userCacheFile()): void {
  const all = readUserCache(file);
  for (const v of add) all.set(v.key, v);
  try {
    Deno.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${Deno.pid}`;
    Deno.writeTextFileSync(tmp, JSON.stringify({ verifier: VERIFIER_VERSION, verdicts: [...all.values()] }) + "\n");
    Deno.renameSync(tmp, file);
  } catch {
    // a read-only home: verdicts are recomputed next time
  }
}
