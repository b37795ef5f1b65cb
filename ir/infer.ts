/**
 * Shape and dtype inference over a whole model, subgraphs and model-local functions included.
 *
 * For each node, in order: if every input is known (an initializer, a folded constant) the
 * node is folded by running it; else its op's `infer` types the outputs from the input types
 * and the inputs' known or symbolic values. Shape vectors are propagated symbolically
 * (`ir/shape_values.ts`) so that `Shape → Gather → Concat → Reshape` chains keep their dims.
 * Types declared in the file fill what inference leaves open. Invariant: a dim is symbolic
 * only when no static reasoning can fix it (a dynamic input dim, a data-dependent size).
 * @module
 */
import { SaturnError } from "../errors.ts";
import "./ops/all.ts";
import { findOp, isNondeterministic, type OpDef } from "./ops/registry.ts";
import { InferContext } from "./ops/infer_context.ts";
import { RunContext } from "./ops/run_context.ts";
import { type FunctionDef, type Graph, type Model, type Node, type OpsetImport, opsetVersion } from "./graph.ts";
import { Tensor, toInts } from "./tensor.ts";
import { isInteger } from "./dtype.ts";
import type { Dim, ValueType } from "./types.ts";
import { OptionalValue, SequenceValue, type Value } from "./values.ts";
import { propagateShapeValue } from "./shape_values.ts";
import { sparseToDense } from "./sparse.ts";
import { bindFunctionBody, functionOpsets } from "./functions.ts";
import { checkModelNesting } from "./interpreter.ts";
import { FOLD_MAX_ELEMENTS, foldAllowed, resultElements } from "./fold_limit.ts";

/** What inference knows about every value of the main graph. */
export interface InferResult {
  /** Type of each value (graph inputs, initializers, node outputs). */
  types: Map<string, ValueType>;
  /** Values known before run time (initializers excluded). */
  constants: Map<string, Tensor>;
  /** Things inference could not do (an op without `infer`, an internal failure); never fatal. */
  warnings: string[];
}

/**
 * The elements a node would make if folded, from its op's `infer` (`Infinity` when it cannot
 * tell): folding is decided before running (`ir/fold_limit.ts`), so nothing huge is materialized.
 */
function predictedElements(
  def: OpDef,
  node: Node,
  opset: number,
  types: (ValueType | undefined)[],
  constants: (Tensor | undefined)[],
): number {
  if (!def.infer) return Infinity;
  const shapeValues = constants.map((c) =>
    c && c.dims.length <= 1 && c.size <= 64 && isInteger(c.dtype) ? toInts(c) as Dim[] : undefined
  );
  try {
    return resultElements(def.infer(new InferContext(node, opset, types, constants, shapeValues, () => [])));
  } catch {
    return Infinity;
  }
}

class Env {
  readonly types = new Map<string, ValueType | undefined>();
  readonly constants = new Map<string, Tensor>();
  readonly shapeValues = new Map<string, Dim[]>();
  constructor(readonly parent?: Env) {}
  type(n: string): ValueType | undefined {
    return lookup(this, n, (e) => e.types.get(n));
  }
  /** A known value; a name defined in this scope shadows the parents' even when unknown here. */
  constant(n: string): Tensor | undefined {
    return lookup(this, n, (e) => e.constants.get(n));
  }
  shapeValue(n: string): Dim[] | undefined {
    return lookup(this, n, (e) => e.shapeValues.get(n));
  }
}

/**
 * `get` of the innermost scope from `env` outwards that knows `n` or defines it (has its type):
 * a loop, since bodies nest as deep as the model.
 */
function lookup<T>(env: Env, n: string, get: (e: Env) => T | undefined): T | undefined {
  for (let e: Env | undefined = env; e; e = e.parent) {
    const v = get(e);
    if (v !== undefined || e.types.has(n)) return v;
  }
  return undefined;
}

interface Ctx {
  opsets: readonly OpsetImport[];
  functions: readonly FunctionDef[];
  warnings: string[];
}

/**
 * Infer the type of every value of a model: fold what is constant, type the rest by each op's
 * `infer`, and fill what stays open from the types the file declares. Never throws for an op
 * it cannot type: that value stays untyped and a warning says why.
 * @param model the model (not modified)
 * @returns types of the main graph's values, the constants found, and warnings
 * @throws {SaturnError} `INVALID_GRAPH` for subgraphs nested past `MAX_NESTING` or a local function
 * that calls itself (`checkModelNesting`)
 * @example
 * ```ts
 * import { inferModel, loadOnnx } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const { types } = inferModel(model);
 * const out = types.get(model.graph.outputs[0].name);
 * if (out?.kind !== "tensor" || out.shape?.join() !== "1,32,128") throw new Error("hidden states [1,32,128]");
 * for (const n of model.graph.nodes) {
 *   for (const o of n.outputs) if (o && !types.has(o)) throw new Error(`'${o}' is untyped`);
 * }
 * ```
 */
