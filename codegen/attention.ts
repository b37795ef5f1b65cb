/**
 * Attention fusion: the subgraph
 *
 *   S = MatMul(Q, Kt) → elementwise chain → Softmax(last axis) → elementwise chain → O = MatMul(·, V)
 *
 * becomes one kernel (`attention_kernel.ts`) that writes only O. The chains are whatever
 * `fusion.ts` could chain (a scale by Div or Mul, a mask by Add or Where, the `Where(IsNaN(P), 0, P)`
 * guard PyTorch exports after Softmax); elementwise chains that produce Q, Kt or V (the
 * `Mul(·, 1/⁴√d)` scales of PyTorch's exported SDPA) are folded into the kernel's loads too.
 *
 * Invariant: a node is fused only when every value it produces other than O is read by fused
 * nodes alone and is no graph output, so no other kernel ever needs S, P or a chain's
 * intermediate; everything else stays as it was, the fused kernel taking the second MatMul's
 * place in the node order (after all its leaves). Float32 only; batch dims of Q, Kt and V must
 * broadcast to S's batch, and O's batch must be S's.
 * @module
 */
import type { Tensor } from "../ir/tensor.ts";
import { type AttentionConfig, attentionKernel, type AttentionOperand } from "./attention_kernel.ts";
import type { EwOp } from "./expr.ts";
import type { Chain, LoweredNode } from "./fusion.ts";
import { type KernelSpec, requireStorage } from "./kernel.ts";
import type { TensorInfo } from "./lowering.ts";

interface Ctx {
  producer: Map<string, LoweredNode>;
  consumers: ReadonlyMap<string, number>;
  keep: ReadonlySet<string>;
  taken: Set<LoweredNode>;
}

const out0 = (n: LoweredNode): TensorInfo => n.outputs[0]!;
const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const isF32 = (t: TensorInfo | undefined): t is TensorInfo => t !== undefined && requireStorage(t.dtype) === "f32";
const isOp = (n: LoweredNode | undefined, op: string): n is LoweredNode =>
  n !== undefined && n.node.opType === op && (n.node.domain === "" || n.node.domain === "ai.onnx");
const ewArgs = (n: LoweredNode): string[] => (n.lowered as { op: EwOp }).op.args.map((p) => n.node.inputs[p]);

/** Values read by `members`, with how many distinct members read each. */
function readers(members: readonly LoweredNode[]): Map<string, number> {
  const r = new Map<string, number>();
  for (const m of members) for (const v of new Set(m.node.inputs)) if (v !== "") r.set(v, (r.get(v) ?? 0) + 1);
  return r;
}

/**
 * The elementwise nodes computing `root` (none when its producer is not elementwise): the tree of
 * elementwise producers, shrunk until each member's output other than `root` is read inside it only.
 */
function chainMembers(root: string, c: Ctx): LoweredNode[] {
  const excluded = new Set<LoweredNode>();
  for (;;) {
    const members: LoweredNode[] = [];
    const seen = new Set<LoweredNode>();
    // depth first in argument order, with an explicit stack (elementwise chains run as long as the model)
    const stack = [root];
    while (stack.length) {
      const p = c.producer.get(stack.pop()!);
      if (!p || p.lowered.kind !== "elementwise" || excluded.has(p) || c.taken.has(p) || seen.has(p)) continue;
      members.push(p);
      seen.add(p);
      stack.push(...ewArgs(p).reverse());
    }
    const r = readers(members);
    const bad = members.filter((m) => {
      const o = out0(m).name;
      return o !== root && (c.keep.has(o) || c.consumers.get(o) !== r.get(o));
    });
    if (!bad.length) return members;
    for (const m of bad) excluded.add(m);
  }
}

/** A chain (as `fusion.ts` builds them) of `members` computing `root`: steps in node order, leaves in first use. */
function buildChain(members: readonly LoweredNode[], root: TensorInfo): Chain | undefined {
  if (!members.length) return undefined;
  const sorted = [...members].sort((a, b) => a.index - b.index);
  const made = new Set(sorted.map((s) => out0(s).name));
  const leaves: TensorInfo[] = [];
  const steps = sorted.map((s) => {
    const op = (s.lowered as { op: EwOp }).op;
    for (const p of op.args) {
      const info = s.inputs[p]!;
      if (!made.has(info.name) && !leaves.some((l) => l.name === info.name)) leaves.push(info);
    }
    return { node: s.node, op, inputs: s.inputs, out: out0(s) };
  });
  return { steps, root, leaves };
}

