/**
 * The rule corpora: `tests/data/wrong.rules` (rules a careful author could get wrong, each tagged
 * with the kind of mistake) and `tests/data/right.rules` (correct, non-obvious rules, IEEE-true up
 * to rounding with ±0, ±inf and NaN included).
 *
 * Two independent checks:
 * - **the corpus does not lie**: every wrong rule carries a witness (a `#!` line: opset, shapes,
 *   dtypes, values and attribute values) on which the rule fires and the reference interpreter
 *   tells its sides apart; a right rule's witnesses (special values) must leave its sides equal.
 *   Witnesses are built here, by hand, never by the verifier's sampler.
 * - **the verifier**: every wrong rule is refuted, its counterexample re-run through the
 *   reference interpreter (the instance as built, in its own dtypes) shows the sides differ;
 *   every right rule is proved or tested.
 *
 * Witness syntax (`#!` lines after a rule, several allowed):
 * `#! opset 13; outputs 3; ?x: float32[2] = [inf, -0]; ?c: const int64[1] = [9223372036854775807]; ?a = 0.2`
 * (`?v: [const] DTYPE[DIMS] = [VALUES]` a tensor: a graph input, or an initializer with `const`;
 * `?v = JSON` an attribute value; `outputs N` the output count of multi-output nodes). A number
 * in a left-hand pattern becomes a rank-0 constant of its first sibling's dtype.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { loadRuleFile } from "../rules/load.ts";
import type { Rule } from "../rules/rule.ts";
import { verifyRule } from "../verify/verify_rule.ts";
import type { RuleInstance } from "../verify/instances.ts";
import { pruneTo } from "../verify/differential.ts";
import { EGraph } from "../egraph/egraph.ts";
import { type ClassId, type ENode, makeENode } from "../egraph/enode.ts";
import { instantiate, type MatchEnv, type Pattern, searchPatterns } from "../egraph/pattern.ts";
import { extractGreedy } from "../egraph/extract_greedy.ts";
import { extractionToGraph } from "../egraph/to_graph.ts";
import type { CostModel } from "../cost/cost_model.ts";
import type { Attribute, AttrType, Model, ValueInfo } from "../ir/graph.ts";
import { DataType, dtypeFromName, dtypeName, isBigInt, isFloat } from "../ir/dtype.ts";
import { fromNumbers, Tensor, toNumbers } from "../ir/tensor.ts";
import type { TensorType } from "../ir/types.ts";
import type { Value } from "../ir/values.ts";
import { runModel } from "../ir/interpreter.ts";
import { attrDefaults, FLOAT_ATTRS, ruleLibrary } from "../rules/library.ts";

const WRONG = new URL("./data/wrong.rules", import.meta.url).pathname;
const RIGHT = new URL("./data/right.rules", import.meta.url).pathname;

/** The kinds a wrong rule's comment names, `# [kind] what is wrong`. */
const KINDS = ["algebra", "attr", "value", "shape", "dtype", "ieee", "approx"] as const;

// a parse error in a corpus must fail loudly: these throw at load, failing the whole file
const wrong = await loadRuleFile(WRONG);
const right = await loadRuleFile(RIGHT);
const wrongText = await Deno.readTextFile(WRONG);
const rightText = await Deno.readTextFile(RIGHT);

// ---------------------------------------------------------------------------------------------
// witnesses

interface TensorWitness {
  dtype: DataType;
  dims: number[];
  values: string[];
  isConst: boolean;
}

interface Witness {
  line: number;
  opset: number;
  outputs?: number;
  tensors: Map<string, TensorWitness>;
  attrs: Map<string, unknown>;
}

function parseWitness(text: string, line: number): Witness {
  const w: Witness = { line, opset: 18, tensors: new Map(), attrs: new Map() };
  for (const part of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^opset (\d+)$/.exec(part))) w.opset = Number(m[1]);
    else if ((m = /^outputs (\d+)$/.exec(part))) w.outputs = Number(m[1]);
    else if ((m = /^\?([\w-]+):\s*(const\s+)?(\w+)\[([\d,\s]*)\]\s*=\s*\[(.*)\]$/.exec(part))) {
      const dtype = dtypeFromName(m[3]);
      if (dtype === undefined) throw new Error(`line ${line}: unknown dtype ${m[3]}`);
      const dims = m[4].trim() ? m[4].split(",").map((d) => Number(d.trim())) : [];
      const values = m[5].trim() ? m[5].split(",").map((v) => v.trim()) : [];
      if (values.length !== dims.reduce((a, b) => a * b, 1)) {
        throw new Error(`line ${line}: ${values.length} values for [${dims}] of ?${m[1]}`);
      }
      w.tensors.set(m[1], { dtype, dims, values, isConst: !!m[2] });
    } else if ((m = /^\?([\w-]+)\s*=\s*(.+)$/.exec(part))) w.attrs.set(m[1], JSON.parse(m[2]));
    else throw new Error(`line ${line}: cannot read witness part '${part}'`);
  }
  return w;
}

