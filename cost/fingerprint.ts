/**
 * Machine fingerprints: a short stable id of what a measured latency is valid for. A measurement
 * made under another fingerprint is never used (`cost/cost_cache.ts` keys by it).
 *
 * - `ort`: onnxruntime-node's version, the CPU model, its logical core count and the thread
 *   count ONNX Runtime was given (0: its default).
 * - `webgpu`: the adapter's vendor, architecture, device and description, and Deno's version
 *   (its WebGPU implementation ships with it).
 *
 * Invariant: the same machine, runtime and thread count give the same id in every process.
 * @module
 */
import type { CostTarget } from "../rules/targets.ts";
import { hashText } from "../verify/cache.ts";

/** What a fingerprint is made of, beyond the target. */
export interface FingerprintOptions {
  /** ONNX Runtime's intra-op threads the measurements use (0 or absent: ONNX Runtime's default). */
  threads?: number;
  /** The WebGPU adapter's info (`GPUAdapter.info`), for target `webgpu`. */
  adapter?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

/** The CPU's model name (Linux's /proc/cpuinfo, else the OS and architecture). */
export function cpuModel(): string {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const m = /^model name\s*:\s*(.+)$/m.exec(text) ?? /^Hardware\s*:\s*(.+)$/m.exec(text);
    if (m) return m[1].trim();
  } catch { /* not Linux, or no permission */ }
  return `${Deno.build.os}-${Deno.build.arch}`;
}

/** onnxruntime-node's version (from the package ONNX Runtime's JavaScript API reports). */
export async function ortVersion(): Promise<string> {
  const ort = await import("onnxruntime-node");
  const versions = (ort.env as { versions?: Record<string, string | undefined> }).versions ?? {};
  return versions.node ?? versions.common ?? "unknown";
}

/**
 * The human-readable parts of a fingerprint, in a fixed order.
 * @param target the cost target
 * @param opts thread count (ort), adapter info (webgpu)
 * @returns name → value
 */
export async function fingerprintParts(
  target: CostTarget,
  opts: FingerprintOptions = {},
): Promise<Record<string, string>> {
  if (target === "ort") {
    return {
      target,
      runtime: `onnxruntime-node ${await ortVersion()}`,
      cpu: cpuModel(),
      cores: String(navigator.hardwareConcurrency ?? 0),
      threads: String(opts.threads ?? 0),
    };
  }
  const a = opts.adapter ?? {};
  return {
    target,
    vendor: a.vendor ?? "",
    architecture: a.architecture ?? "",
    device: a.device ?? "",
    description: a.description ?? "",
    deno: Deno.version.deno,
  };
}

/**
 * A short stable id of what a measurement on `target` is valid for.
 * @param target the cost target
 * @param opts thread count (ort), adapter info (webgpu)
 * @returns `<target>-<16 hex digits>`
 * @example
 * ```ts
 * import { machineFingerprint } from "./fingerprint.ts";
 * const a = await machineFingerprint("ort", { threads: 1 });
 * if (a !== await machineFingerprint("ort", { threads: 1 })) throw new Error("not stable");
 * if (a === await machineFingerprint("ort", { threads: 2 })) throw new Error("threads are part of it");
 * ```
 */
export async function machineFingerprint(target: CostTarget, opts: FingerprintOptions = {}): Promise<string> {
  const parts = await fingerprintParts(target, opts);
  return `${target}-${hashText(JSON.stringify(parts))}`;
}
