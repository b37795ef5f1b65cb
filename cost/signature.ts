/**
 * Node signatures: what a node's latency depends on, and nothing else — op, domain and opset,
 * attributes, each input's dtype, exact shape and whether it is a constant (with the values of
 * small integer constants, which decide what Reshape, Slice or Pad do), and each output's dtype and
 * shape. Measurements are cached and learned per signature (`signatureKey`), so two nodes with one
 * signature are timed once.
 *
 * Invariant: a signature has only static shapes. Symbolic dims are resolved by the caller (the
 * sizes the user gave with `--dim`, else `SYMBOLIC_DIM`, as the analytical cost counts them).
 * @module
 */
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import type { Attribute } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { sizeOf, type Tensor, toNumbers } from "../ir/tensor.ts";
import type { Dim } from "../ir/types.ts";
import { evalDim } from "../ir/dims.ts";
import { SYMBOLIC_DIM } from "./analytical.ts";

/** Integer constants of at most this many elements are part of a signature by value. */
export const SIGNATURE_CONST_VALUES = 16;

/** One input or output of a signature. */
export interface SignatureTensor {
  /** ONNX element type (`DataType`). */
  dtype: number;
  /** Static dims. */
  dims: number[];
  /** The input is a constant (an initializer): runtimes may pre-pack it (Conv/MatMul weights). */
  constant?: boolean;
  /** The values of a small integer constant (shape-like inputs), else absent. */
  values?: number[];
}

/** What a node's latency depends on. */
export interface NodeSignature {
  /** ONNX op type. */
  op: string;
  /** ONNX domain ("" for ai.onnx). */
  domain: string;
  /** The opset version of the node's domain. */
  opset: number;
  /** Attributes other than subgraphs, sorted by name, values as ONNX holds them. */
  attrs: Record<string, number | string | number[] | string[]>;
  /** Inputs by position; null for an absent optional input. */
  inputs: (SignatureTensor | null)[];
  /** Outputs by position. */
  outputs: SignatureTensor[];
}

/**
 * A stable string identity of a signature (the cache key of measurements).
 * @param s the signature
 * @returns the same string for equal signatures
 * @example
 * ```ts
 * import { signatureKey } from "./signature.ts";
 * const relu = { op: "Relu", domain: "", opset: 17, attrs: {}, inputs: [{ dtype: 1, dims: [1, 8] }], outputs: [{ dtype: 1, dims: [1, 8] }] };
 * if (signatureKey(relu) !== signatureKey(structuredClone(relu))) throw new Error("not stable");
 * ```
 */
export function signatureKey(s: NodeSignature): string {
  const attrs = Object.keys(s.attrs).sort().map((k) => [k, s.attrs[k]]);
  return JSON.stringify([s.domain, s.op, s.opset, attrs, s.inputs, s.outputs]);
}

/**
 * The signature of the plain op a contrib op runs as, where its latency is that op's: ONNX
 * Runtime's `FusedMatMul` without transposes is its MatMul kernel with the scale `alpha` applied
 * in the GEMM (free), so it is priced as the MatMul of the same operands — by a measurement of
 * that MatMul where one is cached, by the model's MatMul otherwise. Without it a fused candidate
 * no one has timed is priced by a model while the MatMul and scale it replaces are measured.
 * @param eg the e-graph (its ai.onnx opset)
 * @param sig the contrib op's signature
 * @returns the twin's signature, or undefined when there is none
 */
export function plainTwin(eg: EGraph, sig: NodeSignature): NodeSignature | undefined {
  if (sig.domain !== "com.microsoft" || sig.op !== "FusedMatMul") return undefined;
  if (["transA", "transB", "transBatchA", "transBatchB"].some((a) => (sig.attrs[a] ?? 0) !== 0)) return undefined;
  const opset = eg.opsets.find((o) => o.domain === "")?.version ?? 1;
  return { ...sig, op: "MatMul", domain: "", opset, attrs: {} };
}

/**
 * Static dims of `shape`: symbolic dims resolved by `dims` — by name, or evaluated where shape
 * inference built an expression of named dims (a strided Conv's `((h-(1))/(2))+(1)`) — else
 * `SYMBOLIC_DIM`.
 */
export function resolveDims(shape: readonly Dim[], dims: Readonly<Record<string, number>> = {}): number[] {
  return shape.map((d) => {
    const v = evalDim(d, dims);
    return v !== undefined && Number.isInteger(v) && v >= 0 ? v : SYMBOLIC_DIM;
  });
}

function attrValues(attrs: readonly Attribute[]): NodeSignature["attrs"] {
  const out: NodeSignature["attrs"] = {};
  for (const a of [...attrs].sort((x, y) => x.name.localeCompare(y.name))) {
    if (a.type === "int" || a.type === "float" || a.type === "string") out[a.name] = a.value as number | string;
    else if (a.type === "ints" || a.type === "floats") out[a.name] = [...(a.value as number[])];
    else if (a.type === "strings") out[a.name] = [...(a.value as string[])];
    else if (a.type === "tensor") {
      const t = a.value as Tensor;
      out[a.name] = sizeOf(t.dims) <= SIGNATURE_CONST_VALUES ? [...toNumbers(t)] : `tensor${JSON.stringify(t.dims)}`;
    }
  }
  return out;
}

function isInteger(dtype: number): boolean {
  return dtype === DataType.INT64 || dtype === DataType.INT32 || dtype === DataType.INT8 ||
    dtype === DataType.UINT8 || dtype === DataType.INT16 || dtype === DataType.UINT16 || dtype === DataType.BOOL;
}

/**
 * The signature of e-node `node` (whose class is `classId`) from the e-graph's analyses, or
 * undefined when a type is unknown (the caller falls back to another cost).
 * @param eg the e-graph
 * @param node the e-node
 * @param classId its class
 * @param dims sizes of symbolic dims by name
 * @returns the signature, or undefined
 */
export function signatureOf(
  eg: EGraph,
  node: ENode,
  classId: ClassId,
  dims: Readonly<Record<string, number>> = {},
): NodeSignature | undefined {
  const inputs: (SignatureTensor | null)[] = [];
  for (const c of node.children) {
    const child = eg.eclass(c);
    if (child.nodes.some((n) => n.op === "$none")) {
      inputs.push(null);
      continue;
    }
    const t = eg.typeOf(c);
    if (t?.kind !== "tensor" || !t.shape) return undefined;
    const value = eg.valueOf(c);
    const input: SignatureTensor = { dtype: t.dtype, dims: resolveDims(t.shape, dims) };
    if (value) {
      input.constant = true;
      if (isInteger(value.dtype) && sizeOf(value.dims) <= SIGNATURE_CONST_VALUES) input.values = [...toNumbers(value)];
    }
    inputs.push(input);
  }
  const outputs: SignatureTensor[] = [];
  const types = eg.eclass(classId).data.types;
  for (let i = 0; i < node.outputs; i++) {
    const t = types[i];
    if (t?.kind !== "tensor" || !t.shape) return undefined;
    outputs.push({ dtype: t.dtype, dims: resolveDims(t.shape, dims) });
  }
  const opset = eg.opsets.find((o) => o.domain === node.domain)?.version ?? 1;
  return { op: node.op, domain: node.domain, opset, attrs: attrValues(node.attrs), inputs, outputs };
}
