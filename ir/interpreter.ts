/**
 * The reference interpreter: runs a model's graph node by node with each op's `run`
 * (exact ONNX semantics on the CPU). Model-local functions are expanded at run time;
 * control-flow bodies see the values of their enclosing scopes.
 * @module
 */
import { OpError, SaturnError } from "../errors.ts";
import "./ops/all.ts";
import { findOp } from "./ops/registry.ts";
import { RunContext } from "./ops/run_context.ts";
import { type FunctionDef, type Graph, type Model, type Node, type OpsetImport, opsetVersion } from "./graph.ts";
import { Tensor } from "./tensor.ts";
import type { Value } from "./values.ts";
import { sparseToDense } from "./sparse.ts";
import { bindFunctionBody, checkFunctionCalls, checkNesting, functionOpsets, subgraphsOf } from "./functions.ts";
import { freeNames } from "./validate.ts";

/** A chain of value scopes: a subgraph sees its parents' values. */
class Scope {
  readonly values = new Map<string, Value | undefined>();
  constructor(readonly parent?: Scope) {}
  get(name: string): Value | undefined {
    return ownerOf(this, name)?.values.get(name);
  }
  has(name: string): boolean {
    return ownerOf(this, name) !== undefined;
  }
}

/** The innermost scope from `scope` outwards that defines `name` (a loop: bodies nest as deep as the model). */
function ownerOf(scope: Scope, name: string): Scope | undefined {
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.values.has(name)) return s;
  return undefined;
}

interface Env {
  opsets: readonly OpsetImport[];
  functions: readonly FunctionDef[];
}

/**
 * The op a node calls that Saturn cannot run, or undefined when every op (and subgraph op) is
 * known. Nodes that call a model-local function count as supported.
 * @param model the model
 * @returns the first node whose op is neither registered nor a model-local function
 * @example
 * ```ts
 * import { findUnsupported, loadOnnx, type Model } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * if (findUnsupported(model) !== undefined) throw new Error("every op of bert_tiny runs");
 * const odd: Model = { ...model, graph: { ...model.graph, nodes: [
 *   ...model.graph.nodes,
 *   { name: "n", opType: "Frobnicate", domain: "com.example", inputs: [], outputs: ["z"], attributes: [] },
 * ] } };
 * if (findUnsupported(odd)?.opType !== "Frobnicate") throw new Error("an unknown op is found");
 * ```
 */
export function findUnsupported(model: Model): Node | undefined {
  const fnKeys = new Set(model.functions.map((f) => `${f.domain}::${f.name}`));
  // nodes in order, each node's bodies before the next node, with an explicit stack of (graph, next node)
  const stack: [Graph, number][] = [[model.graph, 0]];
  while (stack.length) {
    const frame = stack[stack.length - 1];
    const [g, i] = frame;
    if (i >= g.nodes.length) {
      stack.pop();
      continue;
    }
    frame[1]++;
    const n = g.nodes[i];
    if (!findOp(n.domain, n.opType) && !fnKeys.has(`${n.domain}::${n.opType}`)) return n;
    stack.push(...subgraphsOf(n).reverse().map((sg): [Graph, number] => [sg, 0]));
  }
  return undefined;
}

/**
 * Run a model on named inputs and return its outputs by name, on the reference interpreter
 * (exact ONNX semantics on the CPU). An input that also names an initializer may be left out:
 * the initializer is its default.
 * @param model the model
 * @param inputs a value for every graph input without a default
 * @returns each graph output's value (undefined for an omitted optional output)
 * @throws {SaturnError} `BAD_INPUT` for a missing or unknown input; `INVALID_GRAPH` for subgraphs
 * nested past `MAX_NESTING` or a local function that calls itself
 * @example
 * ```ts
 * import { float32Tensor, type Model, runModel } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [3] } }],
 *     outputs: [{ name: "y" }],
 *     nodes: [{ name: "relu", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const y = runModel(model, new Map([["x", float32Tensor([3], [-1, 0, 2])]])).get("y");
 * if (!y || !("data" in y) || Array.from(y.data as Float32Array).join() !== "0,0,2") throw new Error("relu");
 * ```
 */
export function runModel(model: Model, inputs: ReadonlyMap<string, Value>): Map<string, Value | undefined> {
  checkModelNesting(model);
  const env: Env = { opsets: model.opsetImports, functions: model.functions };
  const g = model.graph;
  const given: (Value | undefined)[] = g.inputs.map((i) => {
    if (inputs.has(i.name)) return inputs.get(i.name);
    if (g.initializers.has(i.name)) return g.initializers.get(i.name);
    throw new SaturnError("BAD_INPUT", `input '${i.name}' was not given a value`, i.name);
  });
  for (const name of inputs.keys()) {
    if (!g.inputs.some((i) => i.name === name)) {
      throw new SaturnError("BAD_INPUT", `the model has no input named '${name}'`, name);
    }
  }
  const out = runGraph(g, given, new Scope(), env, true);
  return new Map(g.outputs.map((o, i) => [o.name, out[i]]));
}

