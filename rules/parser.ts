/**
 * The rule-file parser (syntax in `rules/README.md`). A file is a list of statements
 * `name: LHS => RHS [if GUARD…]` (or `<=>` for both directions); a statement runs until the
 * next `name:` at the outermost level, so it may span lines. Errors are one line,
 * `FILE:LINE: reason`, raised as `SaturnError("RULE_ERROR")`.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { type AttrPattern, type AttrTerm, instantiate, type Library, type Pattern } from "../egraph/pattern.ts";
import type { AttrType } from "../ir/graph.ts";
import { findOp } from "../ir/ops/registry.ts";
import "../ir/ops/all.ts";
import type { Rule } from "./rule.ts";
import { compileGuards, type GuardArg, guardArity, type GuardCall } from "./guards.ts";
import { FLOAT_ATTRS, ruleLibrary } from "./library.ts";
import { missingRequiredAttrs } from "./attr_defaults.ts";

/**
 * A left-hand pattern must mention every attribute ONNX requires of its op (bind it or give
 * it): an unmentioned attribute matches only its default, and a required one has none, so the
 * rule could never fire (`rules/attr_defaults.ts`).
 */
function checkRequiredAttrs(file: string, head: Tok, domain: string, op: string, inputs: number, attrs: AttrPattern[]) {
  const left = missingRequiredAttrs(domain, op, inputs, attrs.map((a) => a.name));
  if (!left.length) return;
  fail(
    file,
    head.line,
    `(${head.v} …) leaves out :${left[0]}, which ONNX requires; an attribute a pattern leaves out matches only ` +
      `its default and :${left[0]} has none: bind it (:${left[0]} ?${left[0]}) or give its value`,
  );
}

/** Contrib ops of ONNX Runtime (`com.microsoft`) that rules may produce or match. */
export const MS_OPS: ReadonlySet<string> = new Set([
  "Gelu",
  "FastGelu",
  "BiasGelu",
  "QuickGelu",
  "SimplifiedLayerNormalization",
  "SkipLayerNormalization",
  "SkipSimplifiedLayerNormalization",
  "FusedMatMul",
  "FusedConv",
  "FusedGemm",
  "Attention",
  "MultiHeadAttention",
  "GroupQueryAttention",
  "RotaryEmbedding",
  "BiasAdd",
  "BiasSoftmax",
  "BiasSplitGelu",
]);

/** A token as it was written (for error messages). */
function shown(t: Tok): string {
  switch (t.t) {
    case "var":
      return `?${t.v}`;
    case "attr":
      return `:${t.v}`;
    case "root":
      return `$${t.v}`;
    case "str":
      return `"${t.v}"`;
    default:
      return t.v;
  }
}

type Tok = {
  t: "(" | ")" | "[" | "]" | "," | "=>" | "<=>" | "name" | "attr" | "var" | "root" | "num" | "str" | "id" | "proj";
  v: string;
  line: number;
  float?: boolean;
};

function fail(file: string, line: number, reason: string): never {
  throw new SaturnError("RULE_ERROR", `${file}:${line}: ${reason}`, file);
}

/**
 * Deepest bracket nesting a rule file may use. Patterns, guards and everything that walks them
 * (compilation, matching, instantiation, verification) recurse over this depth, so it is bounded.
 */
export const MAX_RULE_NESTING = 100;

const NUM = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|^-?inf\b/;
const IDENT = /^[A-Za-z_@][\w.\-@<>=]*/;

