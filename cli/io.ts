/**
 * Output for CLI commands: stdout lines, and a progress line on stderr only when it is a TTY.
 * @module
 */

import { SaturnError } from "../errors.ts";

/** `--dim name=N` options as sizes for symbolic dims (a bad one is the user's error). */
export function parseDims(opts: readonly string[] | undefined): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const d of opts ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(d);
    if (!m) throw new SaturnError("BAD_ARGUMENT", `--dim ${d}: expected name=size`);
    dims[m[1]] = Number(m[2]);
  }
  return dims;
}

/** For each library option a `SaturnError` can name, the CLI's words for it (library messages name no flags). */
const FLAG_HINTS: Record<string, (e: SaturnError) => string> = {
  without: (e) => `--without ${e.where}: no such pack or rule`,
  inputs: (e) => `${e.message} with --inputs`,
  f16: (e) => `--f16: ${e.message} (run without --f16)`,
  backend: (e) => `${e.message}; \`--backend ref\` runs the reference interpreter`,
};

/** The one line the CLI prints for a user's error: the library's message, in terms of the CLI's flags. */
export function cliMessage(e: SaturnError): string {
  const hint = e.option === undefined ? undefined : FLAG_HINTS[e.option];
  return hint ? hint(e) : e.message;
}

/** Where a command writes. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** True when stderr is a terminal (progress is shown). */
  tty: boolean;
}

/** The process's stdout and stderr. */
export function processIO(): CliIO {
  return {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    tty: Deno.stderr.isTerminal(),
  };
}

/** A single, overwritten progress line on a TTY; does nothing otherwise. */
export function progress(io: CliIO, label: string): { update(msg: string): void; clear(): void } {
  const enc = new TextEncoder();
  let last = 0;
  return {
    update(msg: string) {
      if (!io.tty) return;
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      const cols = Deno.consoleSize?.().columns ?? 80;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[K${label}: ${msg}`.slice(0, cols + 4)));
    },
    clear() {
      if (io.tty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
    },
  };
}