function runGraph(
  g: Graph,
  inputs: readonly (Value | undefined)[],
  parent: Scope,
  env: Env,
  top = false,
): (Value | undefined)[] {
  const scope = new Scope(parent);
  for (const [name, t] of g.initializers) scope.values.set(name, t);
  for (const s of g.sparseInitializers) if (s.name) scope.values.set(s.name, sparseToDense(s));
  g.inputs.forEach((inp, i) => {
    if (i < inputs.length) scope.values.set(inp.name, inputs[i]);
  });
  // last use of each value in this graph, so that the main graph frees what it no longer needs
  const lastUse = new Map<string, number>();
  if (top) {
    g.nodes.forEach((n, idx) => {
      n.inputs.forEach((x) => lastUse.set(x, idx));
      for (const sg of subgraphsOf(n)) for (const x of freeNames(sg)) lastUse.set(x, idx);
    });
    for (const o of g.outputs) lastUse.set(o.name, Infinity);
  }
  g.nodes.forEach((node, idx) => {
    const outs = runNode(node, scope, env);
    node.outputs.forEach((name, k) => {
      if (name !== "") scope.values.set(name, outs[k]);
    });
    if (top) {
      for (const x of node.inputs) {
        if (lastUse.get(x) === idx && !g.initializers.has(x)) scope.values.delete(x);
      }
    }
  });
  return g.outputs.map((o) => {
    if (!scope.has(o.name)) {
      throw new SaturnError("UNDEFINED_VALUE", `graph output '${o.name}' was not produced`, o.name);
    }
    return scope.get(o.name);
  });
}

function runNode(node: Node, scope: Scope, env: Env): (Value | undefined)[] {
  const inputs = node.inputs.map((name) => (name === "" ? undefined : scope.get(name)));
  node.inputs.forEach((name) => {
    if (name !== "" && !scope.has(name)) {
      throw new SaturnError("UNDEFINED_VALUE", `node '${node.name}' reads '${name}', which has no value`, node.name);
    }
  });
  const def = findOp(node.domain, node.opType);
  if (!def) {
    const fn = env.functions.find((f) => f.domain === node.domain && f.name === node.opType);
    if (fn) return runFunction(fn, node, inputs, env);
    throw new SaturnError(
      "UNSUPPORTED_OP",
      `op ${node.domain ? node.domain + "." : ""}${node.opType} (node '${
        node.name || node.outputs[0]
      }') is not supported`,
      node.name,
    );
  }
  const opset = opsetVersion(env.opsets, node.domain) ?? 1;
  const ctx = new RunContext(node, opset, inputs, (g, vals) => runGraph(g, vals, scope, env));
  let outs: (Value | undefined)[];
  try {
    outs = def.run(ctx);
  } catch (e) {
    if (e instanceof SaturnError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new OpError(`${node.opType} node '${node.name || node.outputs[0]}': ${msg}`, node.name);
  }
  return outs;
}

/** Run a model-local function: its body with the call's inputs, attributes substituted. */
function runFunction(fn: FunctionDef, call: Node, inputs: (Value | undefined)[], env: Env): (Value | undefined)[] {
  const scope = new Scope();
  fn.inputs.forEach((name, i) => scope.values.set(name, inputs[i]));
  const inner: Env = { opsets: functionOpsets(fn, env.opsets), functions: env.functions };
  for (const n of bindFunctionBody(fn, call)) {
    const outs = runNode(n, scope, inner);
    n.outputs.forEach((name, k) => {
      if (name !== "") scope.values.set(name, outs[k]);
    });
  }
  return fn.outputs.map((o) => scope.get(o));
}

/**
 * Refuse what would nest the interpreter too deep: subgraphs past `MAX_NESTING` levels (in the
 * graph or a function body) and local functions that call themselves.
 */
export function checkModelNesting(model: Model): void {
  checkNesting(model.graph);
  for (const f of model.functions) checkNesting(f);
  checkFunctionCalls(model.functions, (domain, op) => findOp(domain, op) !== undefined);
}

/** True when a value is a tensor (narrowing helper for callers). */
export function isTensor(v: Value | undefined): v is Tensor {
  return v instanceof Tensor;
}
