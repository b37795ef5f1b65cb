/**
 * E-nodes: an op applied to e-classes, with its attributes as part of its identity.
 *
 * Leaves: `$in` (a graph input, attribute `name`), `$const` (a tensor: an initializer or a
 * folded value), `$none` (an omitted optional input). Multi-output ONNX nodes are one e-node
 * in a tuple class, read through `$out` e-nodes (attribute `index`).
 * @module
 */
import type { Attribute } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";

/** An e-class id (canonical only after `EGraph.find`). */
export type ClassId = number;

/** One e-node. `key` is its hashcons identity given canonical children. */
export interface ENode {
  /** ONNX op type, or `$in`, `$const`, `$none`, `$out`. */
  op: string;
  /** ONNX domain ("" for ai.onnx). */
  domain: string;
  /** Attributes, sorted by name (part of the node's identity through `attrKey`). */
  attrs: Attribute[];
  /** Input classes by position; canonical in the hashcons after `EGraph.rebuild`. */
  children: ClassId[];
  /** Number of outputs (> 1 makes a tuple class). */
  outputs: number;
  /** For `$const`: the tensor. */
  value?: Tensor;
  /** Canonical attribute key (computed once). */
  attrKey: string;
}

function attrValueKey(a: Attribute): string {
  switch (a.type) {
    case "tensor":
      return `t:${tensorKey(a.value)}`;
    case "graph":
    case "graphs":
    case "sparse_tensor":
    case "sparse_tensors":
    case "tensors":
      // subgraphs and tensor lists are kept by identity: such nodes are never merged by value
      return `obj:${objectId(a.value)}`;
    default:
      return JSON.stringify(a.value);
  }
}

const ids = new WeakMap<object, number>();
let nextId = 0;
/** A stable identity number for an object. */
export function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, id = ++nextId);
  return id;
}

/** Tensors above this many elements are keyed by identity, not content (hashing weights is costly). */
const CONTENT_KEY_LIMIT = 1 << 16;

/**
 * A key of a tensor: for small tensors dtype, dims and a hash of the bytes (equal constants share
 * a class); for large ones (weights) the tensor's identity. Cached per tensor.
 */
export function tensorKey(t: Tensor): string {
  const cached = tensorKeys.get(t);
  if (cached) return cached;
  if (t.size > CONTENT_KEY_LIMIT) {
    const key = `${t.dtype}[${t.dims}]#${objectId(t)}`;
    tensorKeys.set(t, key);
    return key;
  }
  let h = 0x811c9dc5, h2 = 0;
  const d = t.data;
  if (Array.isArray(d)) {
    for (const s of d) for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  } else {
    const b = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    for (let i = 0; i < b.length; i++) {
      h = Math.imul(h ^ b[i], 0x01000193);
      h2 = (h2 * 31 + b[i]) | 0;
    }
  }
  const key = `${t.dtype}[${t.dims}]${(h >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}`;
  tensorKeys.set(t, key);
  return key;
}
const tensorKeys = new WeakMap<Tensor, string>();

/** Make an e-node, computing its attribute key (attributes sorted by name). */
export function makeENode(
  op: string,
  children: ClassId[],
  attrs: Attribute[] = [],
  opts: { domain?: string; outputs?: number; value?: Tensor } = {},
): ENode {
  const sorted = [...attrs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let attrKey = sorted.map((a) => `${a.name}=${attrValueKey(a)}`).join(";");
  if (opts.value) attrKey = `value=${tensorKey(opts.value)}`;
  return {
    op,
    domain: opts.domain ?? "",
    attrs: sorted,
    children,
    outputs: opts.outputs ?? 1,
    value: opts.value,
    attrKey,
  };
}

/** The hashcons key of a node with the given (canonical) children. */
export function nodeKey(n: ENode, children: readonly ClassId[]): string {
  return `${n.domain}:${n.op}#${n.outputs}(${children.join(",")}){${n.attrKey}}`;
}
