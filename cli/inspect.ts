/**
 * `saturn inspect MODEL [--json]`: IR and opsets, inputs and outputs with dtypes and shapes,
 * an op histogram, parameter count and bytes.
 * @module
 */
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadOnnx } from "../onnx/load.ts";
import { inferModel } from "../ir/infer.ts";
import { modelStats } from "../ir/stats.ts";
import { dtypeName } from "../ir/dtype.ts";
import { formatType, type ValueType } from "../ir/types.ts";
import type { CliIO } from "./io.ts";

function typeJson(t: ValueType | undefined): unknown {
  if (!t) return null;
  if (t.kind === "tensor") return { dtype: dtypeName(t.dtype), shape: t.shape ?? null };
  return { kind: t.kind, type: formatType(t, dtypeName) };
}

function human(bytes: number): string {
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (bytes >= 1024 && i < u.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** Run the command; returns the exit code. */
export function inspectCommand(args: string[], io: CliIO): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) throw new SaturnError("BAD_ARGUMENT", "inspect takes one model path");
  const file = positionals[0];
  const model = loadOnnx(file);
  const inf = inferModel(model);
  const stats = modelStats(model);
  const g = model.graph;
  const feeds = g.inputs.filter((i) => !g.initializers.has(i.name));
  const valuesTotal = g.nodes.reduce((n, node) => n + node.outputs.filter((o) => o).length, 0);
  const typed = g.nodes.reduce(
    (n, node) =>
      n +
      node.outputs.filter((o) =>
        o && inf.types.get(o)?.kind === "tensor" && (inf.types.get(o) as { shape?: unknown }).shape
      ).length,
    0,
  );
  const report = {
    file,
    irVersion: model.irVersion,
    opsets: Object.fromEntries(model.opsetImports.map((o) => [o.domain || "ai.onnx", o.version])),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" ") || null,
    inputs: feeds.map((i) => ({ name: i.name, ...(typeJson(inf.types.get(i.name) ?? i.type) as object) })),
    outputs: g.outputs.map((o) => ({ name: o.name, ...(typeJson(inf.types.get(o.name) ?? o.type) as object) })),
    nodes: stats.nodes,
    ops: stats.ops,
    parameters: stats.parameters,
    parameterBytes: stats.parameterBytes,
    initializers: g.initializers.size,
    shapesInferred: { values: valuesTotal, withShape: typed },
    warnings: inf.warnings,
  };
  if (values.json) {
    io.json(report, 1);
    return 0;
  }
  const fmt = (t: ValueType | undefined) => formatType(t, dtypeName);
  io.out(`${file}`);
  io.out(
    `  IR ${report.irVersion}, opsets ${Object.entries(report.opsets).map(([d, v]) => `${d} ${v}`).join(", ")}${
      report.producer ? `, from ${report.producer}` : ""
    }`,
  );
  io.out(`  inputs:`);
  for (const i of feeds) io.out(`    ${i.name}: ${fmt(inf.types.get(i.name) ?? i.type)}`);
  io.out(`  outputs:`);
  for (const o of g.outputs) io.out(`    ${o.name}: ${fmt(inf.types.get(o.name) ?? o.type)}`);
  io.out(`  ${stats.nodes} nodes: ${Object.entries(stats.ops).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  io.out(
    `  ${stats.parameters.toLocaleString("en-US")} parameters in ${g.initializers.size} initializers (${
      human(stats.parameterBytes)
    })`,
  );
  io.out(`  shapes inferred for ${typed} of ${valuesTotal} values`);
  for (const w of inf.warnings) io.out(`  warning: ${w}`);
  return 0;
}
