/**
 * Writes CONFORMANCE.md: totals and the per-op table of the reference interpreter over the
 * ONNX backend tests — DIR, else `$SATURN_ONNX_TESTS`: a copy of the ONNX repository's
 * `onnx/backend/test/data` (v1.22), holding `node/`, `simple/`, `pytorch-operator/`.
 *
 *   deno run -A conformance/table.ts [DIR]
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { perOp, runConformance } from "./runner.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const tests = Deno.args[0] ?? Deno.env.get("SATURN_ONNX_TESTS");
if (!tests) {
  console.error(
    "conformance/table.ts: give the folder of ONNX backend tests (onnx/backend/test/data, v1.22) as DIR or in SATURN_ONNX_TESTS",
  );
  Deno.exit(2);
}
const report = runConformance(["node", "simple", "pytorch-operator"].map((s) => path.join(tests, s)));
const pct = (100 * report.passed / report.total).toFixed(1);
const lines = [
  "# Conformance of the reference interpreter",
  "",
  `ONNX 1.22 backend tests (\`node/\`, \`simple/\`, \`pytorch-operator/\`), ${
    new Date().toISOString().slice(0, 10)
  }, Deno ${Deno.version.deno}:`,
  `**${report.passed} passed, ${report.failed} failed, ${report.unsupported} unsupported of ${report.total} (${pct}% pass).**`,
  "Tolerances: rtol 1e-3, atol 1e-7; NaN equals NaN. `*_expanded` tests count under the op they expand.",
  "",
  "## Not passing",
  "",
  "| test | status | reason |",
  "| --- | --- | --- |",
  ...report.tests.filter((t) => t.status !== "passed").map((t) =>
    `| ${t.name} | ${t.status} | ${(t.reason ?? "").replaceAll("|", "\\|").slice(0, 160)} |`
  ),
  "",
  "## Per op",
  "",
  "| op | passed | failed | unsupported |",
  "| --- | ---: | ---: | ---: |",
  ...[...perOp(report)].map(([op, [p, f, u]]) => `| ${op} | ${p} | ${f} | ${u} |`),
  "",
];
Deno.writeTextFileSync(path.join(root, "CONFORMANCE.md"), lines.join("\n"));
console.log(`CONFORMANCE.md: ${report.passed}/${report.total} passed (${pct}%)`);
