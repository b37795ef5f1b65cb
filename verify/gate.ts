/**
 * Which rules `optimize` may apply. A refuted rule never; a shipped rule by its committed
 * verdict (verified now when the verdict is missing or stale); a user's rule by its cached
 * verdict, verified on first use and cached; a rule whose verification was inconclusive
 * ("unknown") only with `trustRules`, which also skips verifying new user rules.
 * @module
 */
import type { Rule } from "../rules/rule.ts";
import { readUserCache, ruleKey, shippedVerdicts, type StoredVerdict, storeVerdict, writeUserCache } from "./cache.ts";
import { verifyRule, Z3_QUERY_MS } from "./verify_rule.ts";

/** What the gate decided. */
export interface GateReport {
  /** Rules `optimize` may apply, in their given order. */
  applied: Rule[];
  /**
   * Rules not applied: `refuted` (never applied), `unknown` (verification inconclusive; `trustRules`
   * applies them) or `unverified` (not reached before `timeLimitMs`; verdicts found so far are cached,
   * so the next call goes on where this one stopped).
   */
  skipped: { rule: Rule; status: "refuted" | "error" | "unknown" | "unverified"; reason: string }[];
  /** rules verified during this call (not found in a cache) */
  verifiedNow: StoredVerdict[];
  /** shipped rules whose committed verdict was missing or stale */
  stale: string[];
  /** user rules applied without a verdict (`trustRules`) */
  trusted: string[];
  /** Wall time of the gate, verification included, in milliseconds. */
  ms: number;
}

/** Options for `gateRules`. */
export interface GateOptions {
  /** Apply rules whose verification was inconclusive, and new user rules without verifying them. */
  trustRules?: boolean;
  /**
   * The user's verdict cache (default `verdicts.json` in `$SATURN_CACHE_DIR`, else in
   * `$XDG_CACHE_HOME/saturn` or `~/.cache/saturn`).
   */
  cacheFile?: string;
  /** Called before each rule that must be verified now: `done` of `total`, and the rule's name. */
  onProgress?: (done: number, total: number, name: string) => void;
  /**
   * Wall-clock budget of verification in ms (none by default): rules not yet verified when it runs
   * out are not applied (`unverified`); Z3 queries get at most what is left.
   */
  timeLimitMs?: number;
}

/**
 * Sort `rules` into those optimize applies and those it skips, verifying what no cache knows
 * and caching user rules' new verdicts. A refuted rule is never applied.
 * @param rules the rules
 * @param opts `trustRules`, the user's cache file, a progress callback
 * @returns what was applied, skipped, verified now, found stale, or trusted
 * @example
 * ```ts
 * import { gateRules, loadRulePacks, parseRules } from "../mod.ts";
 * const shipped = await loadRulePacks();
 * const mine = parseRules("neg-neg: (Neg (Neg ?x)) => ?x", "mine.rules", "user");
 * const cacheFile = Deno.makeTempFileSync({ suffix: ".json" });
 * const report = await gateRules([...shipped, ...mine], { trustRules: true, cacheFile });
 * if (!report.trusted.includes("neg-neg")) throw new Error("a trusted user rule is applied unverified");
 * const applied = new Set(report.applied.map((r) => r.name));
 * if (report.skipped.some((s) => applied.has(s.rule.name))) throw new Error("skipped rules are not applied");
 * Deno.removeSync(cacheFile);
 * ```
 */
export async function gateRules(rules: readonly Rule[], opts: GateOptions = {}): Promise<GateReport> {
  const t0 = performance.now();
  const shipped = await shippedVerdicts();
  const user = readUserCache(opts.cacheFile);
  const report: GateReport = { applied: [], skipped: [], verifiedNow: [], stale: [], trusted: [], ms: 0 };
  const pending: Rule[] = [];
  for (const r of rules) {
    const key = ruleKey(r);
    const known = r.shipped ? shipped.get(r.name) : user.get(key);
    if (known && known.key === key) decide(r, known, opts, report);
    else if (!r.shipped && opts.trustRules) {
      report.trusted.push(r.name);
      report.applied.push(r);
    } else {
      if (r.shipped) report.stale.push(r.name);
      pending.push(r);
    }
  }
  const fresh: StoredVerdict[] = [];
  const deadline = opts.timeLimitMs === undefined ? Infinity : t0 + opts.timeLimitMs;
  for (let i = 0; i < pending.length; i++) {
    const r = pending[i];
    const left = deadline - performance.now();
    if (left <= 0) {
      for (const late of pending.slice(i)) {
        const reason = `not verified within the time limit (${i} of ${pending.length} rules verified; ` +
          `verdicts are cached, so the next run goes on)`;
        report.skipped.push({ rule: late, status: "unverified", reason });
      }
      break;
    }
    opts.onProgress?.(i, pending.length, r.name);
    const v = storeVerdict(r, await verifyRule(r, left < Infinity ? { timeoutMs: Math.min(Z3_QUERY_MS, left) } : {}));
    fresh.push(v);
    decide(r, v, opts, report);
  }
  report.verifiedNow = fresh;
  const userFresh = fresh.filter((v) => !pending.find((r) => r.name === v.name)?.shipped);
  if (userFresh.length) writeUserCache(userFresh, opts.cacheFile);
  report.ms = performance.now() - t0;
  return report;
}

function decide(r: Rule, v: StoredVerdict, opts: GateOptions, report: GateReport): void {
  if (v.status === "refuted") {
    report.skipped.push({ rule: r, status: "refuted", reason: `refuted: ${v.counterexample ?? v.note ?? ""}` });
  } else if (v.status === "error") {
    // no valid instance: the rule cannot be checked, and is never applied
    report.skipped.push({ rule: r, status: "error", reason: `cannot be verified: ${v.note ?? ""}` });
  } else if (v.status === "unknown" && !opts.trustRules) {
    report.skipped.push({ rule: r, status: "unknown", reason: `unverified (${v.note ?? "unknown"})` });
  } else report.applied.push(r);
}