/** `#!` lines of a corpus, each attached to the last rule that starts above it. */
function witnessesOf(text: string, rules: Rule[]): Map<string, Witness[]> {
  const out = new Map<string, Witness[]>();
  text.split("\n").forEach((l, i) => {
    const m = /^\s*#!\s*(.*)$/.exec(l);
    if (!m) return;
    const line = i + 1;
    const owner = rules.filter((r) => (r.line ?? 0) < line).sort((a, b) => (b.line ?? 0) - (a.line ?? 0))[0];
    if (!owner) throw new Error(`witness on line ${line} belongs to no rule`);
    const list = out.get(owner.name.replace(/-rev$/, "")) ?? [];
    list.push(parseWitness(m[1], line));
    out.set(owner.name.replace(/-rev$/, ""), list);
  });
  return out;
}

function parseNumber(s: string): number {
  const t = s.toLowerCase();
  if (t === "inf" || t === "+inf") return Infinity;
  if (t === "-inf") return -Infinity;
  if (t === "nan") return NaN;
  if (t === "true") return 1;
  if (t === "false") return 0;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`not a number: ${s}`);
  return v;
}

function makeTensor(t: TensorWitness): Tensor {
  if (isBigInt(t.dtype)) {
    // int64 values are read exactly (INT64_MAX is not a double)
    const big = t.values.map((v) => BigInt(v));
    const data = t.dtype === DataType.INT64 ? BigInt64Array.from(big) : BigUint64Array.from(big);
    return new Tensor(t.dtype, t.dims, data);
  }
  return fromNumbers(t.dtype, t.dims, t.values.map(parseNumber));
}

function attrType(name: string, v: unknown): AttrType {
  if (typeof v === "string") return "string";
  if (Array.isArray(v)) {
    return v.some((x) => typeof x === "string")
      ? "strings"
      : v.every((x) => Number.isInteger(x)) && !FLOAT_ATTRS.has(name)
      ? "ints"
      : "floats";
  }
  return Number.isInteger(v) && !FLOAT_ATTRS.has(name) ? "int" : "float";
}

/** Cost that keeps leaves and recomputes everything else by its ops (as the verifier's instances do). */
function leafCost(leaves: Map<ClassId, unknown>): CostModel {
  return {
    name: "witness",
    nodeCost: (eg, n: ENode, cls: ClassId) => {
      if (n.op === "$in" || n.op === "$none" || n.op === "$out") return 0;
      if (n.op === "$const") {
        if (leaves.has(eg.find(cls))) return 0;
        return eg.eclass(cls).nodes.some((x) => !x.op.startsWith("$")) ? 1e6 : 0;
      }
      return 1;
    },
  };
}

/** A witness made concrete: the rule's two sides as one model, and its feeds. */
interface Built {
  model: Model;
  pairs: [string, string][];
  feeds: Map<string, Value>;
}

