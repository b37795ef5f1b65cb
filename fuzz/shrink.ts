/**
 * Shrinking a failing graph to a small one that fails the same way (as C-Reduce and NNSmith do):
 * greedy passes that keep a candidate whenever the failure persists, until none does —
 * one output only, an earlier value as the output, a node cut off (its outputs become graph inputs
 * fed with the values ONNX Runtime computed for them), a node bypassed (its output replaced by a
 * same-typed input), an attribute dropped (its default taken), an input dim made smaller.
 *
 * Invariant: every candidate is dead-code-free (only nodes an output needs, only inputs and
 * initializers a node or an output reads), so the result is as small as the passes can make it.
 * @module
 */
import { join } from "node:path";
import type { Model, Node } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import { inferModel } from "../ir/infer.ts";
import type { ValueType } from "../ir/types.ts";
import { encodeModel } from "../onnx/encode.ts";
import { runOrt } from "../verify/ort.ts";
import { randomTensor } from "./generate.ts";
import { Rand } from "./random.ts";

/** A model with the feeds it fails on. */
export interface Case {
  model: Model;
  feeds: Map<string, Tensor>;
}

/** Options of `shrink`. */
export interface ShrinkOptions {
  /** Most candidates tried (300). */
  maxTries?: number;
  /** Wall-clock budget in ms (60,000). */
  budgetMs?: number;
  /** A scratch folder for ONNX Runtime's files. */
  dir: string;
}

/** What `shrink` did: the smallest failing case, and how many candidates it tried. */
export interface ShrinkResult {
  case: Case;
  tries: number;
}

/** Keep only what `outputs` need: nodes, graph inputs, initializers, feeds (see the invariant). */
export function deadCodeFree(c: Case, outputs: readonly string[], types?: ReadonlyMap<string, ValueType>): Case {
  const g = c.model.graph;
  const need = new Set(outputs);
  const nodes: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => need.has(o))) continue;
    nodes.push(n);
    for (const x of n.inputs) if (x) need.add(x);
  }
  nodes.reverse();
  const typeOf = (name: string) => types?.get(name) ?? g.outputs.find((o) => o.name === name)?.type;
  return {
    model: {
      ...c.model,
      graph: {
        ...g,
        nodes,
        inputs: g.inputs.filter((i) => need.has(i.name)),
        outputs: outputs.map((name) => {
          const type = typeOf(name);
          return type ? { name, type } : { name };
        }),
        initializers: new Map([...g.initializers].filter(([k]) => need.has(k))),
      },
    },
    feeds: new Map([...c.feeds].filter(([k]) => need.has(k))),
  };
}

/** Every node output's value as ONNX Runtime computes it, or undefined where it cannot. */
async function valuesOf(c: Case, dir: string): Promise<Map<string, Tensor> | undefined> {
  const names = c.model.graph.nodes.flatMap((n) => n.outputs).filter((o) => o);
  const model = { ...c.model, graph: { ...c.model.graph, outputs: names.map((name) => ({ name })) } };
  const file = join(dir, "values.onnx");
  try {
    Deno.writeFileSync(file, encodeModel(model).bytes);
    return await runOrt(file, c.feeds);
  } catch {
    return undefined;
  } finally {
    Deno.removeSync(file, { recursive: true });
  }
}

