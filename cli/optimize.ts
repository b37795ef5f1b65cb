/**
 * `saturn optimize MODEL [-o OUT] [--rules FILE…] [--without PACK…] [--time-limit S]
 * [--node-limit N] [--extract greedy|ilp] [--check] [--json]`.
 *
 * Writes MODEL.opt.onnx beside the input by default (never over it, atomically). With
 * `--check`, original and optimized run on seeded random inputs first; on a mismatch nothing
 * is written and the exit code is 3.
 * @module
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadOnnx, saveOnnx } from "../onnx/load.ts";
import { optimize, OPTIMIZE_DEFAULTS, type OptimizeResult } from "../optimize/verified.ts";
import { checkEquivalent } from "../verify/check.ts";
import { type CliIO, progress } from "./io.ts";

function sum(h: Record<string, number>): number {
  return Object.values(h).reduce((a, b) => a + b, 0);
}

/** Run the command; returns the exit code. */
export async function optimizeCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      rules: { type: "string", multiple: true },
      without: { type: "string", multiple: true },
      "time-limit": { type: "string", default: String(OPTIMIZE_DEFAULTS.timeLimitMs / 1000) },
      "node-limit": { type: "string", default: String(OPTIMIZE_DEFAULTS.nodeLimit) },
      extract: { type: "string", default: OPTIMIZE_DEFAULTS.extract },
      check: { type: "boolean", default: false },
      "trust-rules": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new SaturnError("BAD_ARGUMENT", "optimize takes one model path");
  const timeLimit = Number(values["time-limit"]), nodeLimit = Number(values["node-limit"]);
  if (!(timeLimit > 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--time-limit ${values["time-limit"]}: not a positive number of seconds`);
  }
  if (!(Number.isInteger(nodeLimit) && nodeLimit > 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--node-limit ${values["node-limit"]}: not a positive integer`);
  }
  if (values.extract !== "greedy" && values.extract !== "ilp") {
    throw new SaturnError("BAD_ARGUMENT", `--extract ${values.extract}: expected greedy or ilp`);
  }
  const file = positionals[0];
  const out = values.output ?? file.replace(/\.onnx$/i, "") + ".opt.onnx";
  if (path.resolve(out) === path.resolve(file)) {
    throw new SaturnError("BAD_ARGUMENT", `refusing to write over the input ${file}`);
  }
  const outDir = path.dirname(path.resolve(out));
  let dirOk = false;
  try {
    dirOk = Deno.statSync(outDir).isDirectory;
  } catch { /* reported below */ }
  if (!dirOk) throw new SaturnError("BAD_ARGUMENT", `-o ${out}: folder ${outDir} does not exist`);
  const model = loadOnnx(file);
  const bar = values.json ? undefined : progress(io, "optimize");
  let result: OptimizeResult;
  try {
    result = await optimize(model, {
      without: values.without ?? [],
      ruleFiles: values.rules ?? [],
      trustRules: values["trust-rules"],
      nodeLimit,
      timeLimitMs: timeLimit * 1000,
      extract: values.extract,
      onProgress: (p) =>
        bar?.update(
          p.phase === "verify"
            ? `verifying rule ${p.done + 1}/${p.total} ${p.rule}`
            : `iteration ${p.iteration.iteration}: ${p.iteration.nodes} e-nodes, ${p.iteration.applied} rewrites`,
        ),
    });
  } finally {
    bar?.clear();
  }
  const { model: final, report: r, verification: gate } = result;
  // never a refuted rule; an unverified user rule only with --trust-rules
  for (const { rule, status, reason } of gate.skipped) {
    const trust = status === "unknown" ? "; --trust-rules applies it anyway" : "";
    io.err(`saturn: not applying rule ${rule.name} (${rule.file ?? rule.pack}:${rule.line ?? 1}): ${reason}${trust}`);
  }
  let check: Awaited<ReturnType<typeof checkEquivalent>> | undefined;
  const tmp = `${out}.tmp-check-${Deno.pid}.onnx`;
  if (values.check) {
    saveOnnx(final, tmp);
    try {
      check = await checkEquivalent({ file, model }, { file: tmp, model: final });
    } finally {
      try {
        Deno.removeSync(tmp);
      } catch { /* already gone */ }
    }
    if (check.mismatches.length) {
      const m = check.mismatches[0];
      io.err(
        `saturn: optimized model differs from the original at output '${m.output}' (seed ${m.seed}): ${m.reason}; nothing written`,
      );
      return 3;
    }
  }
  saveOnnx(final, out);
  const fired = [...r.run.rules].filter(([, s]) => s.applied > 0).sort((a, b) => b[1].applied - a[1].applied);
  if (values.json) {
    io.json({
      input: file,
      output: out,
      nodesBefore: sum(r.nodesBefore),
      nodesAfter: sum(r.nodesAfter),
      opsBefore: r.nodesBefore,
      opsAfter: r.nodesAfter,
      costBefore: r.costBefore,
      costAfter: r.costAfter,
      rules: Object.fromEntries(fired.map(([n, s]) => [n, s.applied])),
      eclasses: r.eclasses,
      enodes: r.enodes,
      stopReason: r.run.stopReason,
      iterations: r.run.iterations.length,
      extraction: r.extraction,
      ms: { ...r.ms, verify: gate.ms },
      verification: {
        applied: gate.applied.length,
        skipped: gate.skipped.map((x) => ({ rule: x.rule.name, reason: x.reason })),
        verifiedNow: gate.verifiedNow.map((v) => ({ rule: v.name, status: v.status })),
        trusted: gate.trusted,
      },
      check: check ? { passed: true, seeds: check.seeds, executors: check.executors } : null,
    });
    return 0;
  }
  const fmtOps = (h: Record<string, number>) => Object.entries(h).map(([k, v]) => `${k} ${v}`).join(", ");
  io.out(`${file} → ${out}`);
  io.out(`  nodes: ${sum(r.nodesBefore)} → ${sum(r.nodesAfter)}`);
  io.out(`    before: ${fmtOps(r.nodesBefore)}`);
  io.out(`    after:  ${fmtOps(r.nodesAfter)}`);
  io.out(`  estimated cost (${result.costName}, µs): ${r.costBefore.toFixed(1)} → ${r.costAfter.toFixed(1)}`);
  io.out(`  rules fired: ${fired.length ? fired.map(([n, s]) => `${n} ×${s.applied}`).join(", ") : "none"}`);
  io.out(
    `  e-graph: ${r.eclasses} classes, ${r.enodes} nodes; stop: ${r.run.stopReason.kind} after ${r.run.iterations.length} iterations`,
  );
  io.out(`  extraction: ${r.extraction}${r.extractionNote ? ` (${r.extractionNote})` : ""}`);
  const now = gate.verifiedNow.length ? `, ${gate.verifiedNow.length} verified now` : "";
  const trusted = gate.trusted.length ? `, ${gate.trusted.length} trusted unverified` : "";
  io.out(`  rules: ${gate.applied.length} applied, ${gate.skipped.length} refused${now}${trusted}`);
  io.out(
    `  time: verify ${gate.ms.toFixed(0)} ms, build ${r.ms.build.toFixed(0)} ms, saturate ${
      r.ms.saturate.toFixed(0)
    } ms, extract ${r.ms.extract.toFixed(0)} ms`,
  );
  if (check) {
    io.out(
      `  check: outputs match on seeds ${
        check.seeds.join(", ")
      } (${check.executors.original} vs ${check.executors.optimized}, atol 1e-4, rtol 1e-3)`,
    );
  }
  return 0;
}
