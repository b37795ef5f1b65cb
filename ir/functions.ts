/**
 * Model-local functions (FunctionProto): the body of one call with the caller's attributes
 * bound, and the subgraphs of a node.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Attribute, FunctionDef, Graph, Node, OpsetImport } from "./graph.ts";

/**
 * The nodes of `fn`'s body for one call: attributes that refer to the caller's
 * (`refAttrName`) take the call's value, or the function's default, or are dropped — in the
 * body's control-flow bodies too (copied; iterative, as deep as the model nests them).
 */
export function bindFunctionBody(fn: FunctionDef, call: Node): Node[] {
  const attrs = new Map<string, Attribute>();
  for (const a of fn.attributeProtos) attrs.set(a.name, a);
  for (const a of call.attributes) attrs.set(a.name, a);
  const out: Node[] = [];
  const stack: [readonly Node[], Node[]][] = [[fn.nodes, out]];
  const copy = (g: Graph): Graph => {
    const c: Graph = { ...g, nodes: [] };
    stack.push([g.nodes, c.nodes]);
    return c;
  };
  while (stack.length) {
    const [src, dst] = stack.pop()!;
    for (const n of src) {
      const attributes = n.attributes.flatMap((a): Attribute[] => {
        const v = a.refAttrName ? attrs.get(a.refAttrName) : a;
        if (!v) return [];
        const b = a.refAttrName ? { ...v, name: a.name } : v;
        if (b.type === "graph") return [{ ...b, value: copy(b.value) }];
        if (b.type === "graphs") return [{ ...b, value: b.value.map(copy) }];
        return [b];
      });
      dst.push({ ...n, attributes });
    }
  }
  return out;
}

/** The opsets a function body runs under: its own imports, else the model's. */
export function functionOpsets(fn: FunctionDef, model: readonly OpsetImport[]): readonly OpsetImport[] {
  return fn.opsetImports.length ? fn.opsetImports : model;
}

/** The graphs held by a node's graph and graphs attributes (control-flow bodies). */
export function subgraphsOf(node: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of node.attributes) {
    if (a.type === "graph") out.push(a.value);
    else if (a.type === "graphs") out.push(...a.value);
  }
  return out;
}

/**
 * The deepest nesting Saturn accepts, counted in levels of control-flow bodies inside bodies and
 * of model-local function calls inside calls. Everything that walks a model (decoding, encoding,
 * checks, inference, the interpreter) handles this depth; ONNX Runtime's parser stops earlier
 * (protobuf's 100 nested messages: about 33 levels of `If`).
 */
export const MAX_NESTING = 256;

/**
 * Check that no subgraph of `graph` (a graph, or a function's body) is nested deeper than
 * `MAX_NESTING` levels (iteratively: the depth is the model's).
 * @throws {SaturnError} `INVALID_GRAPH` naming the node whose bodies go too deep
 */
export function checkNesting(graph: Pick<Graph, "nodes">): void {
  const stack: [Pick<Graph, "nodes">, number][] = [[graph, 0]];
  while (stack.length) {
    const [g, depth] = stack.pop()!;
    for (const n of g.nodes) {
      const subs = subgraphsOf(n);
      if (subs.length && depth + 1 > MAX_NESTING) {
        throw new SaturnError(
          "INVALID_GRAPH",
          `node '${n.name || n.outputs[0]}' (${n.opType}): subgraphs nested more than ${MAX_NESTING} levels deep`,
          n.name,
        );
      }
      for (const s of subs) stack.push([s, depth + 1]);
    }
  }
}

/**
 * Check that no model-local function calls itself, directly or through others (calls inside
 * control-flow bodies count), and that calls nest at most `MAX_NESTING` deep. A node calls a
 * function when its domain and op type name one and `isOp` says no registered op has that name
 * (as the interpreter resolves calls). Iterative.
 * @param functions the model's functions
 * @param isOp whether a registered op answers `domain`/`opType` (it wins over a function)
 * @throws {SaturnError} `INVALID_GRAPH`: `local function d.F calls itself (d.F → d.G → d.F)`
 * @example
 * ```ts
 * import { SaturnError } from "../mod.ts";
 * import { checkFunctionCalls } from "./functions.ts";
 * const fn = (name: string, calls: string) => ({
 *   name, domain: "d", inputs: ["a"], outputs: ["b"], attributes: [], attributeProtos: [], opsetImports: [],
 *   valueInfo: [], nodes: [{ name: "", opType: calls, domain: "d", inputs: ["a"], outputs: ["b"], attributes: [] }],
 * });
 * checkFunctionCalls([fn("F", "G"), fn("G", "Relu")], () => false); // F → G: fine
 * try {
 *   checkFunctionCalls([fn("F", "G"), fn("G", "F")], () => false);
 *   throw new Error("F → G → F must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.message !== "local function d.F calls itself (d.F → d.G → d.F)") throw e;
 * }
 * ```
 */
export function checkFunctionCalls(
  functions: readonly FunctionDef[],
  isOp: (domain: string, opType: string) => boolean,
): void {
  if (!functions.length) return;
  const key = (domain: string, name: string) => `${domain}::${name}`;
  const label = (k: string) => {
    const [d, n] = k.split("::");
    return d ? `${d}.${n}` : n;
  };
  const byKey = new Map<string, FunctionDef>();
  for (const f of functions) if (!byKey.has(key(f.domain, f.name))) byKey.set(key(f.domain, f.name), f);
  /** The functions a body calls, in order, each once (nodes in its control-flow bodies included). */
  const calls = new Map<string, string[]>();
  for (const [k, f] of byKey) {
    const out = new Set<string>();
    const graphs: Node[][] = [f.nodes];
    while (graphs.length) {
      for (const n of graphs.pop()!) {
        const c = key(n.domain, n.opType);
        if (byKey.has(c) && !isOp(n.domain, n.opType)) out.add(c);
        for (const s of subgraphsOf(n)) graphs.push(s.nodes);
      }
    }
    calls.set(k, [...out]);
  }
  // depth first over the call graph: a call to a function on the stack is a cycle; the height of
  // each function (longest chain of calls below it) bounds the interpreter's nesting
  const height = new Map<string, number>();
  const onStack = new Set<string>();
  for (const start of byKey.keys()) {
    if (height.has(start)) continue;
    const stack: [string, number][] = [[start, 0]];
    onStack.add(start);
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const [k, i] = frame;
      const next = calls.get(k)!;
      if (i < next.length) {
        frame[1]++;
        const c = next[i];
        if (onStack.has(c)) {
          const path = [...stack.slice(stack.findIndex(([s]) => s === c)).map(([s]) => s), c].map(label);
          const how = path.length === 2 ? "" : ` (${path.join(" → ")})`;
          throw new SaturnError("INVALID_GRAPH", `local function ${label(c)} calls itself${how}`, label(c));
        }
        if (!height.has(c)) stack.push([c, 0]), onStack.add(c);
        continue;
      }
      stack.pop();
      onStack.delete(k);
      const h = next.reduce((m, c) => Math.max(m, height.get(c)! + 1), 0);
      if (h > MAX_NESTING) {
        throw new SaturnError(
          "INVALID_GRAPH",
          `local function ${label(k)}: calls nested more than ${MAX_NESTING} levels deep`,
          label(k),
        );
      }
      height.set(k, h);
    }
  }
}
