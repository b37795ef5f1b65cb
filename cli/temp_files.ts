/**
 * Temporary files a command writes, removed however it ends: on an interrupt (SIGINT, SIGTERM,
 * SIGHUP: the temporary files are removed, then the process exits 128 + the signal's number —
 * 130 for Ctrl-C) and on exit. Every command that writes a temporary file registers it here.
 *
 * Once a command has registered a file (or called `deferInterrupts`), signals are handled by
 * JavaScript, so they take effect between event-loop turns: a synchronous write (an atomic save's
 * temporary file and rename) always finishes first and is never left half done. Until then, an
 * interrupt ends the process at once, as usual, with nothing of a command's output written yet.
 * @module
 */

const temps = new Set<string>();
let installed = false;

/** Exit codes by signal: 128 + its number. */
const SIGNALS: [Deno.Signal, number][] = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]];

/** Remove every registered temporary file (those already gone are skipped). */
export function removeTemps(): void {
  for (const f of temps) {
    try {
      Deno.removeSync(f);
    } catch { /* never written, or already renamed */ }
  }
  temps.clear();
}

/**
 * From now on, interrupts remove the registered temporary files and exit 128 + n, between
 * event-loop turns (see the module's doc). Idempotent.
 */
export function deferInterrupts(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of SIGNALS) {
    try {
      Deno.addSignalListener(signal, () => {
        removeTemps();
        Deno.exit(code);
      });
    } catch { /* a signal this system does not have (Windows: only SIGINT) */ }
  }
  globalThis.addEventListener("unload", removeTemps);
}

/**
 * Register a temporary file, before it is written: it is removed on an interrupt or at exit
 * unless `releaseTemp` is called first (after it was renamed into place, or removed).
 * @param file the temporary file's path
 */
export function trackTemp(file: string): void {
  deferInterrupts();
  temps.add(file);
}

/** Forget a temporary file that was renamed into place or removed. */
export function releaseTemp(file: string): void {
  temps.delete(file);
}
