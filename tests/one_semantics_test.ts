/**
 * One semantics, several interpretations (ir/algebra.ts): each elementwise op's formula, run
 * with numbers, is what the reference interpreter computes (float64 exactly, float32 rounded
 * once, IEEE special values included); run with Z3 terms, it agrees with the numbers at
 * rational points, proves the op equal to itself and refutes it against a perturbed input.
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, graphModel, node } from "./_models.ts";
import type { Attribute, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { Tensor, toNumbers } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { NodeContext } from "../ir/ops/node_context.ts";
import { numberAlgebra, type ScalarAlgebra } from "../ir/algebra.ts";
import { ACTIVATION_FORMULAS, clamp, prelu } from "../ir/ops/activation.ts";
import { PREDICATE_FORMULAS, UNARY_FORMULAS } from "../ir/ops/unary.ts";
import { ARITH_FORMULAS, COMPARE_FORMULAS, FOLD_FORMULAS, LOGIC_FORMULAS, WHERE_FORMULA } from "../ir/ops/binary.ts";
import { proveEqual } from "../verify/symbolic.ts";
import { serialized, z3 } from "../verify/z3.ts";
import { Z3Algebra } from "../verify/z3_algebra.ts";

const OPSET = 21;

/** IEEE special values, denormals, exp overflow, integers and halves, then seeded randoms. */
const SPECIAL = [
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  2,
  -2.5,
  3,
  1e-310,
  -1e-310,
  0.01,
  100,
  -100,
  800,
  -800,
  Infinity,
  -Infinity,
  NaN,
];
function values(n: number, seed: number): number[] {
  const out = [...SPECIAL];
  let s = seed;
  while (out.length < n) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push((s / 2147483648 - 0.5) * 12);
  }
  return out;
}

/** Each value rotated by `k` places (the second operand of a binary op). */
const rotate = (xs: number[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);

function f64(xs: number[], dims = [xs.length]): Tensor {
  return new Tensor(DataType.DOUBLE, dims, Float64Array.from(xs));
}
function f32(xs: number[], dims = [xs.length]): Tensor {
  return new Tensor(DataType.FLOAT, dims, Float32Array.from(xs));
}
function bools(xs: boolean[]): Tensor {
  return new Tensor(DataType.BOOL, [xs.length], Uint8Array.from(xs, (b) => (b ? 1 : 0)));
}

/** Run one node on the reference interpreter. */
function runNode(n: Node, inputs: Record<string, Tensor>): number[] {
  const specs = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, [t.dtype, [...t.dims]]]));
  const m = graphModel([n], specs as never, [n.outputs[0]], {}, { opset: OPSET });
  const out = runModel(m, new Map(Object.entries(inputs))).get(n.outputs[0]) as Tensor;
  return Array.from(toNumbers(out));
}

function sameNumber(got: number, want: number, what: string): void {
  assert(Object.is(got, want), `${what}: interpreter ${got}, formula ${want}`);
}

/** Unary ops with attribute sets worth trying (defaults, and non-default values). */
const UNARY_CASES: [string, Attribute[]][] = [
  ...Object.keys(UNARY_FORMULAS).map((op): [string, Attribute[]] => [op, []]),
  ...Object.keys(ACTIVATION_FORMULAS).map((op): [string, Attribute[]] => [op, []]),
  ["LeakyRelu", [attr("alpha", 0.2)]],
  ["Elu", [attr("alpha", 0.7)]],
  ["Selu", [attr("alpha", 1.5), attr("gamma", 0.9)]],
  ["Celu", [attr("alpha", 2.5)]],
  ["HardSigmoid", [attr("alpha", 0.3), attr("beta", 0.4)]],
  ["Gelu", [attr("approximate", "tanh")]],
  ["Swish", [attr("alpha", 1.5)]],
  ["ThresholdedRelu", [attr("alpha", 0.5)]],
  ["Shrink", [attr("lambd", 1.5), attr("bias", 0.25)]],
];

const unaryFormula = (op: string) => UNARY_FORMULAS[op] ?? ACTIVATION_FORMULAS[op];

