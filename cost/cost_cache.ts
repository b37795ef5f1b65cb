/**
 * The measured-cost cache: latencies per (target, machine fingerprint, node signature key), in the
 * user's cache folder (`costs.json` in `saturnCacheDir()`: `$SATURN_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/saturn`, else `~/.cache/saturn`).
 *
 * Invariants: a write is atomic (temp file + rename) and merges with what another process wrote
 * since this one read; a corrupt or foreign file is ignored with one warning (and replaced at the
 * next write), never an error; a read-only folder only costs measuring again.
 * @module
 */
import * as path from "node:path";
import { saturnCacheDir } from "../verify/cache.ts";

/** Bump when what a stored measurement means changes (then old entries are ignored). */
export const COST_CACHE_VERSION = 1;

/** One measured latency. */
export interface Measurement {
  /** Median latency, microseconds (the runtime's per-run overhead subtracted where the measurer says so). */
  medianUs: number;
  /** Noise: the median absolute deviation of the samples, microseconds. */
  noiseUs: number;
  /** Samples taken. */
  samples: number;
  /** When it was measured (ISO 8601). */
  date: string;
}

type Entries = Record<string, Record<string, Record<string, Measurement>>>;

/** The default cache file. */
export function costCacheFile(): string {
  return path.join(saturnCacheDir(), "costs.json");
}

function isMeasurement(m: unknown): m is Measurement {
  const x = m as Measurement;
  return typeof x === "object" && x !== null && Number.isFinite(x.medianUs) && Number.isFinite(x.noiseUs) &&
    Number.isInteger(x.samples) && typeof x.date === "string";
}

/** Read a cache file: entries, or a warning when it exists but cannot be used. */
function readEntries(file: string): { entries: Entries; warning?: string } {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return { entries: {} }; // no cache yet
  }
  try {
    const data = JSON.parse(text) as { version?: number; entries?: Entries };
    if (data?.version !== COST_CACHE_VERSION || typeof data.entries !== "object" || data.entries === null) {
      return { entries: {}, warning: `measured-cost cache ${file} is of another version: ignored` };
    }
    const entries: Entries = {};
    for (const [t, fps] of Object.entries(data.entries)) {
      for (const [fp, keys] of Object.entries(fps ?? {})) {
        for (const [k, m] of Object.entries(keys ?? {})) {
          if (!isMeasurement(m)) continue;
          ((entries[t] ??= {})[fp] ??= {})[k] = m;
        }
      }
    }
    return { entries };
  } catch {
    return {
      entries: {},
      warning: `measured-cost cache ${file} is corrupt: ignored (it is rewritten when costs are measured)`,
    };
  }
}

/**
 * Measured latencies by (target, fingerprint, signature key), loaded once and saved atomically.
 * @example
 * ```ts
 * import { CostCache } from "./cost_cache.ts";
 * const file = Deno.makeTempFileSync({ suffix: ".json" });
 * const cache = new CostCache(file);
 * cache.set("ort", "fp", "relu", { medianUs: 3, noiseUs: 0.1, samples: 20, date: "2026-01-01" });
 * cache.save();
 * if (new CostCache(file).get("ort", "fp", "relu")?.medianUs !== 3) throw new Error("not kept");
 * if (new CostCache(file).get("ort", "other", "relu") !== undefined) throw new Error("fingerprints are apart");
 * Deno.removeSync(file);
 * ```
 */
export class CostCache {
  /** The file it reads and writes. */
  readonly file: string;
  /** Why the file on disk was ignored, if it was (corrupt, another version). */
  readonly warning?: string;
  #entries: Entries;
  #added: Entries = {};

  /**
   * Load the cache.
   * @param file the cache file (default `costCacheFile()`)
   * @param onWarning called once when the file exists but cannot be used (default: nothing; see `warning`)
   */
  constructor(file: string = costCacheFile(), onWarning?: (message: string) => void) {
    this.file = file;
    const { entries, warning } = readEntries(file);
    this.#entries = entries;
    this.warning = warning;
    if (warning) onWarning?.(warning);
  }

  /**
   * The measurement of `key` on `target` under `fingerprint`, if one was made.
   * @param target the cost target
   * @param fingerprint `machineFingerprint`'s id
   * @param key `signatureKey` of the node
   * @returns the measurement, or undefined
   */
  get(target: string, fingerprint: string, key: string): Measurement | undefined {
    return this.#entries[target]?.[fingerprint]?.[key];
  }

  /**
   * Record a measurement (kept in memory until `save`).
   * @param target the cost target
   * @param fingerprint `machineFingerprint`'s id
   * @param key `signatureKey` of the node
   * @param m the measurement
   */
  set(target: string, fingerprint: string, key: string, m: Measurement): void {
    ((this.#entries[target] ??= {})[fingerprint] ??= {})[key] = m;
    ((this.#added[target] ??= {})[fingerprint] ??= {})[key] = m;
  }

  /** Measurements under one target and fingerprint (a copy). */
  entries(target: string, fingerprint: string): Map<string, Measurement> {
    return new Map(Object.entries(this.#entries[target]?.[fingerprint] ?? {}));
  }

  /**
   * Write what was `set` since loading, merged into the file as it is now (atomically).
   * @returns false when the folder cannot be written (the measurements are lost, nothing else)
   */
  save(): boolean {
    const { entries } = readEntries(this.file);
    for (const [t, fps] of Object.entries(this.#added)) {
      for (const [fp, keys] of Object.entries(fps)) Object.assign((entries[t] ??= {})[fp] ??= {}, keys);
    }
    const tmp = `${this.file}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      Deno.mkdirSync(path.dirname(this.file), { recursive: true });
      Deno.writeTextFileSync(tmp, JSON.stringify({ version: COST_CACHE_VERSION, entries }) + "\n");
      Deno.renameSync(tmp, this.file);
      this.#entries = entries;
      this.#added = {};
      return true;
    } catch {
      try {
        Deno.removeSync(tmp);
      } catch { /* never written */ }
      return false;
    }
  }
}
