/**
 * The interface between the planner and the op families: what a lowering sees of its node
 * (static dtypes and shapes, known constant inputs, attributes) and what it returns — a view
 * (no kernel), an elementwise op (fused by `fusion.ts`), kernels, or a GEMM-like kernel that
 * can take an elementwise epilogue. Families register their lowerings here by op.
 * @module
 */
import type { DataType } from "../ir/dtype.ts";
import type { Node } from "../ir/graph.ts";
import type { NodeContext } from "../ir/ops/node_context.ts";
import { type Tensor, toInts } from "../ir/tensor.ts";
import type { EwOp } from "./expr.ts";
import { type KernelSpec, type Target, unsupported } from "./kernel.ts";
import type { Bindings } from "./wgsl.ts";

/** A value with a static type. */
export interface TensorInfo {
  /** The value's name in the graph. */
  name: string;
  /** Its element type. */
  dtype: DataType;
  /** Its static dims (planning makes every shape static). */
  dims: number[];
}

/** What a lowering sees of its node. */
export interface LowerCtx {
  node: Node;
  attrs: NodeContext;
  opset: number;
  /** input `i` (fails when omitted) */
  input(i: number): TensorInfo;
  hasInput(i: number): boolean;
  /** output `i` (fails when omitted) */
  output(i: number): TensorInfo;
  hasOutput(i: number): boolean;
  /** the known value of input `i` (initializer or folded), if any */
  constant(i: number): Tensor | undefined;
  /** the device kernels are generated for */
  target: Target;
}

/** The WGSL an epilogue adds after a GEMM-like kernel computed `acc` for flat output index `idx`. */
export interface EpilogueCode {
  code: string;
  result: string;
  helpers: string[];
}

/** An elementwise tail fused into a GEMM-like kernel: it writes `out` instead of the node's output. */
export interface Epilogue {
  out: TensorInfo;
  /** statements computing the stored value from `acc` (f32) at flat output index `idx` (u32) */
  emit(b: Bindings, idx: string, acc: string): EpilogueCode;
  /** node names it covers */
  nodes: string[];
  /** op names for the kernel's label */
  ops: string[];
}

/** What a lowering returns. */
export type Lowered =
  | { kind: "view" }
  | { kind: "elementwise"; op: EwOp }
  | { kind: "kernels"; kernels: KernelSpec[] }
  | { kind: "gemm"; build(epilogue: Epilogue | undefined): KernelSpec | KernelSpec[] };

/** A family's lowering of one op; `constInputs` are input positions that must be known at plan time. */
export interface OpLowering {
  lower(ctx: LowerCtx): Lowered;
  constInputs?: number[];
}

const registry = new Map<string, OpLowering>();

function key(domain: string, op: string): string {
  return `${domain === "ai.onnx" ? "" : domain}::${op}`;
}

/** Register lowerings for ops of `domain` ("" is ai.onnx). */
export function registerLowerings(domain: string, defs: Record<string, OpLowering>): void {
  for (const [op, d] of Object.entries(defs)) registry.set(key(domain, op), d);
}

/** The lowering of an op, if the backend has one. */
export function findLowering(domain: string, op: string): OpLowering | undefined {
  return registry.get(key(domain, op));
}

/**
 * Every op the backend lowers, as `domain.Op` (ai.onnx ops without a prefix), sorted. Having a
 * lowering does not mean every dtype or attribute is supported: `unsupportedNodes` checks a model.
 * @returns the op names
 * @example
 * ```ts
 * import { loweredOps } from "../mod.ts";
 * const ops = loweredOps();
 * if (!ops.includes("MatMul") || !ops.includes("com.microsoft.Gelu")) throw new Error("ONNX and contrib ops");
 * if (ops.join() !== [...ops].sort().join()) throw new Error("sorted");
 * ```
 */
export function loweredOps(): string[] {
  return [...registry.keys()].map((k) => k.startsWith("::") ? k.slice(2) : k.replace("::", ".")).sort();
}

/** Input `i` as integers; it must be a known constant. */
export function constInts(ctx: LowerCtx, i: number, what: string): number[] {
  const t = ctx.constant(i);
  if (!t) unsupported(`${what} (input ${i}) must be a constant`);
  return toInts(t);
}

/** A default epilogue: store `acc` into the node's own output. */
export function plainEpilogue(out: TensorInfo): Epilogue {
  return { out, emit: (_b, _i, acc) => ({ code: "", result: acc, helpers: [] }), nodes: [], ops: [] };
}

/** Normalize a possibly negative axis. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) unsupported(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}
