/**
 * `saturn verify [FILE…] [--all] [--json] [--write-shipped]`: verdicts for rules — the shipped
 * packs (`--all`) and/or the given rule files and plugins. Exit 1 when any rule is refuted or has
 * no valid instance (an error its author must fix). `--json` gives per rule how it was decided
 * (`decidedBy`: z3+tests, tests; `refutedBy`: z3 or test) and what was exercised (instances,
 * cases, dtypes, opsets, attribute values, input kinds, IEEE special values).
 * User files' verdicts go to the user's cache; `--write-shipped` (with `--all`) rewrites
 * `rules/verdicts.json`, which `optimize` reads so that it starts no solver. With `--all`, the
 * quantization rules (`rules/quant/`, not equalities) are listed with their measured error bounds.
 * @module
 */
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadRulePacks } from "../rules/load.ts";
import type { Rule } from "../rules/rule.ts";
import { type Verdict, verifyRule } from "../verify/verify_rule.ts";
import { type StoredVerdict, storeVerdict, writeShippedVerdicts, writeUserCache } from "../verify/cache.ts";
import { type CliIO, progress } from "./io.ts";
import { quantBounds } from "../verify/quant_bound.ts";

function fmtNum(x: number): string {
  return x === 0 ? "0" : x.toExponential(1);
}

/** A refuted rule's report: the rule where it is written, the shapes, the inputs, both sides. */
export function refutationReport(rule: Rule, v: Verdict): string[] {
  const c = v.counterexample!;
  const lines = [`refuted: ${rule.name} (${v.file ?? rule.pack}:${v.line ?? 1})`];
  for (const l of (rule.source ?? "").split("\n")) if (l.trim()) lines.push(`    ${l}`);
  lines.push(`  on ${c.bindings}`);
  for (const [k, xs] of Object.entries(c.inputs)) {
    lines.push(
      `  input ${k} = [${xs.slice(0, 12).map((x) => +x.toPrecision(6)).join(", ")}${xs.length > 12 ? ", …" : ""}]`,
    );
  }
  lines.push(`  ${c.output}: ${c.reason}`);
  if (c.lhs.length) {
    lines.push(`  left side near element ${c.index}:  [${c.lhs.map((x) => +x.toPrecision(8)).join(", ")}]`);
  }
  if (c.rhs.length) {
    lines.push(`  right side near element ${c.index}: [${c.rhs.map((x) => +x.toPrecision(8)).join(", ")}]`);
  }
  lines.push(`  (found by ${c.by === "z3" ? "Z3, confirmed by the reference interpreter" : "a randomized test"})`);
  return lines;
}

