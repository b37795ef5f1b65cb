/**
 * Loading rules: the shipped packs (`rules/core/*.rules`, `rules/layout/*.rules`, read next to
 * this module), user rule files (`.rules`) and TypeScript plugins (`.ts`/`.js` files whose
 * default export is a `Rule[]`, e.g. from `defineRules`).
 * @module
 */
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { SaturnError } from "../errors.ts";
import type { AttrTerm, Pattern } from "../egraph/pattern.ts";
import { ATTR_KIND_WORDS, dtypeFromName, isDtypeCode, knownOp, MAX_RULE_NESTING, parseRules } from "./parser.ts";
import type { Rule } from "./rule.ts";
import { ruleLibrary } from "./library.ts";
import { type AttrKind, opSchema } from "./op_schema.ts";

/** The shipped rule files, relative to this module, in load order. */
export const SHIPPED_PACKS: readonly string[] = [
  "core/neutral.rules",
  "core/fusion.rules",
  "layout/layout.rules",
  "ort/contrib.rules",
  "webgpu/gelu.rules",
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
    const url = pathToFileURL(path.resolve(file)).href;
    let mod: { default?: unknown };
    try {
      mod = await import(url);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
      const { line, message } = thrownAt(e, url);
      throw new SaturnError("RULE_ERROR", `${file}:${line}: plugin failed to load: ${message}`, file);
    }
    return checkPluginRules(mod.default, file);
  }
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
    throw new SaturnError("FILE_UNREADABLE", `${file}: ${(e as Error).message}`, file);
  }
  // a model or other binary given as a rule file: say so, not "unexpected character" at some odd byte
  const binary = /[\0\uFFFD]/.exec(text);
  if (binary) {
    const line = text.slice(0, binary.index).split("\n").length;
    throw new SaturnError(
      "RULE_ERROR",
      `${file}:${line}: not a rule file: it holds binary or non-UTF-8 data (rule files are text; plugins are .ts or .js)`,
      file,
    );
  }
  return parseRules(text, file, "user");
}

/**
 * Where a plugin's import failed and why, in one line: the first line of the message (a
 * syntax error's message runs on with a code frame), without the module's URL, and the line in
 * the plugin file named by the message or the stack (1 when neither names one).
 */