function lex(text: string, file: string): { toks: Tok[]; comments: Map<number, string> } {
  const toks: Tok[] = [], comments = new Map<number, string>();
  let line = 1, i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\n") {
      line++, i++;
      continue;
    }
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "#") {
      if (/\d/.test(text[i + 1] ?? "") && text[i - 1] === ")") {
        const m = /^#(\d+)/.exec(text.slice(i))!;
        toks.push({ t: "proj", v: m[1], line });
        i += m[0].length;
        continue;
      }
      const end = text.indexOf("\n", i);
      const body = text.slice(i + 1, end < 0 ? undefined : end).trim();
      if (body) comments.set(line, body);
      i = end < 0 ? text.length : end;
      continue;
    }
    if ("()[],".includes(ch)) {
      toks.push({ t: ch as Tok["t"], v: ch, line });
      i++;
      continue;
    }
    const rest = text.slice(i);
    if (rest.startsWith("<=>") || rest.startsWith("=>")) {
      const v = rest.startsWith("<=>") ? "<=>" : "=>";
      toks.push({ t: v, v, line });
      i += v.length;
      continue;
    }
    if (ch === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0 || text.slice(i, end).includes("\n")) fail(file, line, "unterminated string");
      toks.push({ t: "str", v: text.slice(i + 1, end), line });
      i = end + 1;
      continue;
    }
    const num = NUM.exec(rest);
    if (num && (ch !== "-" || /[\d.i]/.test(rest[1] ?? ""))) {
      toks.push({ t: "num", v: num[0], line, float: /[.eEi]/.test(num[0]) });
      i += num[0].length;
      continue;
    }
    if (ch === "?" || ch === "$" || ch === ":") {
      const m = /^[A-Za-z_][\w\-]*/.exec(rest.slice(1));
      if (!m) fail(file, line, `expected a name after '${ch}'`);
      toks.push({ t: ch === "?" ? "var" : ch === "$" ? "root" : "attr", v: m[0], line });
      i += 1 + m[0].length;
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) {
      i += id[0].length;
      if (text[i] === ":" && (i + 1 >= text.length || /\s/.test(text[i + 1]))) {
        toks.push({ t: "name", v: id[0], line });
        i++;
      } else toks.push({ t: "id", v: id[0], line });
      continue;
    }
    fail(file, line, `unexpected character '${ch}'`);
  }
  return { toks, comments };
}

type Side = "lhs" | "rhs";

class StatementParser {
  i = 0;
  classVars = new Set<string>();
  attrVars = new Set<string>();
  usesRoot = false;

  constructor(readonly toks: Tok[], readonly file: string, readonly lib: Library, readonly endLine: number) {}

  peek(): Tok | undefined {
    return this.toks[this.i];
  }
  line(): number {
    return this.peek()?.line ?? this.endLine;
  }
  next(what: string): Tok {
    const t = this.toks[this.i++];
    if (!t) fail(this.file, this.endLine, `unexpected end of rule, expected ${what}`);
    return t;
  }
  expect(t: Tok["t"], what: string): Tok {
    const tok = this.next(what);
    if (tok.t !== t) fail(this.file, tok.line, `expected ${what}, found '${shown(tok)}'`);
    return tok;
  }

  side(side: Side): Pattern[] {
    const out = [this.pattern(side)];
    while (this.peek()?.t === ",") {
      this.i++;
      out.push(this.pattern(side));
    }
    return out;
  }

  useVar(name: string, kind: "class" | "attr", side: Side, line: number): void {
    const mine = kind === "class" ? this.classVars : this.attrVars;
    const other = kind === "class" ? this.attrVars : this.classVars;
    if (other.has(name)) fail(this.file, line, `?${name} is used both as a tensor and as an attribute`);
    if (side === "lhs") mine.add(name);
    else if (!mine.has(name)) fail(this.file, line, `unbound variable ?${name} on the right-hand side`);
  }

  pattern(side: Side): Pattern {
    const tok = this.next("a pattern");
    if (tok.t === "var") {
      this.useVar(tok.v, "class", side, tok.line);
      return { kind: "var", name: tok.v };
    }
    if (tok.t === "num") {
      if (side === "rhs") {
        fail(this.file, tok.line, `a number on the right needs a dtype: use (@scalar-like ?x ${tok.v})`);
      }
      return { kind: "num", value: Number(tok.v.replace("inf", "Infinity")) };
    }
    if (tok.t !== "(") fail(this.file, tok.line, `expected a pattern, found '${shown(tok)}'`);
    const head = this.expect("id", "an op name");
    if (head.v.startsWith("@")) return this.builderCall(head, side);
    const dot = head.v.lastIndexOf(".");
    const domain = dot < 0 ? "" : head.v.slice(0, dot), op = head.v.slice(dot + 1);
    if (domain === "com.microsoft" ? !MS_OPS.has(op) && !findOp(domain, op) : !findOp(domain, op)) {
      fail(this.file, head.line, `unknown op ${head.v}`);
    }
    const children: Pattern[] = [], attrs: AttrPattern[] = [];
    while (this.peek()?.t !== ")") {
      if (!this.peek()) fail(this.file, this.endLine, `unclosed '(' of ${head.v}`);
      if (this.peek()!.t === "attr") {
        const a = this.next("an attribute");
        attrs.push({ name: a.v, term: this.attrValue(a.v, side) });
      } else children.push(this.pattern(side));
    }
    this.i++;
    if (side === "lhs") checkRequiredAttrs(this.file, head, domain, op, children.length, attrs);
    const p: Pattern = { kind: "op", op, attrs, children };
    if (domain) p.domain = domain;
    if (this.peek()?.t === "proj") p.output = Number(this.next("an output").v);
    return p;
  }

