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
import { DataType, dtypeFromName as onnxDtypeFromName, dtypeName } from "../ir/dtype.ts";
import { findOp, registeredOps } from "../ir/ops/registry.ts";
import "../ir/ops/all.ts";
import type { Rule } from "./rule.ts";
import {
  closestName,
  compileGuards,
  type GuardArg,
  guardArity,
  type GuardCall,
  guardProblem,
  type GuardScope,
} from "./guards.ts";
import { FLOAT_ATTRS, ruleLibrary } from "./library.ts";
import { missingRequiredAttrs } from "./attr_defaults.ts";
import { type AttrKind, type OpSchema, opSchema } from "./op_schema.ts";

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

/** Whether a rule may name this op (registered, or a known ONNX Runtime contrib op). */
export function knownOp(domain: string, op: string): boolean {
  return domain === "com.microsoft" ? MS_OPS.has(op) || !!findOp(domain, op) : !!findOp(domain, op);
}

let opNameCache: Set<string> | undefined;
/** Every op name a rule may write, as written (`Relu`, `com.microsoft.Gelu`), for suggestions. */
function opNames(): Set<string> {
  opNameCache ??= new Set([
    ...registeredOps().map((k) => {
      const [d, op] = k.split("::");
      return d ? `${d}.${op}` : op;
    }),
    ...[...MS_OPS].map((op) => `com.microsoft.${op}`),
  ]);
  return opNameCache;
}

/** Element type names rules may write (`"float32"`, `"int64"`, …). */
export const DTYPE_NAMES: readonly string[] = Object.values(DataType).filter((c) => c !== 0).map((c) => dtypeName(c));

/** The element type of a name (`"float32"`, `"INT64"`), never UNDEFINED. */
export function dtypeFromName(name: string): DataType | undefined {
  const code = onnxDtypeFromName(name);
  return code ? code : undefined;
}

/** Whether `v` is an ONNX element type code (not UNDEFINED). */
export function isDtypeCode(v: number): boolean {
  return v !== 0 && Object.values(DataType).includes(v as DataType);
}

/** How each attribute kind reads in a message. */
export const ATTR_KIND_WORDS: Record<AttrKind, string> = {
  int: "an integer",
  float: "a number",
  string: 'a string in quotes, as in "constant"',
  ints: "a list of integers, as in [0 1]",
  floats: "a list of numbers, as in [0.5 1.0]",
  strings: 'a list of strings, as in ["a" "b"]',
  dtype: 'an element type, as in "float32" (or its ONNX code)',
  tensor: "a tensor (a rule can only bind or copy it, with a variable)",
  tensors: "tensors (a rule can only bind or copy them, with a variable)",
  sparse_tensor: "a sparse tensor (a rule can only bind or copy it, with a variable)",
  sparse_tensors: "sparse tensors (a rule can only bind or copy them, with a variable)",
  graph: "a graph (a rule can only bind or copy it, with a variable)",
  graphs: "graphs (a rule can only bind or copy them, with a variable)",
  type_proto: "a type (a rule can only bind or copy it, with a variable)",
  type_protos: "types (a rule can only bind or copy them, with a variable)",
};

function isPermutation(p: number[]): boolean {
  return p.every((x) => x >= 0 && x < p.length) && new Set(p).size === p.length;
}

/** Kinds one attribute variable may move between (an int copied into a float attribute is fine). */
function kindFamily(k: AttrKind): string {
  return k === "int" || k === "float" || k === "dtype" ? "number" : k === "ints" || k === "floats" ? "numbers" : k;
}

/**
 * The shipped builders' and attribute functions' arguments, as a pattern over one letter per
 * argument: `t` a tensor (class variable or `$root`), `a` an attribute variable, `n` a number,
 * `s` a string, `l` a list, `p` a pattern. A number-like argument (`[nat]`) may be a number, an
 * attribute variable or a one-element constant.
 */
