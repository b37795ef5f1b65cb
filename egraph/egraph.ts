/**
 * The e-graph: e-classes of equivalent e-nodes, a hashcons, and deferred rebuilding (egg's
 * congruence closure with a worklist), with one e-class analysis — each class's value types
 * (dtype and shape, via the ops' `infer`) and, for small results, its constant value (via the
 * ops' `run`): a class whose value is known also holds a `$const` e-node, which is how
 * constant sub-expressions fold.
 *
 * Invariant after `rebuild()`: every e-node's children are canonical in the hashcons, no two
 * e-nodes with equal keys sit in different classes, and each class's data is the merge of its
 * nodes' data.
 * @module
 */
import { findOp, isNondeterministic } from "../ir/ops/registry.ts";
import "../ir/ops/all.ts";
import { InferContext } from "../ir/ops/infer_context.ts";
import { RunContext } from "../ir/ops/run_context.ts";
import { type OpsetImport, opsetVersion } from "../ir/graph.ts";
import type { Node } from "../ir/graph.ts";
import { isInteger } from "../ir/dtype.ts";
import { int64Tensor, Tensor, toInts } from "../ir/tensor.ts";
import type { Dim, ValueType } from "../ir/types.ts";
import { type ClassId, type ENode, makeENode, nodeKey, objectId } from "./enode.ts";
import { UnionFind } from "./unionfind.ts";
import { FOLD_MAX_ELEMENTS, foldAllowed, resultElements } from "../ir/fold_limit.ts";

/** Largest constant (elements) the analysis computes and keeps: the one folding cap's (`ir/fold_limit.ts`). */
export const CONST_CAP = FOLD_MAX_ELEMENTS;

/** What the analysis knows of one class (per output for tuple classes). */
export interface ClassData {
  /** Type of each output (one for a plain class); undefined where the analysis cannot tell. */
  types: (ValueType | undefined)[];
  /** Constant value of each output, when known and at most `CONST_CAP` elements. */
  values: (Tensor | undefined)[];
}

/** An e-class: a set of e-nodes that compute the same value. */
export interface EClass {
  /** The class's canonical id (the union-find root). */
  id: ClassId;
  /** The equivalent e-nodes; any one of them may be extracted. */
  nodes: ENode[];
  /** E-nodes that use this class as a child, with the class each lives in (may be stale until `rebuild`). */
  parents: [ENode, ClassId][];
  /** What the analysis knows of the class's value. */
  data: ClassData;
}

/**
 * The e-graph. Ids handed out stay valid forever but may stop being canonical after `union`:
 * compare classes through `find`. Matching needs the invariants `rebuild` restores.
 * @example
 * ```ts
 * import { EGraph, float32Tensor } from "../mod.ts";
 * import { makeENode } from "./enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const y = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "y" }]));
 * const fx = eg.add(makeENode("Neg", [x]));
 * const fy = eg.add(makeENode("Neg", [y]));
 * if (eg.add(makeENode("Neg", [x])) !== fx) throw new Error("hash-consed: an equal node is not added twice");
 * eg.union(x, y);
 * eg.rebuild();
 * if (eg.find(fx) !== eg.find(fy)) throw new Error("congruence: x = y makes Neg(x) = Neg(y)");
 * const one = eg.add(makeENode("$const", [], [], { value: float32Tensor([], [1]) }));
 * const two = eg.add(makeENode("Add", [one, one]));
 * if (eg.valueOf(two)?.data[0] !== 2) throw new Error("the constant analysis folds 1 + 1");
 * ```
 */
export class EGraph {
  readonly #uf = new UnionFind();
  readonly #classes = new Map<ClassId, EClass>();
  readonly #memo = new Map<string, ClassId>();
  #pending: ClassId[] = [];
  #analysisPending: ClassId[] = [];
  /** Classes holding each op (ids may be stale: canonicalize with `find`). */
  readonly byOp: Map<string, Set<ClassId>> = new Map();
  /** Opsets the ops are typed and run under. */
  readonly opsets: readonly OpsetImport[];
  /** Total e-nodes added (the node-limit measure). */
  nodeCount = 0;