/** Leaves of a chain, or the root itself when there is no chain. */
function chainLeaves(members: readonly LoweredNode[], root: string): string[] {
  if (!members.length) return [root];
  const made = new Set(members.map((m) => out0(m).name));
  return [...new Set(members.flatMap(ewArgs))].filter((v) => !made.has(v));
}

/** The Softmax's axis is the last one whatever the opset (explicit, or a 2-D input). */
function softmaxOnLastAxis(sm: LoweredNode, rank: number): boolean {
  const a = sm.node.attributes.find((x) => x.name === "axis");
  if (!a) return rank === 2;
  if (a.type !== "int") return false;
  const axis = Number(a.value);
  return axis === -1 || axis === rank - 1;
}

/** A matched attention: its members, and the kernel's configuration with and without operand prologues. */
interface Match {
  core: LoweredNode[];
  prologue: LoweredNode[];
  cfg: AttentionConfig;
}

/** The operand `v` of a MatMul, with its elementwise prologue when only that MatMul reads it. */
function operand(info: TensorInfo, c: Ctx): { op: AttentionOperand; members: LoweredNode[] } {
  if (c.keep.has(info.name) || c.consumers.get(info.name) !== 1) return { op: { info }, members: [] };
  const members = chainMembers(info.name, c);
  return { op: { info, chain: buildChain(members, info) }, members };
}

/** Try the pattern ending at `mm2` with Softmax output `p` and scores `s`. */
function matchWith(
  mm2: LoweredNode,
  post: LoweredNode[],
  sm: LoweredNode,
  pre: LoweredNode[],
  mm1: LoweredNode,
  c: Ctx,
) {
  const [a, v] = [mm2.inputs[0]!, mm2.inputs[1]];
  const [q, kt] = [mm1.inputs[0], mm1.inputs[1]];
  const [s, x, p, o] = [out0(mm1), sm.inputs[0]!, out0(sm), out0(mm2)];
  if (![q, kt, v, s, x, p, a, o].every(isF32)) return undefined;
  const r = s.dims.length;
  if (r < 2 || q!.dims.length < 2 || kt!.dims.length < 2 || v!.dims.length < 2) return undefined;
  if (!sameDims(a.dims, s.dims) || !sameDims(x.dims, s.dims) || !softmaxOnLastAxis(sm, r)) return undefined;
  const [M, N] = s.dims.slice(-2), D = q!.dims[q!.dims.length - 1], Dv = v!.dims[v!.dims.length - 1];
  if (q!.dims[q!.dims.length - 2] !== M || kt!.dims[kt!.dims.length - 2] !== D) return undefined;
  if (kt!.dims[kt!.dims.length - 1] !== N || v!.dims[v!.dims.length - 2] !== N) return undefined;
  if (!sameDims(o.dims, [...s.dims.slice(0, -2), M, Dv])) return undefined;
  const qo = operand(q!, c), ko = operand(kt!, c), vo = operand(v!, c);
  const core = [mm1, ...pre, sm, ...post, mm2];
  const prologue = [...qo.members, ...ko.members, ...vo.members];
  // every value fused nodes make (but O) is read by fused nodes only, and never read back from memory
  const all = [...core, ...prologue];
  if (new Set(all).size !== all.length) return undefined;
  const made = new Set(all.map((m) => out0(m).name).filter((n) => n !== o.name));
  const r2 = readers(all);
  for (const n of made) if (c.keep.has(n) || c.consumers.get(n) !== r2.get(n)) return undefined;
  const loaded = [
    ...chainLeaves(qo.members, q!.name),
    ...chainLeaves(ko.members, kt!.name),
    ...chainLeaves(vo.members, v!.name),
    ...chainLeaves(pre, x.name).filter((n) => n !== s.name),
    ...chainLeaves(post, a.name).filter((n) => n !== p.name),
  ];
  if (loaded.some((n) => made.has(n))) return undefined;
  const sorted = [...all].sort((m1, m2) => m1.index - m2.index);
  const cfg: AttentionConfig = {
    q: qo.op,
    kt: ko.op,
    v: vo.op,
    s,
    score: buildChain(pre, x),
    p,
    prob: buildChain(post, a),
    out: o,
    name: `Attention(${sorted.map((m) => m.node.opType).join("+")})`,
    nodes: sorted.map((m) => m.node.name),
  };
  return { core, prologue, cfg };
}