const BUILDER_SIGS: Record<string, { args: RegExp; usage: string }> = {
  "scalar-like": { args: /^t[nat]$/, usage: "(@scalar-like ?x V)" },
  ints: { args: /^[nat]+$/, usage: "(@ints A B …)" },
  "channel-shape": { args: /^t$/, usage: "(@channel-shape ?w)" },
  "channel-vector": { args: /^tt$/, usage: "(@channel-vector ?b ?w)" },
  "split-sizes": { args: /^t+[nat]$/, usage: "(@split-sizes ?a ?b … AXIS)" },
  "flatten-shape": { args: /^t[nat]$/, usage: "(@flatten-shape ?x AXIS)" },
  gelu: { args: /^ts?$/, usage: '(@gelu ?x "none"|"tanh")' },
  rmsnorm: { args: /^tt[nat]$/, usage: "(@rmsnorm ?x ?g ?eps)" },
  "slice-split-sizes": { args: /^ttt$/, usage: "(@slice-split-sizes ?x ?end ?axis)" },
  "shape-of": { args: /^t$/, usage: "(@shape-of ?x)" },
};

const ATTR_FN_SIGS: Record<string, { args: RegExp; usage: string; gives: AttrKind[] }> = {
  compose: { args: /^[al][al]$/, usage: "(compose ?p ?q) over permutations bound by :perm ?p", gives: ["ints"] },
  invert: { args: /^[al]$/, usage: "(invert ?p) of a permutation bound by :perm ?p", gives: ["ints"] },
  value: { args: /^[tna]$/, usage: "(value ?c) of a one-element constant", gives: ["int", "float", "dtype"] },
  neg: { args: /^[na]$/, usage: "(neg ?a) of a number attribute", gives: ["int", "float"] },
  list: { args: /^[tna]+$/, usage: "(list ?a ?b …) of numbers and one-element constants", gives: ["floats", "ints"] },
};

const ARG_WORDS: Record<string, string> = {
  t: "a tensor",
  a: "an attribute variable",
  n: "a number",
  s: "a string",
  l: "a list",
  p: "a pattern",
};

/** The arguments given, in words: `got a tensor and a string`. */
function describeKinds(kinds: string): string {
  if (!kinds) return "got no arguments";
  const words = [...kinds].map((k) => ARG_WORDS[k]);
  return `got ${words.length === 1 ? words[0] : `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`}`;
}

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
      if (/\d/.test(text[i + 1] ?? "") && /[^\s)]/.test(text[i - 1] ?? " ")) {
        fail(file, line, "an output index follows a pattern's ')', as in (Split ?x)#0 (a comment starts '# ')");
      }
      if (/\d/.test(text[i + 1] ?? "") && text[i - 1] !== ")" && /[ \t]/.test(text[i - 1] ?? "")) {
        const prev = toks[toks.length - 1];
        if (prev?.t === ")" && prev.line === line) {
          fail(
            file,
            line,
            "an output index goes right after ')' with no space, as in (Split ?x)#0 (a comment starts '# ')",
          );
        }
      }
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
      const prev = toks[toks.length - 1];
      const firstOnLine = prev?.line === line && toks[toks.length - 2]?.line !== line;
      if (!m && ch === ":" && prev?.t === "id" && firstOnLine) {
        prev.t = "name"; // `name : (…)`: a rule name with a space before its colon
        i++;
        continue;
      }
      if (!m && ch === ":" && (!prev || prev.line !== line)) fail(file, line, "a rule needs a name before its ':'");
      if (!m && ch === ":" && firstOnLine && prev.t !== "(" && prev.t !== ")") {
        fail(file, line, `'${shown(prev)}' cannot be a rule name: a name starts with a letter, as in relu-relu:`);
      }
      if (!m) {
        const what = ch === "?" ? "a variable name" : ch === "$" ? "root or rootN" : "an attribute name";
        fail(file, line, `expected ${what} right after '${ch}', found ${describeAt(rest.slice(1))}`);
      }
      toks.push({ t: ch === "?" ? "var" : ch === "$" ? "root" : "attr", v: m[0], line });
      i += 1 + m[0].length;
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) {
      i += id[0].length;
      // `name:` ends a rule name when no attribute name follows the colon (`name:(Relu ?x)` too)
      if (text[i] === ":" && !/[A-Za-z_]/.test(text[i + 1] ?? "")) {
        toks.push({ t: "name", v: id[0], line });
        i++;
      } else toks.push({ t: "id", v: id[0], line });
      continue;
    }
    fail(file, line, unexpectedChar(rest));
  }
  return { toks, comments };
}

