/**
 * `saturn conformance DIR… [--backend ref|webgpu] [--filter RE] [--json]`: each DIR is a folder
 * of ONNX backend tests (the ONNX repository's `onnx/backend/test/data`, or one of its `node/`,
 * `simple/`, … folders); there is no default. `--backend webgpu` runs the tests through WebGPU:
 * tests of ops the backend lacks are unsupported, never failed.
 * @module
 */
import { parseArgs } from "node:util";
import { type ConformanceOptions, type ConformanceReport, perOp, runConformance } from "../conformance/runner.ts";
import { SaturnError } from "../errors.ts";
import { type CliIO, progress } from "./io.ts";

/** Run the command; returns the exit code (1 when any test failed). WebGPU runs resolve asynchronously. */
export function conformanceCommand(args: string[], io: CliIO): number | Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      backend: { type: "string", default: "ref" },
      filter: { type: "string" },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", short: "v", default: false },
    },
  });
  if (values.backend !== "ref" && values.backend !== "webgpu") {
    throw new SaturnError("BAD_ARGUMENT", `--backend ${values.backend}: expected ref or webgpu`);
  }
  let filter: RegExp | undefined;
  try {
    filter = values.filter ? new RegExp(values.filter) : undefined;
  } catch {
    throw new SaturnError("BAD_ARGUMENT", `--filter ${values.filter}: not a regular expression`);
  }
  if (!positionals.length) {
    throw new SaturnError(
      "BAD_ARGUMENT",
      "conformance needs the folder of ONNX backend tests (onnx/backend/test/data in the ONNX repository): saturn conformance DIR…",
    );
  }
  const dirs = positionals;
  const bar = values.json ? undefined : progress(io, "conformance");
  const opts: ConformanceOptions = {
    filter,
    onResult: (r, done, total) => {
      if (values.verbose || (r.status === "failed" && !values.json)) {
        bar?.clear();
        io.out(`${r.status.padEnd(11)} ${r.name}${r.reason ? `  — ${r.reason}` : ""}`);
      }
      bar?.update(`${done}/${total} ${r.name}`);
    },
  };
  const finish = (report: ConformanceReport): number => {
    bar?.clear();
    return printReport(report, values.json, io);
  };
  if (values.backend === "webgpu") {
    return import("../webgpu/conformance.ts").then((m) => m.runConformanceGpu(dirs, opts)).then(finish, (e) => {
      // cli.ts does not await this promise inside its try: report the user's errors here
      if (!(e instanceof SaturnError)) throw e;
      bar?.clear();
      io.err(`saturn: ${e.message}`);
      return 2;
    });
  }
  return finish(runConformance(dirs, opts));
}

function printReport(report: ConformanceReport, json: boolean, io: CliIO): number {
  if (json) {
    io.json({
      passed: report.passed,
      failed: report.failed,
      unsupported: report.unsupported,
      total: report.total,
      ops: Object.fromEntries(
        [...perOp(report)].map(([op, [p, f, u]]) => [op, { passed: p, failed: f, unsupported: u }]),
      ),
      tests: report.tests,
    });
  } else {
    io.out("op                               passed failed unsupported");
    for (const [op, [p, f, u]] of perOp(report)) {
      io.out(`${op.padEnd(32)} ${String(p).padStart(6)} ${String(f).padStart(6)} ${String(u).padStart(11)}`);
    }
    const pct = report.total ? (100 * report.passed / report.total).toFixed(1) : "0";
    io.out(
      `total: ${report.passed} passed, ${report.failed} failed, ${report.unsupported} unsupported of ${report.total} (${pct}% pass)`,
    );
  }
  return report.failed > 0 ? 1 : 0;
}