function thrownAt(e: unknown, url: string): { line: number; message: string } {
  const text = e instanceof Error ? e.message : typeof e === "string" ? e : `threw ${describe(e)}`;
  const stack = e instanceof Error ? e.stack ?? "" : "";
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const at = new RegExp(`${escaped}:(\\d+)(?::\\d+)?`).exec(`${text}\n${stack}`);
  const first = text.split("\n").map((l) => l.trim()).find((l) => l) ?? "threw an empty error";
  const message = first.replaceAll(url, "the plugin").replace(/\s+at the plugin(:\d+)*$/, "");
  return { line: at ? Number(at[1]) : 1, message: message.length > 300 ? `${message.slice(0, 300)}…` : message };
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string "${v.length > 40 ? v.slice(0, 40) + "…" : v}"`;
  return typeof v === "function" ? "a function" : `${typeof v} ${String(v)}`;
}

/**
 * A plugin's default export as rules, checked the way the rule parser checks a rule file: each
 * rule has a name (unique in the plugin), one or more left-hand op patterns and as many
 * right-hand patterns (unless it has its own `apply`), functions for `guard` and `apply`; each
 * pattern is well formed (ops are strings naming known ops with the inputs, outputs and
 * attributes their schema allows; variables on the right are bound on the left; builders and
 * attribute functions exist). Element types may be given by name (`to: "float32"`). A plugin's
 * `guard` or `apply` that throws while rules run is reported as this plugin's error.
 * @throws {SaturnError} `RULE_ERROR`: `FILE:1: rule NAME: what is wrong`
 */
function checkPluginRules(exported: unknown, file: string): Rule[] {
  const bad = (msg: string): never => {
    throw new SaturnError("RULE_ERROR", `${file}:1: ${msg}`, file);
  };
  if (!Array.isArray(exported)) {
    bad(`a plugin's default export must be a Rule[] (defineRules), got ${describe(exported)}`);
  }
  const rules = exported as unknown[];
  const names = new Set<string>();
  return rules.map((raw, i) => {
    const r = raw as Partial<Rule> | null;
    if (typeof r !== "object" || r === null || Array.isArray(r)) bad(`rule ${i + 1} is ${describe(r)}, not a rule`);
    const rule = r as Partial<Rule>;
    if (typeof rule.name !== "string" || !rule.name.trim()) bad(`rule ${i + 1} has no name (a non-empty string)`);
    const name = rule.name!;
    const at = `rule ${name}`;
    if (names.has(name)) bad(`${at}: the name is used twice in this plugin`);
    names.add(name);
    if (rule.pack !== undefined && typeof rule.pack !== "string") bad(`${at}: pack must be a string`);
    if (rule.file !== undefined && typeof rule.file !== "string") bad(`${at}: file must be a string`);
    if (rule.line !== undefined && !Number.isSafeInteger(rule.line)) bad(`${at}: line must be an integer`);
    if (rule.guard !== undefined && typeof rule.guard !== "function") bad(`${at}: guard must be a function`);
    if (rule.apply !== undefined && typeof rule.apply !== "function") bad(`${at}: apply must be a function`);
    if (!Array.isArray(rule.lhs) || !rule.lhs.length) bad(`${at}: lhs must be a non-empty list of patterns`);
    if (!Array.isArray(rule.rhs)) bad(`${at}: rhs must be a list of patterns`);
    if (rule.apply === undefined && rule.rhs!.length !== rule.lhs!.length) {
      bad(`${at}: ${rule.lhs!.length} left-hand pattern(s) but ${rule.rhs!.length} right-hand pattern(s)`);
    }
    const bound = { classes: new Set<string>(), attrs: new Set<string>() };
    let lhs: Pattern[] = [], rhs: Pattern[] = [];
    try {
      lhs = structuredClone(rule.lhs!);
      rhs = structuredClone(rule.rhs!);
    } catch {
      bad(`${at}: lhs and rhs must be plain data (patterns), not functions or class instances`);
    }
    lhs.forEach((p, k) => {
      if ((p as Pattern | null)?.kind !== "op") bad(`${at}: lhs[${k}] must be an op pattern ({ kind: "op", … })`);
      checkPattern(p, `${at}: lhs[${k}]`, "lhs", bound, bad);
    });
    // with its own applier a rule's rhs is not instantiated
    if (!rule.apply) rhs.forEach((p, k) => checkPattern(p, `${at}: rhs[${k}]`, "rhs", bound, bad));
    const out: Rule = { ...(rule as Rule), lhs, rhs, pack: rule.pack ?? "user", file: rule.file ?? file };
    const where = `${out.file}: rule ${name}`;
    if (rule.guard) {
      const g = rule.guard;
      out.guard = sameSource((env, s, roots) => pluginCall(where, "guard", () => g(env, s, roots)), g);
    }
    if (rule.apply) {
      const a = rule.apply;
      out.apply = sameSource((env, s, roots) => {
        const got = pluginCall(where, "apply", () => a(env, s, roots));
        const ok = got === undefined || (Array.isArray(got) && got.length <= roots.length &&
          got.every((t) => t === undefined || (Number.isSafeInteger(t) && t >= 0)));
        if (!ok) {
          throw new SaturnError(
            "RULE_ERROR",
            `${where}: its apply returned ${
              describe(got)
            }; it returns one class id (or undefined) per left-hand pattern`,
            where,
          );
        }
        return got;
      }, a);
    }
    return out;
  });
}

/**
 * The wrapper reads as the plugin's own function: the verdict cache keys a plugin rule by its
 * guard's and applier's source, so a changed guard must still change the key.
 */
function sameSource<F extends (...args: never[]) => unknown>(wrapper: F, original: F): F {
  Object.defineProperty(wrapper, "toString", { value: () => original.toString() });
  return wrapper;
}

function pluginCall<T>(where: string, what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SaturnError) throw e;
    const msg = (e instanceof Error ? e.message : describe(e)).split("\n")[0];
    throw new SaturnError("RULE_ERROR", `${where}: its ${what} threw: ${msg}`, where);
  }
}

type Bound = { classes: Set<string>; attrs: Set<string> };