/** The text at a position, for messages: its first few characters, or the end of the line. */
function describeAt(rest: string): string {
  const m = /^\S{1,12}/.exec(rest);
  return m ? `'${m[0]}'` : "nothing";
}

/** Why a character cannot start a token, with the likely intent. */
function unexpectedChar(rest: string): string {
  if (/^(->|==>|=|→|⇒|⟹)/.test(rest)) return `unexpected '${/^\S+/.exec(rest)![0]}': a rule's arrow is '=>' (or '<=>')`;
  if (/^[“”‘’„]/.test(rest)) return `unexpected '${rest[0]}': strings are in plain double quotes ("float32")`;
  if (rest.startsWith("//") || rest.startsWith(";")) return `unexpected '${rest[0]}': comments start with '#'`;
  if (rest.startsWith("'")) return 'unexpected "\'": strings are in double quotes ("float32")';
  if (/^[{}]/.test(rest)) return `unexpected '${rest[0]}': patterns use '(' and ')', lists '[' and ']'`;
  return `unexpected character '${[...rest][0]}'`;
}

type Side = "lhs" | "rhs";

/** A variable bound to an attribute: which one (for messages) and the kind of value it holds. */
type AttrVar = { where: string; kind?: AttrKind };

class StatementParser {
  i = 0;
  classVars = new Set<string>();
  attrVars = new Set<string>();
  attrVarInfo = new Map<string, AttrVar>();
  usesRoot = false;
  /** Left-hand patterns of the rule, once they are parsed (`$rootN` must be below it). */
  roots = Infinity;

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
    if (tok.t === "root") {
      fail(this.file, tok.line, `$${tok.v} is only for guards and builders (@shape-of $root), not inside a pattern`);
    }
    if (tok.t !== "(") fail(this.file, tok.line, `expected a pattern, found '${shown(tok)}'`);
    const head = this.expect("id", "an op name");
    if (head.v.startsWith("@")) return this.builderCall(head, side);
    const dot = head.v.lastIndexOf(".");
    const written = dot < 0 ? "" : head.v.slice(0, dot), op = head.v.slice(dot + 1);
    const domain = written === "ai.onnx" ? "" : written; // nodes of ONNX's own ops carry the empty domain
    if (!knownOp(domain, op)) {
      const near = closestName(head.v, opNames());
      fail(this.file, head.line, `unknown op ${head.v}${near ? ` (did you mean ${near}?)` : ""}`);
    }
    const schema = opSchema(domain, op);
    const children: Pattern[] = [], attrs: AttrPattern[] = [];
    while (this.peek()?.t !== ")") {
      const nx = this.peek();
      if (!nx) fail(this.file, this.endLine, `unclosed '(' of ${head.v} (opened on line ${head.line})`);
      if (nx.t === "=>" || nx.t === "<=>" || nx.t === "," || (nx.t === "id" && nx.v === "if")) {
        fail(this.file, nx.line, `unclosed '(' of ${head.v} (opened on line ${head.line}) before '${nx.v}'`);
      }
      if (this.peek()!.t === "attr") {
        const a = this.next("an attribute");
        const kind = schema?.attrs.get(a.v);
        if (schema && !kind && !schema.open) {
          const near = closestName(a.v, schema.attrs.keys());
          const hint = near ? ` (did you mean :${near}?)` : schema.attrs.size ? "" : " (it takes none)";
          fail(this.file, a.line, `${head.v} has no attribute :${a.v}${hint}`);
        }
        if (attrs.some((x) => x.name === a.v)) fail(this.file, a.line, `:${a.v} is given twice in (${head.v} …)`);
        attrs.push({ name: a.v, term: this.attrValue(a.v, side, kind, `:${a.v} of ${head.v}`) });
      } else children.push(this.pattern(side));
    }
    this.i++;
    if (schema) this.checkCounts(head, schema, children.length);
    const missing = side === "rhs"
      ? [...schema?.required ?? []].find((r) => !attrs.some((a) => a.name === r))
      : undefined;
    if (missing) fail(this.file, head.line, `(${head.v} …) on a right-hand side needs :${missing} (ONNX requires it)`);
    if (side === "lhs") checkRequiredAttrs(this.file, head, domain, op, children.length, attrs);
    const p: Pattern = { kind: "op", op, attrs, children };
    if (domain) p.domain = domain;
    if (this.peek()?.t === "proj") {
      const proj = this.next("an output");
      p.output = Number(proj.v);
      const most = schema?.maxOutputs ?? Infinity;
      if (most === 1) {
        fail(this.file, proj.line, `${head.v} has one output: write (${head.v} …) without #${proj.v}`);
      }
      if (p.output >= most) {
        fail(this.file, proj.line, `${head.v} has at most ${most} outputs (#0 to #${most - 1}), not #${proj.v}`);
      }
    }
    return p;
  }

  checkCounts(head: Tok, schema: OpSchema, n: number): void {
    const { minInputs: lo, maxInputs: hi } = schema;
    if (n >= lo && n <= hi) return;
    const want = lo === hi ? `${lo}` : n < lo ? `at least ${lo}` : `at most ${hi}`;
    fail(this.file, head.line, `${head.v} takes ${want} input${lo === 1 && hi === 1 ? "" : "s"}, got ${n}`);
  }

  builderCall(head: Tok, side: Side): Pattern {
    const fn = head.v.slice(1);
    if (side === "lhs") fail(this.file, head.line, `builder ${head.v} on a left-hand side`);
    if (!this.lib.builders.has(fn)) {
      const near = closestName(fn, this.lib.builders.keys());
      fail(this.file, head.line, `unknown builder ${head.v}${near ? ` (did you mean @${near}?)` : ""}`);
    }
    // the shipped builders' arguments are known; a caller's own library may read others
    const sig = this.lib.builders.get(fn) === ruleLibrary.builders.get(fn) ? BUILDER_SIGS[fn] : undefined;
    const args: (Pattern | AttrTerm)[] = [];
    let kinds = "";
    while (this.peek()?.t !== ")") {
      const t = this.next("an argument");
      if (t.t === "var") {
        if (!this.classVars.has(t.v) && !this.attrVars.has(t.v)) {
          fail(this.file, t.line, `unbound variable ?${t.v} on the right-hand side`);
        }
        args.push({ kind: "var", name: t.v });
        kinds += this.classVars.has(t.v) ? "t" : "a";
      } else if (t.t === "root") {
        const m = /^root(\d*)$/.exec(t.v);
        if (!m) fail(this.file, t.line, `unknown $${t.v} (use $root, $root1, …)`);
        const index = m[1] ? Number(m[1]) : 0;
        if (index >= this.roots) {
          fail(this.file, t.line, `$${t.v} names left-hand pattern ${index + 1}, but the rule has ${this.roots}`);
        }
        this.usesRoot = true;
        args.push({ kind: "var", name: index ? `$root${index}` : "$root" });
        kinds += "t";
      } else if (t.t === "num") {
        args.push({ kind: "num", value: Number(t.v.replace("inf", "Infinity")) });
        kinds += "n";
      } else if (t.t === "str") {
        args.push({ kind: "lit", value: t.v });
        kinds += "s";
      } else if (t.t === "[") {
        args.push({ kind: "lit", value: this.list(t).value });
        kinds += "l";
      } else if (t.t === "(") {
        if (sig) fail(this.file, t.line, `${head.v} takes variables and numbers, not a pattern: ${sig.usage}`);
        this.i--;
        args.push(this.pattern(side));
        kinds += "p";
      } else fail(this.file, t.line, `unexpected '${t.v}' in ${head.v}`);
    }
    this.i++;
    if (sig && !sig.args.test(kinds)) {
      fail(this.file, head.line, `${head.v} is written ${sig.usage}; ${describeKinds(kinds)}`);
    }
    // where a shipped builder reads an integer (a dim, an axis), a literal must be one
    const intAt = fn === "ints"
      ? args.map((_, k) => k)
      : fn === "split-sizes" || fn === "flatten-shape"
      ? [args.length - 1]
      : [];
    for (const k of intAt) {
      const a = args[k];
      if (sig && a?.kind === "num" && !Number.isSafeInteger(a.value)) {
        fail(this.file, head.line, `${head.v} takes integers, not ${a.value}`);
      }
    }
    if (fn === "gelu" && args[1]?.kind === "lit" && args[1].value !== "none" && args[1].value !== "tanh") {
      fail(this.file, head.line, `@gelu's mode is "none" or "tanh", not "${args[1].value}"`);
    }
    return { kind: "call", fn, args };
  }

  list(open: Tok): { value: (number | string)[]; float: boolean } {
    const value: (number | string)[] = [];
    let float = false;
    for (;;) {
      const t = this.next("']'");
      if (t.t === "]") return { value, float };
      if (t.t === "num") {
        value.push(Number(t.v.replace("inf", "Infinity")));
        float ||= !!t.float;
      } else if (t.t === "str") value.push(t.v);
      else if (t.t === ",") continue; // [0, 2, 1] reads as [0 2 1]
      else fail(this.file, t.line, `unexpected '${shown(t)}' in the list opened on line ${open.line}`);
    }
  }

  /** Record (left) or check (right) what kind of value an attribute variable holds. */
  attrVar(t: Tok, side: Side, kind: AttrKind | undefined, where: string): void {
    this.useVar(t.v, "attr", side, t.line);
    const had = this.attrVarInfo.get(t.v);
    if (had?.kind && kind && kindFamily(had.kind) !== kindFamily(kind)) {
      fail(
        this.file,
        t.line,
        `?${t.v} holds ${had.where} (${ATTR_KIND_WORDS[had.kind]}), which cannot be ${where} (${
          ATTR_KIND_WORDS[kind]
        })`,
      );
    }
    if (!had) this.attrVarInfo.set(t.v, { where, kind });
  }

  /**
   * An attribute's value: a literal of the attribute's kind (`kind`, from the op's schema; an
   * element type may be named: `:to "float32"`), a variable, `absent` (left) or an attribute
   * function (right). Anything else is refused here, naming the attribute.
   */
  attrValue(name: string, side: Side, kind: AttrKind | undefined, where: string): AttrTerm | "absent" {
    const t = this.next(`a value for :${name}`);
    const floaty = kind ? kind === "float" || kind === "floats" : FLOAT_ATTRS.has(name);
    const wrong = (): never =>
      fail(this.file, t.line, `${where} takes ${ATTR_KIND_WORDS[kind!]}, got ${t.t === "[" ? "a list" : shown(t)}`);
    switch (t.t) {
      case "num": {
        const value = Number(t.v.replace("inf", "Infinity"));
        if (kind === "int" || kind === "dtype") {
          if (t.float || !Number.isSafeInteger(value)) wrong();
          if (kind === "dtype" && !isDtypeCode(value)) wrong();
          return { kind: "lit", value, type: "int" };
        }
        if (kind && kind !== "float") wrong();
        return { kind: "lit", value, type: t.float || floaty ? "float" : "int" };
      }
      case "str": {
        if (kind === "dtype") {
          const code = dtypeFromName(t.v);
          if (code === undefined) {
            const near = closestName(t.v, DTYPE_NAMES);
            fail(
              this.file,
              t.line,
              `unknown element type "${t.v}" for ${where}${near ? ` (did you mean "${near}"?)` : ""}`,
            );
          }
          return { kind: "lit", value: code, type: "int" };
        }
        if (kind && kind !== "string") wrong();
        return { kind: "lit", value: t.v, type: "string" };
      }
      case "[": {
        const l = this.list(t);
        const strings = l.value.some((x) => typeof x === "string");
        if (kind === "ints" && (strings || l.float || !l.value.every((x) => Number.isSafeInteger(x)))) wrong();
        if (name === "perm" && kind === "ints" && !isPermutation(l.value as number[])) {
          fail(
            this.file,
            t.line,
            `${where} must be a permutation of 0…${l.value.length - 1}, not [${l.value.join(" ")}]`,
          );
        }
        if (kind === "floats" && strings) wrong();
        if (kind === "strings" && !l.value.every((x) => typeof x === "string")) wrong();
        if (kind && kind !== "ints" && kind !== "floats" && kind !== "strings") wrong();
        if (strings && !l.value.every((x) => typeof x === "string")) {
          fail(this.file, t.line, `the list for ${where} mixes strings and numbers`);
        }
        const type: AttrType = strings ? "strings" : l.float || floaty ? "floats" : "ints";
        return { kind: "lit", value: l.value, type };
      }
      case "var":
        this.attrVar(t, side, kind, where);
        return floaty ? { kind: "var", name: t.v, type: "float" } : { kind: "var", name: t.v };
      case "id":
        if (t.v === "absent" && side === "lhs") return "absent";
        if (t.v === "absent") {
          return fail(this.file, t.line, `'absent' is for left-hand sides; on the right leave ${where} out`);
        }
        if (kind === "dtype" && dtypeFromName(t.v) !== undefined) {
          return fail(this.file, t.line, `write the element type in quotes: :${name} "${t.v}"`);
        }
        if (kind === "string") return fail(this.file, t.line, `write the string in quotes: :${name} "${t.v}"`);
        return fail(this.file, t.line, `unexpected '${t.v}' as the value of ${where}`);
      case "(": {
        if (side === "lhs") fail(this.file, t.line, `attribute function on a left-hand side (:${name})`);
        const fn = this.expect("id", "an attribute function");
        if (!this.lib.attrFns.has(fn.v)) {
          const near = closestName(fn.v, this.lib.attrFns.keys());
          fail(this.file, fn.line, `unknown attribute function ${fn.v}${near ? ` (did you mean ${near}?)` : ""}`);
        }
        const sig = this.lib.attrFns.get(fn.v) === ruleLibrary.attrFns.get(fn.v) ? ATTR_FN_SIGS[fn.v] : undefined;
        const args: (AttrTerm | Pattern)[] = [];
        let kinds = "";
        while (this.peek()?.t !== ")") {
          const a = this.next("an argument");
          if (a.t === "var") {
            if (!this.classVars.has(a.v) && !this.attrVars.has(a.v)) {
              fail(this.file, a.line, `unbound variable ?${a.v} on the right-hand side`);
            }
            args.push({ kind: "var", name: a.v });
            kinds += this.classVars.has(a.v) ? "t" : "a";
          } else if (a.t === "num") {
            args.push({ kind: "lit", value: Number(a.v.replace("inf", "Infinity")) });
            kinds += "n";
          } else if (a.t === "[") {
            args.push({ kind: "lit", value: this.list(a).value });
            kinds += "l";
          } else fail(this.file, a.line, `unexpected '${shown(a)}' in (${fn.v} …)`);
        }
        this.i++;
        if (sig && !sig.args.test(kinds)) {
          fail(this.file, fn.line, `(${fn.v} …) is written ${sig.usage}; ${describeKinds(kinds)}`);
        }
        if (sig && kind && !sig.gives.includes(kind)) {
          fail(
            this.file,
            fn.line,
            `(${fn.v} …) gives ${ATTR_KIND_WORDS[sig.gives[0]]}, but ${where} takes ${ATTR_KIND_WORDS[kind]}`,
          );
        }
        return floaty ? { kind: "call", fn: fn.v, args, type: "float" } : { kind: "call", fn: fn.v, args };
      }
      default:
        return fail(this.file, t.line, `unexpected '${shown(t)}' as the value of ${where}`);
    }
  }

  guard(): GuardCall {
    this.expect("(", "a guard '('");
    const name = this.expect("id", "a guard name");
    if (!guardArity(name.v)) {
      if (knownOp("", name.v)) {
        fail(this.file, name.line, `(${name.v} …) is an op, not a guard: does the next rule lack its 'name:'?`);
      }
      fail(this.file, name.line, guardProblem({ name: name.v, args: [] }, this.scope())!);
    }
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
      } else if (t.t === "num") args.push({ kind: "num", value: Number(t.v.replace("inf", "Infinity")) });
      else if (t.t === "str") args.push({ kind: "str", value: t.v });
      else if (t.t === "[") args.push({ kind: "list", values: this.list(t).value });
      else if (t.t === "id" && dtypeFromName(t.v) !== undefined) {
        fail(this.file, t.line, `write the element type in quotes: (${name.v} … "${t.v}")`);
      } else fail(this.file, t.line, `unexpected '${shown(t)}' in guard (${name.v})`);
    }
    this.i++;
    const call = { name: name.v, args };
    const problem = guardProblem(call, this.scope());
    if (problem) fail(this.file, name.line, problem);
    if (name.v === "eq") this.eqKinds(call, name.line);
    return call;
  }

  /**
   * `(eq ?a V)` with `?a` an attribute: `V` must be of the attribute's kind, or the guard never
   * holds; an element type may be named (`(eq ?t "float32")` for Cast's `:to ?t`).
   */
  eqKinds(call: GuardCall, line: number): void {
    const [a, b] = call.args;
    for (const [v, lit, k] of [[a, b, 1], [b, a, 0]] as const) {
      const info = v.kind === "var" ? this.attrVarInfo.get(v.name) : undefined;
      if (!info?.kind || v.kind !== "var") continue;
      if (info.kind === "dtype" && lit.kind === "str") {
        const code = dtypeFromName(lit.value);
        if (code === undefined) {
          const near = closestName(lit.value, DTYPE_NAMES);
          fail(
            this.file,
            line,
            `unknown element type "${lit.value}" in (eq …)${near ? ` (did you mean "${near}"?)` : ""}`,
          );
        }
        call.args[k] = { kind: "num", value: code };
        continue;
      }
      const family = lit.kind === "num"
        ? "number"
        : lit.kind === "str"
        ? "string"
        : lit.kind === "list"
        ? (lit.values.some((x) => typeof x === "string") ? "strings" : "numbers")
        : undefined;
      if (family && family !== kindFamily(info.kind)) {
        fail(
          this.file,
          line,
          `(eq ?${v.name} …) never holds: ?${v.name} holds ${info.where} (${ATTR_KIND_WORDS[info.kind]}), not ${
            lit.kind === "str" ? `"${lit.value}"` : lit.kind === "num" ? lit.value : "a list"
          }`,
        );
      }
    }
  }

  scope(): GuardScope {
    return {
      kindOf: (n) => (this.classVars.has(n) ? "class" : this.attrVars.has(n) ? "attr" : undefined),
      attrOf: (n) => this.attrVarInfo.get(n)?.where,
      roots: this.roots,
      knownOp: (n) => opNames().has(n) || opNames().has(n.replace(/^.*\./, "")),
    };
  }
}