  /**
   * An empty e-graph whose ops are typed and run under `opsets`.
   * @param opsets the opsets of the model the e-graph stands for
   */
  constructor(opsets: readonly OpsetImport[]) {
    this.opsets = opsets;
  }

  /** Canonical id. */
  find(id: ClassId): ClassId {
    return this.#uf.find(id);
  }

  /** The class of an id. */
  eclass(id: ClassId): EClass {
    return this.#classes.get(this.find(id))!;
  }

  /** Every live class. */
  classes(): IterableIterator<EClass> {
    return this.#classes.values();
  }

  /** Number of live classes. */
  get classCount(): number {
    return this.#classes.size;
  }

  /** The class an equal node already lives in, if any. */
  lookup(node: ENode): ClassId | undefined {
    const id = this.#memo.get(nodeKey(node, node.children.map((c) => this.find(c))));
    return id === undefined ? undefined : this.find(id);
  }

  /** Add a node (hash-consed); returns its class. */
  add(node: ENode): ClassId {
    const children = node.children.map((c) => this.find(c));
    const key = nodeKey(node, children);
    const hit = this.#memo.get(key);
    if (hit !== undefined) {
      // a constant's key is a hash of its bytes: make sure a hit really holds the same bytes
      if (node.op !== "$const" || sameTensor(this.valueOf(hit), node.value)) return this.find(hit);
      return this.add({ ...node, attrKey: `${node.attrKey}#${objectId(node.value!)}` });
    }
    const n: ENode = { ...node, children };
    const id = this.#uf.add();
    const cls: EClass = { id, nodes: [n], parents: [], data: { types: [], values: [] } };
    this.#classes.set(id, cls);
    this.#memo.set(key, id);
    this.nodeCount++;
    for (const c of new Set(children)) this.#classes.get(c)!.parents.push([n, id]);
    let set = this.byOp.get(n.op);
    if (!set) this.byOp.set(n.op, set = new Set());
    set.add(id);
    cls.data = this.#makeData(n);
    this.#foldConstant(cls);
    return id;
  }

  /** Merge two classes; returns true when they were different. Call `rebuild` before matching. */
  union(a: ClassId, b: ClassId): boolean {
    const ra = this.find(a), rb = this.find(b);
    if (ra === rb) return false;
    const root = this.#uf.union(ra, rb);
    const other = root === ra ? rb : ra;
    const keep = this.#classes.get(root)!, gone = this.#classes.get(other)!;
    keep.nodes.push(...gone.nodes);
    keep.parents.push(...gone.parents);
    const before = JSON.stringify(keep.data.types) + keep.data.values.map((v) => v !== undefined);
    keep.data = mergeData(keep.data, gone.data);
    this.#classes.delete(other);
    this.#pending.push(root);
    if (before !== JSON.stringify(keep.data.types) + keep.data.values.map((v) => v !== undefined)) {
      this.#analysisPending.push(root);
    }
    return true;
  }