  builderCall(head: Tok, side: Side): Pattern {
    const fn = head.v.slice(1);
    if (side === "lhs") fail(this.file, head.line, `builder ${head.v} on a left-hand side`);
    if (!this.lib.builders.has(fn)) fail(this.file, head.line, `unknown builder ${head.v}`);
    const args: (Pattern | AttrTerm)[] = [];
    while (this.peek()?.t !== ")") {
      const t = this.next("an argument");
      if (t.t === "var") {
        if (!this.classVars.has(t.v) && !this.attrVars.has(t.v)) {
          fail(this.file, t.line, `unbound variable ?${t.v} on the right-hand side`);
        }
        args.push({ kind: "var", name: t.v });
      } else if (t.t === "root") {
        if (!/^root\d*$/.test(t.v)) fail(this.file, t.line, `unknown $${t.v} (use $root, $root1, …)`);
        this.usesRoot = true;
        args.push({ kind: "var", name: `$${t.v}` });
      } else if (t.t === "num") args.push({ kind: "num", value: Number(t.v) });
      else if (t.t === "str") args.push({ kind: "lit", value: t.v });
      else if (t.t === "[") args.push({ kind: "lit", value: this.list(t).value });
      else if (t.t === "(") {
        this.i--;
        args.push(this.pattern(side));
      } else fail(this.file, t.line, `unexpected '${t.v}' in ${head.v}`);
    }
    this.i++;
    return { kind: "call", fn, args };
  }

  list(open: Tok): { value: (number | string)[]; float: boolean } {
    const value: (number | string)[] = [];
    let float = false;
    for (;;) {
      const t = this.next("']'");
      if (t.t === "]") return { value, float };
      if (t.t === "num") {
        value.push(Number(t.v));
        float ||= !!t.float;
      } else if (t.t === "str") value.push(t.v);
      else fail(this.file, t.line, `unexpected '${t.v}' in the list opened on line ${open.line}`);
    }
  }

  attrValue(name: string, side: Side): AttrTerm | "absent" {
    const t = this.next(`a value for :${name}`);
    const floaty = FLOAT_ATTRS.has(name);
    switch (t.t) {
      case "num":
        return { kind: "lit", value: Number(t.v), type: t.float || floaty ? "float" : "int" };
      case "str":
        return { kind: "lit", value: t.v, type: "string" };
      case "[": {
        const l = this.list(t);
        const type: AttrType = l.value.some((x) => typeof x === "string")
          ? "strings"
          : l.float || floaty
          ? "floats"
          : "ints";
        return { kind: "lit", value: l.value, type };
      }
      case "var":
        this.useVar(t.v, "attr", side, t.line);
        return floaty ? { kind: "var", name: t.v, type: "float" } : { kind: "var", name: t.v };
      case "id":
        if (t.v === "absent" && side === "lhs") return "absent";
        return fail(this.file, t.line, `unexpected '${t.v}' as the value of :${name}`);
      case "(": {
        if (side === "lhs") fail(this.file, t.line, `attribute function on a left-hand side (:${name})`);
        const fn = this.expect("id", "an attribute function");
        if (!this.lib.attrFns.has(fn.v)) fail(this.file, fn.line, `unknown attribute function ${fn.v}`);
        const args: (AttrTerm | Pattern)[] = [];
        while (this.peek()?.t !== ")") {
          const a = this.next("an argument");
          if (a.t === "var") {
            if (!this.classVars.has(a.v) && !this.attrVars.has(a.v)) {
              fail(this.file, a.line, `unbound variable ?${a.v} on the right-hand side`);
            }
            args.push({ kind: "var", name: a.v });
          } else if (a.t === "num") args.push({ kind: "lit", value: Number(a.v) });
          else if (a.t === "[") args.push({ kind: "lit", value: this.list(a).value });
          else fail(this.file, a.line, `unexpected '${a.v}' in (${fn.v} …)`);
        }
        this.i++;
        return floaty ? { kind: "call", fn: fn.v, args, type: "float" } : { kind: "call", fn: fn.v, args };
      }
      default:
        return fail(this.file, t.line, `unexpected '${t.v}' as the value of :${name}`);
    }
  }