/** Build `rule` on witness `w`; an Error (as a string) when the rule does not fire there. */
function buildWitness(rule: Rule, w: Witness): Built | string {
  const eg = new EGraph([{ domain: "", version: w.opset }, { domain: "com.microsoft", version: 1 }]);
  const classes = new Map<string, ClassId>();
  const leaves = new Map<ClassId, { name: string; input: boolean; value: Tensor }>();
  const dtypes = new Map<ClassId, DataType>();
  const leaf = (name: string, value: Tensor, input: boolean): ClassId => {
    const id = input
      ? eg.add(makeENode("$in", [], [
        { name: "name", type: "string", value: name },
        {
          name: "type",
          type: "type_proto",
          value: { kind: "tensor", dtype: value.dtype, shape: [...value.dims] },
        } as Attribute,
      ]))
      : eg.add(makeENode("$const", [], [], { value }));
    if (!leaves.has(id)) leaves.set(id, { name, input, value });
    dtypes.set(id, value.dtype);
    return id;
  };
  const build = (p: Pattern, sibling?: ClassId): ClassId => {
    switch (p.kind) {
      case "var": {
        const had = classes.get(p.name);
        if (had !== undefined) return had;
        const t = w.tensors.get(p.name);
        if (!t) throw new Error(`the witness gives no tensor for ?${p.name}`);
        const id = leaf(t.isConst ? `c_${p.name}` : `x_${p.name}`, makeTensor(t), !t.isConst);
        classes.set(p.name, id);
        return id;
      }
      case "num": {
        const dt = sibling !== undefined ? dtypes.get(sibling) ?? DataType.FLOAT : DataType.FLOAT;
        return leaf(`n_${leaves.size}`, fromNumbers(dt, [], [p.value]), false);
      }
      case "call":
        throw new Error("a builder on a left-hand side");
      case "op": {
        const kids: ClassId[] = [];
        for (const c of p.children) kids.push(build(c, kids[0]));
        const attrs: Attribute[] = [];
        for (const a of p.attrs) {
          if (a.term === "absent") continue;
          let v: unknown;
          if (a.term.kind === "lit") v = a.term.value;
          else if (a.term.kind === "var") {
            if (!w.attrs.has(a.term.name)) continue; // unset: the node takes the default
            v = w.attrs.get(a.term.name);
          } else throw new Error("an attribute function on a left-hand side");
          attrs.push({ name: a.name, type: a.term.type ?? attrType(a.name, v), value: v } as Attribute);
        }
        const outputs = p.output !== undefined ? w.outputs ?? Math.max(p.output + 1, 2) : 1;
        const id = eg.add(makeENode(p.op, kids, attrs, { domain: p.domain ?? "", outputs }));
        if (p.output === undefined) return id;
        return eg.add(makeENode("$out", [id], [{ name: "index", type: "int", value: p.output }]));
      }
    }
  };
  let roots: ClassId[];
  try {
    roots = rule.lhs.map((p) => build(p));
    eg.rebuild();
  } catch (e) {
    return `the left side cannot be built: ${(e as Error).message}`;
  }
  const env: MatchEnv = { eg, defaults: attrDefaults };
  const match = searchPatterns(env, rule.lhs).find((m) => m.roots.every((c, i) => eg.find(c) === eg.find(roots[i])));
  if (!match) return "the rule's pattern does not match the witness";
  if (rule.guard && !rule.guard(env, match.subst, match.roots)) return "the rule's guard does not hold on the witness";
  let rhs: (ClassId | undefined)[];
  try {
    rhs = rule.apply
      ? rule.apply(env, match.subst, match.roots) ?? []
      : rule.rhs.map((p) => instantiate(env, ruleLibrary, p, match.subst));
  } catch (e) {
    return `the right side cannot be built: ${(e as Error).message}`;
  }
  if (rhs.length !== roots.length || rhs.some((c) => c === undefined)) return "the right side cannot be built";
  eg.rebuild();
  const rootIds = [...roots, ...(rhs as ClassId[])].map((c) => eg.find(c));
  const byClass = new Map([...leaves].map(([id, v]) => [eg.find(id), v]));
  const { choice } = extractGreedy(eg, leafCost(byClass), rootIds);
  const inputs: ValueInfo[] = [];
  const initializers = new Map<string, Tensor>();
  const classOf = new Map<string, ClassId>();
  const feeds = new Map<string, Value>();
  for (const [id, l] of byClass) {
    classOf.set(l.name, id);
    if (l.input) {
      const n = eg.eclass(id).nodes.find((x) => x.op === "$in")!;
      inputs.push({ name: l.name, type: n.attrs.find((a) => a.name === "type")!.value as TensorType });
      feeds.set(l.name, l.value);
    } else initializers.set(l.name, l.value);
  }
  const outputs: ValueInfo[] = [
    ...roots.map((_, i) => ({ name: `lhs${i}` })),
    ...rhs.map((_, i) => ({ name: `rhs${i}` })),
  ];
  const original = { name: rule.name, nodes: [], inputs, outputs, initializers, sparseInitializers: [], valueInfo: [] };
  const graph = extractionToGraph(eg, choice, rootIds, { original: original as never, classOf });
  const model = {
    irVersion: 8,
    opsetImports: [{ domain: "", version: w.opset }, { domain: "com.microsoft", version: 1 }],
    graph,
    metadataProps: [],
    trainingInfo: [],
    functions: [],
  } as unknown as Model;
  return { model, pairs: roots.map((_, i) => [`lhs${i}`, `rhs${i}`]), feeds };
}

