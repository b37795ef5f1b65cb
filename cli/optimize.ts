/**
 * `saturn optimize MODEL [-o OUT] [--rules FILE…] [--without PACK…] [--time-limit S]
 * [--node-limit N] [--extract greedy|ilp] [--quant int8|int4 [--block N] [--accuracy-budget X]] [--check [--dim NAME=N | INPUT:AXIS=N…] [--inputs F.json]] [--json]
 * [--target ort|webgpu] [--cost learned|measured|analytic] [--measure] [--bench] [--no-guard]`.
 *
 * Writes MODEL.opt.onnx beside the input by default (never over it, atomically). With
 * `--check`, original and optimized run on the same inputs first — those `--inputs` gives, seeded
 * random ones for the rest, symbolic dims sized by `--dim` as `saturn run` takes them; on a
 * mismatch nothing is written and the exit code is 3. With `--quant`, weights are quantized after
 * the rules, layer by layer within the accuracy budget (`optimize/quantize.ts`), and the report
 * gives each layer's bytes and measured error; a quantized model is held to that budget, not to
 * equal outputs, so `--check` and `--quant` do not go together.
 *
 * `--target` picks the runtime the output is for (rule packs and costs), `--cost` how candidates
 * are priced, `--measure` measures every candidate on this machine first (cached). The measured
 * guard (the library's, `optimize/guard.ts`) times input and output on target `ort` and never
 * writes a slower output; `--no-guard` skips it, `--bench` prints both latencies and the speed-up
 * (`--dim` and `--inputs` size their inputs too).
 * @module
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { readFileOrFail, saveOnnx } from "../onnx/load.ts";
import { optimize, OPTIMIZE_DEFAULTS, type OptimizeResult } from "../optimize/verified.ts";
import { COST_NAMES, type CostName } from "../optimize/target_cost.ts";
import type { GuardReport } from "../optimize/guard.ts";
import { parseTarget } from "../rules/targets.ts";
import { QUANT_DEFAULTS, type QuantReport } from "../optimize/quantize.ts";
import { checkEquivalent, type CheckOptions } from "../verify/check.ts";
import { checkDimNames, inputsFromJson } from "../verify/inputs.ts";
import type { Model } from "../ir/graph.ts";
import { describeTolerances } from "../conformance/compare.ts";
import { type CliIO, parseDims, progress } from "./io.ts";
import { loadInput, refuseOverwrite } from "./output_guard.ts";
import { deferInterrupts, releaseTemp, trackTemp } from "./temp_files.ts";

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
      dim: { type: "string", multiple: true },
      inputs: { type: "string" },
      "trust-rules": { type: "boolean", default: false },
      quant: { type: "string" },
      block: { type: "string" },
      "accuracy-budget": { type: "string" },
      json: { type: "boolean", default: false },
      target: { type: "string", default: OPTIMIZE_DEFAULTS.target },
      cost: { type: "string", default: OPTIMIZE_DEFAULTS.cost },
      measure: { type: "boolean", default: false },
      bench: { type: "boolean", default: false },
      "no-guard": { type: "boolean", default: false },
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
  const quant = quantOptions(values);
  const file = positionals[0];
  const out = values.output ?? file.replace(/\.onnx$/i, "") + ".opt.onnx";
  const outDir = path.dirname(path.resolve(out));
  let dirOk = false;
  try {
    dirOk = Deno.statSync(outDir).isDirectory;
  } catch { /* reported below */ }
  if (!dirOk) throw new SaturnError("BAD_ARGUMENT", `-o ${out}: folder ${outDir} does not exist`);
  // never over the input: its model file or any of its external-data files, links resolved
  const { model, files: used } = loadInput(file);
  refuseOverwrite(used, file, [out]);
  const guard = (files: string[]) => refuseOverwrite(used, file, files);
  const checkOpts = checkOptions(model, values);
  const target = parseTarget(values.target);
  if (!(COST_NAMES as readonly string[]).includes(values.cost)) {
    throw new SaturnError("BAD_ARGUMENT", `--cost ${values.cost}: expected ${COST_NAMES.join(", ")}`);
  }
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
      target,
      cost: values.cost as CostName,
      measure: values.measure,
      bench: values.bench,
      guard: values["no-guard"] ? false : undefined,
      dims: namedDims(checkOpts.dims),
      guardInputs: checkOpts.inputs,
      quant,
      onProgress: (p) =>
        bar?.update(
          p.phase === "verify"
            ? `verifying rule ${p.done + 1}/${p.total} ${p.rule}`
            : p.phase === "saturate"
            ? `iteration ${p.iteration.iteration}: ${p.iteration.nodes} e-nodes, ${p.iteration.applied} rewrites`
            : p.phase === "measure"
            ? `measuring node ${p.done}/${p.total} on ${target}`
            : `timing input and output on ${target}`,
        ),
    });
  } finally {
    bar?.clear();
  }
  const { model: final, report: r, verification: gate } = result;
  // never a refuted rule; an unverified user rule only with --trust-rules
  for (const { rule, status, reason } of gate.skipped) {
    if (status === "unverified") continue;
    const trust = status === "unknown" ? "; --trust-rules applies it anyway" : "";
    io.err(`saturn: not applying rule ${rule.name} (${rule.file ?? rule.pack}:${rule.line ?? 1}): ${reason}${trust}`);
  }
  const late = gate.skipped.filter((s) => s.status === "unverified");
  if (late.length) {
    io.err(
      `saturn: ${late.length} rules not applied: not verified within --time-limit ${timeLimit} s (${gate.verifiedNow.length} verified now and cached; run again to go on, or raise --time-limit)`,
    );
  }
  let check: Awaited<ReturnType<typeof checkEquivalent>> | undefined;
  const tmp = `${out}.tmp-check-${Deno.pid}.onnx`;
  if (values.check) {
    // the temporary model and its external data, if any, are removed however this ends (interrupts too)
    let written: string[] = [];
    saveOnnx(final, tmp, {
      beforeWrite: (files) => {
        guard(files);
        written = files;
        for (const f of files) trackTemp(f);
      },
    });
    try {
      check = await checkEquivalent({ file, model }, { file: tmp, model: final }, checkOpts);
    } finally {
      for (const f of written) {
        try {
          Deno.removeSync(f);
        } catch { /* already gone */ }
        releaseTemp(f);
      }
    }
    if (check.mismatches.length) {
      const m = check.mismatches[0];
      const at = m.output ? ` at output '${m.output}'` : "";
      io.err(`saturn: optimized model differs from the original${at} (seed ${m.seed}): ${m.reason}; nothing written`);
      return 3;
    }
  }
  // an interrupt now waits for the atomic save to finish: no temporary file of it is left behind
  saveOnnx(final, out, {
    beforeWrite: (files) => {
      guard(files);
      deferInterrupts();
    },
  });
  const fired = [...r.run.rules].filter(([, s]) => s.applied > 0).sort((a, b) => b[1].applied - a[1].applied);
  if (values.json) {
    io.json({
      input: file,
      output: out,
      nodesBefore: sum(r.nodesBefore),
      nodesAfter: sum(r.nodesAfter),
      subgraphs: r.subgraphs ?? null,
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
      target,
      cost: result.costName,
      guard: result.guard ?? null,
      ms: { ...r.ms, verify: gate.ms },
      verification: {
        applied: gate.applied.length,
        skipped: gate.skipped.map((x) => ({ rule: x.rule.name, reason: x.reason })),
        verifiedNow: gate.verifiedNow.map((v) => ({ rule: v.name, status: v.status })),
        trusted: gate.trusted,
      },
      quant: result.quant
        ? { ...result.quant, fileBytesBefore: Deno.statSync(file).size, fileBytesAfter: Deno.statSync(out).size }
        : null,
      check: check
        ? {
          passed: true,
          seeds: check.seeds,
          executors: check.executors,
          inputs: check.inputs,
          tolerances: check.tolerances,
        }
        : null,
    });
    return 0;
  }
  const fmtOps = (h: Record<string, number>) => Object.entries(h).map(([k, v]) => `${k} ${v}`).join(", ");
  io.out(`${file} → ${out}`);
  io.out(`  nodes: ${sum(r.nodesBefore)} → ${sum(r.nodesAfter)}`);
  io.out(`    before: ${fmtOps(r.nodesBefore)}`);
  io.out(`    after:  ${fmtOps(r.nodesAfter)}`);
  const b = r.subgraphs;
  if (b) {
    io.out(
      `  bodies (If/Loop/Scan): ${b.optimized} of ${b.bodies} optimized, ${b.nodesBefore} → ${b.nodesAfter} nodes`,
    );
  }
  io.out(`  estimated cost (${result.costName}, µs): ${r.costBefore.toFixed(1)} → ${r.costAfter.toFixed(1)}`);
  io.out(`  rules fired: ${fired.length ? fired.map(([n, s]) => `${n} ×${s.applied}`).join(", ") : "none"}`);
  io.out(
    `  e-graph: ${r.eclasses} classes, ${r.enodes} nodes; stop: ${r.run.stopReason.kind} after ${r.run.iterations.length} iterations`,
  );
  io.out(`  extraction: ${r.extraction}${r.extractionNote ? ` (${r.extractionNote})` : ""}`);
  if (result.guard) io.out(`  ${guardLine(result.guard, target, values.bench)}`);
  const now = gate.verifiedNow.length ? `, ${gate.verifiedNow.length} verified now` : "";
  const trusted = gate.trusted.length ? `, ${gate.trusted.length} trusted unverified` : "";
  io.out(`  rules: ${gate.applied.length} applied, ${gate.skipped.length} refused${now}${trusted}`);
  io.out(
    `  time: verify ${gate.ms.toFixed(0)} ms, build ${r.ms.build.toFixed(0)} ms, saturate ${
      r.ms.saturate.toFixed(0)
    } ms, extract ${r.ms.extract.toFixed(0)} ms`,
  );
  if (result.quant) { for (const l of quantLines(result.quant, file, out)) io.out(l); }
  if (check) {
    const tols = describeTolerances(check.tolerances);
    const { given, defaultsFed } = check.inputs;
    const from = [
      given.length ? `${given.join(", ")} from ${values.inputs}` : "",
      defaultsFed.length
        ? `defaults of ${defaultsFed.join(", ")} replaced on seed ${check.seeds.slice(1).join(", ")}`
        : "",
    ].filter((x) => x).join("; ");
    const seeds = check.seeds.join(", ");
    const ex = `${check.executors.original} vs ${check.executors.optimized}`;
    io.out(`  check: outputs match on seeds ${seeds}${from ? `, with ${from}` : ""} (${ex}, ${tols})`);
  }
  return 0;
}