  guard(): GuardCall {
    this.expect("(", "a guard '('");
    const name = this.expect("id", "a guard name");
    const arity = guardArity(name.v);
    if (!arity) fail(this.file, name.line, `unknown guard ${name.v}`);
    const args: GuardArg[] = [];
    while (this.peek()?.t !== ")") {
      const t = this.peek();
      if (!t) fail(this.file, this.endLine, `unclosed guard (${name.v}`);
      if (t.t === "(") {
        args.push({ kind: "guard", guard: this.guard() });
        continue;
      }
      this.i++;
      if (t.t === "var") {
        if (!this.classVars.has(t.v) && !this.attrVars.has(t.v)) {
          fail(this.file, t.line, `unbound variable ?${t.v} in guard (${name.v})`);
        }
        args.push({ kind: "var", name: t.v });
      } else if (t.t === "root") {
        const m = /^root(\d*)$/.exec(t.v);
        if (!m) fail(this.file, t.line, `unknown $${t.v} (use $root, $root1, …)`);
        args.push({ kind: "root", index: m[1] ? Number(m[1]) : 0 });
      } else if (t.t === "num") args.push({ kind: "num", value: Number(t.v) });
      else if (t.t === "str") args.push({ kind: "str", value: t.v });
      else if (t.t === "[") args.push({ kind: "list", values: this.list(t).value });
      else fail(this.file, t.line, `unexpected '${t.v}' in guard (${name.v})`);
    }
    this.i++;
    if (args.length < arity[0] || args.length > arity[1]) {
      fail(this.file, name.line, `guard ${name.v} takes ${arity.join("–")} arguments, got ${args.length}`);
    }
    return { name: name.v, args };
  }
}

/** Give multi-output ops on a right-hand side their output count (the highest projection + 1). */
function countOutputs(rhs: Pattern[]): void {
  const all: Extract<Pattern, { kind: "op" }>[] = [];
  const walk = (p: Pattern | AttrTerm) => {
    if (p.kind === "op") {
      all.push(p);
      p.children.forEach(walk);
    } else if (p.kind === "call") p.args.forEach(walk);
  };
  rhs.forEach(walk);
  const key = (p: Pattern) => JSON.stringify({ ...p, output: undefined, outputs: undefined });
  const most = new Map<string, number>();
  for (const p of all) if (p.output !== undefined) most.set(key(p), Math.max(most.get(key(p)) ?? 0, p.output + 1));
  for (const p of all) if (p.output !== undefined) p.outputs = most.get(key(p));
}

function hasCalls(ps: Pattern[]): boolean {
  return JSON.stringify(ps).includes('"kind":"call"');
}

/** An applier that binds `$root`, `$root1`, … (the matched roots) before instantiating the right-hand sides. */
function rootApplier(rhs: Pattern[], lib: Library): NonNullable<Rule["apply"]> {
  return (env, s, roots) => {
    const t = { classes: new Map(s.classes), attrs: s.attrs };
    roots.forEach((r, i) => t.classes.set(i ? `$root${i}` : "$root", r));
    return rhs.map((p) => instantiate(env, lib, p, t));
  };
}

/**
 * Parse a rule file's text into rules of `pack` (syntax in `rules/README.md`). Each rule keeps
 * its file, line, source text and the `#` comment above it; `<=>` gives two rules. Ops,
 * builders and attribute functions are checked against the registry and `lib`.
 * @param text the file's contents
 * @param file its name, for errors and `Rule.file`
 * @param pack the pack every rule joins
 * @param lib builders and attribute functions right-hand sides may call
 * @returns the rules, in file order
 * @throws {SaturnError} `RULE_ERROR` as `FILE:LINE: reason`
 * @example
 * ```ts
 * import { parseRules, SaturnError } from "../mod.ts";
 * const [rule] = parseRules("# x * 1 = x\nmul-one: (Mul ?x 1) => ?x if (same-shape ?x $root)", "my.rules", "user");
 * if (rule.name !== "mul-one" || rule.comment !== "x * 1 = x" || rule.line !== 2) throw new Error("parsed");
 * try {
 *   parseRules("oops: (Mul ?x 1) =>", "bad.rules", "user");
 *   throw new Error("an unfinished rule must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || !e.message.startsWith("bad.rules:1:")) throw e;
 * }
 * ```
 */