/** An op on a right-hand side projected with `#0` alone (made with one output, so not a tuple). */
function loneProjection(rhs: Pattern[]): string | undefined {
  const stack: (Pattern | AttrTerm)[] = [...rhs];
  while (stack.length) {
    const p = stack.pop()!;
    if (p.kind === "op") {
      if (p.output !== undefined && p.outputs === 1) return p.domain ? `${p.domain}.${p.op}` : p.op;
      stack.push(...p.children);
    } else if (p.kind === "call") stack.push(...p.args);
  }
  return undefined;
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
  const names = new Map<string, number>(); // rule name → its line (`<=>` rules also take `name-rev`)
  stmts.forEach((stmt) => {
    const head = stmt[0];
    const endLine = stmt[stmt.length - 1].line; // where an unfinished statement stops
    if (names.has(head.v)) fail(file, head.line, `duplicate rule name ${head.v} (first on line ${names.get(head.v)})`);
    names.set(head.v, head.line);
    const p = new StatementParser(stmt.slice(1), file, lib, endLine);
    const lhs = p.side("lhs");
    p.roots = lhs.length;
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
      if (kw.t !== "id" || kw.v !== "if") {
        const hint = kw.t === "(" ? " (does the next rule lack its 'name:'?)" : "";
        fail(file, kw.line, `expected 'if' or the next rule, found '${shown(kw)}'${hint}`);
      }
      while (p.peek()) guards.push(p.guard());
      if (!guards.length) fail(file, kw.line, "'if' without a guard");
    }
    countOutputs(rhs);
    const lone = loneProjection(rhs);
    if (lone) {
      fail(
        file,
        arrow.line,
        `only #0 of (${lone} …) is taken on the right, which makes a one-output ${lone}: write it without #0`,
      );
    }
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
      for (
        const v of [...back.classVars, ...back.attrVars].filter((x) => !rv.classVars.has(x) && !rv.attrVars.has(x))
      ) {
        fail(file, arrow.line, `unbound variable ?${v} on the right of '<=>' (the reverse rule needs it)`);
      }
      if (names.has(`${head.v}-rev`)) {
        fail(file, head.line, `duplicate rule name ${head.v}-rev (line ${names.get(`${head.v}-rev`)}; '<=>' makes it)`);
      }
      names.set(`${head.v}-rev`, head.line);
      rules.push({ name: `${head.v}-rev`, lhs: rhs, rhs: lhs, ...base });
    }
  });
  return rules;
}
