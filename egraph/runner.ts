/**
 * The equality-saturation runner: search every rule, apply the matches, rebuild; repeat until
 * saturation or a limit. A backoff scheduler (as egg's) bans a rule for a while when its matches
 * exceed its budget, doubling budget and ban each time, so one exploding rule cannot starve the rest.
 * @module
 */
import type { EGraph } from "./egraph.ts";
import type { ClassId } from "./enode.ts";
import { instantiate, type Library, type MatchEnv, searchPatterns, type Subst } from "./pattern.ts";
import type { Rule } from "../rules/rule.ts";

/** Why the runner stopped. */
export type StopReason =
  | { kind: "saturated" }
  | { kind: "iteration-limit"; iterations: number }
  | { kind: "node-limit"; nodes: number }
  | { kind: "time-limit"; ms: number };

/** Limits and scheduling. */
export interface RunnerOptions {
  /** Iterations at most (default 30). */
  iterLimit?: number;
  /** Stop once the e-graph holds more e-nodes than this (default 100 000). */
  nodeLimit?: number;
  /** Stop after this much wall time, checked between rules and iterations (default 10 000 ms). */
  timeLimitMs?: number;
  /** Matches a rule may apply per iteration before it is banned (doubles on each ban). */
  matchLimit?: number;
  /** Iterations of a first ban (doubles on each ban). */
  banLength?: number;
  /** Called after each iteration. */
  onIteration?: (it: IterationStats) => void;
}

/** Per-iteration figures. */
export interface IterationStats {
  /** 0-based iteration number. */
  iteration: number;
  /** Matches whose application changed the e-graph (a union of different classes). */
  applied: number;
  /** E-nodes added so far (`EGraph.nodeCount`) after the iteration. */
  nodes: number;
  /** Live classes after the iteration. */
  classes: number;
  /** Time spent searching for matches (guards included). */
  searchMs: number;
  /** Time spent instantiating right-hand sides and merging. */
  applyMs: number;
  /** Time spent in `EGraph.rebuild`. */
  rebuildMs: number;
}

/** Per-rule figures over the whole run. */
export interface RuleStats {
  /** Matches found (before guards), over all iterations. */
  matches: number;
  /** Matches that changed the e-graph. */
  applied: number;
  /** Times the scheduler banned the rule for exceeding its match budget. */
  bans: number;
}

/** What a run did. */
export interface RunReport {
  /** Why the run stopped: `saturated` means no rule can change the e-graph any more. */
  stopReason: StopReason;
  /** Figures of each iteration, in order. */
  iterations: IterationStats[];
  /** Figures of each rule, by rule name. */
  rules: Map<string, RuleStats>;
}

/**
 * Run rules to saturation or a limit: each iteration searches every rule not banned, checks
 * guards, applies the matches (merging each root with its right-hand side), and rebuilds. The
 * e-graph in `env` is modified in place; nothing is ever removed from it.
 * @param env the e-graph and the attribute defaults patterns match against
 * @param lib builders and attribute functions right-hand sides may call
 * @param rules the rules
 * @param opts limits and the scheduler's budget
 * @returns the stop reason and per-iteration and per-rule figures
 * @example
 * ```ts
 * import { attrDefaults, EGraph, parseRules, ruleLibrary, runRules } from "../mod.ts";
 * import { makeENode } from "./enode.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [{ name: "name", type: "string", value: "x" }]));
 * const root = eg.add(makeENode("Neg", [eg.add(makeENode("Neg", [x]))]));
 * const rules = parseRules("neg-neg: (Neg (Neg ?x)) => ?x", "inline.rules", "user");
 * const report = runRules({ eg, defaults: attrDefaults }, ruleLibrary, rules);
 * if (report.stopReason.kind !== "saturated") throw new Error("two Negs saturate at once");
 * if (eg.find(root) !== eg.find(x)) throw new Error("-(-x) and x are one class");
 * if (report.rules.get("neg-neg")?.applied !== 1) throw new Error("applied once");
 * ```
 */
export function runRules(env: MatchEnv, lib: Library, rules: readonly Rule[], opts: RunnerOptions = {}): RunReport {
  const eg: EGraph = env.eg;
  const iterLimit = opts.iterLimit ?? 30, nodeLimit = opts.nodeLimit ?? 100_000, timeLimit = opts.timeLimitMs ?? 10_000;
  const matchLimit = opts.matchLimit ?? 1000, banLength = opts.banLength ?? 3;
  const stats = new Map<string, RuleStats>(rules.map((r) => [r.name, { matches: 0, applied: 0, bans: 0 }]));
  const bannedUntil = new Map<string, number>();
  const iterations: IterationStats[] = [];
  const t0 = performance.now();
  eg.rebuild();
  for (let it = 0;; it++) {
    if (it >= iterLimit) return { stopReason: { kind: "iteration-limit", iterations: it }, iterations, rules: stats };
    const tSearch = performance.now();
    const found: { rule: Rule; roots: ClassId[]; subst: Subst }[] = [];
    for (const rule of rules) {
      if ((bannedUntil.get(rule.name) ?? -1) > it) continue;
      const st = stats.get(rule.name)!;
      const budget = matchLimit * 2 ** st.bans;
      const ms = searchPatterns(env, rule.lhs, budget + 1);
      if (ms.length > budget) {
        bannedUntil.set(rule.name, it + banLength * 2 ** st.bans);
        st.bans++;
        continue;
      }
      for (const m of ms) {
        if (rule.guard && !rule.guard(env, m.subst, m.roots)) continue;
        found.push({ rule, roots: m.roots, subst: m.subst });
      }
      st.matches += ms.length;
      if (performance.now() - t0 > timeLimit) break;
    }
    const tApply = performance.now();
    let applied = 0;
    const before = eg.nodeCount;
    for (const f of found) {
      const targets = f.rule.apply
        ? f.rule.apply(env, f.subst, f.roots)
        : f.rule.rhs.map((p) => instantiate(env, lib, p, f.subst));
      if (!targets) continue;
      let did = false;
      targets.forEach((t, i) => {
        if (t !== undefined && eg.union(f.roots[i], t)) did = true;
      });
      if (did) {
        applied++;
        stats.get(f.rule.name)!.applied++;
      }
      if (eg.nodeCount > nodeLimit) break;
    }
    const tRebuild = performance.now();
    eg.rebuild();
    const tEnd = performance.now();
    const row: IterationStats = {
      iteration: it,
      applied,
      nodes: eg.nodeCount,
      classes: eg.classCount,
      searchMs: tApply - tSearch,
      applyMs: tRebuild - tApply,
      rebuildMs: tEnd - tRebuild,
    };
    iterations.push(row);
    opts.onIteration?.(row);
    if (eg.nodeCount > nodeLimit) {
      return { stopReason: { kind: "node-limit", nodes: eg.nodeCount }, iterations, rules: stats };
    }
    if (tEnd - t0 > timeLimit) {
      return { stopReason: { kind: "time-limit", ms: Math.round(tEnd - t0) }, iterations, rules: stats };
    }
    const anyBanned = [...bannedUntil.values()].some((u) => u > it + 1);
    if (applied === 0 && eg.nodeCount === before && !anyBanned) {
      return { stopReason: { kind: "saturated" }, iterations, rules: stats };
    }
  }
}
