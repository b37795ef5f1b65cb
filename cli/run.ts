/**
 * `saturn run MODEL [--backend webgpu|ref] [--inputs FILE.json] [--seed N] [--dim NAME=N | INPUT:AXIS=N…]
 * [--compare ort|ref] [--f16] [--profile] [--json]`.
 * Runs the model on WebGPU (the default) or the reference interpreter; with `--compare ort` also
 * onnxruntime-node on the same inputs (`--compare ref`: the reference interpreter), printing each
 * output's max absolute and relative error, exit 1 beyond its element type's tolerance (float32
 * atol 1e-4 / rtol 1e-3, float16 1e-2 / 1e-2: `toleranceFor`; float16's for every float output with
 * `--f16`, which stores float tensors in half precision on the GPU). `--inputs` may give some inputs;
 * the others are drawn with `--seed`, symbolic dims sized by `--dim NAME=N` or `--dim INPUT:AXIS=N`.
 * `--profile` times each WebGPU kernel with timestamp queries and prints the slowest.
 * @module
 */
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadOnnx, readFileOrFail } from "../onnx/load.ts";
import { findUnsupported, runModel } from "../ir/interpreter.ts";
import { checkDimNames, explainFailure, inputsFromJson, randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import {
  compareTensors,
  DEFAULT_TOLERANCE,
  describeTolerances,
  errorStats,
  type Tolerance,
  toleranceFor,
} from "../conformance/compare.ts";
import { DataType, dtypeName, isFloat } from "../ir/dtype.ts";
import { Tensor, toNumbers } from "../ir/tensor.ts";
import type { Value } from "../ir/values.ts";
import type { Model } from "../ir/graph.ts";
import { type CliIO, parseDims } from "./io.ts";

/** Tolerances of `--compare` for float32 outputs (each output is judged at its element type's: `toleranceFor`). */
export const COMPARE_TOLERANCE: Tolerance = DEFAULT_TOLERANCE;
/** Tolerances of `--compare` with `--f16`: float16's, for every float output. */
export const F16_TOLERANCE: Tolerance = toleranceFor(DataType.FLOAT16);

function preview(t: Tensor): string {
  const d = t.data;
  const n = Math.min(t.size, 6);
  const vals = Array.isArray(d)
    ? d.slice(0, n).map((s) => JSON.stringify(s))
    : isFloat(t.dtype)
    ? [...toNumbers(t).slice(0, n)].map((x) => x.toPrecision(5))
    : Array.from(d as ArrayLike<number | bigint>).slice(0, n).map(String);
  return `[${vals.join(", ")}${t.size > n ? ", …" : ""}]`;
}

/** Run the command; returns the exit code. */
export async function runCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      backend: { type: "string", default: "webgpu" },
      inputs: { type: "string" },
      seed: { type: "string" },
      dim: { type: "string", multiple: true },
      compare: { type: "string" },
      profile: { type: "boolean", default: false },
      f16: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new SaturnError("BAD_ARGUMENT", "run takes one model path");
  const backend = values.backend;
  if (backend !== "ref" && backend !== "webgpu") {
    throw new SaturnError("BAD_ARGUMENT", `--backend ${backend}: expected webgpu or ref`);
  }
  if (values.compare !== undefined && values.compare !== "ort" && values.compare !== "ref") {
    throw new SaturnError("BAD_ARGUMENT", `--compare ${values.compare}: expected ort or ref`);
  }
  if (values.compare === "ref" && backend === "ref") {
    throw new SaturnError(
      "BAD_ARGUMENT",
      "--compare ref compares with the reference backend itself: use --backend webgpu",
    );
  }
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed)) throw new SaturnError("BAD_ARGUMENT", `--seed ${values.seed}: not an integer`);
  const dims = parseDims(values.dim);
  const file = positionals[0];
  const model = loadOnnx(file);
  if (backend === "ref") requireReference(model, "reference");
  checkDimNames(model, dims);
  // --inputs may give some inputs; the others are drawn with --seed
  const given = values.inputs
    ? inputsFromJson(model, new TextDecoder().decode(readFileOrFail(values.inputs)), {
      file: values.inputs,
      partial: true,
    })
    : undefined;
  const inputs = randomInputs(model, { seed, dims, given });
  const allGiven = given !== undefined && [...inputs.keys()].every((k) => given.has(k));
  // a run that fails on drawn inputs says which dims took 1 or which inputs were drawn
  const guard = async <T>(f: () => T | Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw e instanceof SaturnError ? explainFailure(e, file, model, { dims, given: new Set(given?.keys()) }) : e;
    }
  };
  let outs: Map<string, Value | undefined>;
  let ms: number;
  let device: string | undefined;
  let setupMs: number | undefined;
  let profile: { kernel: string; nodes: string[]; ms: number }[] | undefined;
  if (values.profile && backend !== "webgpu") throw new SaturnError("BAD_ARGUMENT", "--profile needs --backend webgpu");
  if (values.f16 && backend !== "webgpu") throw new SaturnError("BAD_ARGUMENT", "--f16 needs --backend webgpu");
  if (backend === "webgpu") {
    const { createSession } = await import("../webgpu/session.ts");
    const inputShapes: Record<string, number[]> = {};
    for (const [k, v] of inputs) if (v instanceof Tensor) inputShapes[k] = [...v.dims];
    const t0 = performance.now();
    const session = await guard(() =>
      createSession(model, { dims, inputShapes, profile: values.profile, f16: values.f16 })
    );
    setupMs = performance.now() - t0;
    device = session.device;
    try {
      const t1 = performance.now();
      outs = await guard(() => session.run(inputs));
      ms = performance.now() - t1;
      if (values.profile) {
        // a second run: the first one includes shader compilation on many drivers
        await session.run(inputs);
        profile = session.lastProfile;
      }
    } finally {
      session.destroy();
    }
  } else {
    const t0 = performance.now();
    outs = await guard(() => runModel(model, inputs));
    ms = performance.now() - t0;
  }
  let refOuts: Map<string, Value | undefined> | undefined;
  if (values.compare === "ref") {
    requireReference(model, "reference");
    refOuts = await guard(() => runModel(model, inputs));
  }
  const ort = values.compare === "ort" ? await guard(() => runOrt(file, inputs)) : refOuts;
  const against = values.compare === "ref" ? "the reference interpreter" : "ONNX Runtime";
  const vs = values.compare === "ref" ? "ref" : "ort";
  // each output at its element type's tolerance; with --f16 never tighter than float16's
  const tolerances = new Map<string, Tolerance>();
  let bad = 0;
  const rows = [...outs].map(([name, v]) => {
    if (!(v instanceof Tensor)) return { name, kind: v?.kind ?? "none" };
    const row: Record<string, unknown> = { name, dtype: dtypeName(v.dtype), shape: [...v.dims], preview: preview(v) };
    if (ort) {
      const r = ort.get(name);
      if (!(r instanceof Tensor)) {
        row.ort = "missing";
        bad++;
      } else {
        const tol = toleranceFor(r.dtype, values.f16 ? F16_TOLERANCE : COMPARE_TOLERANCE);
        if (isFloat(r.dtype)) tolerances.set(dtypeName(r.dtype), tol);
        const why = compareTensors(v, r, tol);
        const stats = errorStats(v, r);
        row.maxAbsError = stats.maxAbs;
        row.maxRelError = stats.maxRel;
        row.match = !why;
        if (why) {
          row.mismatch = why;
          bad++;
        }
      }
    }
    return row;
  });
  if (values.json) {
    io.json({
      file,
      backend,
      ...(device ? { device } : {}),
      ms: Math.round(ms * 10) / 10,
      ...(setupMs !== undefined ? { setupMs: Math.round(setupMs * 10) / 10 } : {}),
      seed: allGiven ? null : seed,
      outputs: rows,
      ...(ort ? { compare: vs, match: bad === 0 } : {}),
      ...(profile ? { profile } : {}),
    });
  } else {
    io.out(
      backend === "webgpu"
        ? `${file}: ran on WebGPU (${device}) in ${ms.toFixed(1)} ms (setup ${setupMs!.toFixed(1)} ms)`
        : `${file}: ran on the reference backend in ${ms.toFixed(1)} ms`,
    );
    for (const r of rows) {
      let line = `  ${r.name}: ${r.dtype}[${(r.shape as number[] | undefined)?.join(",") ?? ""}] ${r.preview ?? ""}`;
      if (ort) {
        line += r.ort === "missing"
          ? `  (${against} gave no such output)`
          : `  vs ${vs}: max abs err ${Number(r.maxAbsError).toExponential(2)}, max rel err ${
            Number(r.maxRelError).toExponential(2)
          }${r.match ? "" : `  MISMATCH: ${r.mismatch}`}`;
      }
      io.out(line);
    }
    if (values.profile) printProfile(profile, io);
    if (ort) {
      const tols = describeTolerances(Object.fromEntries(tolerances));
      io.out(bad ? `${bad} output(s) differ beyond tolerance (${tols})` : `all outputs match ${against} (${tols})`);
    }
  }
  return bad ? 1 : 0;
}

/** Fail with one line when the reference interpreter lacks an op of `model`. */
function requireReference(model: Model, what: string): void {
  const missing = findUnsupported(model);
  if (missing) {
    throw new SaturnError(
      "UNSUPPORTED_OP",
      `op ${missing.domain ? missing.domain + "." : ""}${missing.opType} (node '${
        missing.name || missing.outputs[0]
      }') is not supported by the ${what} backend`,
      missing.name,
    );
  }
}

function printProfile(profile: { kernel: string; nodes: string[]; ms: number }[] | undefined, io: CliIO): void {
  if (!profile) {
    io.out("  profile: this adapter has no timestamp queries");
    return;
  }
  const total = profile.reduce((a, k) => a + k.ms, 0);
  io.out(`  profile: ${profile.length} kernels, ${total.toFixed(3)} ms of GPU time (second run); slowest:`);
  for (const k of [...profile].sort((a, b) => b.ms - a.ms).slice(0, 10)) {
    io.out(`    ${k.ms.toFixed(3).padStart(9)} ms  ${k.kernel} (${k.nodes.filter((n) => n).join(", ")})`);
  }
}