// ---------------------------------------------------------------------------------------------
// comparing the sides

/** Tolerances by element type: |a − b| ≤ atol + rtol·max(|a|, |b|) (float32: ONNX Runtime's checkers). */
function tolerance(dtype: DataType): [number, number] {
  if (dtype === DataType.DOUBLE) return [1e-12, 1e-9];
  if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) return [1e-3, 1e-2];
  return [1e-5, 1e-4];
}

/**
 * Where two values differ beyond rounding (undefined: they agree). NaN differs from every number,
 * ±inf from every finite number and from each other; -0 equals +0 (a wrong rule about the sign of
 * zero must make it visible, e.g. through Reciprocal). Integers and booleans compare exactly.
 */
export function differs(a: Value | undefined, b: Value | undefined): string | undefined {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) return "a side produced no tensor";
  if (a.dims.join() !== b.dims.join()) return `shapes differ: [${a.dims}] vs [${b.dims}]`;
  if (a.dtype !== b.dtype) return `element types differ: ${dtypeName(a.dtype)} vs ${dtypeName(b.dtype)}`;
  if (isBigInt(a.dtype)) {
    const xa = a.data as BigInt64Array, xb = b.data as BigInt64Array;
    for (let i = 0; i < xa.length; i++) if (xa[i] !== xb[i]) return `element ${i}: ${xa[i]} vs ${xb[i]}`;
    return undefined;
  }
  const xa = toNumbers(a), xb = toNumbers(b);
  const [atol, rtol] = tolerance(a.dtype);
  for (let i = 0; i < xa.length; i++) {
    const p = xa[i], q = xb[i];
    if (p === q || (Number.isNaN(p) && Number.isNaN(q))) continue;
    if (!isFloat(a.dtype)) return `element ${i}: ${p} vs ${q}`;
    if (Number.isNaN(p) || Number.isNaN(q) || !Number.isFinite(p) || !Number.isFinite(q)) {
      return `element ${i}: ${p} vs ${q}`;
    }
    if (Math.abs(p - q) > atol + rtol * Math.max(Math.abs(p), Math.abs(q))) return `element ${i}: ${p} vs ${q}`;
  }
  return undefined;
}

/**
 * Run a model's two sides on `feeds`: the difference (undefined: equal), or throw when the left
 * side itself cannot run (the instance is not valid evidence).
 */
function sidesDiffer(model: Model, pairs: [string, string][], feeds: Map<string, Value>): string | undefined {
  let out: Map<string, Value | undefined>;
  try {
    out = runModel(model, feeds);
  } catch (e) {
    // the left side alone must run; then the right side failing is a difference
    const lhsOnly = pruneTo(model, pairs.map(([l]) => l));
    runModel(lhsOnly, new Map([...feeds].filter(([k]) => lhsOnly.graph.inputs.some((i) => i.name === k))));
    return `the right side fails where the left runs: ${(e as Error).message}`;
  }
  for (const [l, r] of pairs) {
    const d = differs(out.get(l), out.get(r));
    if (d) return `${l} vs ${r}: ${d}`;
  }
  return undefined;
}

/** Feeds for a verifier's counterexample, in the instance's own dtypes. */
function counterexampleFeeds(inst: RuleInstance, inputs: Record<string, number[]>): Map<string, Value> {
  const feeds = new Map<string, Value>();
  for (const vi of inst.model.graph.inputs) {
    const t = vi.type as { dtype: DataType; shape: number[] };
    const xs = inputs[vi.name];
    if (!xs) continue;
    feeds.set(vi.name, fromNumbers(t.dtype, t.shape, xs));
  }
  return feeds;
}

// ---------------------------------------------------------------------------------------------
// the corpora's own checks (these pass whatever the verifier does)

function kindOf(rule: Rule): string | undefined {
  return /^\[([a-z]+)\]/.exec(rule.comment ?? "")?.[1];
}

const wrongWitnesses = witnessesOf(wrongText, wrong);
const rightWitnesses = witnessesOf(rightText, right);

