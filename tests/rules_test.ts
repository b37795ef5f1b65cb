/**
 * The rule language and the shipped packs: parser errors with file:line, user files and plugins,
 * and each pack rule firing on a tiny graph with the rewritten graph equivalent to the original
 * (same e-class as a goal expression, or the same outputs from the reference interpreter).
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { EGraph } from "../egraph/egraph.ts";
import { type ClassId, makeENode } from "../egraph/enode.ts";
import type { MatchEnv } from "../egraph/pattern.ts";
import { runRules } from "../egraph/runner.ts";
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, int64Tensor, type Tensor, toNumbers } from "../ir/tensor.ts";
import { runModel } from "../ir/interpreter.ts";
import { SaturnError } from "../errors.ts";
import { parseRules } from "../rules/parser.ts";
import { loadRulePacks } from "../rules/load.ts";
import { attrDefaults, ruleLibrary } from "../rules/library.ts";
import type { Rule } from "../rules/rule.ts";
import { optimizeModel } from "../optimize/optimize.ts";
import { AnalyticalCost } from "../cost/analytical.ts";
import { compareTensors } from "../conformance/compare.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { saveOnnx } from "../onnx/load.ts";

const ALL = await loadRulePacks();
const pick = (...names: string[]): Rule[] =>
  names.map((n) => {
    const r = ALL.find((x) => x.name === n);
    if (!r) throw new Error(`no rule ${n}`);
    return r;
  });

/** A tiny expression builder over an e-graph. */
class B {
  eg: EGraph;
  constructor(opset = 17) {
    this.eg = new EGraph([{ domain: "", version: opset }]);
  }
  input(name: string, shape: number[], dtype: number = DataType.FLOAT): ClassId {
    return this.eg.add(makeENode("$in", [], [
      { name: "name", type: "string", value: name },
      { name: "type", type: "type_proto", value: { kind: "tensor", dtype, shape } } as Attribute,
    ]));
  }
  c(t: Tensor): ClassId {
    return this.eg.add(makeENode("$const", [], [], { value: t }));
  }
  f(values: number[], dims: number[] = [values.length]): ClassId {
    return this.c(float32Tensor(dims, values));
  }
  i(values: number[]): ClassId {
    return this.c(int64Tensor([values.length], values));
  }
  op(op: string, kids: ClassId[], attrs: Record<string, number | number[] | string> = {}, domain = ""): ClassId {
    const as = Object.entries(attrs).map(([name, value]) =>
      ({
        name,
        type: typeof value === "string" ? "string" : Array.isArray(value) ? "ints" : "int",
        value,
      }) as Attribute
    );
    return this.eg.add(makeENode(op, kids, as, { domain }));
  }
}

/**
 * egg-style check: build a start and a goal expression, run the rules, and expect them in one
 * e-class ("equal") or still apart ("apart": the rule must not fire, e.g. a guard holds it back).
 */
function testRewrite(
  name: string,
  rules: Rule[],
  build: (b: B) => [ClassId, ClassId],
  expect: "equal" | "apart" = "equal",
  opset = 17,
): void {
  Deno.test(name, () => {
    const b = new B(opset);
    const [start, goal] = build(b);
    const env: MatchEnv = { eg: b.eg, defaults: attrDefaults };
    runRules(env, ruleLibrary, rules, { iterLimit: 10 });
    const same = b.eg.find(start) === b.eg.find(goal);
    assert(expect === "equal" ? same : !same, `${rules.map((r) => r.name)}: expected ${expect}`);
  });
}

// ---- parser

Deno.test("a rule file parses into named rules with line numbers, comments, packs and both directions", () => {
  const rs = parseRules(
    "# x + 0 = x\nadd0: (Add ?x 0) => ?x if (same-shape ?x $root)\n\nquad: (Neg (Neg ?x)) <=>\n  (Abs (Abs ?x)) # a comment\n",
    "t.rules",
    "user",
  );
  assertEquals(rs.map((r) => [r.name, r.line, r.pack]), [["add0", 2, "user"], ["quad", 4, "user"], [
    "quad-rev",
    4,
    "user",
  ]]);
  assertEquals(rs[0].comment, "x + 0 = x");
});