/** The candidates of one round, smallest-making first. */
async function* candidates(c: Case, dir: string): AsyncGenerator<Case> {
  const g = c.model.graph;
  const types = inferModel(c.model).types;
  const outs = g.outputs.map((o) => o.name);
  if (outs.length > 1) { for (const o of outs) yield deadCodeFree(c, [o], types); }
  const made = g.nodes.flatMap((n) => n.outputs).filter((o) => o && !outs.includes(o));
  for (const v of made) yield deadCodeFree(c, [v], types);
  // cut a node off: its outputs become graph inputs fed with their values
  const values = await valuesOf(c, dir);
  for (const [i, n] of g.nodes.entries()) {
    const cut = n.outputs.filter((o) => o);
    if (!cut.every((o) => types.get(o)?.kind === "tensor")) continue;
    const feeds = new Map(c.feeds);
    const r = new Rand(i + 1);
    for (const o of cut) {
      const t = types.get(o)!;
      const dims = t.kind === "tensor" && t.shape?.every((d) => typeof d === "number")
        ? t.shape as number[]
        : undefined;
      const v = values?.get(o) ?? (dims && t.kind === "tensor" ? randomTensor(r, t.dtype, dims) : undefined);
      if (v) feeds.set(o, v);
    }
    if (!cut.every((o) => feeds.has(o))) continue;
    const model: Model = {
      ...c.model,
      graph: {
        ...g,
        nodes: g.nodes.filter((m) => m !== n),
        inputs: [...g.inputs, ...cut.map((name) => ({ name, type: types.get(name)! }))],
      },
    };
    yield deadCodeFree({ model, feeds }, outs, types);
  }
  // bypass a node: its output read as one of its inputs of the same type
  for (const n of g.nodes) {
    if (n.outputs.length !== 1) continue;
    const t = JSON.stringify(types.get(n.outputs[0]));
    for (const x of n.inputs) {
      if (!x || JSON.stringify(types.get(x)) !== t) continue;
      const rename = (s: string) => s === n.outputs[0] ? x : s;
      const nodes = g.nodes.filter((m) => m !== n).map((m) => ({ ...m, inputs: m.inputs.map(rename) }));
      const newOuts = outs.map(rename);
      if (new Set(newOuts).size !== newOuts.length || g.inputs.some((i) => newOuts.includes(i.name))) continue;
      yield deadCodeFree({ model: { ...c.model, graph: { ...g, nodes } }, feeds: c.feeds }, newOuts, types);
    }
  }
  // drop an attribute: its default is taken
  for (const [i, n] of g.nodes.entries()) {
    for (const a of n.attributes) {
      const nodes = g.nodes.map((m, j) => j === i ? { ...m, attributes: m.attributes.filter((b) => b !== a) } : m);
      yield { model: { ...c.model, graph: { ...g, nodes } }, feeds: c.feeds };
    }
  }
  // a smaller input: a dim set to 1, or one less
  for (const inp of g.inputs) {
    const t = inp.type;
    if (t?.kind !== "tensor" || !t.shape) continue;
    for (const [k, d] of t.shape.entries()) {
      if (typeof d !== "number" || d <= 1) continue;
      for (const nd of new Set([1, d - 1])) {
        const shape = t.shape.map((x, j) => j === k ? nd : x) as number[];
        const inputs = g.inputs.map((x) => x === inp ? { ...x, type: { ...t, shape } } : x);
        const feeds = new Map(c.feeds).set(inp.name, randomTensor(new Rand(nd), t.dtype, shape));
        yield { model: { ...c.model, graph: { ...g, inputs } }, feeds };
      }
    }
  }
}

/**
 * Shrink `start`, which `fails`, to a smaller case that still `fails` (see the module doc).
 * @param start the failing case
 * @param fails whether a candidate fails the same way (false for one ONNX Runtime refuses)
 * @param options limits and a scratch folder
 * @returns the smallest case found and the number of candidates tried
 */
export async function shrink(
  start: Case,
  fails: (c: Case) => Promise<boolean>,
  options: ShrinkOptions,
): Promise<ShrinkResult> {
  const { maxTries = 300, budgetMs = 60_000, dir } = options;
  const end = performance.now() + budgetMs;
  let cur = start, tries = 0, progress = true;
  while (progress && tries < maxTries && performance.now() < end) {
    progress = false;
    for await (const cand of candidates(cur, dir)) {
      if (tries >= maxTries || performance.now() >= end) break;
      if (size(cand) >= size(cur)) continue;
      tries++;
      if (await fails(cand)) {
        cur = cand;
        progress = true;
        break;
      }
    }
  }
  return { case: cur, tries };
}

/** A case's size: nodes first, then outputs, then attributes, then input elements. */
function size(c: Case): number {
  const g = c.model.graph;
  let elems = 0;
  for (const t of c.feeds.values()) elems += t.size;
  const attrs = g.nodes.reduce((s, n) => s + n.attributes.length, 0);
  return g.nodes.length * 1e8 + g.outputs.length * 1e6 + Math.min(attrs, 999) * 1e3 + Math.min(elems, 999);
}
