/**
 * Saturn's command line: a thin shell over the library. Every command accepts `--json`.
 *
 *   deno run -A cli.ts inspect MODEL
 *   deno run -A cli.ts run MODEL [--backend webgpu|ref] [--inputs FILE.json] [--seed N] [--dim NAME=N|INPUT:AXIS=N…] [--compare ort|ref] [--f16]
 *   deno run -A cli.ts optimize MODEL [-o OUT] [--rules FILE…] [--without PACK…] [--check [--dim …] [--inputs FILE.json]]
 *   deno run -A cli.ts verify [FILE…] [--all] [--json]
 *   deno run -A cli.ts compile MODEL -o DIR [--f16]
 *   deno run -A cli.ts bench MODEL [--vs ortweb,ort] [--iters N] [--f16] [--profile]
 *   deno run -A cli.ts conformance DIR… [--backend ref|webgpu]
 *
 * Errors a user can cause print one line and exit 2 (stack traces with `--debug`).
 * @module
 */
import { SaturnError } from "./errors.ts";
import { cliMessage, processIO } from "./cli/io.ts";

/** Each command's usage, as `saturn CMD --help` prints it; the overview lists them all. */
const COMMANDS: Record<string, string> = {
  optimize: `optimize MODEL [-o OUT] [--rules FILE…] [--without PACK…] [--time-limit S] [--node-limit N]
           [--extract greedy|ilp] [--check [--dim NAME=N|INPUT:AXIS=N…] [--inputs F.json]] [--json]   rewrite by equality saturation; writes MODEL.opt.onnx`,
  inspect: "inspect MODEL [--json]                       IR, opsets, inputs/outputs, op histogram, parameters",
  run:
    "run MODEL [--backend webgpu|ref] [--inputs F.json] [--seed N] [--dim NAME=N|INPUT:AXIS=N…] [--compare ort|ref] [--f16] [--profile] [--json]",
  compile:
    "compile MODEL -o DIR [--dim name=N…] [--f16]  a standalone ES module (WGSL + plan) and a weights file; needs only WebGPU",
  bench:
    "bench MODEL [--vs ortweb,ort] [--iters N] [--f16] [--profile] [--json]   latency: Saturn vs ONNX Runtime Web vs ORT CPU",
  verify:
    "verify [FILE…] [--all] [--json]             verdicts for rules (proved/tested/refuted/unknown); exit 1 on a refuted rule",
  calibrate:
    "calibrate [--target ort|webgpu] [--budget S] [--threads N] [-o FILE] [--json]   measure this machine, train the learned cost model",
  conformance: "conformance DIR… [--backend ref|webgpu] [--filter RE] [--json]   runs folders of ONNX backend tests",
};

const USAGE = `usage: saturn <command> [options]   (saturn <command> --help for one command)
commands:
${Object.values(COMMANDS).map((u) => `  ${u}`).join("\n")}
options: --debug (stack traces)`;

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  const io = processIO();
  const [cmd, ...rest] = args;
  if (cmd !== undefined && cmd in COMMANDS && (rest.includes("--help") || rest.includes("-h"))) {
    for (const l of `usage: saturn ${COMMANDS[cmd]}\noptions: --debug (stack traces)`.split("\n")) io.out(l);
    return 0;
  }
  try {
    switch (cmd) {
      case "inspect":
        return (await import("./cli/inspect.ts")).inspectCommand(rest, io);
      case "run":
        return await (await import("./cli/run.ts")).runCommand(rest, io);
      case "optimize":
        return await (await import("./cli/optimize.ts")).optimizeCommand(rest, io);
      case "compile":
        return (await import("./cli/compile.ts")).compileCommand(rest, io);
      case "bench":
        return await (await import("./cli/bench.ts")).benchCommand(rest, io);
      case "verify":
        return await (await import("./cli/verify.ts")).verifyCommand(rest, io);
      case "calibrate":
        return await (await import("./cli/calibrate.ts")).calibrateCommand(rest, io);
      case "conformance":
        return await (await import("./cli/conformance.ts")).conformanceCommand(rest, io);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        for (const l of USAGE.split("\n")) io.out(l);
        return cmd === undefined ? 2 : 0;
      default:
        for (const l of `saturn: unknown command '${cmd}'\n${USAGE}`.split("\n")) io.err(l);
        return 2;
    }
  } catch (e) {
    // io escapes each line: a stack trace quotes names from the model too
    if (debug) { for (const l of Deno.inspect(e).split("\n")) io.err(l); }
    if (e instanceof SaturnError) {
      io.err(`saturn: ${cliMessage(e)}`);
      return 2;
    }
    // parseArgs errors (unknown option, missing value) are the user's too
    if (e instanceof TypeError && "code" in e && String((e as { code: unknown }).code).startsWith("ERR_PARSE_ARGS")) {
      io.err(`saturn: ${e.message}`);
      return 2;
    }
    io.err(`saturn: internal error: ${e instanceof Error ? e.message : String(e)} (rerun with --debug for details)`);
    return 70;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
