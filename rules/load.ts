/**
 * Loading rules: the shipped packs (`rules/core/*.rules`, `rules/layout/*.rules`, read next to
 * this module), user rule files (`.rules`) and TypeScript plugins (`.ts`/`.js` files whose
 * default export is a `Rule[]`, e.g. from `defineRules`).
 * @module
 */
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { SaturnError } from "../errors.ts";
import { parseRules } from "./parser.ts";
import type { Rule } from "./rule.ts";

/** The shipped rule files, relative to this module, in load order. */
export const SHIPPED_PACKS: readonly string[] = [
  "core/neutral.rules",
  "core/fusion.rules",
  "layout/layout.rules",
];

async function readShipped(rel: string): Promise<string> {
  const url = new URL(rel, import.meta.url);
  if (url.protocol === "file:") return await Deno.readTextFile(url);
  const res = await fetch(url);
  if (!res.ok) throw new SaturnError("FILE_NOT_FOUND", `cannot fetch rule pack ${url.href}: ${res.status}`);
  return await res.text();
}

/** What to load. */
export interface LoadOptions {
  /** Packs (`core`, `layout`), pack files (`core/fusion`) or rule names to leave out. */
  without?: readonly string[];
  /** User rule files (`.rules`) and plugins (`.ts`, `.js`) to add. */
  files?: readonly string[];
  /** Leave out the shipped packs entirely. */
  noShipped?: boolean;
}

/** The shipped packs, parsed (cached). */
let shippedCache: Promise<Rule[]> | undefined;
export function shippedRules(): Promise<Rule[]> {
  shippedCache ??= (async () => {
    const out: Rule[] = [];
    for (const rel of SHIPPED_PACKS) {
      const pack = rel.split("/")[0];
      out.push(...parseRules(await readShipped(rel), `rules/${rel}`, pack).map((r) => ({ ...r, shipped: true })));
    }
    return out;
  })();
  return shippedCache;
}

/**
 * Load one user file: a `.rules` file (its rules join pack `user`) or a TypeScript/JavaScript
 * plugin whose default export is a `Rule[]` (see `defineRules`).
 * @param file the file
 * @returns its rules, each with `file` set
 * @throws {SaturnError} `FILE_NOT_FOUND`, `FILE_UNREADABLE`, or `RULE_ERROR` naming the file and line
 * @example
 * ```ts
 * import { loadRuleFile } from "../mod.ts";
 * const file = Deno.makeTempFileSync({ suffix: ".rules" });
 * Deno.writeTextFileSync(file, "# Neg(Neg(x)) = x\nneg-neg: (Neg (Neg ?x)) => ?x\n");
 * const rules = await loadRuleFile(file);
 * if (rules.length !== 1 || rules[0].pack !== "user" || rules[0].file !== file) throw new Error("one user rule");
 * Deno.removeSync(file);
 * ```
 */
export async function loadRuleFile(file: string): Promise<Rule[]> {
  const ext = path.extname(file);
  let text: string;
  if (ext === ".ts" || ext === ".js" || ext === ".mts" || ext === ".mjs") {
    // a missing module is a TypeError from import(); say what the user needs to hear
    try {
      Deno.statSync(file);
    } catch {
      throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
    }
    let mod: { default?: unknown };
    try {
      mod = await import(pathToFileURL(path.resolve(file)).href);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
      throw new SaturnError("RULE_ERROR", `${file}:1: plugin failed to load: ${(e as Error).message}`, file);
    }
    const rules = mod.default;
    if (!Array.isArray(rules) || !rules.every(isRule)) {
      throw new SaturnError("RULE_ERROR", `${file}:1: a plugin's default export must be a Rule[] (defineRules)`, file);
    }
    return rules.map((r) => ({ ...r, file: r.file ?? file }));
  }
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
    throw new SaturnError("FILE_UNREADABLE", `${file}: ${(e as Error).message}`, file);
  }
  return parseRules(text, file, "user");
}

function isRule(r: unknown): r is Rule {
  const x = r as Rule;
  return typeof x === "object" && x !== null && typeof x.name === "string" && Array.isArray(x.lhs) &&
    Array.isArray(x.rhs) && (x.lhs.length === x.rhs.length || typeof x.apply === "function");
}

/**
 * The shipped packs less `without`, plus user files. Rule names must be unique across all of
 * them; shipped rules are marked `shipped` (their verdicts are committed).
 * @param opts packs or rules to leave out, user files to add
 * @returns the rules, shipped packs first in `SHIPPED_PACKS` order
 * @throws {SaturnError} `BAD_ARGUMENT` for a `without` entry that names nothing; `RULE_ERROR` for a duplicate name
 * @example
 * ```ts
 * import { loadRulePacks } from "../mod.ts";
 * const all = await loadRulePacks();
 * if (!all.every((r) => r.shipped) || !all.some((r) => r.pack === "layout")) throw new Error("shipped packs");
 * const core = await loadRulePacks({ without: ["layout"] });
 * if (core.some((r) => r.pack === "layout") || core.length >= all.length) throw new Error("layout left out");
 * ```
 */
export async function loadRulePacks(opts: LoadOptions = {}): Promise<Rule[]> {
  const without = new Set(opts.without ?? []);
  const shipped = opts.noShipped ? [] : await shippedRules();
  const kept = shipped.filter((r) => {
    const fileStem = r.file?.replace(/^rules\//, "").replace(/\.rules$/, "");
    return !without.has(r.pack) && !without.has(r.name) && !(fileStem && without.has(fileStem));
  });
  const known = new Set(
    shipped.flatMap((r) => [r.pack, r.name, r.file?.replace(/^rules\//, "").replace(/\.rules$/, "")]),
  );
  for (const w of without) {
    if (!known.has(w)) {
      throw new SaturnError("BAD_ARGUMENT", `no shipped pack or rule named '${w}' to leave out`, w, "without");
    }
  }
  const out = [...kept];
  const seen = new Map(out.map((r) => [r.name, r]));
  for (const f of opts.files ?? []) {
    for (const r of await loadRuleFile(f)) {
      const prev = seen.get(r.name);
      if (prev) {
        throw new SaturnError(
          "RULE_ERROR",
          `${r.file ?? f}:${r.line ?? 1}: rule ${r.name} is already defined (${prev.file ?? prev.pack}:${
            prev.line ?? 1
          })`,
          f,
        );
      }
      seen.set(r.name, r);
      out.push(r);
    }
  }
  return out;
}
