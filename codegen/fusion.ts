/**
 * Fusion of elementwise chains. An elementwise node whose output has one consumer, itself
 * elementwise, is inlined into that consumer; the resulting tree (a chain) becomes one kernel
 * that reads its leaves with broadcasting and writes only the root. When a leaf of a chain is
 * the output of a GEMM-like kernel (MatMul, Gemm, Conv) with the root's shape and no other
 * consumer, the chain becomes that kernel's epilogue instead (bias add + activation, residual
 * adds…) and the GEMM's output never reaches memory.
 *
 * Kernels run in node order; a fused kernel runs at its root's position, after all its leaves.
 * @module
 */
import type { Node } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import { toNumbers } from "../ir/tensor.ts";
import { type EwOp, HELPERS } from "./expr.ts";
import { type KernelSpec, requireStorage } from "./kernel.ts";
import type { Epilogue, EpilogueCode, Lowered, TensorInfo } from "./lowering.ts";
import { Bindings, broadcastOffset, grid, literal, mainHeader } from "./wgsl.ts";

/** A node with its lowering and static input/output types. */
export interface LoweredNode {
  index: number;
  node: Node;
  lowered: Lowered;
  inputs: (TensorInfo | undefined)[];
  outputs: (TensorInfo | undefined)[];
}

/** A tree of elementwise nodes computed in one pass: `steps` in order, the last writes `root`. */
export interface Chain {
  steps: { node: Node; op: EwOp; inputs: (TensorInfo | undefined)[]; out: TensorInfo }[];
  root: TensorInfo;
  leaves: TensorInfo[];
}

/** Most distinct leaves a chain may read (storage bindings per kernel are limited). */
const MAX_LEAVES = 6;

/** The WGSL source of helper functions, each once. */
export function helperSource(names: Iterable<string>): string {
  return [...new Set(names)].map((n) => HELPERS[n]).join("\n");
}

/**
 * Statements computing a chain at one element: each leaf through `load`, then each step.
 * Returns the statements, the variable holding the root and the helpers used.
 */
export function chainCode(chain: Chain, load: (leaf: TensorInfo) => string): EpilogueCode {
  const vars = new Map<string, string>();
  const lines: string[] = [];
  chain.leaves.forEach((leaf, i) => {
    const v = `l${i}`;
    lines.push(`let ${v} = ${load(leaf)};`);
    vars.set(leaf.name, v);
  });
  const helpers: string[] = [];
  chain.steps.forEach((s, j) => {
    const args = s.op.args.map((p) => vars.get(s.node.inputs[p])!);
    const v = `v${j}`;
    lines.push(`let ${v} = ${s.op.emit(args)};`);
    vars.set(s.out.name, v);
    helpers.push(...s.op.helpers);
  });
  return { code: lines.join("\n  "), result: vars.get(chain.root.name)!, helpers };
}

/** A leaf's value at flat output index `idx`: a literal for a one-element constant, else a load. */
export function leafLoad(
  b: Bindings,
  leaf: TensorInfo,
  outDims: readonly number[],
  idx: string,
  constant: (name: string) => Tensor | undefined,
): string {
  const t = requireStorage(leaf.dtype);
  const c = constant(leaf.name);
  if (c && c.size === 1) return literal(t, toNumbers(c)[0]);
  return `${b.read(leaf.name, t)}[${broadcastOffset(leaf.dims, outDims, idx)}]`;
}

/** One kernel computing a chain over its root's elements. */
export function chainKernel(chain: Chain, constant: (name: string) => Tensor | undefined): KernelSpec {
  const b = new Bindings();
  const n = chain.root.dims.reduce((a, d) => a * d, 1);
  const wg = 256;
  const g = grid(n, wg);
  const body = chainCode(chain, (leaf) => leafLoad(b, leaf, chain.root.dims, "i", constant));
  const out = b.write(chain.root.name, requireStorage(chain.root.dtype));
  const wgsl = `${b.decls}
${helperSource(body.helpers)}
${mainHeader(wg)} {
  let i = ${g.index};
  if (i >= ${n}u) { return; }
  ${body.code}
  ${out}[i] = ${body.result};
}
`;
  return {
    name: chain.steps.map((s) => s.node.opType).join("+"),
    nodes: chain.steps.map((s) => s.node.name),
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
  };
}

/** A chain as the epilogue of the GEMM-like kernel that produces its leaf `acc`. */
export function chainEpilogue(
  chain: Chain,
  acc: string,
  constant: (name: string) => Tensor | undefined,
): Epilogue {
  return {
    out: chain.root,
    nodes: chain.steps.map((s) => s.node.name),
    ops: chain.steps.map((s) => s.node.opType),
    emit: (b, idx, accVar) =>
      chainCode(chain, (leaf) => (leaf.name === acc ? accVar : leafLoad(b, leaf, chain.root.dims, idx, constant))),
  };
}

/**
 * Group elementwise nodes into chains, attach chains to GEMM-like producers, and return every
 * kernel in execution order. `consumers` counts the distinct live nodes reading each value;
 * values in `keep` (graph outputs) are never inlined.
 */
