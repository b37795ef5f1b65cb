/**
 * An extraction as a graph: the chosen e-node of every needed class becomes one node, in
 * dependency order. Values keep their original names where a class had one (graph outputs
 * always do; an output that ends up equal to an input, a constant or another output is written
 * through an Identity), constants become initializers, and values captured by control-flow
 * bodies are emitted under the names the bodies read.
 * @module
 */
import type { Graph, Node, ValueInfo } from "../ir/graph.ts";
import type { Tensor } from "../ir/tensor.ts";
import type { ValueType } from "../ir/types.ts";
import type { EGraph } from "./egraph.ts";
import type { ClassId, ENode } from "./enode.ts";

/** Options for `extractionToGraph`. */
export interface ToGraphOptions {
  /** Original graph: its inputs, outputs, names and initializer names are reused. */
  original: Graph;
  /** value name → class, from `graphToEGraph` */
  classOf: Map<string, ClassId>;
  /**
   * Names used elsewhere in the model (other bodies, enclosing graphs): a name this graph mints
   * is none of them, so no body reads a value of an outer scope under a name a nearer scope now
   * defines. The graph's own names (those in `classOf`) stay its own.
   */
  avoid?: ReadonlySet<string>;
}

/** Build the graph an extraction chose. */
export function extractionToGraph(
  eg: EGraph,
  choice: Map<ClassId, ENode>,
  roots: ClassId[],
  opts: ToGraphOptions,
): Graph {
  const g = opts.original;
  const used = new Set<string>();
  const nameOf = new Map<ClassId, string>();
  const preferred = new Map<ClassId, string>();
  for (const [name, c] of opts.classOf) {
    const k = eg.find(c);
    if (!preferred.has(k)) preferred.set(k, name);
  }
  const inputNames = new Set(g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name));
  const outputNames = new Set(g.outputs.map((o) => o.name));
  const reserved = new Set([...inputNames, ...outputNames]);
  // names graph outputs claim for their classes
  const outputClaim = new Map<ClassId, string>();
  g.outputs.forEach((o, i) => {
    const c = eg.find(roots[i]);
    if (!outputClaim.has(c)) outputClaim.set(c, o.name);
  });
  let fresh = 0;
  const foreign = (n: string) => opts.avoid !== undefined && opts.avoid.has(n) && !opts.classOf.has(n);
  const freshName = (base: string) => {
    let n = base;
    while (used.has(n) || reserved.has(n) || g.initializers.has(n) && base !== n || foreign(n)) {
      n = `${base}__${++fresh}`;
    }
    used.add(n);
    return n;
  };
  const nodes: Node[] = [];
  const initializers = new Map<string, Tensor>();
  const constName = new Map<Tensor, string>();
  for (const [name, t] of g.initializers) constName.set(t, name);

  const visiting = new Set<ClassId>();
  const nameOfChild = (k: ClassId): string => nameOf.get(eg.find(k))!;
  /** The children a node needs named before it is emitted, in the order they are emitted. */
  const needs = (n: ENode): readonly ClassId[] =>
    n.op === "$none" || n.op === "$in" || n.op === "$const" ? [] : n.op === "$out" ? [n.children[0]] : n.children;
  const capturesOf = (n: ENode) => (n.attrs.find((a) => a.name === "$captures")?.value ?? []) as string[];
  /** After child `j` of `n` is named: a captured value is written under the name the body reads. */
  const afterChild = (n: ENode, j: number) => {
    if (n.op.startsWith("$")) return;
    const captures = capturesOf(n);
    const nIn = n.children.length - captures.length;
    if (j < nIn) return;
    const cap = captures[j - nIn];
    const v = nameOfChild(n.children[j]);
    if (v !== cap) nodes.push(identity(v, cap));
    used.add(cap);
  };
  /** Name class `c` (whose needed children are all named) and emit its node. */
  const emitOne = (c: ClassId, n: ENode): string => {
    let name: string;
    if (n.op === "$none") name = "";
    else if (n.op === "$in") {
      name = n.attrs.find((a) => a.name === "name")!.value as string;
      used.add(name);
    } else if (n.op === "$const") {
      const t = n.value!;
      const orig = constName.get(t);
      name = orig && !used.has(orig) ? orig : freshName(orig ?? `const_${c}`);
      if (orig) used.add(orig);
      initializers.set(name, t);
    } else if (n.op === "$out") {
      const tupleName = nameOfChild(n.children[0]);
      const idx = n.attrs[0].value as number;
      name = tupleOutputs.get(tupleName)![idx];
    } else {
      const captures = capturesOf(n);
      const nIn = n.children.length - captures.length;
      const inputs = n.children.slice(0, nIn).map(nameOfChild);
      const attrs = n.attrs.filter((a) => a.name !== "$captures");
      if (n.outputs > 1) {
        // each output takes the name its projection class claims (a graph output, the original name)
        const projName = new Map<number, string>();
        for (const [pn, pc] of eg.eclass(c).parents) {
          if (pn.op !== "$out" || eg.find(pn.children[0]) !== c) continue;
          const k = pn.attrs[0].value as number, pcl = eg.find(pc);
          const want = outputClaim.get(pcl) ?? preferred.get(pcl);
          if (want && !projName.has(k) && !used.has(want) && (!reserved.has(want) || outputClaim.get(pcl) === want)) {
            projName.set(k, want);
            used.add(want);
          }
        }
        const outs = Array.from(
          { length: n.outputs },
          (_, k) => projName.get(k) ?? freshName(`${n.op.toLowerCase()}_${c}_out${k}`),
        );
        name = outs[0] + "#tuple";
        tupleOutputs.set(name, outs);
        nodes.push({
          name: freshName(`${n.op}_${c}`),
          opType: n.op,
          domain: n.domain,
          inputs,
          outputs: outs,
          attributes: attrs,
        });
      } else {
        name = outputClaim.get(c) ??
          freshName(
            preferred.get(c) && !reserved.has(preferred.get(c)!) ? preferred.get(c)! : `${n.op.toLowerCase()}_${c}`,
          );
        used.add(name);
        nodes.push({
          name: freshName(`${n.op}_${c}`),
          opType: n.op,
          domain: n.domain,
          inputs,
          outputs: [name],
          attributes: attrs,
        });
      }
    }
    return name;
  };
  /**
   * Emit class `c0` after everything it needs, depth first in child order, with an explicit
   * stack (a chain is as deep as the model): each frame is a class and its next child.
   */
  const emit = (c0: ClassId): string => {
    const stack: { c: ClassId; n: ENode; next: number }[] = [];
    const enter = (k: ClassId) => {
      const c = eg.find(k);
      if (nameOf.has(c)) return;
      const n = choice.get(c);
      if (!n) throw new Error(`no choice for class ${c}`);
      if (visiting.has(c)) throw new Error(`extraction has a cycle through class ${c}`);
      visiting.add(c);
      stack.push({ c, n, next: 0 });
    };
    enter(c0);
    while (stack.length) {
      const f = stack[stack.length - 1];
      const kids = needs(f.n);
      if (f.next < kids.length) {
        const k = kids[f.next++];
        enter(k);
        if (nameOf.has(eg.find(k))) afterChild(f.n, f.next - 1);
        continue;
      }
      stack.pop();
      visiting.delete(f.c);
      nameOf.set(f.c, emitOne(f.c, f.n));
      const parent = stack[stack.length - 1];
      if (parent) afterChild(parent.n, parent.next - 1);
    }
    return nameOf.get(eg.find(c0))!;
  };
  const tupleOutputs = new Map<string, string[]>();
  const identity = (from: string, to: string): Node => ({
    name: freshName(`Identity_${to}`),
    opType: "Identity",
    domain: "",
    inputs: [from],
    outputs: [to],
    attributes: [],
  });
  g.outputs.forEach((o, i) => {
    const v = emit(roots[i]);
    if (v !== o.name) nodes.push(identity(v, o.name));
  });
  const typeOf = (c: ClassId): ValueType | undefined => eg.typeOf(c);
  const valueInfo: ValueInfo[] = [];
  for (const [c, name] of nameOf) {
    if (!name || outputNames.has(name) || inputNames.has(name) || initializers.has(name) || name.endsWith("#tuple")) {
      continue;
    }
    const t = typeOf(c);
    if (t) valueInfo.push({ name, type: t });
  }
  return {
    ...g,
    nodes,
    initializers,
    initializerMeta: undefined,
    valueInfo,
    inputs: g.inputs.filter((i) => !g.initializers.has(i.name) || initializers.has(i.name)),
  };
}
