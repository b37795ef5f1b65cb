/**
 * `saturn bench MODEL [--vs ortweb,ort] [--iters N] [--warmup N] [--seed N] [--dim name=N…] [--f16] [--profile]
 * [--json]`:
 * median latency of one inference (outputs read back to the CPU) for Saturn on WebGPU, ONNX
 * Runtime Web's WebGPU provider in the same Deno process on the same adapter, and
 * onnxruntime-node on the CPU, on the same seeded inputs. `--profile` adds a per-kernel table
 * from timestamp queries; `--f16` runs Saturn with half-precision storage (the peers stay in f32).
 * Ratios are against Saturn measured in the same run.
 * @module
 */
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { createSession } from "../webgpu/session.ts";
import { median, ortWebBytes, timeOrtNode, timeOrtWeb, timeRuns, type Timing } from "../bench/peers.ts";
import { type CliIO, parseDims, progress } from "./io.ts";

const PEERS = new Set(["ortweb", "ort"]);

/** Run the command; returns the exit code. */
export async function benchCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      vs: { type: "string", default: "ortweb,ort" },
      iters: { type: "string", default: "20" },
      warmup: { type: "string", default: "3" },
      seed: { type: "string", default: "0" },
      dim: { type: "string", multiple: true },
      profile: { type: "boolean", default: false },
      f16: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new SaturnError("BAD_ARGUMENT", "bench takes one model path");
  const iters = Number(values.iters), warmup = Number(values.warmup);
  if (!(Number.isInteger(iters) && iters > 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--iters ${values.iters}: not a positive integer`);
  }
  if (!(Number.isInteger(warmup) && warmup >= 0)) {
    throw new SaturnError("BAD_ARGUMENT", `--warmup ${values.warmup}: not a whole number`);
  }
  const peers = values.vs === "" || values.vs === "none" ? [] : values.vs.split(",");
  for (const p of peers) {
    if (!PEERS.has(p)) throw new SaturnError("BAD_ARGUMENT", `--vs ${p}: expected ortweb, ort or none`);
  }
  const dims = parseDims(values.dim);
  const file = positionals[0];
  const model = loadOnnx(file);
  const inputs = randomInputs(model, { seed: Number(values.seed), dims });
  const bar = values.json ? undefined : progress(io, "bench");
  const opts = { iters, warmup };
  bar?.update("Saturn: planning and compiling");
  const t0 = performance.now();
  const session = await createSession(model, { dims, f16: values.f16 });
  const setup = performance.now() - t0;
  bar?.update(`Saturn: ${iters} runs`);
  const saturn = await timeRuns("saturn", setup, () => session.run(inputs), opts);
  let profile: { kernel: string; nodes: string[]; ms: number }[] | undefined;
  if (values.profile) {
    const p = await createSession(model, { dims, profile: true, f16: values.f16 });
    // per kernel position (names repeat: every layer has its MatMul+Add)
    const runs: number[][] = [];
    for (let i = 0; i < Math.max(3, Math.min(iters, 10)); i++) {
      await p.run(inputs);
      (p.lastProfile ?? []).forEach((k, j) => (runs[j] ??= []).push(k.ms));
    }
    profile = (p.lastProfile ?? []).map((k, j) => ({ ...k, ms: median(runs[j]) }));
    p.destroy();
  }
  const device = session.device, kernels = session.kernels, peakBytes = session.peakBytes;
  session.destroy();
  const timings: Timing[] = [saturn];
  for (const p of peers) {
    bar?.update(`${p}: ${iters} runs`);
    timings.push(
      p === "ortweb" ? await timeOrtWeb(ortWebBytes(model), inputs, opts) : await timeOrtNode(file, inputs, opts),
    );
  }
  bar?.clear();
  if (values.json) {
    io.json({
      model: file,
      device,
      kernels,
      peakBytes,
      iters,
      results: timings.map((t) => ({ ...t, vsSaturn: t.median / saturn.median })),
      ...(profile ? { profile } : {}),
    });
    return 0;
  }
  io.out(`${file} on ${device}: ${kernels} kernels, ${(peakBytes / 2 ** 20).toFixed(1)} MiB on the GPU`);
  const label: Record<string, string> = {
    saturn: "Saturn (WebGPU)",
    ortweb: "ONNX Runtime Web (WebGPU)",
    ort: "onnxruntime-node (CPU)",
  };
  io.out(
    `  ${"executor".padEnd(26)} ${"median ms".padStart(10)} ${"first ms".padStart(10)} ${
      "setup ms".padStart(9)
    }  vs Saturn`,
  );
  for (const t of timings) {
    io.out(
      `  ${label[t.name].padEnd(26)} ${t.median.toFixed(3).padStart(10)} ${t.first.toFixed(1).padStart(10)} ${
        t.setup.toFixed(0).padStart(9)
      }  ${t.name === "saturn" ? "" : `${(t.median / saturn.median).toFixed(2)}×`}`,
    );
  }
  if (profile) {
    const total = profile.reduce((s, k) => s + k.ms, 0);
    io.out(`  kernels by GPU time (timestamp queries, median of runs; total ${total.toFixed(3)} ms):`);
    for (const k of [...profile].sort((a, b) => b.ms - a.ms).slice(0, 25)) {
      io.out(
        `    ${k.ms.toFixed(4).padStart(9)} ms  ${k.kernel}  (${k.nodes.slice(0, 4).join(", ")}${
          k.nodes.length > 4 ? ", …" : ""
        })`,
      );
    }
  }
  return 0;
}