export function inferModel(model: Model): InferResult {
  checkModelNesting(model);
  const ctx: Ctx = { opsets: model.opsetImports, functions: model.functions, warnings: [] };
  const env = new Env();
  inferGraph(model.graph, [], env, ctx, true);
  const types = new Map<string, ValueType>();
  for (const [k, v] of env.types) if (v) types.set(k, v);
  const constants = new Map<string, Tensor>();
  for (const [k, v] of env.constants) if (!model.graph.initializers.has(k)) constants.set(k, v);
  return { types, constants, warnings: ctx.warnings };
}

function tensorTypeOf(t: Tensor): ValueType {
  return { kind: "tensor", dtype: t.dtype, shape: [...t.dims] };
}

function valueTypeOf(v: Value | undefined): ValueType | undefined {
  if (v === undefined) return undefined;
  if (v instanceof Tensor) return tensorTypeOf(v);
  if (v instanceof SequenceValue) {
    // the items' own type when they agree (it carries shapes); else the declared element type
    const first = valueTypeOf(v.items[0]);
    const same = first !== undefined && v.items.every((x) => JSON.stringify(valueTypeOf(x)) === JSON.stringify(first));
    return { kind: "sequence", elem: same ? first : v.elemType ?? first };
  }
  if (v instanceof OptionalValue) return { kind: "optional", elem: valueTypeOf(v.value) ?? v.elemType };
  return undefined;
}

function declaredTypes(g: Graph): Map<string, ValueType> {
  const m = new Map<string, ValueType>();
  for (const v of [...g.valueInfo, ...g.outputs]) if (v.type) m.set(v.name, v.type);
  return m;
}

/** Merge an inferred type with a declared one: known numbers win over symbols. */
function mergeTypes(inferred: ValueType | undefined, declared: ValueType | undefined): ValueType | undefined {
  if (!inferred) return declared;
  if (!declared || inferred.kind !== "tensor" || declared.kind !== "tensor") return inferred;
  if (!inferred.shape) return declared.shape ? { ...inferred, shape: declared.shape } : inferred;
  if (!declared.shape || declared.shape.length !== inferred.shape.length) return inferred;
  const shape = inferred.shape.map((d, i) => {
    const e = declared.shape![i];
    if (typeof d === "number") return d;
    if (typeof e === "number") return e;
    // prefer the file's own names for dims inference could only name itself
    return /^(unk|\?)__/.test(d) && !e.startsWith("?") ? e : d;
  });
  return { ...inferred, shape };
}

function inferGraph(
  g: Graph,
  inputTypes: readonly (ValueType | undefined)[],
  env: Env,
  ctx: Ctx,
  top = false,
): (ValueType | undefined)[] {
  const declared = declaredTypes(g);
  g.inputs.forEach((inp, i) => {
    const given = inputTypes[i];
    env.types.set(inp.name, given ? mergeTypes(given, inp.type) : inp.type);
  });
  for (const [name, t] of g.initializers) {
    if (!env.types.has(name)) env.types.set(name, tensorTypeOf(t));
    // in IR < 4 an initializer that is also an input is a default the caller may override
    if (!top || !g.inputs.some((i) => i.name === name)) env.constants.set(name, t);
  }
  for (const s of g.sparseInitializers) {
    if (!s.name) continue;
    if (!(s.dims.reduce((a, b) => a * b, 1) <= FOLD_MAX_ELEMENTS)) {
      // typed, never densified past the folding cap
      env.types.set(s.name, { kind: "tensor", dtype: s.values.dtype, shape: [...s.dims] });
      continue;
    }
    const dense = sparseToDense(s);
    env.types.set(s.name, tensorTypeOf(dense));
    env.constants.set(s.name, dense);
  }
  for (const [name, t] of env.constants) recordShapeValue(env, name, t);
  for (const node of g.nodes) inferNode(node, env, ctx, declared);
  return g.outputs.map((o) => mergeTypes(env.type(o.name), o.type));
}

function recordShapeValue(env: Env, name: string, t: Tensor): void {
  if (t.dims.length <= 1 && t.size <= 64 && isInteger(t.dtype)) env.shapeValues.set(name, toInts(t));
}

