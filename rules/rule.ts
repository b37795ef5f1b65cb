/**
 * A rewrite rule: left-hand pattern(s), right-hand pattern(s), an optional guard over the
 * e-class analyses, and where it came from. Rules are data (`rules/*.rules`, parsed by
 * `rules/parser.ts`) or TypeScript plugins (`defineRules`) that may supply their own applier.
 * @module
 */
import type { ClassId } from "../egraph/enode.ts";
import type { MatchEnv, Pattern, Subst } from "../egraph/pattern.ts";
import type { GuardCall } from "./guards.ts";

/**
 * Verification status of a rule: a verdict's status (`VerdictStatus`), or `unverified` when no
 * verdict is known. The gate (`gateRules`) decides from verdicts, not from `Rule.status`.
 */
export type RuleStatus = "proved" | "tested" | "refuted" | "unknown" | "unverified";

/** One rewrite rule. For a multi-pattern rule, `rhs[i]` is merged with the match of `lhs[i]`. */
export interface Rule {
  /** Unique among the rules loaded together; names the rule in reports, verdicts and `without`. */
  name: string;
  /** Pack: `core`, `layout`, `quant`, or `user`. */
  pack: string;
  /** The rule file or plugin it came from. */
  file?: string;
  /** The 1-based line of its statement in `file`. */
  line?: number;
  /** One-line algebra, e.g. `x*1 -> x`. */
  comment?: string;
  /** Left-hand patterns: one, or several for a multi-pattern rule (all must match). */
  lhs: Pattern[];
  /** Right-hand patterns, one per left-hand pattern (unused when `apply` is given). */
  rhs: Pattern[];
  /** The guards as parsed (rule files only): the verifier reads their literals and what they constrain. */
  guardCalls?: GuardCall[];
  /** The statement as written (rule files only), for reports and the verdict cache. */
  source?: string;
  /** Must hold for a match to be applied. */
  guard?: (env: MatchEnv, s: Subst, roots: ClassId[]) => boolean;
  /** Plugin applier: the classes to merge with each root (undefined entries are skipped). */
  apply?: (env: MatchEnv, s: Subst, roots: ClassId[]) => (ClassId | undefined)[] | undefined;
  /** Verification status, when the caller that built the rule set it (nothing in Saturn does yet). */
  status?: RuleStatus;
  /** One of Saturn's own packs (its verdict is committed in rules/verdicts.json). */
  shipped?: boolean;
}

/**
 * Declare rules in TypeScript (a plugin file exports the result as default): for guards or
 * appliers that the rule language cannot express.
 * @param pack the pack every rule joins
 * @param rules the rules, without their pack
 * @returns the rules, each with `pack` set
 * @example
 * ```ts
 * import { defineRules, type Pattern } from "../mod.ts";
 * const x: Pattern = { kind: "var", name: "x" };
 * const neg = (p: Pattern): Pattern => ({ kind: "op", op: "Neg", attrs: [], children: [p] });
 * const rules = defineRules("user", [{
 *   name: "double-neg",
 *   comment: "-(-x) = x",
 *   lhs: [neg(neg(x))],
 *   rhs: [x],
 * }]);
 * if (rules[0].pack !== "user" || rules[0].name !== "double-neg") throw new Error("pack added");
 * ```
 */
export function defineRules(pack: string, rules: Omit<Rule, "pack">[]): Rule[] {
  return rules.map((r) => ({ ...r, pack }));
}
