/**
 * The fuzzing loop: graph after graph from one seed (`generateGraph(graphSeed(seed, i))`), each run
 * through every stage (`runGraph`); each failure shrunk (`shrink`) and kept as a `Finding`. A failure
 * whose shrunk graph has the signature of one already found (stage, kind, ops) is counted, not kept.
 * @module
 */
import type { Finding } from "./findings.ts";
import { generateGraph } from "./generate.ts";
import { type Outcome, runGraph, type Stage, STAGES } from "./pipeline.ts";
import { graphSeed } from "./random.ts";
import { type Case, shrink } from "./shrink.ts";

/** Options of `fuzz`. */
export interface FuzzOptions {
  /** The run's seed. */
  seed: number;
  /** Stop starting graphs after this many ms (none). */
  budgetMs?: number;
  /** Stop after this many graphs (none; one of the two limits must be given). */
  graphs?: number;
  /** Run only graph `only` of the seed (to replay a finding). */
  only?: number;
  /** The stages to run (all). */
  stages?: readonly Stage[];
  /** Most nodes per graph (10). */
  maxNodes?: number;
  /** Shrink failures (true). */
  shrink?: boolean;
  /** Shrinking budget per finding in ms (60,000). */
  shrinkMs?: number;
  /** Called after each graph, and with each new finding. */
  onGraph?: (stats: FuzzStats) => void;
  onFinding?: (f: Finding) => void;
}

/** What a run did. */
export interface FuzzStats {
  /** Graphs generated and run. */
  tried: number;
  /** Graphs ONNX Runtime refused (not Saturn's business), and why. */
  discarded: number;
  discardReasons: Map<string, number>;
  /** Stage runs that Saturn refused as unsupported, and why (the message up to its first ':' after the code). */
  unsupported: number;
  unsupportedReasons: Map<string, number>;
  /** Stage runs that differ from ONNX Runtime only by a NaN rule the reference reads otherwise (see `Outcome`). */
  divergent: number;
  /** Stage runs with an output outside tolerance. */
  mismatches: number;
  /** Stage runs that threw something other than a `SaturnError`. */
  crashes: number;
  /** Stage runs that threw a `SaturnError` on a graph ONNX Runtime runs. */
  refusals: number;
  /** Distinct findings (by signature), shrunk. */
  findings: Finding[];
  elapsedMs: number;
}

function signature(stage: Stage, o: Outcome, c: Case): string {
  return `${stage}/${o.kind}/${c.model.graph.nodes.map((n) => n.opType).join(",")}`;
}

/**
 * Fuzz Saturn against ONNX Runtime (see the module doc).
 * @param options seed, limits, stages, callbacks
 * @returns the counts and the distinct findings
 */
export async function fuzz(options: FuzzOptions): Promise<FuzzStats> {
  const stages = options.stages ?? STAGES;
  const dir = await Deno.makeTempDir({ prefix: "saturn-fuzz-" });
  const start = performance.now();
  const stats: FuzzStats = {
    tried: 0,
    discarded: 0,
    discardReasons: new Map(),
    unsupported: 0,
    unsupportedReasons: new Map(),
    mismatches: 0,
    divergent: 0,
    crashes: 0,
    refusals: 0,
    findings: [],
    elapsedMs: 0,
  };
  const seen = new Set<string>();
  try {
    for (let i = options.only ?? 0;; i++) {
      if (options.only !== undefined && i > options.only) break;
      if (options.graphs !== undefined && stats.tried >= options.graphs) break;
      if (options.budgetMs !== undefined && performance.now() - start >= options.budgetMs) break;
      const { model, feeds } = generateGraph(graphSeed(options.seed, i), { maxNodes: options.maxNodes });
      const result = await runGraph(model, feeds, { dir, stages });
      stats.tried++;
      if (result.discarded !== undefined) {
        stats.discarded++;
        const why = result.discarded.replace(/^.*?failed:/, "").replace(/\(\w+\)/g, "(…)").slice(0, 120);
        stats.discardReasons.set(why, (stats.discardReasons.get(why) ?? 0) + 1);
      } else {
        for (const [stage, o] of result.outcomes) {
          if (o.kind === "ok") continue;
          if (o.kind === "divergent") {
            stats.divergent++;
            continue;
          }
          if (o.kind === "unsupported") {
            stats.unsupported++;
            const why = o.message.replace(/'[^']*'/g, "'…'").slice(0, 120);
            stats.unsupportedReasons.set(why, (stats.unsupportedReasons.get(why) ?? 0) + 1);
            continue;
          }
          if (o.kind === "mismatch") stats.mismatches++;
          else if (o.kind === "crash") stats.crashes++;
          else stats.refusals++;
          const original = { model, feeds };
          let last: typeof o = o;
          const same = async (c: Case) => {
            const r = await runGraph(c.model, c.feeds, { dir, stages: [stage] });
            const got = r.discarded === undefined ? r.outcomes.get(stage) : undefined;
            if (got?.kind !== o.kind || (got.kind === "refusal" && o.kind === "refusal" && got.code !== o.code)) {
              return false;
            }
            last = got as typeof o;
            return true;
          };
          const shrunk = options.shrink === false
            ? { case: original, tries: 0 }
            : await shrink(original, same, { dir, budgetMs: options.shrinkMs });
          const sig = signature(stage, o, shrunk.case);
          if (seen.has(sig)) continue;
          seen.add(sig);
          const finding: Finding = {
            seed: options.seed,
            graph: i,
            stage,
            outcome: last,
            original,
            shrunk: shrunk.case,
            tries: shrunk.tries,
          };
          stats.findings.push(finding);
          options.onFinding?.(finding);
        }
      }
      stats.elapsedMs = performance.now() - start;
      options.onGraph?.(stats);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  stats.elapsedMs = performance.now() - start;
  return stats;
}

/** The one-line summary of a run. */
export function summaryLine(s: FuzzStats): string {
  return `fuzz: ${s.tried} graphs in ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.discarded} discarded, ` +
    `${s.unsupported} unsupported, ${s.divergent} divergent (NaN rules, rounding-sensitive: close comparisons, trig of large arguments; ONNX Runtime's optimizer disagreeing with itself), ${s.mismatches} mismatches, ${s.crashes} crashes, ${s.refusals} refusals ` +
    `(${s.findings.length} distinct findings)`;
}