/** `--quant`, `--block` and `--accuracy-budget` as the library's quantization options. */
function quantOptions(values: { quant?: string; block?: string; "accuracy-budget"?: string; check?: boolean }) {
  if (values.quant === undefined) {
    if (values.block !== undefined || values["accuracy-budget"] !== undefined) {
      throw new SaturnError("BAD_ARGUMENT", "--block and --accuracy-budget set how --quant quantizes: add --quant");
    }
    return undefined;
  }
  if (values.quant !== "int8" && values.quant !== "int4") {
    throw new SaturnError("BAD_ARGUMENT", `--quant ${values.quant}: expected int8 or int4`);
  }
  if (values.check) {
    throw new SaturnError(
      "BAD_ARGUMENT",
      "--check asks for the same outputs, --quant for outputs within --accuracy-budget: use one",
    );
  }
  const block = values.block === undefined ? QUANT_DEFAULTS.block : Number(values.block);
  if (![16, 32, 64, 128, 256].includes(block)) {
    throw new SaturnError("BAD_ARGUMENT", `--block ${values.block}: expected 16, 32, 64, 128 or 256`);
  }
  if (values.block !== undefined && values.quant === "int8") {
    throw new SaturnError("BAD_ARGUMENT", "--block sets int4 blocks; int8 is per output channel");
  }
  const budgetText = values["accuracy-budget"];
  const accuracyBudget = budgetText === undefined ? QUANT_DEFAULTS.accuracyBudget : Number(budgetText);
  if (!(accuracyBudget >= 0 && accuracyBudget < 1) || budgetText?.trim() === "") {
    throw new SaturnError(
      "BAD_ARGUMENT",
      `--accuracy-budget ${budgetText}: expected a number in [0, 1) (the largest 1 − cosine similarity accepted)`,
    );
  }
  return { precision: values.quant, block, accuracyBudget } as const;
}