/** Run the command; returns the exit code. */
export async function verifyCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      all: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "write-shipped": { type: "boolean", default: false },
      "timeout": { type: "string", default: "5" },
      "no-z3": { type: "boolean", default: false },
    },
  });
  if (!values.all && !positionals.length) {
    throw new SaturnError("BAD_ARGUMENT", "verify needs rule files, or --all for the shipped packs");
  }
  if (values["write-shipped"] && !values.all) throw new SaturnError("BAD_ARGUMENT", "--write-shipped needs --all");
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new SaturnError("BAD_ARGUMENT", `--timeout ${values.timeout}: not a positive number`);
  // one loader for verify and optimize: the same rule names refused twice, across files too
  const rules: Rule[] = await loadRulePacks({ noShipped: !values.all, files: positionals });
  const bar = values.json ? undefined : progress(io, "verify");
  const t0 = performance.now();
  const verdicts: Verdict[] = [];
  for (let i = 0; i < rules.length; i++) {
    bar?.update(`${i}/${rules.length} ${rules[i].name}`);
    verdicts.push(await verifyRule(rules[i], { timeoutMs, ...(values["no-z3"] ? { prover: null } : {}) }));
  }
  bar?.clear();
  const ms = performance.now() - t0;
  const stored: StoredVerdict[] = verdicts.map((v, i) => storeVerdict(rules[i], v));
  writeUserCache(stored.filter((_, i) => !rules[i].shipped));
  if (values["write-shipped"]) writeShippedVerdicts(stored.filter((_, i) => rules[i].shipped));
  const refuted = verdicts.filter((v) => v.status === "refuted");
  const errors = verdicts.filter((v) => v.status === "error");
  const failed = refuted.length + errors.length ? 1 : 0;
  // quantization rules are not equalities: their verdict is a measured error bound
  const quant = values.all ? quantBounds() : [];
  if (values.json) {
    io.json({
      ...(values.all ? { quant } : {}),
      rules: stored.map(({ key: _k, ...v }, i) => ({
        ...v,
        maxError: jsonNumber(v.maxError),
        exercised: verdicts[i].exercised,
      })),
      counts: countBy(verdicts),
      ms,
    });
    return failed;
  }
  const w = Math.max(4, ...verdicts.map((v) => v.name.length));
  io.out(`${"rule".padEnd(w)}  status   by        cases  max err  proved  exercised${" ".repeat(22)}where`);
  for (const v of verdicts) {
    const shapes = v.status === "proved" ? `  on ${v.provedInstances} shape sets` : "";
    io.out(
      `${v.name.padEnd(w)}  ${v.status.padEnd(7)}  ${byLabel(v).padEnd(8)}  ${String(v.cases).padStart(5)}  ${
        fmtNum(v.maxError).padStart(7)
      }  ${String(v.provedInstances).padStart(6)}  ${exercisedLabel(v).padEnd(30)} ${v.file ?? ""}:${
        v.line ?? ""
      }${shapes}${v.status === "tested" || v.status === "unknown" || v.status === "error" ? `  (${v.note})` : ""}`,
    );
  }
  for (const v of refuted) for (const l of refutationReport(rules[verdicts.indexOf(v)], v)) io.out(l);
  if (quant.length) {
    const q = Math.max(10, ...quant.map((b) => b.rule.length));
    io.out(
      `quant rule${" ".repeat(q - 10)}  bits  instances  max rel err  min cosine  (measured against the exact form)`,
    );
    for (const b of quant) {
      io.out(
        `${b.rule.padEnd(q)}  ${String(b.bits).padStart(4)}  ${String(b.instances).padStart(9)}  ${
          fmtNum(b.maxRelError).padStart(11)
        }  ${b.minCosine.toFixed(5).padStart(10)}`,
      );
    }
  }
  const c = countBy(verdicts);
  io.out(
    `${verdicts.length} rules: ${c.proved} proved, ${c.tested} tested, ${c.refuted} refuted, ${c.unknown} unknown${
      c.error ? `, ${c.error} without a valid instance` : ""
    } (${(ms / 1000).toFixed(1)} s)`,
  );
  return failed;
}

/** How a verdict was reached, short: `z3+tests`, `tests`, `z3` or `test` (what refuted it), `-`. */
function byLabel(v: Verdict): string {
  if (v.status === "refuted") return v.counterexample?.by ?? "test";
  return v.decidedBy === "none" ? "-" : v.decidedBy;
}

/** What the evidence covered, short: `10 inst f32,f16,i64 ±0 inf nan`. */
function exercisedLabel(v: Verdict): string {
  const e = v.exercised;
  const dt = e.dtypes.map((d) => d.replace("float", "f").replace("uint", "u").replace("int", "i").replace("bool", "b"));
  const sp = e.specials.filter((x) => x === "inf" || x === "nan" || x === "-0" || x === "overflow")
    .map((x) => x === "overflow" ? "ovf" : x);
  return `${e.instances} inst ${dt.join(",")}${sp.length ? ` ${sp.join(" ")}` : ""}`;
}

/** JSON has no Infinity: an infinite error (sides that differ in kind) is written as the string "inf". */
function jsonNumber(x: number): number | string {
  return Number.isFinite(x) ? x : x > 0 ? "inf" : "nan";
}

function countBy(vs: Verdict[]): Record<"proved" | "tested" | "refuted" | "unknown" | "error", number> {
  const c = { proved: 0, tested: 0, refuted: 0, unknown: 0, error: 0 };
  for (const v of vs) c[v.status]++;
  return c;
}
