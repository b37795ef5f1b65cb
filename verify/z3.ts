/**
 * The Z3 solver (npm `z3-solver`, Z3 compiled to WebAssembly) as one lazily created, shared
 * context named "saturn".
 *
 * How z3-solver runs, and what this module does about it:
 * - It is an emscripten build with pthreads. A `solver.check()` runs on a pthread, that is a
 *   `node:worker_threads` Worker, and resolves a promise when done; Z3's own timer (the solver's
 *   `timeout` parameter) runs on another. Emscripten `unref()`s a worker once it runs a thread,
 *   so idle workers never keep the process alive: a script that awaited its checks exits as
 *   soon as its main module returns (tests/symbolic_test.ts checks this). A check that is still
 *   running does keep the process alive until it ends; `shutdownZ3()` stops it at once.
 * - Only one check may run at a time in the whole module, and the context is not thread-safe:
 *   building terms on the main thread while a check runs on a worker would race. Every use of
 *   the context that may overlap a check must go through `serialized` (as `verify/symbolic.ts`
 *   does), which runs its callbacks one after another.
 * - z3-solver releases Z3 objects from a FinalizationRegistry, i.e. whenever the garbage
 *   collector runs, including while a check runs on its worker: such a release races with the
 *   solver in the shared heap. Under GC pressure this corrupts the heap within a few hundred
 *   checks ("memory access out of bounds" in Z3, "Wrong number of arguments" errors on unrelated
 *   terms). This module holds releases back while a check is in flight and performs them when
 *   it ends (see `deferReleasesDuringChecks`).
 * - A check obeys the solver's `timeout` parameter; `ctx.interrupt()` stops one early.
 * - Loading z3-solver replaces `globalThis.Worker` with Node's worker class (emscripten's Node
 *   code path writes `global.Worker`). This module puts back a `Worker` that is Deno's own for
 *   every caller except emscripten's pthreads (recognized by their `workerData: "em-pthread"`),
 *   so the rest of the process keeps web workers.
 *
 * Invariants: at most one context exists at a time; `z3()` returns the same object until
 * `shutdownZ3()`; after `shutdownZ3()` the next `z3()` loads a fresh instance (~0.3 s) and
 * terms made with the old one must not be used any more.
 * @module
 */
import { init } from "z3-solver";
import type { Context, Z3LowLevel } from "z3-solver";

/** The high-level Z3 context type Saturn uses. */
export type Z3Context = Context<"saturn">;

/** A loaded Z3: the high-level context and, for what it lacks, the low-level C API. */
export interface Z3Api {
  /** The high-level API bound to the shared context (Real, Bool, Function, Solver, If, …). */
  readonly ctx: Z3Context;
  /** Z3's C API as z3-solver exposes it (e.g. `solver_get_reason_unknown`), on `ctx.ptr`. */
  readonly raw: Z3LowLevel["Z3"];
}

interface Loaded extends Z3Api {
  /** The emscripten module (for terminating its pthreads). */
  readonly em: { PThread?: { terminateAllThreads?: () => void } };
}

let loading: Promise<Loaded> | undefined;
let loaded: Loaded | undefined;

/**
 * The shared Z3 context, loading z3-solver on first use (about 0.3 s); later calls return the
 * same object at once.
 * @example
 * ```ts ignore
 * const { ctx } = await z3();
 * const x = ctx.Real.const("x");
 * const s = new ctx.Solver();
 * s.add(x.mul(x).eq(2));
 * console.log(await serialized(() => s.check())); // "sat"
 * ```
 */
export function z3(): Promise<Z3Api> {
  if (!loading) {
    loading = load().then((l) => (loaded = l), (e) => {
      loading = undefined;
      throw e;
    });
  }
  return loading;
}

/** True when Z3 has been loaded (and not shut down since). */
export function z3Loaded(): boolean {
  return loaded !== undefined;
}

async function load(): Promise<Loaded> {
  const denoWorker = globalThis.Worker;
  const api = await init();
  restoreWorker(denoWorker);
  deferReleasesDuringChecks(api.Z3 as unknown as Record<string, unknown>);
  const ctx = api.Context("saturn");
  return { ctx, raw: api.Z3, em: api.em };
}

/**
 * z3-solver releases Z3 objects (`*_dec_ref`) from a FinalizationRegistry, whenever the garbage
 * collector runs, which may be while a check runs on a worker thread: a release that frees a
 * term then races with the solver's own term creation in the shared heap (and has been seen to
 * corrupt it). The high-level API looks these functions up on the low-level object at each call,
 * so wrapping them there holds every release back while an asynchronous call (a check) is in
 * flight and performs them when it ends, on the main thread.
 */
function deferReleasesDuringChecks(raw: Record<string, unknown>): void {
  let busy = 0;
  const held: (() => void)[] = [];
  const settle = () => {
    if (--busy === 0) { for (const release of held.splice(0)) release(); }
  };
  for (const [name, fn] of Object.entries(raw)) {
    if (typeof fn !== "function") continue;
    const f = fn as (...args: unknown[]) => unknown;
    if (name === "dec_ref" || name === "del_context" || (name.endsWith("_dec_ref") && !name.startsWith("enable_"))) {
      raw[name] = (...args: unknown[]) => {
        if (busy > 0) held.push(() => f(...args));
        else return f(...args);
      };
    } else if (String(f).includes("async_call")) {
      // the calls that run on a worker thread and return a promise (solver_check, simplify, …)
      raw[name] = (...args: unknown[]) => {
        busy++;
        let p: unknown;
        try {
          p = f(...args);
        } catch (e) {
          settle();
          throw e;
        }
        return Promise.resolve(p).finally(settle);
      };
    }
  }
}

/**
 * Put back Deno's `Worker` after emscripten replaced it with Node's, keeping Node's for
 * emscripten's own pthread workers (the only ones created with `workerData: "em-pthread"`).
 */
function restoreWorker(denoWorker: typeof Worker): void {
  const now = globalThis.Worker as unknown;
  if (now === denoWorker || typeof now !== "function") return;
  const NodeWorker = now as new (url: unknown, opts?: unknown) => unknown;
  function Hybrid(url: string | URL, opts?: Record<string, unknown>): unknown {
    return opts?.workerData === "em-pthread" ? new NodeWorker(url, opts) : new denoWorker(url, opts as WorkerOptions);
  }
  Hybrid.prototype = denoWorker.prototype;
  globalThis.Worker = Hybrid as unknown as typeof Worker;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run `fn` when every earlier `serialized` callback has finished, so that uses of the shared
 * context never overlap (building terms while a check runs on a worker would race). Do not call
 * `serialized` from inside a callback: it would wait for itself.
 */
export function serialized<T>(fn: () => Promise<T> | T): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.then(() => {}, () => {});
  return run;
}

/**
 * Stop Z3: interrupt a check in flight (waiting up to `graceMs` for it to return), terminate
 * z3-solver's worker threads and forget the context. Only needed to abandon a running check: a
 * process whose checks have finished exits by itself. A later `z3()` loads a fresh instance; a
 * check still awaited when the threads are terminated never settles.
 */
export async function shutdownZ3(graceMs = 1000): Promise<void> {
  const l = loaded;
  const pending = queue;
  loaded = undefined;
  loading = undefined;
  queue = Promise.resolve();
  if (!l) return;
  try {
    l.ctx.interrupt();
  } catch {
    // nothing running
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([pending, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  l.em.PThread?.terminateAllThreads?.();
}