/** The report of `--quant`: per layer what was quantized, bytes and measured error; the file sizes. */
function quantLines(q: QuantReport, file: string, out: string): string[] {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const before = Deno.statSync(file).size, after = Deno.statSync(out).size;
  const done = q.layers.filter((l) => l.quantized);
  const lines = [
    `  quant ${q.precision}${
      q.precision === "int4" ? ` (block ${q.block})` : ""
    }: ${done.length} of ${q.layers.length} layers quantized; budget 1 − cosine ≤ ${q.accuracyBudget}`,
  ];
  const w = Math.max(6, ...q.layers.map((l) => l.weight.length));
  for (const l of q.layers) {
    const err = Number.isNaN(l.cosine)
      ? "not measured"
      : `cosine ${l.cosine.toFixed(5)}, max rel err ${l.maxRelError.toExponential(2)}`;
    const what = l.quantized ? `${l.rule}${l.reason ? ` (${l.reason})` : ""}` : `float (${l.reason})`;
    lines.push(
      `    ${l.weight.padEnd(w)}  ${l.op.padEnd(6)}  ${kb(l.bytesBefore).padStart(10)} → ${
        kb(l.quantized ? l.bytesAfter : l.bytesBefore).padStart(10)
      }  ${err}  ${what}`,
    );
  }
  for (const o of q.outputs) {
    lines.push(
      `    output ${o.output}: cosine ${o.cosine.toFixed(5)}, max rel err ${
        o.maxRelError.toExponential(2)
      } (${q.measuredOn}, seeds ${q.seeds.join(", ")})`,
    );
  }
  if (!q.withinBudget) lines.push(`    warning: the quantized graph's outputs are over the budget (measured above)`);
  lines.push(
    `    weights ${kb(q.bytesBefore)} → ${kb(q.bytesAfter)}; file ${kb(before)} → ${kb(after)} (${
      (before / after).toFixed(2)
    }× smaller)`,
  );
  return lines;
}