/**
 * Check one plugin pattern (and its sub-patterns, with an explicit stack) in place; element
 * type names given for dtype attributes become their codes.
 */
function checkPattern(
  root: unknown,
  at: string,
  side: "lhs" | "rhs",
  bound: Bound,
  bad: (msg: string) => never,
): void {
  const stack: { p: unknown; at: string; depth: number }[] = [{ p: root, at, depth: 1 }];
  while (stack.length) {
    const { p, at, depth } = stack.pop()!;
    if (depth > MAX_RULE_NESTING) bad(`${at}: patterns nested more than ${MAX_RULE_NESTING} deep`);
    const x = p as Record<string, unknown> | null;
    if (typeof x !== "object" || x === null || Array.isArray(x)) bad(`${at} is ${describe(x)}, not a pattern`);
    const obj = x as Record<string, unknown>;
    switch (obj.kind) {
      case "var":
        if (typeof obj.name !== "string" || !obj.name) bad(`${at}: a variable needs a name (a non-empty string)`);
        if (side === "lhs") {
          if (bound.attrs.has(obj.name as string)) bad(`${at}: ${obj.name} is both a tensor and an attribute`);
          bound.classes.add(obj.name as string);
        } else if (!bound.classes.has(obj.name as string)) {
          bad(`${at}: variable ${obj.name} is not bound on the left`);
        }
        break;
      case "num":
        if (typeof obj.value !== "number" || Number.isNaN(obj.value)) bad(`${at}: a num pattern needs a number value`);
        if (side === "rhs") bad(`${at}: a number on the right needs a dtype: use the scalar-like builder`);
        break;
      case "call": {
        if (side === "lhs") bad(`${at}: a builder call on a left-hand side`);
        if (typeof obj.fn !== "string" || !ruleLibrary.builders.has(obj.fn)) {
          bad(`${at}: unknown builder ${typeof obj.fn === "string" ? obj.fn : describe(obj.fn)}`);
        }
        if (!Array.isArray(obj.args)) bad(`${at}: a builder call needs args (a list)`);
        (obj.args as unknown[]).forEach((a, k) => {
          const ak = (a as { kind?: unknown } | null)?.kind;
          if (ak === "lit") return;
          if (ak === "var" && typeof (a as { name: unknown }).name === "string") {
            const n = (a as { name: string }).name;
            if (!bound.classes.has(n) && !bound.attrs.has(n)) {
              bad(`${at}.args[${k}]: variable ${n} is not bound on the left`);
            }
            return;
          }
          stack.push({ p: a, at: `${at}.args[${k}]`, depth: depth + 1 });
        });
        break;
      }
      case "op":
        checkOp(obj, at, side, bound, bad);
        (obj.children as unknown[]).forEach((c, k) =>
          stack.push({ p: c, at: `${at}.children[${k}]`, depth: depth + 1 })
        );
        break;
      default:
        bad(`${at}: kind must be "op", "var", "num" or "call", got ${describe(obj.kind)}`);
    }
  }
}