Deno.test("a syntax error is reported as FILE:LINE with the reason", () => {
  const e = assertThrows(
    () => parseRules("ok: (Relu ?x) => ?x\n\nbad: (Add ?x\n  => ?x\n", "my.rules", "user"),
    SaturnError,
  );
  assertEquals(e.code, "RULE_ERROR");
  assert(/^my\.rules:4: /.test(e.message), e.message);
  assert(!e.message.includes("\n"));
});

Deno.test("an unknown op is reported with its file and line", () => {
  assertThrows(
    () => parseRules("\nr: (Addd ?x ?y) => ?x\n", "u.rules", "user"),
    SaturnError,
    "u.rules:2: unknown op Addd",
  );
  assertThrows(
    () => parseRules("r: (Relu ?x) => (com.microsoft.NoSuch ?x)", "u.rules", "user"),
    SaturnError,
    "u.rules:1:",
  );
});

Deno.test("an unbound variable on the right-hand side is reported with its file and line", () => {
  assertThrows(
    () => parseRules("r: (Relu ?x)\n  => (Relu ?y)", "v.rules", "user"),
    SaturnError,
    "v.rules:2: unbound variable ?y",
  );
  assertThrows(
    () => parseRules("r: (Relu ?x) => ?x if (rank ?z 2)", "v.rules", "user"),
    SaturnError,
    "unbound variable ?z",
  );
  assertThrows(
    () => parseRules("r: (Relu ?x) => ?x if (nosuch ?x)", "v.rules", "user"),
    SaturnError,
    "unknown guard nosuch",
  );
});

Deno.test("'<=>' gives a rule for each direction", () => {
  const rs = parseRules("comm: (Add ?x ?y) <=> (Add ?y ?x)", "c.rules", "user");
  assertEquals(rs.map((r) => r.name), ["comm", "comm-rev"]);
});

Deno.test("multi-pattern rules give each right-hand side its multi-output op's output count", () => {
  const [r] = pick("matmul-merge2");
  assertEquals(r.lhs.length, 2);
  assertEquals(r.rhs.map((p) => p.kind === "op" ? [p.output, p.outputs] : []), [[0, 2], [1, 2]]);
});

Deno.test("the shipped packs load, every rule has a one-line comment, and --without drops a pack", async () => {
  assert(ALL.length > 50);
  for (const r of ALL) assert(r.comment && !r.comment.includes("\n"), `${r.name} lacks a comment`);
  const noLayout = await loadRulePacks({ without: ["layout"] });
  assert(noLayout.every((r) => r.pack !== "layout") && noLayout.length < ALL.length);
  await assertRejects(() => loadRulePacks({ without: ["nosuch"] }), "nosuch");
});

Deno.test("a user rule file and a TypeScript plugin load beside the shipped packs", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/mine.rules`,
    "# Relu(Relu(x)) = Relu(x)\nrelu-relu: (Relu (Relu ?x)) => (Relu ?x)\n",
  );
  const ruleTs = new URL("../rules/rule.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/plugin.ts`,
    `import { defineRules } from "${ruleTs}";\nexport default defineRules("user", [{ name: "neg-neg", ` +
      `lhs: [{ kind: "op", op: "Neg", attrs: [], children: [{ kind: "op", op: "Neg", attrs: [], ` +
      `children: [{ kind: "var", name: "x" }] }] }], rhs: [{ kind: "var", name: "x" }] }]);\n`,
  );
  const rules = await loadRulePacks({ files: [`${dir}/mine.rules`, `${dir}/plugin.ts`] });
  const mine = rules.filter((r) => r.name === "relu-relu" || r.name === "neg-neg");
  assertEquals(mine.map((r) => r.pack), ["user", "user"]);
  const b = new B();
  const x = b.input("x", [2]);
  const start = b.op("Neg", [b.op("Neg", [b.op("Relu", [b.op("Relu", [x])])])]);
  runRules({ eg: b.eg, defaults: attrDefaults }, ruleLibrary, mine);
  assertEquals(b.eg.find(start), b.eg.find(b.op("Relu", [x])));
  await Deno.writeTextFile(`${dir}/bad.rules`, "r: (Relu ?x) => (Sigmoid ?q)\n");
  await assertRejects(() => loadRulePacks({ files: [`${dir}/bad.rules`] }), `${dir}/bad.rules:1: unbound variable ?q`);
  await Deno.remove(dir, { recursive: true });
});

async function assertRejects(fn: () => Promise<unknown>, includes: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof SaturnError && e.message.includes(includes), String(e));
    return;
  }
  throw new Error("expected a rejection");
}