/** Sizes of symbolic dims by name (`--dim NAME=N`; `INPUT:AXIS=N` sizes only the inputs drawn). */
function namedDims(dims: CheckOptions["dims"]): Record<string, number> | undefined {
  if (!dims) return undefined;
  return Object.fromEntries(Object.entries(dims).filter(([k, v]) => !k.includes(":") && typeof v === "number"));
}

/** The guard's (or `--bench`'s) line: both latencies, the speed-up, what the guard did. */
function guardLine(g: GuardReport, target: string, bench: boolean): string {
  const on = target === "ort" ? "ONNX Runtime CPU" : "WebGPU";
  if (g.action === "skipped") return `guard (${on}): not measured (${g.note ?? "no reason"})`;
  const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 3 : 1)} ms`;
  const speed = `${(g.inputUs / g.outputUs).toFixed(2)}× (noise ±${(g.tolerance * 50).toFixed(1)}%)`;
  const first = `the output was slower (×${g.firstRatio?.toFixed(3)})`;
  const did = g.action === "kept"
    ? (g.note ? `output kept (${g.note})` : "output kept")
    : g.action === "input"
    ? `${first}: the input is written unchanged`
    : `${first}: ${g.action === "re-extracted" ? "re-extracted with measured costs" : "clean-up rules only"}`;
  return `${bench ? "bench" : "guard"} (${on}): input ${ms(g.inputUs)}, output ${
    ms(g.outputUs)
  }, speed-up ${speed}; ${did}`;
}

/** `--dim` and `--inputs` as options of `checkEquivalent`; both size the inputs of `--check` only. */
function checkOptions(
  model: Model,
  values: { check?: boolean; bench?: boolean; dim?: string[]; inputs?: string },
): CheckOptions {
  if (!values.check && !values.bench) {
    if (values.dim?.length || values.inputs) {
      throw new SaturnError("BAD_ARGUMENT", "--dim and --inputs give the inputs of --check and --bench: add one");
    }
    return {};
  }
  const dims = parseDims(values.dim);
  checkDimNames(model, dims);
  if (!values.inputs) return { dims };
  const text = new TextDecoder().decode(readFileOrFail(values.inputs));
  return { dims, inputs: inputsFromJson(model, text, { file: values.inputs, partial: true }) };
}
