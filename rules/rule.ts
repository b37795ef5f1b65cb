/**
 * A rewrite rule: left-hand pattern(s), right-hand pattern(s), an optional guard over the
 * e-class analyses, and where it came from. Rules are data (`rules/*.rules`, parsed by
 * `rules/parser.ts`) or TypeScript plugins (`defineRules`) that may supply their own applier.
 * @module
 */
import type { ClassId } from "../egraph/enode.ts";
import type { MatchEnv, Pattern, Subst } from "../egraph/pattern.ts";
import type { GuardCall } from "./guards.ts";

/** Verification status of a rule (issue #4 fills this in). */
export type RuleStatus = "proved" | "tested" | "refuted" | "unknown" | "unverified";

/** One rewrite rule. For a multi-pattern rule, `rhs[i]` is merged with the match of `lhs[i]`. */
export interface Rule {
  name: string;
  /** Pack: `core`, `layout`, `quant`, or `user`. */
  pack: string;
  file?: string;
  line?: number;
  /** One-line algebra, e.g. `x*1 -> x`. */
  comment?: string;
  lhs: Pattern[];
  rhs: Pattern[];
  /** The guards as parsed (rule files only): the verifier reads their literals and what they constrain. */
  guardCalls?: GuardCall[];
  /** The statement as written (rule files only), for reports and the verdict cache. */
  source?: string;
  /** Must hold for a match to be applied. */
  guard?: (env: MatchEnv, s: Subst, roots: ClassId[]) => boolean;
  /** Plugin applier: the classes to merge with each root (undefined entries are skipped). */
  apply?: (env: MatchEnv, s: Subst, roots: ClassId[]) => (ClassId | undefined)[] | undefined;
  status?: RuleStatus;
  /** One of Saturn's own packs (its verdict is committed in rules/verdicts.json). */
  shipped?: boolean;
}

/**
 * Declare rules in TypeScript (a plugin file exports the result as default).
 * @example
 * ```ts
 * import { defineRules } from "./rule.ts";
 * const rules = defineRules("user", [{ name: "double-neg", lhs: [], rhs: [] }]);
 * if (rules[0].pack !== "user") throw new Error();
 * ```
 */
export function defineRules(pack: string, rules: Omit<Rule, "pack">[]): Rule[] {
  return rules.map((r) => ({ ...r, pack }));
}