// ---- core/neutral

const X23 = (b: B) => b.input("x", [2, 3]);
testRewrite("Identity(x) rewrites to x", pick("identity"), (b) => [b.op("Identity", [X23(b)]), X23(b)]);
testRewrite("Dropout(x) rewrites to x", pick("dropout"), (b) => [b.op("Dropout", [X23(b)]), X23(b)]);
testRewrite("x + 0 rewrites to x", pick("add-zero"), (b) => [b.op("Add", [X23(b), b.f([0])]), X23(b)]);
testRewrite("0 + x rewrites to x", pick("zero-add"), (b) => [b.op("Add", [b.f([0, 0, 0]), X23(b)]), X23(b)]);
testRewrite(
  "x + 0 stays when the zero broadcasts x to a larger shape",
  pick("add-zero"),
  (b) => [b.op("Add", [X23(b), b.f([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 2, 3])]), X23(b)],
  "apart",
);
testRewrite("x - 0 rewrites to x", pick("sub-zero"), (b) => [b.op("Sub", [X23(b), b.f([0])]), X23(b)]);
testRewrite("x * 1 rewrites to x", pick("mul-one"), (b) => [b.op("Mul", [X23(b), b.f([1])]), X23(b)]);
testRewrite("1 * x rewrites to x", pick("one-mul"), (b) => [b.op("Mul", [b.f([1]), X23(b)]), X23(b)]);
testRewrite("x / 1 rewrites to x", pick("div-one"), (b) => [b.op("Div", [X23(b), b.f([1])]), X23(b)]);
testRewrite("x * 2 is not x", pick("mul-one"), (b) => [b.op("Mul", [X23(b), b.f([2])]), X23(b)], "apart");
testRewrite("Cast to the same dtype rewrites to x", pick("cast-same"), (b) => [
  b.op("Cast", [X23(b)], { to: DataType.FLOAT }),
  X23(b),
]);
testRewrite("Cast to another dtype stays", pick("cast-same"), (b) => [
  b.op("Cast", [X23(b)], { to: DataType.DOUBLE }),
  X23(b),
], "apart");
testRewrite("Reshape to the same shape rewrites to x", pick("reshape-same"), (b) => [
  b.op("Reshape", [X23(b), b.i([2, -1])]),
  X23(b),
]);
testRewrite("Expand to the same shape rewrites to x", pick("expand-same"), (b) => [
  b.op("Expand", [X23(b), b.i([1, 3])]),
  X23(b),
]);
testRewrite("Transpose with the identity perm rewrites to x", pick("transpose-identity"), (b) => [
  b.op("Transpose", [X23(b)], { perm: [0, 1] }),
  X23(b),
]);
testRewrite("a Slice that takes everything rewrites to x", pick("slice-all"), (b) => [
  b.op("Slice", [X23(b), b.i([0]), b.i([100]), b.i([1]), b.i([1])]),
  X23(b),
]);
testRewrite("a reversing Slice stays", pick("slice-all"), (b) => [
  b.op("Slice", [X23(b), b.i([-1]), b.i([-100]), b.i([1]), b.i([-1])]),
  X23(b),
], "apart");
testRewrite(
  "Concat of one input rewrites to x",
  pick("concat-one"),
  (b) => [b.op("Concat", [X23(b)], { axis: 0 }), X23(b)],
);
testRewrite("Squeeze(Unsqueeze(x, a), a) rewrites to x", pick("squeeze-unsqueeze"), (b) => [
  b.op("Squeeze", [b.op("Unsqueeze", [X23(b), b.i([1])]), b.i([1])]),
  X23(b),
]);

// ---- layout