Deno.test("each unary op's formula over numbers is what the interpreter computes, float64 and float32", () => {
  const xs = values(64, 7);
  for (const [op, attrs] of UNARY_CASES) {
    const n = node(op, ["x"], ["y"], attrs);
    const g = unaryFormula(op)(numberAlgebra, new NodeContext(n, OPSET));
    const got64 = runNode(n, { x: f64(xs) });
    xs.forEach((x, i) => sameNumber(got64[i], g(x), `${op}(${x}) float64`));
    const x32 = Array.from(Float32Array.from(xs));
    const got32 = runNode(n, { x: f32(x32) });
    x32.forEach((x, i) => sameNumber(got32[i], Math.fround(g(x)), `${op}(${x}) float32`));
  }
});

Deno.test("IsNaN and IsInf formulas over numbers are what the interpreter computes", () => {
  const xs = values(32, 3);
  for (
    const [op, attrs] of [["IsNaN", []], ["IsInf", []], ["IsInf", [attr("detect_negative", 0)]], [
      "IsInf",
      [attr("detect_positive", 0)],
    ]] as [string, Attribute[]][]
  ) {
    const n = node(op, ["x"], ["y"], attrs);
    const g = PREDICATE_FORMULAS[op](numberAlgebra, new NodeContext(n, OPSET));
    const got = runNode(n, { x: f64(xs) });
    xs.forEach((x, i) => assertEquals(got[i], g(x) ? 1 : 0, `${op}(${x})`));
  }
});

Deno.test("binary, comparison, variadic, PRelu, Clip and Where formulas over numbers are what the interpreter computes, broadcast", () => {
  const a = values(40, 11), b = rotate(a, 5);
  // a as [2, 20], b's first 20 as [20]: numpy broadcasting, b[i % 20]
  const A = f64(a, [2, 20]), B = f64(b.slice(0, 20), [20]);
  const at = (i: number) => b[i % 20];
  const check = (op: string, g: (x: number, y: number) => number | boolean, extra: Attribute[] = []) => {
    const got = runNode(node(op, ["a", "b"], ["y"], extra), { a: A, b: B });
    a.forEach((x, i) => {
      const w = g(x, at(i));
      sameNumber(got[i], typeof w === "boolean" ? (w ? 1 : 0) : w, `${op}(${x}, ${at(i)})`);
    });
  };
  for (const op of ["Add", "Sub", "Mul", "Div", "Pow"] as const) check(op, ARITH_FORMULAS[op](numberAlgebra));
  for (const [op, f] of Object.entries(COMPARE_FORMULAS)) check(op, f(numberAlgebra));
  for (const [op, f] of Object.entries(FOLD_FORMULAS)) {
    const step = f.step(numberAlgebra), fin = f.finish?.(numberAlgebra, 2);
    check(op, (x, y) => (fin ? fin(step(x, y)) : step(x, y)));
  }
  check("PRelu", prelu(numberAlgebra));
  // Clip with bounds in either order, and without a bound
  for (const [lo, hi] of [[-1, 2], [2, -1], [undefined, 0.5]]) {
    const n = node("Clip", ["x", lo === undefined ? "" : "lo", "hi"], ["y"]);
    const inputs: Record<string, Tensor> = { x: f64(a), hi: f64([hi!], []) };
    if (lo !== undefined) inputs.lo = f64([lo], []);
    const got = runNode(n, inputs);
    const g = clamp(numberAlgebra, lo, hi);
    a.forEach((x, i) => sameNumber(got[i], g(x), `Clip(${x}, ${lo}, ${hi})`));
  }
  const c = a.map((x) => x > 0);
  const sel = WHERE_FORMULA(numberAlgebra);
  const got = runNode(node("Where", ["c", "a", "b"], ["y"]), { c: bools(c), a: f64(a), b: f64(b) });
  a.forEach((x, i) => sameNumber(got[i], sel(c[i], x, b[i]), `Where(${c[i]}, ${x}, ${b[i]})`));
});

Deno.test("And, Or, Xor formulas over truth values are what the interpreter computes", () => {
  const p = [false, false, true, true], q = [false, true, false, true];
  for (const [op, f] of Object.entries(LOGIC_FORMULAS)) {
    const got = runNode(node(op, ["a", "b"], ["y"]), { a: bools(p), b: bools(q) });
    const g = f(numberAlgebra);
    p.forEach((x, i) => assertEquals(got[i], g(x, q[i]) ? 1 : 0, `${op}(${x}, ${q[i]})`));
  }
});

// ---------------------------------------------------------------------------------------------
// the Z3 interpretation

