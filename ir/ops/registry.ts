/**
 * The op registry: one `OpDef` per (domain, op type), holding the op's semantics (`run`, used by
 * the reference interpreter and constant folding) and its static typing (`infer`, used by shape
 * inference). Op families live in one file each under `ir/ops/` and register themselves.
 *
 * A definition covers every opset version of its op; where versions differ it reads
 * `ctx.opset` (the version the model imports for the node's domain).
 * @module
 */
import type { RunContext } from "./run_context.ts";
import type { InferContext } from "./infer_context.ts";
import type { Value } from "../values.ts";
import type { ValueType } from "../types.ts";
import type { Node } from "../graph.ts";

/** The semantics and typing of one operator. */
export interface OpDef {
  /** ONNX op type, e.g. `"Conv"`. */
  opType: string;
  /** Domain; `""` (the default) is ai.onnx. */
  domain?: string;
  /** Compute the outputs (one per declared output; `undefined` for an omitted optional output). */
  run(ctx: RunContext): (Value | undefined)[];
  /**
   * Output types from input types, attributes and any inputs whose value is known. Return
   * `undefined` for an output (or leave shape out) where it cannot be known statically.
   * When absent, shape inference folds the node if all inputs are constant, else leaves
   * outputs untyped.
   */
  infer?(ctx: InferContext): (ValueType | undefined)[];
  /**
   * Random ops: never constant-folded, never compared exactly. A function decides per node
   * (Dropout is random only in training mode without a seed).
   */
  nondeterministic?: boolean | ((node: Node) => boolean);
}

const registry = new Map<string, OpDef>();

function key(domain: string, opType: string): string {
  const d = domain === "ai.onnx" ? "" : domain;
  return `${d}::${opType}`;
}

/**
 * Register op definitions (a later registration of the same op replaces the earlier). A
 * registered op is run by the reference interpreter and typed by shape inference.
 * @param defs the definitions
 * @example
 * ```ts
 * import { findOp, float32Tensor, registerOps, Tensor } from "../../mod.ts";
 * registerOps([{
 *   opType: "Double",
 *   domain: "com.example",
 *   run: (ctx) => {
 *     const x = ctx.input(0);
 *     return [float32Tensor([...x.dims], Array.from(x.data as Float32Array, (v) => 2 * v))];
 *   },
 * }]);
 * const def = findOp("com.example", "Double")!;
 * if (def.opType !== "Double") throw new Error("registered");
 * ```
 */
export function registerOps(defs: readonly OpDef[]): void {
  for (const d of defs) registry.set(key(d.domain ?? "", d.opType), d);
}

/**
 * The definition of an op, if Saturn implements it.
 * @param domain the op's domain (`""` and `"ai.onnx"` are the same)
 * @param opType the op type
 * @returns its definition, or undefined
 * @example
 * ```ts
 * import { findOp } from "../../mod.ts";
 * if (findOp("ai.onnx", "Relu") !== findOp("", "Relu")) throw new Error("ai.onnx is the default domain");
 * if (findOp("", "NoSuchOp") !== undefined) throw new Error("unknown op");
 * ```
 */
export function findOp(domain: string, opType: string): OpDef | undefined {
  return registry.get(key(domain, opType));
}

/**
 * Every registered op as `domain::OpType` (domain empty for ai.onnx), sorted.
 * @returns the keys
 * @example
 * ```ts
 * import { registeredOps } from "../../mod.ts";
 * const ops = registeredOps();
 * if (!ops.includes("::MatMul")) throw new Error("MatMul is built in");
 * if (ops.join() !== [...ops].sort().join()) throw new Error("sorted");
 * ```
 */
export function registeredOps(): string[] {
  return [...registry.keys()].sort();
}

/** True when running `node` with `def` may give different results on different runs. */
export function isNondeterministic(def: OpDef, node: Node): boolean {
  const n = def.nondeterministic;
  return typeof n === "function" ? n(node) : n === true;
}