testRewrite("Transpose∘Transpose composes, and inverse perms cancel", pick("transpose-compose", "transpose-identity"), (
  b,
) => [
  b.op("Transpose", [b.op("Transpose", [b.input("x", [2, 3, 4])], { perm: [1, 2, 0] })], { perm: [2, 0, 1] }),
  b.input("x", [2, 3, 4]),
]);
testRewrite("Transpose∘Transpose gives the composed perm", pick("transpose-compose"), (b) => {
  const x = b.input("x", [2, 3, 4]);
  const start = b.op("Transpose", [b.op("Transpose", [x], { perm: [0, 2, 1] })], { perm: [1, 0, 2] });
  return [start, b.op("Transpose", [x], { perm: [2, 0, 1] })];
});
testRewrite(
  "Transpose without perm (reversed axes) twice cancels",
  pick("transpose-compose", "transpose-identity"),
  (b) => [
    b.op("Transpose", [b.op("Transpose", [X23(b)])]),
    X23(b),
  ],
);
testRewrite("Reshape∘Reshape becomes one Reshape", pick("reshape-reshape"), (b) => {
  const x = b.input("x", [2, 3, 4]);
  return [b.op("Reshape", [b.op("Reshape", [x, b.i([6, 4])]), b.i([4, -1])]), b.op("Reshape", [x, b.i([4, -1])])];
});
testRewrite("Flatten of a static tensor becomes Reshape", pick("flatten-reshape"), (b) => {
  const x = b.input("x", [2, 3, 4]);
  return [b.op("Flatten", [x]), b.op("Reshape", [x, b.i([2, 12])])];
});
testRewrite("Relu(Transpose(x)) sinks the transpose: Transpose(Relu(x))", pick("relu-transpose"), (b) => [
  b.op("Relu", [b.op("Transpose", [X23(b)], { perm: [1, 0] })]),
  b.op("Transpose", [b.op("Relu", [X23(b)])], { perm: [1, 0] }),
]);
testRewrite(
  "Transpose(x) + c moves the transpose past the add with c transposed back",
  pick("add-transpose-const"),
  (b) => {
    const x = b.input("x", [2, 3]);
    const c = b.f([1, 2, 3, 4, 5, 6], [3, 2]);
    return [
      b.op("Add", [b.op("Transpose", [x], { perm: [1, 0] }), c]),
      b.op("Transpose", [b.op("Add", [x, b.f([1, 3, 5, 2, 4, 6], [2, 3])])], { perm: [1, 0] }),
    ];
  },
);

// ---- core/fusion on tiny models, checked with the reference interpreter

function model(
  nodes: [string, string[], string[], Record<string, unknown>?, string?][],
  inputs: [string, number[]][],
  inits: [string, Tensor][],
  outputs: string[],
  opset = 17,
): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: "", version: opset }],
    graph: {
      name: "g",
      nodes: nodes.map(([opType, ins, outs, attrs, domain], k): Node => ({
        name: `n${k}`,
        opType,
        domain: domain ?? "",
        inputs: ins,
        outputs: outs,
        attributes: Object.entries(attrs ?? {}).map(([name, value]) =>
          ({
            name,
            type: typeof value === "string"
              ? "string"
              : Array.isArray(value)
              ? "ints"
              : Number.isInteger(value)
              ? "int"
              : "float",
            value,
          }) as Attribute
        ),
      })),
      inputs: inputs.map(([name, shape]) => ({ name, type: { kind: "tensor", dtype: DataType.FLOAT, shape } })),
      outputs: outputs.map((name) => ({ name })),
      initializers: new Map(inits),
      sparseInitializers: [],
      valueInfo: [],
    },
    metadataProps: [],
    trainingInfo: [],
    functions: [],
  };
}

const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 997 + i * 7.3) * 0.9);

/** Optimize with `rules`, check the rule fired and the result runs the same as the original. */
function testFusion(name: string, ruleNames: string[], m: Model, expectOps: string[], ort = false): void {
  Deno.test(name, async () => {
    const { model: out, report } = await optimizeModel(m, {
      rules: pick(...ruleNames),
      library: ruleLibrary,
      defaults: attrDefaults,
      cost: new AnalyticalCost(),
    });
    const fired = [...report.run.rules].filter(([, s]) => s.applied > 0).map(([n]) => n);
    assert(fired.length > 0, `no rule fired of ${ruleNames}`);
    const ops = out.graph.nodes.map((n) => (n.domain ? `${n.domain}.${n.opType}` : n.opType));
    assertEquals(ops.sort(), [...expectOps].sort());
    const inputs = randomInputs(m, { seed: 3 });
    const a = runModel(m, inputs), b = runModel(out, inputs);
    for (const o of m.graph.outputs) {
      const why = compareTensors(b.get(o.name) as Tensor, a.get(o.name) as Tensor, { atol: 1e-5, rtol: 1e-4 });
      assert(!why, `${o.name}: ${why}`);
    }
    if (ort) {
      // ONNX Runtime runs the fused ops for real (contrib ops have no ONNX spec to trust)
      const dir = Deno.makeTempDirSync();
      try {
        saveOnnx(out, `${dir}/out.onnx`);
        const c = await runOrt(`${dir}/out.onnx`, inputs, { graphOptimizationLevel: "disabled" });
        for (const o of m.graph.outputs) {
          const why = compareTensors(c.get(o.name)!, a.get(o.name) as Tensor, { atol: 1e-5, rtol: 1e-4 });
          assert(!why, `ONNX Runtime, ${o.name}: ${why}`);
        }
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    }
  });
}

const convAct = (act: [string, string[], Record<string, unknown>?], bias: boolean, extra: [string, Tensor][] = []) =>
  model(
    [
      ["Conv", bias ? ["x", "w", "cb"] : ["x", "w"], ["c"], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
        strides: [2, 2],
      }],
      [act[0], ["c", ...act[1]], ["y"], act[2]],
    ],
    [["x", [1, 2, 7, 7]]],
    [["w", float32Tensor([3, 2, 3, 3], rand(54, 11))], ["cb", float32Tensor([3], rand(3, 12))], ...extra],
    ["y"],
  );
