/**
 * ILP extraction: the cheapest acyclic choice of e-nodes under the roots, shared sub-graphs
 * counted once, solved by HiGHS (`npm:highs`, WebAssembly) under a time limit; the greedy
 * extraction is both the warm start and the fallback.
 *
 * Formulation, over the classes reachable from the roots (R) only:
 * ```
 * minimize   Σ_n cost(n) · x_n                        x_n ∈ {0,1} per e-node, s_c ∈ {0,1} per class
 * subject to s_r = 1                                   for each root class r
 *            Σ_{n ∈ c} x_n − s_c = 0                   a needed class picks exactly one node, others none
 *            Σ_{n ∈ c, k ∈ children(n)} x_n − s_k ≤ 0   for each class c and child class k of its nodes
 *            t_c − t_k − M·x_n ≥ 1 − M                 for each child k of n ∈ c inside a cycle (same SCC as c)
 * ```
 * Sharing is exact: a class chosen by many parents has one `s_c` and its node's cost is paid once.
 * The child rows aggregate the nodes of one class (valid since a class picks at most one node):
 * stronger than one row per node and child (`x_n ≤ s_k`), so the LP bound is tighter and HiGHS
 * proves optimality with far less branching.
 * Cycles: a node whose child is its own class can only make a cycle, so it is dropped. Other cycles
 * live inside strongly connected components of the class graph; only edges inside one get an order
 * variable `t_c ∈ [0, |SCC| − 1]` and the big-M constraint with M = |SCC| (an edge between components
 * can never close a cycle), which keeps the model small on mostly acyclic e-graphs.
 * Nodes of infinite cost are left out.
 *
 * Outcome: HiGHS's optimum (`method: "ilp"`), or when it stops at the time limit with an incumbent
 * strictly cheaper than greedy, that incumbent (`method: "ilp"`, `reason: "time limit: incumbent"`);
 * on a time limit without one, infeasibility, an invalid solution or any solver error, the greedy
 * extraction (`method: "greedy-fallback"`, `reason` says which).
 * @module
 */
import type { CostModel } from "../cost/cost_model.ts";
import type { EGraph } from "./egraph.ts";
import type { ClassId, ENode } from "./enode.ts";
import { dagCost, extractGreedy, type Extraction } from "./extract_greedy.ts";
import * as highsModule from "highs";
import type { Highs, InitOptions } from "highs";

/** An extraction and how it was found. */
export interface IlpExtraction extends Extraction {
  /** `ilp`: HiGHS's optimum or an incumbent cheaper than greedy; `greedy-fallback`: the greedy extraction. */
  method: "ilp" | "greedy-fallback";
  /** Why the ILP result was not (or not provably) optimal, or why greedy was used. */
  reason?: string;
}

/** Options of `extractIlp`. */
export interface IlpOptions {
  /** Wall-clock limit handed to HiGHS (default 10 000 ms). */
  timeLimitMs?: number;
  /** Extra HiGHS options (e.g. `{ mip_rel_gap: 0 }`); an unknown one makes the solve fail. */
  highsOptions?: Record<string, boolean | number | string>;
}

let runtime: Promise<Highs> | undefined;
/** The HiGHS runtime, loaded (and its Wasm compiled) once per process. */
function highs(): Promise<Highs> {
  // the package is CommonJS-typed: Deno types its default import as the module, but at run time
  // (through the package's ESM build) the default export is the loader function
  const loader = highsModule.default as unknown as (o?: InitOptions) => Promise<Highs>;
  return runtime ??= loader();
}

/** The linear program, rows kept sparse. */
interface Mip {
  cost: number[];
  lower: number[];
  upper: number[];
  integer: boolean[];
  rows: { idx: number[]; val: number[]; lo: number; hi: number }[];
}