/** Ops whose formulas are rational (arithmetic and choices): Z3 folds them exactly at numerals. */
const RATIONAL_UNARY = [
  "Abs",
  "Neg",
  "Sign",
  "Reciprocal",
  "Floor",
  "Ceil",
  "Relu",
  "LeakyRelu",
  "HardSigmoid",
  "HardSwish",
  "Softsign",
  "ThresholdedRelu",
  "Shrink",
];

Deno.test("at rational points the Z3 interpretation of each rational formula equals the number one", async () => {
  const api = await z3();
  await serialized(() => {
    const alg = new Z3Algebra(api);
    const toNum = (e: unknown) => {
      const r = alg.ratOf(e as never);
      assert(r !== undefined, "a term of numerals folds to a numeral");
      return Number(r.n) / Number(r.d);
    };
    const xs = values(40, 5).filter((x) => Number.isFinite(x) && x !== 0 && Math.abs(x) > 1e-300);
    for (const [op, attrs] of UNARY_CASES.filter(([op]) => RATIONAL_UNARY.includes(op))) {
      const nc = new NodeContext(node(op, ["x"], ["y"], attrs), OPSET);
      const gz = unaryFormula(op)(alg, nc), gn = unaryFormula(op)(numberAlgebra, nc);
      for (const x of xs) {
        const want = gn(x), got = toNum(gz(alg.num(x)));
        assert(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${op}(${x}): Z3 ${got}, numbers ${want}`);
      }
    }
    const ys = rotate(xs, 3);
    const pairs: [string, <T, B>(alg: ScalarAlgebra<T, B>) => (a: T, b: T) => T | B][] = [
      ...(["Add", "Sub", "Mul", "Div"] as const).map((op) => [op, ARITH_FORMULAS[op]] as never),
      ...Object.entries(COMPARE_FORMULAS),
      ...Object.entries(FOLD_FORMULAS).map(([op, f]) => [op, f.step] as never),
      ["PRelu", prelu],
    ];
    for (const [op, f] of pairs) {
      const gz = f(alg), gn = f(numberAlgebra);
      xs.forEach((x, i) => {
        const want = gn(x, ys[i]), got = gz(alg.num(x), alg.num(ys[i]));
        if (typeof want === "boolean") assertEquals(alg.boolOf(got as never), want, `${op}(${x}, ${ys[i]})`);
        else {
          const g = toNum(got);
          assert(
            Math.abs(g - want) <= 1e-12 * Math.max(1, Math.abs(want)),
            `${op}(${x}, ${ys[i]}): Z3 ${g}, numbers ${want}`,
          );
        }
      });
    }
  });
});

Deno.test("Z3 proves each formula equal to itself and refutes it on a perturbed input; rational refutations are real", async () => {
  const ops: [string, Attribute[], number][] = [
    ...UNARY_CASES.map(([op, attrs]): [string, Attribute[], number] => [op, attrs, 1]),
    ...["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "PRelu"].map((op): [string, Attribute[], number] => [
      op,
      [],
      2,
    ]),
  ];
  for (const [op, attrs, arity] of ops) {
    const ins = arity === 1 ? ["x"] : ["x", "w"];
    const nodes = [
      node("Add", ["x", "half"], ["xp"]),
      node(op, ins, ["y1"], attrs),
      node(op, ins, ["y2"], attrs),
      node(op, ["xp", ...ins.slice(1)], ["y3"], attrs),
    ];
    const inputs: Record<string, number[]> = arity === 1 ? { x: [3] } : { x: [3], w: [3] };
    const m = graphModel(nodes, inputs, ["y1", "y2", "y3"], { half: f32([0.5], []) }, { opset: OPSET });
    const same = await proveEqual(m, "y1", "y2", { timeoutMs: 5000 });
    assertEquals(same.status, "proved", `${op} = ${op}`);
    const moved = await proveEqual(m, "y1", "y3", { timeoutMs: 5000 });
    assertEquals(moved.status, "refuted", `${op}(x) = ${op}(x + 0.5)`);
    if (moved.status !== "refuted" || !(RATIONAL_UNARY.includes(op) || arity === 2)) continue;
    const feed = new Map([...moved.inputs].map(([k, v]) => [k, f32(v)]));
    const out = runModel(m, feed);
    const y1 = toNumbers(out.get("y1") as Tensor), y3 = toNumbers(out.get("y3") as Tensor);
    assert(y1.some((v, i) => !Object.is(v, y3[i])), `${op}: the counterexample ${[...moved.inputs]} is real`);
  }
});