export function parseRules(text: string, file: string, pack: string, lib: Library = ruleLibrary): Rule[] {
  const { toks, comments } = lex(text, file);
  const lines = text.split("\n");
  // split into statements at `name:` tokens outside brackets
  const stmts: Tok[][] = [];
  let depth = 0;
  for (const t of toks) {
    if (t.t === "(" || t.t === "[") depth++;
    if (depth > MAX_RULE_NESTING) fail(file, t.line, `brackets nested more than ${MAX_RULE_NESTING} deep`);
    if (t.t === ")" || t.t === "]") depth--;
    if (t.t === "name" && depth === 0) stmts.push([t]);
    else if (!stmts.length) fail(file, t.line, `expected a rule name ('name: LHS => RHS'), found '${shown(t)}'`);
    else stmts[stmts.length - 1].push(t);
    if (depth < 0) fail(file, t.line, "unbalanced ')'");
  }
  const rules: Rule[] = [];
  const names = new Set<string>();
  stmts.forEach((stmt) => {
    const head = stmt[0];
    const endLine = stmt[stmt.length - 1].line; // where an unfinished statement stops
    if (names.has(head.v)) fail(file, head.line, `duplicate rule name ${head.v}`);
    names.add(head.v);
    const p = new StatementParser(stmt.slice(1), file, lib, endLine);
    const lhs = p.side("lhs");
    const arrow = p.next("'=>' or '<=>'");
    if (arrow.t !== "=>" && arrow.t !== "<=>") {
      fail(file, arrow.line, `expected '=>' or '<=>', found '${shown(arrow)}'`);
    }
    for (const l of lhs) {
      if (l.kind !== "op") fail(file, head.line, "a left-hand side must be an op pattern");
    }
    const rhs = p.side("rhs");
    if (rhs.length !== lhs.length) {
      fail(file, arrow.line, `${lhs.length} left-hand pattern(s) but ${rhs.length} right-hand pattern(s)`);
    }
    const guards: GuardCall[] = [];
    if (p.peek()) {
      const kw = p.next("'if'");
      if (kw.t !== "id" || kw.v !== "if") fail(file, kw.line, `expected 'if' or the next rule, found '${shown(kw)}'`);
      while (p.peek()) guards.push(p.guard());
      if (!guards.length) fail(file, kw.line, "'if' without a guard");
    }
    countOutputs(rhs);
    const comment = comments.get(head.line) ?? comments.get(head.line - 1);
    const guard = compileGuards(guards);
    const source = lines.slice(head.line - 1, endLine).join("\n");
    const base = { pack, file, line: head.line, comment, guard, guardCalls: guards, source };
    const rule: Rule = { name: head.v, lhs, rhs, ...base };
    if (p.usesRoot) rule.apply = rootApplier(rhs, lib);
    rules.push(rule);
    if (arrow.t === "<=>") {
      if (hasCalls(rhs) || rhs.some((r) => r.kind !== "op")) {
        fail(file, arrow.line, "'<=>' needs op patterns without builders or attribute functions on both sides");
      }
      // every variable of the right must be bound on the left and vice versa
      const back = new StatementParser(stmt.slice(1), file, lib, endLine);
      back.side("lhs");
      back.next("arrow");
      const rv = new StatementParser(stmt.slice(back.i + 1), file, lib, endLine);
      rv.side("lhs");
      for (const v of [...back.classVars].filter((x) => !rv.classVars.has(x))) {
        fail(file, arrow.line, `unbound variable ?${v} on the left-hand side (reverse of '<=>')`);
      }
      rules.push({ name: `${head.v}-rev`, lhs: rhs, rhs: lhs, ...base });
    }
  });
  return rules;
}
