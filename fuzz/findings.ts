/**
 * Findings on disk: each one a minimized `.onnx` and a `.json` note beside it (the run seed and
 * graph index that reproduce it, the stage, the kind, the message, the feeds), so that a bug can be
 * replayed with `saturn run`, ONNX Runtime or a regression test.
 * @module
 */
import { join } from "node:path";
import { toNumbers } from "../ir/tensor.ts";
import { dtypeName } from "../ir/dtype.ts";
import { encodeModel } from "../onnx/encode.ts";
import type { Outcome, Stage } from "./pipeline.ts";
import type { Case } from "./shrink.ts";

/** One failure the fuzzer found, before and after shrinking. */
export interface Finding {
  /** The run's seed and the graph's index in the run: `fuzz/main.ts --seed S --graph I` replays it. */
  seed: number;
  graph: number;
  stage: Stage;
  outcome: Exclude<Outcome, { kind: "ok" } | { kind: "unsupported" } | { kind: "divergent" }>;
  /** The graph as generated, and as shrunk. */
  original: Case;
  shrunk: Case;
  /** Candidates the shrinker tried. */
  tries: number;
}

/** A finding's file stem: `s<seed>-g<graph>-<stage>-<kind>`. */
export function findingName(f: Finding): string {
  return `s${f.seed}-g${f.graph}-${f.stage}-${f.outcome.kind}`;
}

/**
 * Write `f` into `dir` (made if absent): `<name>.onnx` (shrunk), `<name>.original.onnx` and `<name>.json`.
 * @returns the path of the note
 */
export function writeFinding(dir: string, f: Finding): string {
  Deno.mkdirSync(dir, { recursive: true });
  const stem = join(dir, findingName(f));
  Deno.writeFileSync(`${stem}.onnx`, encodeModel(f.shrunk.model).bytes);
  Deno.writeFileSync(`${stem}.original.onnx`, encodeModel(f.original.model).bytes);
  const g = f.shrunk.model.graph;
  const note = {
    seed: f.seed,
    graph: f.graph,
    replay: `deno run -A fuzz/main.ts --seed ${f.seed} --graph ${f.graph}`,
    stage: f.stage,
    kind: f.outcome.kind,
    message: f.outcome.message,
    opset: f.shrunk.model.opsetImports.find((o) => o.domain === "")?.version,
    nodes: g.nodes.map((n) => ({
      op: n.opType,
      inputs: n.inputs,
      outputs: n.outputs,
      attributes: Object.fromEntries(n.attributes.map((a) => [a.name, a.value])),
    })),
    originalNodes: f.original.model.graph.nodes.length,
    shrinkTries: f.tries,
    feeds: Object.fromEntries(
      [...f.shrunk.feeds].map(([k, t]) => [k, { dtype: dtypeName(t.dtype), shape: t.dims, data: [...toNumbers(t)] }]),
    ),
  };
  // NaN and infinities are written as strings, which JSON would turn into null
  const json = JSON.stringify(note, (_k, v) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v, 2);
  Deno.writeTextFileSync(`${stem}.json`, json + "\n");
  return `${stem}.json`;
}