  /** Restore the invariants (congruence, canonical hashcons, analysis) after unions. */
  rebuild(): void {
    while (this.#pending.length || this.#analysisPending.length) {
      const todo = [...new Set(this.#pending.map((c) => this.find(c)))];
      this.#pending = [];
      for (const c of todo) this.#repair(c);
      const changed = [...new Set(this.#analysisPending.map((c) => this.find(c)))];
      this.#analysisPending = [];
      for (const c of changed) {
        const cls = this.#classes.get(this.find(c));
        if (!cls) continue;
        this.#foldConstant(cls);
        for (const [node, p] of cls.parents) {
          const pc = this.#classes.get(this.find(p));
          if (!pc) continue;
          const fresh = this.#makeData({ ...node, children: node.children.map((x) => this.find(x)) });
          const merged = mergeData(pc.data, fresh);
          if (
            JSON.stringify(merged.types) + merged.values.map((v) => v !== undefined) !==
              JSON.stringify(pc.data.types) + pc.data.values.map((v) => v !== undefined)
          ) {
            pc.data = merged;
            this.#analysisPending.push(pc.id);
          }
        }
      }
    }
  }

  #repair(id: ClassId): void {
    const cls = this.#classes.get(this.find(id));
    if (!cls) return;
    // re-canonicalize parents; congruent parents merge
    const seen = new Map<string, [ENode, ClassId]>();
    for (const [node, p] of cls.parents) {
      const children = node.children.map((c) => this.find(c));
      const key = nodeKey(node, children);
      const canon: ENode = { ...node, children };
      const prev = seen.get(key);
      const memoHit = this.#memo.get(key);
      if (memoHit !== undefined && this.find(memoHit) !== this.find(p)) this.union(memoHit, p);
      if (prev && this.find(prev[1]) !== this.find(p)) this.union(prev[1], p);
      this.#memo.set(key, this.find(p));
      seen.set(key, [canon, this.find(p)]);
    }
    const live = this.#classes.get(this.find(id));
    if (!live) return;
    live.parents = [...seen.values()];
    // dedupe the class's own nodes
    const own = new Map<string, ENode>();
    for (const n of live.nodes) {
      const children = n.children.map((c) => this.find(c));
      own.set(nodeKey(n, children), { ...n, children });
    }
    live.nodes = [...own.values()];
  }

  /** The analysis data of a node, from its children's data. */
  #makeData(n: ENode): ClassData {
    if (n.op === "$const") {
      return { types: [{ kind: "tensor", dtype: n.value!.dtype, shape: [...n.value!.dims] }], values: [n.value] };
    }
    if (n.op === "$in") {
      const t = n.attrs.find((a) => a.name === "type");
      return { types: [t?.type === "type_proto" ? t.value : undefined], values: [undefined] };
    }
    if (n.op === "$none") return { types: [undefined], values: [undefined] };
    const kids = n.children.map((c) => this.#classes.get(this.find(c))!.data);
    if (n.op === "$out") {
      const idx = n.attrs.find((a) => a.name === "index")!.value as number;
      return { types: [kids[0].types[idx]], values: [kids[0].values[idx]] };
    }
    const fromShape = n.domain === "" ? shapeOnlyValue(n, kids[0]?.types[0]) : undefined;
    if (fromShape) {
      return { types: [{ kind: "tensor", dtype: fromShape.dtype, shape: [...fromShape.dims] }], values: [fromShape] };
    }
    const def = findOp(n.domain, n.op);
    const out: ClassData = {
      types: new Array(n.outputs).fill(undefined),
      values: new Array(n.outputs).fill(undefined),
    };
    if (!def) return out;
    const isNone = n.children.map((c) => this.#classes.get(this.find(c))!.nodes.some((x) => x.op === "$none"));
    const node: Node = {
      name: "",
      opType: n.op,
      domain: n.domain,
      inputs: n.children.map((_, i) => (isNone[i] ? "" : `in${i}`)),
      outputs: Array.from({ length: n.outputs }, (_, i) => `out${i}`),
      attributes: n.attrs,
    };
    const opset = opsetVersion(this.opsets, n.domain) ?? 1;
    const values = kids.map((k, i) => (isNone[i] ? undefined : k.values[0]));
    const types = kids.map((k, i) => (isNone[i] ? undefined : k.types[0]));
    const allConst = values.every((v, i) => isNone[i] || v !== undefined);
    const size = values.reduce((s, v) => s + (v?.size ?? 0), 0);
    const graphAttr = n.attrs.some((a) => a.type === "graph" || a.type === "graphs");
    if (def.infer) {
      const shapeValues = values.map((
        v,
      ) => (v && v.dims.length <= 1 && isInteger(v.dtype) && v.size <= 64 ? toInts(v) as Dim[] : undefined));
      try {
        const ts = def.infer(new InferContext(node, opset, types, values, shapeValues, () => []));
        ts.forEach((t, i) => (out.types[i] = t));
      } catch {
        // leave untyped: rules that need types will not fire
      }
    }
    // fold only within the one cap (ir/fold_limit.ts), the result's size predicted before running
    // a dequantization is never folded: its constant result is the quantized weight back in float
    // (an already-quantized model would leave de-quantized, 2–8× larger)
    const dequantize = n.op === "DequantizeLinear";
    if (
      allConst && !graphAttr && !dequantize && !isNondeterministic(def, node) &&
      foldAllowed(resultElements(out.types), size)
    ) {
      try {
        const res = def.run(
          new RunContext(node, opset, values, () => {
            throw new Error("no subgraphs in folding");
          }),
        );
        const made = res.reduce((s, v) => s + (v instanceof Tensor ? v.size : 0), 0);
        if (foldAllowed(made, size)) {
          res.forEach((v, i) => {
            if (!(v instanceof Tensor)) return;
            out.values[i] = v;
            out.types[i] = { kind: "tensor", dtype: v.dtype, shape: [...v.dims] };
          });
        }
      } catch {
        // an op that cannot run on these values keeps its inferred types
      }
    }
    return out;
  }

  /** A class with a known single value also holds the `$const` node of that value. */
  #foldConstant(cls: EClass): void {
    if (cls.data.values.length !== 1 || !cls.data.values[0]) return;
    if (cls.nodes.some((n) => n.op === "$const")) return;
    const c = makeENode("$const", [], [], { value: cls.data.values[0] });
    const existing = this.#memo.get(nodeKey(c, []));
    if (existing !== undefined && sameTensor(this.valueOf(existing), c.value)) {
      this.union(existing, cls.id);
      return;
    }
    this.#memo.set(nodeKey(c, []), cls.id);
    cls.nodes.push(c);
    this.nodeCount++;
    let set = this.byOp.get("$const");
    if (!set) this.byOp.set("$const", set = new Set());
    set.add(cls.id);
  }

  /** The type of a (single-output) class. */
  typeOf(id: ClassId): ValueType | undefined {
    return this.eclass(id).data.types[0];
  }

  /** The constant value of a class, when known. */
  valueOf(id: ClassId): Tensor | undefined {
    return this.eclass(id).data.values[0];
  }
}

function moreStatic(a: ValueType | undefined, b: ValueType | undefined): ValueType | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.kind !== "tensor" || b.kind !== "tensor") return a;
  if (!a.shape) return b;
  if (!b.shape) return a;
  const sa = a.shape.filter((d) => typeof d === "number").length;
  const sb = b.shape.filter((d) => typeof d === "number").length;
  return sb > sa ? b : a;
}

function mergeData(a: ClassData, b: ClassData): ClassData {
  const n = Math.max(a.types.length, b.types.length);
  const types: (ValueType | undefined)[] = [], values: (Tensor | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    types.push(moreStatic(a.types[i], b.types[i]));
    values.push(a.values[i] ?? b.values[i]);
  }
  return { types, values };
}

/** Shape and Size depend only on the input's shape: with a static shape they are constants. */
function shapeOnlyValue(n: ENode, t: ValueType | undefined): Tensor | undefined {
  if ((n.op !== "Shape" && n.op !== "Size") || t?.kind !== "tensor" || !t.shape) return undefined;
  if (!t.shape.every((d) => typeof d === "number")) return undefined;
  const dims = t.shape as number[];
  if (n.op === "Size") return int64Tensor([], [dims.reduce((a, b) => a * b, 1)]);
  const r = dims.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const get = (name: string, def: number) => {
    const a = n.attrs.find((x) => x.name === name);
    return a?.type === "int" ? a.value : def;
  };
  const start = clamp(get("start", 0)), end = clamp(get("end", r));
  const part = dims.slice(start, Math.max(start, end));
  return int64Tensor([part.length], part);
}

function sameTensor(a: Tensor | undefined, b: Tensor | undefined): boolean {
  if (!a || !b) return false;
  if (a === b) return true;
  if (a.dtype !== b.dtype || a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return false;
  const x = a.data, y = b.data;
  if (Array.isArray(x) || Array.isArray(y)) return JSON.stringify(x) === JSON.stringify(y);
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
    by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  if (bx.length !== by.length) return false;
  for (let i = 0; i < bx.length; i++) if (bx[i] !== by[i]) return false;
  return true;
}