function checkOp(
  obj: Record<string, unknown>,
  at: string,
  side: "lhs" | "rhs",
  bound: Bound,
  bad: (m: string) => never,
) {
  if (typeof obj.op !== "string" || !obj.op) bad(`${at}: op must be a string naming an op, got ${describe(obj.op)}`);
  if (obj.domain !== undefined && typeof obj.domain !== "string") bad(`${at}: domain must be a string`);
  if (obj.domain === "ai.onnx") delete obj.domain;
  const domain = (obj.domain as string | undefined) ?? "", op = obj.op as string;
  const shown = domain ? `${domain}.${op}` : op;
  if (!knownOp(domain, op)) bad(`${at}: unknown op ${shown}`);
  if (!Array.isArray(obj.children)) bad(`${at}: ${shown} needs children (a list of patterns)`);
  if (!Array.isArray(obj.attrs)) bad(`${at}: ${shown} needs attrs (a list, empty for none)`);
  for (const k of ["output", "outputs"] as const) {
    if (obj[k] !== undefined && !(Number.isSafeInteger(obj[k]) && (obj[k] as number) >= 0)) {
      bad(`${at}: ${k} must be a non-negative integer`);
    }
  }
  const schema = opSchema(domain, op);
  const n = (obj.children as unknown[]).length;
  if (schema && (n < schema.minInputs || n > schema.maxInputs)) {
    const want = schema.minInputs === schema.maxInputs
      ? `${schema.minInputs}`
      : n < schema.minInputs
      ? `at least ${schema.minInputs}`
      : `at most ${schema.maxInputs}`;
    bad(`${at}: ${shown} takes ${want} input(s), got ${n}`);
  }
  if (schema && obj.output !== undefined && (obj.output as number) >= schema.maxOutputs) {
    bad(`${at}: ${shown} has ${schema.maxOutputs} output(s), not output ${obj.output}`);
  }
  const seen = new Set<string>();
  (obj.attrs as unknown[]).forEach((a, k) => {
    const ap = a as { name?: unknown; term?: unknown } | null;
    const where = `${at}.attrs[${k}]`;
    if (typeof ap !== "object" || ap === null || typeof ap.name !== "string") {
      bad(`${where}: an attribute is { name, term }`);
    }
    const name = ap.name as string;
    if (seen.has(name)) bad(`${where}: ${shown}'s ${name} is given twice`);
    seen.add(name);
    const kind = schema?.attrs.get(name);
    if (schema && !kind && !schema.open) bad(`${where}: ${shown} has no attribute ${name}`);
    if (ap.term === "absent") {
      if (side === "rhs") bad(`${where}: "absent" is for left-hand sides`);
      return;
    }
    checkAttrTerm(ap.term, kind, `${where} (${shown}'s ${name})`, side, bound, bad);
  });
  if (side === "rhs" && schema) {
    const missing = [...schema.required].find((r) => !seen.has(r));
    if (missing) bad(`${at}: ${shown} on a right-hand side needs attribute ${missing} (ONNX requires it)`);
  }
}

function checkAttrTerm(
  term: unknown,
  kind: AttrKind | undefined,
  where: string,
  side: "lhs" | "rhs",
  bound: Bound,
  bad: (m: string) => never,
): void {
  const t = term as AttrTerm | null;
  if (typeof t !== "object" || t === null) bad(`${where}: term must be { kind: "lit" | "var" | "call", … }`);
  switch (t!.kind) {
    case "lit": {
      if (kind === "dtype" && typeof t.value === "string") {
        const code = dtypeFromName(t.value);
        if (code === undefined) bad(`${where}: unknown element type "${t.value}"`);
        t.value = code;
        t.type = "int";
      }
      if (kind && !literalFits(kind, t.value)) bad(`${where} takes ${ATTR_KIND_WORDS[kind]}, got ${describe(t.value)}`);
      return;
    }
    case "var":
      if (typeof t.name !== "string" || !t.name) bad(`${where}: a variable needs a name`);
      if (side === "lhs") {
        if (bound.classes.has(t.name)) bad(`${where}: ${t.name} is both a tensor and an attribute`);
        bound.attrs.add(t.name);
      } else if (!bound.attrs.has(t.name) && !bound.classes.has(t.name)) {
        bad(`${where}: variable ${t.name} is not bound on the left`);
      }
      return;
    case "call":
      if (side === "lhs") bad(`${where}: an attribute function on a left-hand side`);
      if (typeof t.fn !== "string" || !ruleLibrary.attrFns.has(t.fn)) bad(`${where}: unknown attribute function`);
      if (!Array.isArray(t.args)) bad(`${where}: an attribute function call needs args (a list)`);
      return;
    default:
      bad(`${where}: term kind must be "lit", "var" or "call"`);
  }
}

function literalFits(kind: AttrKind, v: unknown): boolean {
  const ints = (xs: unknown) => Array.isArray(xs) && xs.every((x) => Number.isSafeInteger(x));
  switch (kind) {
    case "int":
      return Number.isSafeInteger(v);
    case "dtype":
      return Number.isSafeInteger(v) && isDtypeCode(v as number);
    case "float":
      return typeof v === "number";
    case "string":
      return typeof v === "string";
    case "ints":
      return ints(v);
    case "floats":
      return Array.isArray(v) && v.every((x) => typeof x === "number");
    case "strings":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    default:
      return typeof v === "object" && v !== null;
  }
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