/**
 * Extract by integer linear programming (see the module doc for the formulation).
 * @param eg a rebuilt e-graph
 * @param model the cost model
 * @param roots the classes to extract
 * @param opts time limit and HiGHS options
 * @returns the choice, its DAG cost, and which method produced it
 * @example
 * ```ts
 * import { EGraph, extractIlp, NodeCountCost } from "../mod.ts";
 * import { makeENode } from "./enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const r = eg.add(makeENode("Neg", [eg.add(makeENode("Neg", [x]))]));
 * eg.union(r, x);
 * eg.rebuild();
 * const ex = await extractIlp(eg, new NodeCountCost(), [r]);
 * if (ex.cost !== 0 || ex.method !== "ilp") throw new Error("x itself is cheapest");
 * ```
 */
export async function extractIlp(
  eg: EGraph,
  model: CostModel,
  roots: ClassId[],
  opts: IlpOptions = {},
): Promise<IlpExtraction> {
  const greedy = extractGreedy(eg, model, roots);
  const fallback = (reason: string): IlpExtraction => ({ ...greedy, method: "greedy-fallback", reason });
  const rootIds = [...new Set(roots.map((r) => eg.find(r)))];
  const classes = reachable(eg, rootIds);
  const scc = components(eg, classes);

  // columns: one per class (s_c), then one per kept e-node (x_n), then order variables (t_c)
  const mip: Mip = { cost: [], lower: [], upper: [], integer: [], rows: [] };
  const col = (cost: number, lo: number, hi: number, integer: boolean) => {
    mip.cost.push(cost), mip.lower.push(lo), mip.upper.push(hi), mip.integer.push(integer);
    return mip.cost.length - 1;
  };
  const sCol = new Map<ClassId, number>();
  for (const c of classes) sCol.set(c, col(0, rootIds.includes(c) ? 1 : 0, 1, true));
  const nodes: { node: ENode; cls: ClassId; x: number }[] = [];
  const scale = greedy.cost > 0 ? 1e6 / greedy.cost : 1;
  for (const c of classes) {
    for (const n of eg.eclass(c).nodes) {
      const kids = n.children.map((k) => eg.find(k));
      if (kids.includes(c)) continue; // a self-loop can only be part of a cycle
      const cost = model.nodeCost(eg, n, c);
      if (!Number.isFinite(cost)) continue;
      nodes.push({ node: n, cls: c, x: col(cost * scale, 0, 1, true) });
    }
  }
  const tCol = new Map<ClassId, number>();
  for (const c of classes) {
    const size = scc.size.get(scc.of.get(c)!)!;
    if (size > 1) tCol.set(c, col(0, 0, size - 1, false));
  }
  const byClass = new Map<ClassId, number[]>();
  for (const { cls, x } of nodes) {
    const list = byClass.get(cls);
    if (list) list.push(x);
    else byClass.set(cls, [x]);
  }
  for (const c of classes) {
    const xs = byClass.get(c) ?? [];
    mip.rows.push({ idx: [...xs, sCol.get(c)!], val: [...xs.map(() => 1), -1], lo: 0, hi: 0 });
  }
  // children: per (class, child class), the nodes of the class that use the child (at most one is chosen)
  const users = new Map<ClassId, Map<ClassId, number[]>>();
  for (const { node, cls, x } of nodes) {
    let m = users.get(cls);
    if (!m) users.set(cls, m = new Map());
    for (const k of new Set(node.children.map((k) => eg.find(k)))) {
      const list = m.get(k);
      if (list) list.push(x);
      else m.set(k, [x]);
    }
  }
  for (const m of users.values()) {
    for (const [k, xs] of m) {
      mip.rows.push({ idx: [...xs, sCol.get(k)!], val: [...xs.map(() => 1), -1], lo: -Infinity, hi: 0 });
    }
  }
  for (const { node, cls, x } of nodes) {
    for (const k of new Set(node.children.map((k) => eg.find(k)))) {
      if (scc.of.get(k) === scc.of.get(cls)) {
        const m = scc.size.get(scc.of.get(cls)!)!;
        mip.rows.push({ idx: [tCol.get(cls)!, tCol.get(k)!, x], val: [1, -1, -m], lo: 1 - m, hi: Infinity });
      }
    }
  }

  // warm start: the greedy choice, with order values from its heights inside each component
  const start = new Float64Array(mip.cost.length);
  for (const c of greedy.choice.keys()) start[sCol.get(c)!] = 1;
  for (const { node, cls, x } of nodes) if (greedy.choice.get(cls) === node) start[x] = 1;
  const height = heightsInComponents(eg, greedy.choice, scc.of);
  for (const [c, t] of tCol) if (greedy.choice.has(c)) start[t] = height.get(c)!;

  let colValue: Float64Array, status: string;
  try {
    ({ colValue, status } = await solve(mip, start, opts));
  } catch (e) {
    return fallback(`solver error: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (status !== "optimal" && status !== "time-limit") return fallback(status);
  const choice = new Map<ClassId, ENode>();
  for (const { node, cls, x } of nodes) if (colValue[x] > 0.5 && !choice.has(cls)) choice.set(cls, node);
  const picked = pickUnder(eg, choice, rootIds);
  if (!picked) return status === "time-limit" ? fallback("time limit") : fallback("invalid solution");
  const cost = dagCost(eg, model, picked, rootIds);
  if (status === "time-limit") {
    // the incumbent may be just the warm start: keep it only when it is strictly better
    if (cost < greedy.cost * (1 - 1e-9)) {
      return { choice: picked, cost, method: "ilp", reason: "time limit: incumbent" };
    }
    return fallback("time limit");
  }
  if (cost > greedy.cost * (1 + 1e-9)) return fallback("ilp solution costlier than greedy");
  return { choice: picked, cost, method: "ilp" };
}

/** Solve with HiGHS's persistent API (it takes a MIP start); statuses normalized. */
async function solve(
  mip: Mip,
  start: Float64Array,
  opts: IlpOptions,
): Promise<{ colValue: Float64Array; status: string }> {
  const h = await highs();
  const inf = h.infinity;
  const starts = [0], indices: number[] = [], values: number[] = [];
  for (const r of mip.rows) indices.push(...r.idx), values.push(...r.val), starts.push(indices.length);
  const clamp = (v: number) => (v === Infinity ? inf : v === -Infinity ? -inf : v);
  const m = h.createModel();
  try {
    m.options.set({ time_limit: (opts.timeLimitMs ?? 10_000) / 1000, output_flag: false, ...opts.highsOptions });
    m.passModel({
      numCols: mip.cost.length,
      numRows: mip.rows.length,
      colCost: mip.cost,
      colLower: mip.lower,
      colUpper: mip.upper,
      rowLower: mip.rows.map((r) => clamp(r.lo)),
      rowUpper: mip.rows.map((r) => clamp(r.hi)),
      matrix: { format: "csr", numRows: mip.rows.length, numCols: mip.cost.length, starts, indices, values },
      integrality: mip.integer.map((i) => (i ? h.constants.variableType.integer : h.constants.variableType.continuous)),
    });
    m.setSolution({ colValue: start });
    const { modelStatus } = m.run();
    const codes = h.constants.modelStatus;
    const hasPrimal = m.info.get("primal_solution_status") === 2;
    if (modelStatus === codes.optimal) return { colValue: m.getSolution().colValue, status: "optimal" };
    if (modelStatus === codes.timeLimit) {
      return { colValue: hasPrimal ? m.getSolution().colValue : new Float64Array(), status: "time-limit" };
    }
    const name = Object.entries(codes).find(([, v]) => v === modelStatus)?.[0] ?? String(modelStatus);
    return { colValue: new Float64Array(), status: `solver status ${name}` };
  } finally {
    m.dispose();
  }
}

/**
 * Each chosen class's height inside its strongly connected component: 0 when no chosen child is
 * in the same component, else one more than the highest such child. The greedy choice is acyclic,
 * so this is well defined; computed with an explicit stack (chains run thousands deep).
 */
function heightsInComponents(
  eg: EGraph,
  choice: Map<ClassId, ENode>,
  sccOf: Map<ClassId, number>,
): Map<ClassId, number> {
  const height = new Map<ClassId, number>();
  const onStack = new Set<ClassId>();
  const inside = (c: ClassId) =>
    choice.get(c)!.children.map((k) => eg.find(k)).filter((k) => sccOf.get(k) === sccOf.get(c));
  for (const start of choice.keys()) {
    if (height.has(start)) continue;
    const stack: [ClassId, ClassId[], number][] = [[start, inside(start), 0]];
    onStack.add(start);
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const [c, kids, i] = frame;
      if (i < kids.length) {
        frame[2]++;
        const k = kids[i];
        // a class already on the stack would close a cycle (never in an acyclic choice): skipped
        if (!height.has(k) && !onStack.has(k)) stack.push([k, inside(k), 0]), onStack.add(k);
        continue;
      }
      stack.pop();
      onStack.delete(c);
      height.set(c, kids.reduce((h, k) => Math.max(h, (height.get(k) ?? -1) + 1), 0));
    }
  }
  return height;
}

/** The choice restricted to what the roots use; undefined when a class lacks a node or a cycle is closed. */
function pickUnder(eg: EGraph, choice: Map<ClassId, ENode>, roots: ClassId[]): Map<ClassId, ENode> | undefined {
  const out = new Map<ClassId, ENode>();
  const state = new Map<ClassId, 1 | 2>(); // 1 on the DFS stack, 2 done
  for (const root of roots) {
    // depth-first, with an explicit stack of (class, next child index)
    const stack: [ClassId, number][] = [];
    const enter = (c: ClassId): boolean => {
      const st = state.get(c);
      if (st === 2) return true;
      if (st === 1 || !choice.has(c)) return false;
      state.set(c, 1);
      stack.push([c, 0]);
      return true;
    };
    if (!enter(root)) return undefined;
    while (stack.length) {
      const frame = stack[stack.length - 1];
      const [c, i] = frame;
      const n = choice.get(c)!;
      if (i < n.children.length) {
        frame[1]++;
        if (!enter(eg.find(n.children[i]))) return undefined;
        continue;
      }
      stack.pop();
      state.set(c, 2);
      out.set(c, n);
    }
  }
  return out;
}

/** Classes reachable from the roots through any node's children. */
function reachable(eg: EGraph, roots: ClassId[]): ClassId[] {
  const seen = new Set<ClassId>(roots);
  const stack = [...roots];
  while (stack.length) {
    for (const n of eg.eclass(stack.pop()!).nodes) {
      for (const k of n.children) {
        const c = eg.find(k);
        if (!seen.has(c)) seen.add(c), stack.push(c);
      }
    }
  }
  return [...seen];
}

/** Strongly connected components of the class graph (Tarjan's, iterative). */
function components(eg: EGraph, classes: ClassId[]): { of: Map<ClassId, number>; size: Map<number, number> } {
  const succ = new Map<ClassId, ClassId[]>();
  for (const c of classes) {
    succ.set(c, [...new Set(eg.eclass(c).nodes.flatMap((n) => n.children.map((k) => eg.find(k))))]);
  }
  const index = new Map<ClassId, number>(), low = new Map<ClassId, number>();
  const of = new Map<ClassId, number>(), size = new Map<number, number>();
  const stack: ClassId[] = [], onStack = new Set<ClassId>();
  let counter = 0;
  for (const root of classes) {
    if (index.has(root)) continue;
    const work: [ClassId, number][] = [[root, 0]];
    index.set(root, counter), low.set(root, counter++), stack.push(root), onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const next = succ.get(v)!;
      if (i < next.length) {
        frame[1]++;
        const w = next[i];
        if (!index.has(w)) {
          index.set(w, counter), low.set(w, counter++), stack.push(w), onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const u = work[work.length - 1][0];
        low.set(u, Math.min(low.get(u)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const id = size.size;
        let n = 0, w: ClassId;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          of.set(w, id);
          n++;
        } while (w !== v);
        size.set(id, n);
      }
    }
  }
  return { of, size };
}