export function fuse(
  nodes: readonly LoweredNode[],
  consumers: ReadonlyMap<string, number>,
  keep: ReadonlySet<string>,
  constant: (name: string) => Tensor | undefined,
): KernelSpec[] {
  const producer = new Map<string, LoweredNode>();
  for (const n of nodes) for (const o of n.outputs) if (o) producer.set(o.name, n);
  const chainOf = new Map<LoweredNode, LoweredNode[]>(); // member → the chain's member list (root first)
  const isEw = (n: LoweredNode | undefined) => n?.lowered.kind === "elementwise";
  const argsOf = (m: LoweredNode): number[] => (m.lowered as { op: EwOp }).op.args;
  const scalar = (v: string) => constant(v)?.size === 1;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const root = nodes[i];
    if (!isEw(root) || chainOf.has(root)) continue;
    const members = [root];
    chainOf.set(root, members);
    // the chain's values and its leaves (inputs made outside it, scalar constants aside), kept as it grows
    const made = new Set([root.outputs[0]!.name]);
    const leaves = new Set(argsOf(root).map((p) => root.node.inputs[p]).filter((v) => !made.has(v) && !scalar(v)));
    /** How many leaves the chain would read with `prod` in it. */
    const leavesWith = (prod: LoweredNode): number => {
      const out = prod.outputs[0]!.name;
      const extra = new Set<string>();
      for (const p of argsOf(prod)) {
        const v = prod.node.inputs[p];
        if (v !== out && !made.has(v) && !leaves.has(v) && !scalar(v)) extra.add(v);
      }
      return leaves.size - (leaves.has(out) ? 1 : 0) + extra.size;
    };
    // absorb producers depth first, in argument order, with an explicit stack (chains run as long
    // as the model): a frame is a member and its next argument
    const stack: [LoweredNode, number][] = [[root, 0]];
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const [m, k] = frame;
      const args = argsOf(m);
      if (k >= args.length) {
        stack.pop();
        continue;
      }
      frame[1]++;
      const v = m.node.inputs[args[k]];
      const prod = producer.get(v);
      if (!prod || !isEw(prod) || chainOf.has(prod) || keep.has(v) || consumers.get(v) !== 1) continue;
      if (leavesWith(prod) > MAX_LEAVES) continue;
      members.push(prod);
      chainOf.set(prod, members);
      const out = prod.outputs[0]!.name;
      made.add(out);
      leaves.delete(out);
      for (const p of argsOf(prod)) {
        const w = prod.node.inputs[p];
        if (!made.has(w) && !scalar(w)) leaves.add(w);
      }
      stack.push([prod, 0]);
    }
  }
  // build chains; attach epilogues
  const chains = new Map<LoweredNode, Chain>(); // keyed by root
  const epilogueOf = new Map<LoweredNode, { chain: Chain; acc: string }>(); // gemm → chain
  const absorbedRoots = new Set<LoweredNode>();
  for (const [m, members] of chainOf) {
    if (members[0] !== m) continue;
    const sorted = [...members].sort((a, b) => a.index - b.index);
    const made = new Set(sorted.map((s) => s.outputs[0]!.name));
    const leaves: TensorInfo[] = [];
    const seen = new Set<string>();
    const steps = sorted.map((s) => {
      const op = (s.lowered as { op: EwOp }).op;
      for (const p of op.args) {
        const info = s.inputs[p]!;
        if (!made.has(info.name) && !seen.has(info.name)) {
          seen.add(info.name);
          leaves.push(info);
        }
      }
      return { node: s.node, op, inputs: s.inputs, out: s.outputs[0]! };
    });
    const chain: Chain = { steps, root: m.outputs[0]!, leaves };
    chains.set(m, chain);
    // a GEMM-like kernel stores f32: a chain ending in integers or bools stays its own kernel
    if (requireStorage(chain.root.dtype) !== "f32") continue;
    for (const leaf of leaves) {
      const p = producer.get(leaf.name);
      if (!p || p.lowered.kind !== "gemm" || epilogueOf.has(p)) continue;
      if (keep.has(leaf.name) || consumers.get(leaf.name) !== 1) continue;
      if (leaf.dims.length !== chain.root.dims.length || leaf.dims.some((d, k) => d !== chain.root.dims[k])) continue;
      if (requireStorage(leaf.dtype) !== "f32") continue;
      epilogueOf.set(p, { chain, acc: leaf.name });
      absorbedRoots.add(m);
      break;
    }
  }
  const gemmOfRoot = new Map<LoweredNode, LoweredNode>();
  for (const [g, { chain }] of epilogueOf) {
    for (const [r, c] of chains) if (c === chain) gemmOfRoot.set(r, g);
  }
  const kernels: KernelSpec[] = [];
  for (const n of nodes) {
    const l = n.lowered;
    if (l.kind === "kernels") kernels.push(...l.kernels);
    else if (l.kind === "gemm") {
      if (!epilogueOf.has(n)) kernels.push(...[l.build(undefined)].flat());
    } else if (l.kind === "elementwise" && chains.has(n)) {
      const chain = chains.get(n)!;
      const g = gemmOfRoot.get(n);
      if (g) {
        const { acc } = epilogueOf.get(g)!;
        const build = (g.lowered as { build(e: Epilogue): KernelSpec | KernelSpec[] }).build;
        kernels.push(...[build(chainEpilogue(chain, acc, constant))].flat());
      } else kernels.push(chainKernel(chain, constant));
    }
  }
  return kernels;
}