testFusion(
  "Conv + Relu fuses to com.microsoft.FusedConv, which ONNX Runtime runs the same",
  ["conv-relu-fused"],
  convAct(["Relu", []], true),
  ["com.microsoft.FusedConv"],
  true,
);
testFusion(
  "Conv (no bias) + LeakyRelu fuses to FusedConv with alpha as activation_params",
  ["conv-leakyrelu-fused-nobias"],
  convAct(["LeakyRelu", [], { alpha: 0.125 }], false),
  ["com.microsoft.FusedConv"],
  true,
);
testFusion(
  "Conv + Clip(0, 6) fuses to FusedConv with [min, max] as activation_params",
  ["conv-clip-fused"],
  convAct(["Clip", ["lo", "hi"]], true, [["lo", float32Tensor([], [0])], ["hi", float32Tensor([], [0.3])]]),
  ["com.microsoft.FusedConv"],
  true,
);
testFusion(
  "two Slices that cut the channel axis in two become one Split (a multi-pattern)",
  ["slices-split-steps"],
  model(
    [
      ["Slice", ["x", "s0", "m", "ax", "one"], ["a"]],
      ["Slice", ["x", "m", "big", "ax", "one"], ["b"]],
      ["Relu", ["a"], ["y"]],
      ["Sigmoid", ["b"], ["z"]],
    ],
    [["x", [1, 6, 2, 2]]],
    [
      ["s0", int64Tensor([1], [0])],
      ["m", int64Tensor([1], [2])],
      ["big", int64Tensor([1], [2 ** 53])], // "to the end", as exporters write it
      ["ax", int64Tensor([1], [1])],
      ["one", int64Tensor([1], [1])],
    ],
    ["y", "z"],
  ),
  ["Split", "Relu", "Sigmoid"],
  true,
);