/** Find the pattern whose second MatMul is `mm2`. */
function match(mm2: LoweredNode, c: Ctx): Match | undefined {
  const a = mm2.inputs[0];
  if (!a || !mm2.inputs[1] || !mm2.outputs[0] || c.taken.has(mm2)) return undefined;
  const post = chainMembers(a.name, c);
  for (const pName of chainLeaves(post, a.name)) {
    const sm = c.producer.get(pName);
    if (!isOp(sm, "Softmax") || sm.lowered.kind !== "kernels" || c.taken.has(sm) || !sm.inputs[0]) continue;
    const pre = chainMembers(sm.inputs[0].name, c);
    for (const sName of chainLeaves(pre, sm.inputs[0].name)) {
      const mm1 = c.producer.get(sName);
      if (!isOp(mm1, "MatMul") || mm1.lowered.kind !== "gemm" || c.taken.has(mm1) || mm1 === mm2) continue;
      const m = matchWith(mm2, post, sm, pre, mm1, c);
      if (m) return m;
    }
  }
  return undefined;
}

/**
 * Replace each attention subgraph among `lowered` by one node of kind "kernels" at its second
 * MatMul's position; every other node is returned unchanged, in order. `consumers` counts the
 * distinct live nodes reading each value; values in `keep` (graph outputs) are never fused away.
 * @param lowered the lowered nodes in execution order
 * @param consumers how many distinct live nodes read each value
 * @param keep the graph outputs
 * @param constant the value of a value known at plan time
 * @returns the nodes with fused attention in place of their members
 * @example
 * ```ts ignore
 * const kernels = fuse(fuseAttention(lowered, consumers, keep, known), consumers, keep, known);
 * ```
 */
export function fuseAttention(
  lowered: readonly LoweredNode[],
  consumers: ReadonlyMap<string, number>,
  keep: ReadonlySet<string>,
  constant: (name: string) => Tensor | undefined,
): LoweredNode[] {
  const producer = new Map<string, LoweredNode>();
  for (const n of lowered) for (const o of n.outputs) if (o) producer.set(o.name, n);
  const c: Ctx = { producer, consumers, keep, taken: new Set() };
  const fused = new Map<LoweredNode, LoweredNode>();
  for (const mm2 of lowered) {
    if (!isOp(mm2, "MatMul") || mm2.lowered.kind !== "gemm") continue;
    const m = match(mm2, c);
    if (!m) continue;
    let spec: KernelSpec | undefined = attentionKernel(m.cfg, constant);
    let members = [...m.core, ...m.prologue];
    if (!spec && m.prologue.length) {
      // without the operand prologues (fewer bindings): they stay separate kernels
      const bare = { info: m.cfg.q.info };
      const cfg = { ...m.cfg, q: bare, kt: { info: m.cfg.kt.info }, v: { info: m.cfg.v.info } };
      const prologue = new Set(m.prologue.map((x) => x.node.name));
      cfg.nodes = cfg.nodes.filter((n) => !prologue.has(n));
      const sorted = [...m.core].sort((x, y) => x.index - y.index);
      cfg.name = `Attention(${sorted.map((x) => x.node.opType).join("+")})`;
      spec = attentionKernel(cfg, constant);
      members = m.core;
    }
    if (!spec) continue;
    for (const x of members) c.taken.add(x);
    const typeOf = new Map(members.flatMap((x) => x.inputs).filter((t) => t !== undefined).map((t) => [t.name, t]));
    const reads = spec.bindings.filter((b) => b.access === "read").map((b) => typeOf.get(b.value)!);
    const kernels = [spec];
    fused.set(mm2, {
      index: mm2.index,
      node: mm2.node,
      lowered: { kind: "kernels", kernels },
      inputs: reads,
      outputs: [out0(mm2)],
    });
  }
  return lowered.filter((n) => !c.taken.has(n) || fused.has(n)).map((n) => fused.get(n) ?? n);
}
