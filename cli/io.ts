/**
 * Output for CLI commands: stdout lines, and a progress line on stderr only when it is a TTY.
 * Everything printed passes through `cli/terminal.ts`: lines for people are escaped and cut
 * (names from a model never reach the terminal raw), JSON is exact and terminal-safe.
 * @module
 */

import type { SaturnError } from "../errors.ts";
import { terminalJson, terminalLine, TOKEN_MAX } from "./terminal.ts";

/** `--dim NAME=N` / `--dim INPUT:AXIS=N` options as sizes for symbolic dims: the library's one parser. */
export { parseDimSizes as parseDims } from "../verify/input_dims.ts";

/** For each library option a `SaturnError` can name, the CLI's words for it (library messages name no flags). */
const FLAG_HINTS: Record<string, (e: SaturnError) => string> = {
  without: (e) => `--without ${e.where}: no such pack or rule`,
  inputs: (e) => `${e.message} with --inputs`,
  dims: (e) => e.message.replace(/\)$/, " with --dim NAME=N or --dim INPUT:AXIS=N)"),
  "dims|inputs": (e) => e.message.replace(/\)$/, " with --dim or --inputs)"),
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
  /** One line for people on stdout; control characters in it are shown escaped, long names cut. */
  out(line: string): void;
  /** One line for people on stderr, escaped and cut like `out`. */
  err(line: string): void;
  /** A JSON value on stdout, exact (names never cut) and terminal-safe. */
  json(value: unknown, indent?: number): void;
  /** True when stderr is a terminal (progress is shown). */
  tty: boolean;
}

/** The process's stdout and stderr, through `terminalLine` and `terminalJson`. */
export function processIO(): CliIO {
  return {
    out: (l) => console.log(terminalLine(l)),
    err: (l) => console.error(terminalLine(l)),
    json: (v, indent) => console.log(terminalJson(JSON.stringify(v, null, indent))),
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
      // the only raw escapes Saturn writes: its own; the message (rule and test names) is escaped
      Deno.stderr.writeSync(
        enc.encode(`\r\x1b[K${terminalLine(`${label}: ${msg}`, TOKEN_MAX, cols).slice(0, cols - 1)}`),
      );
    },
    clear() {
      if (io.tty) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
    },
  };
}