function inferNode(node: Node, env: Env, ctx: Ctx, declared: Map<string, ValueType>): void {
  const present = (i: number) => node.inputs[i] !== undefined && node.inputs[i] !== "";
  const types = node.inputs.map((n, i) => (present(i) ? env.type(n) : undefined));
  const constants = node.inputs.map((n, i) => (present(i) ? env.constant(n) : undefined));
  const shapeValues = node.inputs.map((n, i) => (present(i) ? env.shapeValue(n) : undefined));
  const def = findOp(node.domain, node.opType);
  let outTypes: (ValueType | undefined)[] = [];
  let outValues: (Value | undefined)[] | undefined;
  const opset = opsetVersion(ctx.opsets, node.domain) ?? 1;
  const hasSubgraph = node.attributes.some((a) => a.type === "graph" || a.type === "graphs");
  const allConst = node.inputs.every((_, i) => !present(i) || constants[i] !== undefined);
  const inputSize = constants.reduce((s, c) => s + (c?.size ?? 0), 0);
  if (
    def && !isNondeterministic(def, node) && !hasSubgraph && allConst &&
    foldAllowed(predictedElements(def, node, opset, types, constants), inputSize)
  ) {
    const rc = new RunContext(node, opset, constants, () => {
      throw new Error("no subgraphs while folding");
    });
    try {
      outValues = def.run(rc);
    } catch (e) {
      if (e instanceof SaturnError) throw e;
      ctx.warnings.push(`${node.opType} node '${node.name}': folding failed (${(e as Error).message})`);
    }
    const made = outValues?.reduce((n, v) => n + (v instanceof Tensor ? v.size : 0), 0) ?? 0;
    if (outValues && !foldAllowed(made, inputSize)) outValues = undefined;
    if (outValues) outTypes = outValues.map(valueTypeOf);
  }
  if (!outValues) {
    if (def?.infer) {
      const ic = new InferContext(
        node,
        opset,
        types,
        constants,
        shapeValues,
        (sg, inTypes) => inferGraph(sg, inTypes, new Env(env), ctx),
      );
      try {
        outTypes = def.infer(ic);
      } catch (e) {
        if (e instanceof SaturnError) throw new SaturnError("SHAPE_ERROR", e.message, e.where);
        ctx.warnings.push(`${node.opType} node '${node.name}': inference failed (${(e as Error).message})`);
      }
    } else if (!def) {
      const fn = ctx.functions.find((f) => f.domain === node.domain && f.name === node.opType);
      if (fn) outTypes = inferFunction(fn, node, types, env, ctx);
      else {ctx.warnings.push(
          `op ${node.domain ? node.domain + "." : ""}${node.opType} (node '${node.name}') is not supported`,
        );}
    } else {
      ctx.warnings.push(`${node.opType} node '${node.name}': no shape inference`);
    }
  }
  node.outputs.forEach((name, k) => {
    if (name === "") return;
    env.types.set(name, mergeTypes(outTypes[k], declared.get(name)));
    const v = outValues?.[k];
    if (v instanceof Tensor && v.size <= FOLD_MAX_ELEMENTS) {
      env.constants.set(name, v);
      recordShapeValue(env, name, v);
    }
  });
  if (!outValues && node.outputs.length === 1 && node.outputs[0] !== "") {
    const sv = propagateShapeValue(node, opset, types, constants, shapeValues);
    if (sv) {
      env.shapeValues.set(node.outputs[0], sv);
      const t = env.type(node.outputs[0]);
      if (sv.every((d) => typeof d === "number") && t?.kind === "tensor" && t.shape && t.shape.length <= 1) {
        const dims = t.shape.length === 0 ? [] : [sv.length];
        const c = new Tensor(7, dims, BigInt64Array.from(sv as number[], (x) => BigInt(x)));
        if (t.dtype === 7) env.constants.set(node.outputs[0], c);
      }
    }
  }
}

function inferFunction(
  fn: FunctionDef,
  call: Node,
  types: (ValueType | undefined)[],
  parent: Env,
  ctx: Ctx,
): (ValueType | undefined)[] {
  const env = new Env();
  fn.inputs.forEach((name, i) => {
    env.types.set(name, types[i]);
    const c = call.inputs[i] ? parent.constant(call.inputs[i]) : undefined;
    if (c) {
      env.constants.set(name, c);
      recordShapeValue(env, name, c);
    }
    const sv = call.inputs[i] ? parent.shapeValue(call.inputs[i]) : undefined;
    if (sv) env.shapeValues.set(name, sv);
  });
  const inner: Ctx = { ...ctx, opsets: functionOpsets(fn, ctx.opsets) };
  for (const n of bindFunctionBody(fn, call)) inferNode(n, env, inner, new Map());
  return fn.outputs.map((o) => env.type(o));
}