Deno.test("the wrong-rule corpus holds at least 150 rules, at least 8 of each kind, each with a tagged comment", () => {
  assert(wrong.length >= 150, `only ${wrong.length} wrong rules`);
  const counts = new Map<string, number>();
  for (const r of wrong) {
    const k = kindOf(r);
    assert(
      k && (KINDS as readonly string[]).includes(k),
      `${r.name} (line ${r.line}): comment '${r.comment}' names no kind`,
    );
    assert((r.comment ?? "").length > k.length + 8, `${r.name}: the comment must say what is wrong`);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  for (const k of KINDS) assert((counts.get(k) ?? 0) >= 8, `only ${counts.get(k) ?? 0} rules of kind ${k}`);
});

Deno.test("the right-rule corpus holds at least 60 rules, each with a comment", () => {
  assert(right.length >= 60, `only ${right.length} right rules`);
  for (const r of right) assert((r.comment ?? "").length > 8, `${r.name} (line ${r.line}) has no comment`);
});

Deno.test("every wrong rule (but the [algebra] ones) has a witness on which it fires and the reference interpreter tells its sides apart", () => {
  const bad: string[] = [];
  for (const rule of wrong) {
    const ws = wrongWitnesses.get(rule.name) ?? [];
    if (!ws.length && kindOf(rule) === "algebra") continue; // refuted by plain tests: see the verifier's tests below
    if (!ws.length) {
      bad.push(`${rule.name} (line ${rule.line}): no witness`);
      continue;
    }
    for (const w of ws) {
      const b = buildWitness(rule, w);
      if (typeof b === "string") {
        bad.push(`${rule.name} (witness line ${w.line}): ${b}`);
        continue;
      }
      try {
        const d = sidesDiffer(b.model, b.pairs, b.feeds);
        if (!d) bad.push(`${rule.name} (witness line ${w.line}): the sides agree`);
        if (Deno.env.get("CORPUS_DEBUG")) console.log(`${rule.name}: ${d}`);
      } catch (e) {
        bad.push(`${rule.name} (witness line ${w.line}): the left side cannot run: ${(e as Error).message}`);
      }
    }
  }
  assertEquals(bad, []);
});

Deno.test("every right rule's witnesses (±0, ±inf, NaN among them) leave its sides equal", () => {
  const bad: string[] = [];
  for (const rule of right) {
    for (const w of rightWitnesses.get(rule.name.replace(/-rev$/, "")) ?? []) {
      const b = buildWitness(rule, w);
      if (typeof b === "string") {
        bad.push(`${rule.name} (witness line ${w.line}): ${b}`);
        continue;
      }
      try {
        const d = sidesDiffer(b.model, b.pairs, b.feeds);
        if (d) bad.push(`${rule.name} (witness line ${w.line}): ${d}`);
      } catch (e) {
        bad.push(`${rule.name} (witness line ${w.line}): the left side cannot run: ${(e as Error).message}`);
      }
    }
  }
  assertEquals(bad, []);
});

Deno.test("a witness line that the harness cannot read fails loudly", () => {
  let threw = false;
  try {
    parseWitness("?x: float32[2] = [1]", 1);
  } catch {
    threw = true;
  }
  assert(threw, "a witness with the wrong number of values must be refused");
});

// ---------------------------------------------------------------------------------------------
// the verifier against the corpora (the verifier engineers' worklist: these fail until it is sound)

for (const rule of wrong) {
  Deno.test(`wrong rule ${rule.name} [${kindOf(rule)}] (line ${rule.line}) is refuted by a counterexample that tells the sides apart`, async () => {
    const v = await verifyRule(rule);
    assertEquals(v.status, "refuted", `${rule.name}: ${v.status} (${v.note})`);
    const c = v.counterexample!;
    assert(c && c.bindings.length > 0, "a counterexample names its shapes");
    assertEquals(v.file, WRONG);
    assertEquals(v.line, rule.line);
    const inst = c.instance;
    const pair = c.output.split(" vs ") as [string, string];
    let d: string | undefined;
    try {
      d = sidesDiffer(inst.model, [pair], counterexampleFeeds(inst, c.inputs));
    } catch (e) {
      d = undefined;
      assert(false, `${rule.name}: the counterexample's left side cannot run: ${(e as Error).message}`);
    }
    assert(d, `${rule.name}: re-run in its own dtypes, the counterexample does not differ (${c.reason})`);
  });
}

for (const rule of right) {
  Deno.test(`right rule ${rule.name} (line ${rule.line}) is proved or tested`, async () => {
    const v = await verifyRule(rule);
    assert(v.status === "proved" || v.status === "tested", `${rule.name}: ${v.status} (${v.note})`);
  });
}