testFusion(
  "MatMul + Add on 2-D operands fuses to Gemm",
  ["matmul-add-gemm", "add-const-second"],
  model([["MatMul", ["x", "w"], ["m"]], ["Add", ["b", "m"], ["y"]]], [["x", [4, 3]]], [
    ["w", float32Tensor([3, 5], rand(15, 1))],
    ["b", float32Tensor([5], rand(5, 2))],
  ], ["y"]),
  ["Gemm"],
);
testFusion(
  "Conv + BatchNormalization folds into one Conv with new constant weights",
  ["conv-bn"],
  model(
    [["Conv", ["x", "w", "cb"], ["c"], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }], [
      "BatchNormalization",
      ["c", "sc", "bb", "mu", "var"],
      ["y"],
      { epsilon: 1e-3 },
    ]],
    [["x", [1, 2, 5, 5]]],
    [
      ["w", float32Tensor([3, 2, 3, 3], rand(54, 3))],
      ["cb", float32Tensor([3], rand(3, 4))],
      ["sc", float32Tensor([3], [0.5, 1.5, 2])],
      ["bb", float32Tensor([3], rand(3, 5))],
      ["mu", float32Tensor([3], rand(3, 6))],
      ["var", float32Tensor([3], [0.3, 1.2, 2.5])],
    ],
    ["y"],
  ),
  ["Conv"],
);
testFusion(
  "Conv + a per-channel Add folds into the Conv bias",
  ["conv-add-bias"],
  model([["Conv", ["x", "w"], ["c"], { kernel_shape: [1, 1] }], ["Add", ["c", "b"], ["y"]]], [["x", [1, 2, 3, 3]]], [
    ["w", float32Tensor([4, 2, 1, 1], rand(8, 7))],
    ["b", float32Tensor([1, 4, 1, 1], rand(4, 8))],
  ], ["y"]),
  ["Conv"],
);
testFusion(
  "the erf form of Gelu that BERT exports fuses to com.microsoft.Gelu",
  ["gelu-erf-a"],
  model(
    [
      ["Div", ["x", "s2"], ["d"]],
      ["Erf", ["d"], ["e"]],
      ["Add", ["e", "one"], ["a"]],
      ["Mul", ["x", "a"], ["m"]],
      ["Mul", ["m", "half"], ["y"]],
    ],
    [["x", [2, 8]]],
    [
      ["s2", float32Tensor([], [Math.SQRT2])],
      ["one", float32Tensor([], [1])],
      ["half", float32Tensor([], [0.5])],
    ],
    ["y"],
  ),
  ["com.microsoft.Gelu"],
);
testFusion(
  "the decomposed LayerNormalization fuses to LayerNormalization",
  ["layernorm"],
  model(
    [
      ["ReduceMean", ["x", "ax"], ["mu"], { keepdims: 1 }],
      ["Sub", ["x", "mu"], ["d"]],
      ["Pow", ["d", "two"], ["p"]],
      ["ReduceMean", ["p", "ax"], ["v"], { keepdims: 1 }],
      ["Add", ["v", "eps"], ["ve"]],
      ["Sqrt", ["ve"], ["sd"]],
      ["Div", ["d", "sd"], ["n"]],
      ["Mul", ["n", "g"], ["ng"]],
      ["Add", ["ng", "bb"], ["y"]],
    ],
    [["x", [2, 3, 8]]],
    [
      ["ax", int64Tensor([1], [-1])],
      ["two", float32Tensor([], [2])],
      ["eps", float32Tensor([], [1e-5])],
      ["g", float32Tensor([8], rand(8, 9))],
      ["bb", float32Tensor([8], rand(8, 10))],
    ],
    ["y"],
    18,
  ),
  ["LayerNormalization"],
);
testFusion(
  "the RMSNorm decomposition that Llama exports fuses to SimplifiedLayerNormalization",
  ["rmsnorm", "mul-const-second"],
  model(
    [
      ["Pow", ["x", "two"], ["p"]],
      ["ReduceMean", ["p", "ax"], ["ms"], { keepdims: 1 }],
      ["Add", ["ms", "eps"], ["mse"]],
      ["Sqrt", ["mse"], ["r"]],
      ["Reciprocal", ["r"], ["ir"]],
      ["Mul", ["x", "ir"], ["n"]],
      ["Mul", ["g", "n"], ["y"]],
    ],
    [["x", [2, 3, 8]]],
    [
      ["ax", int64Tensor([1], [-1])],
      ["two", float32Tensor([], [2])],
      ["eps", float32Tensor([], [1e-6])],
      ["g", float32Tensor([8], rand(8, 11))],
    ],
    ["y"],
    18,
  ),
  ["SimplifiedLayerNormalization"],
);

Deno.test("two MatMuls reading one tensor merge into one MatMul and a Split (a multi-pattern)", () => {
  const b = new B();
  const x = b.input("x", [4, 3]);
  const w1 = b.f(rand(6, 1), [3, 2]), w2 = b.f(rand(9, 2), [3, 3]);
  const m1 = b.op("MatMul", [x, w1]), m2 = b.op("MatMul", [x, w2]);
  runRules({ eg: b.eg, defaults: attrDefaults }, ruleLibrary, pick("matmul-merge2"));
  const split = [...b.eg.eclass(m1).nodes].find((n) => n.op === "$out");
  assert(split, "MatMul 1 has no Split projection");
  const splitNode = b.eg.eclass(split.children[0]).nodes.find((n) => n.op === "Split")!;
  assertEquals(splitNode.outputs, 2);
  assertEquals([...toNumbers(b.eg.valueOf(splitNode.children[1])!)], [2, 3]);
  assert(b.eg.eclass(m2).nodes.some((n) => n.op === "$out" && n.children[0] === split.children[0]));
});
