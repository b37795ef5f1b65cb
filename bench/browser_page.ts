/**
 * A compiled model in a real browser: `saturn compile`'s module and ONNX Runtime Web's WebGPU provider
 * run the same model on the same inputs in one page of headless Chromium, on the adapter Chromium's
 * WebGPU gives (SwiftShader on a machine without a GPU). A local server (`Deno.serve` on a free
 * port) serves the page, the compiled module and its weights, the inputs, the model for ONNX
 * Runtime Web (weights inline, `ortWebBytes`) and ONNX Runtime Web's dist files from Deno's npm
 * cache; the page POSTs back what it measured. No browser-automation library: the page reports by
 * `fetch`, and Chromium is killed once it has, on a timeout, or on any error.
 *
 * Used by `tests/browser_test.ts` (outputs vs onnxruntime-node) and `bench/browser.ts` (latencies).
 *
 * ```ts ignore
 * import { findChromium, runInBrowser } from "./browser_page.ts";
 * import { loadOnnx } from "../onnx/load.ts";
 * import { randomInputs } from "../verify/inputs.ts";
 * const chromium = findChromium(); // undefined without Chromium
 * if (chromium) {
 *   const inputs = randomInputs(loadOnnx("examples/bert_tiny.onnx"), { seed: 0 });
 *   const r = await runInBrowser("examples/bert_tiny.onnx", inputs, { chromium, iters: 5, warmup: 1 });
 *   console.log(r.adapter.architecture, r.saturn.medianMs, r.ortweb?.medianMs); // "swiftshader" …
 * }
 * ```
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadOnnx } from "../onnx/load.ts";
import { encodeRaw, Tensor } from "../ir/tensor.ts";
import type { DataType } from "../ir/dtype.ts";
import type { Value } from "../ir/values.ts";
import { buildProgram, moduleSource } from "../webgpu/compile.ts";
import { median, ortWebBytes } from "./peers.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Chromium's switches: headless, WebGPU on (Linux still needs `--enable-unsafe-webgpu`; without it
 * `requestAdapter()` gives null), no sandbox (it cannot start as root or in most containers; the page
 * is ours, on localhost), and nothing that talks to the network or throttles a page in the background.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-extensions",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-dev-shm-usage",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--mute-audio",
];

/** How to install the browser, for messages. */
export const CHROMIUM_HINT = "install it: apt-get install -y chromium, or set $CHROMIUM to a Chromium or Chrome binary";

/** Chromium's binary: `$CHROMIUM`, else the first of chromium, chromium-browser, google-chrome on the PATH. */
export function findChromium(): string | undefined {
  const given = Deno.env.get("CHROMIUM");
  const names = given ? [given] : ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
  for (const n of names) {
    const dirs = n.includes("/") ? [""] : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
    for (const d of dirs) {
      const file = d ? path.join(d, n) : n;
      try {
        if (Deno.statSync(file).isFile) return file;
      } catch { /* not there */ }
    }
  }
  return undefined;
}

/** Options of `runInBrowser`. */
export interface BrowserOptions {
  /** Chromium's binary (`findChromium()`). */
  chromium: string;
  /** timed iterations per side, interleaved (Saturn, ORT Web; then ORT Web, Saturn; …) */
  iters: number;
  /** untimed iterations before them, after the first run */
  warmup: number;
  /** also run ONNX Runtime Web's WebGPU provider (default true) */
  ortweb?: boolean;
  /** `--use-webgpu-adapter=…` (e.g. "swiftshader"); default: Chromium's choice */
  webgpuAdapter?: string;
  /** kill Chromium and fail after this long (default 120 s) */
  timeoutMs?: number;
  /** each line the page logs, as it comes */
  onLog?: (line: string) => void;
}

/** One executor's figures in the page. */
export interface SideReport {
  /** load (Saturn: device, weights, pipelines) / session creation (ORT Web), ms */
  setupMs: number;
  /** the first inference, ms */
  firstMs: number;
  /** each timed inference (outputs on the CPU), ms */
  runs: number[];
  medianMs: number;
  /** the first inference's outputs */
  outputs: Map<string, Tensor>;
}

/** What the page measured. */
export interface BrowserReport {
  /** `navigator.userAgent` (HeadlessChrome/VERSION) */
  userAgent: string;
  /** Chromium's version from the user agent */
  version: string;
  /** the switches Chromium ran with (without the profile folder and URL) */
  flags: string[];
  /** `GPUAdapter.info` and `isFallbackAdapter` */
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean };
  /** the compiled module */
  saturn: SideReport;
  /** ONNX Runtime Web's WebGPU provider, unless it was left out or failed (`ortwebError`) */
  ortweb?: SideReport;
  ortwebError?: string;
  /** the page's log lines */
  log: string[];
}

/** ONNX Runtime Web's `dist/` folder in Deno's npm cache, at the version deno.json pins (cached if absent). */
export async function ortWebDist(): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "onnxruntime-web/webgpu"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const info = r.success ? JSON.parse(new TextDecoder().decode(r.stdout)) : {};
  for (const p of Object.values(info.npmPackages ?? {}) as { name: string; localPath?: string }[]) {
    if (p.name === "onnxruntime-web" && p.localPath) return path.join(p.localPath, "dist");
  }
  throw new Error(`cannot find onnxruntime-web in Deno's npm cache: ${new TextDecoder().decode(r.stderr).trim()}`);
}

/** ONNX Runtime Web's entry for the WebGPU provider (package.json's "./webgpu" import). */
const ORT_ENTRY = "ort.webgpu.bundle.min.mjs";

const TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".html": "text/html; charset=utf-8",
};

/** A file of `dir` by its base name (no sub-folders, no dot files), or 404. */
async function serveFile(dir: string, name: string): Promise<Response> {
  if (!/^[\w][\w.-]*$/.test(name)) return new Response("bad name", { status: 400 });
  try {
    const bytes = await Deno.readFile(path.join(dir, name));
    return new Response(bytes, {
      headers: { "content-type": TYPES[path.extname(name)] ?? "application/octet-stream" },
    });
  } catch {
    return new Response("not found", { status: 404 });
  }
}

/**
 * Compile `file` (as `saturn compile` does, without `--dim` or `--f16`), serve it with the page, run it in headless Chromium and
 * return what the page measured. Chromium is always killed before this returns or throws.
 */
export async function runInBrowser(
  file: string,
  inputs: ReadonlyMap<string, Value>,
  opts: BrowserOptions,
): Promise<BrowserReport> {
  const { chromium, iters, warmup, ortweb = true, timeoutMs = 120_000 } = opts;
  const work = Deno.makeTempDirSync({ prefix: "saturn-browser-" });
  const name = path.basename(file).replace(/\.onnx$/i, "");
  let server: Deno.HttpServer | undefined;
  let child: Deno.ChildProcess | undefined;
  let stderrReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // the module and weights as `saturn compile` writes them (the same two library calls)
    const outDir = path.join(work, "m");
    const model = loadOnnx(file);
    const { program, weights } = buildProgram(model);
    Deno.mkdirSync(outDir);
    Deno.writeFileSync(path.join(outDir, `${name}.weights.bin`), weights);
    Deno.writeTextFileSync(path.join(outDir, `${name}.js`), moduleSource(program, `./${name}.weights.bin`, name));
    const ortDist = ortweb ? await ortWebDist() : "";
    const modelBytes = ortweb ? ortWebBytes(model) : new Uint8Array(0);
    const feeds = [...inputs].map(([n, v]) => {
      if (!(v instanceof Tensor)) throw new Error(`input '${n}': only tensors can be sent to the page`);
      return { name: n, dtype: v.dtype as number, dims: [...v.dims], bytes: encodeRaw(v) };
    });
    const config = {
      module: `/m/${name}.js`,
      ort: ortweb ? `/ort/${ORT_ENTRY}` : null,
      inputs: feeds.map(({ name, dtype, dims }) => ({ name, dtype, dims })),
      iters,
      warmup,
    };

    const log: string[] = [];
    let settle!: { ok: (r: Record<string, unknown>) => void; fail: (e: Error) => void };
    const result = new Promise<Record<string, unknown>>((ok, fail) => settle = { ok, fail });
    result.catch(() => {}); // a second, bad POST after the race is no unhandled rejection
    server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
      const url = new URL(req.url);
      const p = url.pathname;
      if (req.method === "POST") {
        const body = await req.text();
        if (p === "/log") {
          log.push(body);
          opts.onLog?.(body);
        } else if (p === "/result") {
          try {
            settle.ok(JSON.parse(body));
          } catch (e) {
            settle.fail(new Error(`the page sent a bad result: ${(e as Error).message}`));
          }
        }
        return new Response("ok");
      }
      if (p === "/") return new Response(PAGE_HTML, { headers: { "content-type": TYPES[".html"] } });
      if (p === "/main.js") return new Response(PAGE_SCRIPT, { headers: { "content-type": TYPES[".js"] } });
      if (p === "/config.json") return Response.json(config);
      if (p === "/model.onnx") return new Response(modelBytes.slice().buffer);
      const input = p.match(/^\/input\/(\d+)\.bin$/);
      if (input && feeds[+input[1]]) return new Response(feeds[+input[1]].bytes.slice().buffer);
      if (p.startsWith("/m/")) return await serveFile(outDir, p.slice(3));
      if (p.startsWith("/ort/") && ortDist) return await serveFile(ortDist, p.slice(5));
      return new Response("not found", { status: 404 });
    });

    const flags = [...CHROMIUM_FLAGS, ...(opts.webgpuAdapter ? [`--use-webgpu-adapter=${opts.webgpuAdapter}`] : [])];
    child = new Deno.Command(chromium, {
      args: [
        ...flags,
        `--user-data-dir=${path.join(work, "profile")}`,
        `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // keep the last few KiB of Chromium's stderr for an error message
    let stderr = "";
    stderrReader = child.stderr.getReader();
    const reader = stderrReader;
    (async () => {
      const dec = new TextDecoder();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        stderr = (stderr + dec.decode(r.value, { stream: true })).slice(-4000);
      }
    })().catch(() => {});
    const exited = child.status.then((s) => {
      throw new Error(`chromium exited (code ${s.code}) before the page reported: ${tail(stderr)}`);
    });
    exited.catch(() => {}); // once the page has reported, Chromium's exit (we kill it) is no error
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(
        () => fail(new Error(`no result from the page in ${timeoutMs / 1000} s; last log: ${log.at(-1) ?? "none"}`)),
        timeoutMs,
      );
    });
    const r = await Promise.race([result, exited, timeout]);
    if (typeof r.error === "string") throw new Error(`in the page: ${r.error}`);
    const ua = String(r.userAgent);
    const report: BrowserReport = {
      userAgent: ua,
      version: typeof r.fullVersion === "string" ? r.fullVersion : ua.match(/Chrom(?:e|ium)\/([\d.]+)/)?.[1] ?? "?",
      flags,
      adapter: r.adapter as BrowserReport["adapter"],
      saturn: side(r.saturn as PageSide),
      log,
    };
    if (r.ortweb) report.ortweb = side(r.ortweb as PageSide);
    if (typeof r.ortwebError === "string") report.ortwebError = r.ortwebError;
    return report;
  } finally {
    clearTimeout(timer);
    if (child) await stop(child);
    await stderrReader?.cancel().catch(() => {});
    await server?.shutdown();
    try {
      Deno.removeSync(work, { recursive: true });
    } catch { /* a temp folder left behind is no reason to hide the result or the error */ }
  }
}

/** End Chromium: SIGTERM (it ends its own helper processes), SIGKILL after 3 s. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  const signal = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((ok) => timer = setTimeout(() => ok("late"), 3000));
  if (await Promise.race([child.status, late]) === "late") signal("SIGKILL");
  clearTimeout(timer);
  await child.status;
}

function tail(s: string): string {
  const lines = s.split("\n").filter((l) => l.trim() && !l.includes("dbus"));
  return lines.slice(-3).join(" | ") || "(nothing on stderr)";
}

/** A side as the page sends it: outputs as base64 bytes. */
interface PageSide {
  setupMs: number;
  firstMs: number;
  runs: number[];
  outputs: { name: string; dtype: number; dims: number[]; b64: string }[];
}

function side(s: PageSide): SideReport {
  const outputs = new Map<string, Tensor>();
  for (const o of s.outputs) {
    const bin = atob(o.b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    outputs.set(o.name, Tensor.fromRaw(o.dtype as DataType, o.dims, bytes));
  }
  return { setupMs: s.setupMs, firstMs: s.firstMs, runs: s.runs, medianMs: median(s.runs), outputs };
}

const PAGE_HTML = `<!doctype html>
<meta charset="utf-8"><title>Saturn in the browser</title>
<script type="module" src="/main.js"></script>
`;

/**
 * The page: loads the compiled module and ONNX Runtime Web, runs each once (outputs kept), then
 * `warmup` + `iters` interleaved inferences, and POSTs one JSON result (or `{ error }`).
 */
const PAGE_SCRIPT = String.raw`
const post = (p, body) => fetch(p, { method: "POST", body });
const log = (m) => post("/log", String(m));
// ONNX dtype codes: typed arrays in ONNX's convention (int64 as BigInt64Array, bool as Uint8Array, f16 as bits)
const ARRAYS = { 1: Float32Array, 2: Uint8Array, 3: Int8Array, 4: Uint16Array, 5: Int16Array, 6: Int32Array,
  7: BigInt64Array, 9: Uint8Array, 10: Uint16Array, 11: Float64Array, 12: Uint32Array, 13: BigUint64Array };
const ORT_TYPES = { 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
  9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64" };
const ORT_CODES = Object.fromEntries(Object.entries(ORT_TYPES).map(([k, v]) => [v, +k]));

function b64(a) {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = "";
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
  return btoa(s);
}

async function main() {
  const cfg = await (await fetch("/config.json")).json();
  const report = { userAgent: navigator.userAgent };
  try { // the full version (the user agent string says 150.0.0.0)
    const v = await navigator.userAgentData.getHighEntropyValues(["fullVersionList"]);
    report.fullVersion = v.fullVersionList.find((b) => /Chrom/.test(b.brand))?.version;
  } catch { /* not Chromium */ }
  if (!navigator.gpu) throw new Error("navigator.gpu is missing: WebGPU is off in this browser");
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("navigator.gpu.requestAdapter() gave no adapter");
  const i = adapter.info;
  report.adapter = { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
    isFallbackAdapter: !!(i.isFallbackAdapter ?? adapter.isFallbackAdapter) };
  log("adapter " + JSON.stringify(report.adapter));
  const data = [];
  for (let k = 0; k < cfg.inputs.length; k++) {
    const bytes = await (await fetch("/input/" + k + ".bin")).arrayBuffer();
    data.push(new ARRAYS[cfg.inputs[k].dtype](bytes));
  }

  // Saturn: the compiled module, on the adapter whose info is reported. Its shader modules are noted
  // (createShaderModule wrapped during load only) so that a failure can name the WGSL errors.
  const modules = [];
  const create = GPUDevice.prototype.createShaderModule;
  GPUDevice.prototype.createShaderModule = function (d) {
    const m = create.call(this, d);
    modules.push([d.label, m]);
    return m;
  };
  const shaderErrors = async () => {
    const found = [];
    for (const [label, m] of modules) {
      for (const x of (await m.getCompilationInfo()).messages) {
        if (x.type === "error") found.push(label + " " + x.lineNum + ":" + x.linePos + ": " + x.message);
      }
    }
    return found;
  };
  let t = performance.now();
  const { load } = await import(cfg.module);
  let model;
  try {
    model = await load({ adapter });
  } finally {
    GPUDevice.prototype.createShaderModule = create;
  }
  const saturn = { setupMs: performance.now() - t };
  const feeds = Object.fromEntries(cfg.inputs.map((x, k) => [x.name, { data: data[k], dims: x.dims }]));
  const runSaturn = () => model.run(feeds);
  t = performance.now();
  let out;
  try {
    out = await runSaturn();
  } catch (e) {
    const errs = await shaderErrors();
    if (!errs.length) throw e;
    throw new Error(e.message.split("\n")[0] + "; WGSL errors: " + [...new Set(errs)].slice(0, 5).join("; "));
  }
  saturn.firstMs = performance.now() - t;
  saturn.outputs = model.outputs.map((o) => ({ name: o.name, dtype: o.dtype, dims: out[o.name].dims,
    b64: b64(out[o.name].data) }));
  report.saturn = saturn;
  log("saturn loaded in " + saturn.setupMs.toFixed(1) + " ms, first run " + saturn.firstMs.toFixed(1) + " ms");

  // ONNX Runtime Web's WebGPU provider (its own adapter request: an adapter gives one device)
  let runOrt;
  if (cfg.ort) {
    try {
      const ort = await import(cfg.ort);
      ort.env.logLevel = "error";
      const bytes = new Uint8Array(await (await fetch("/model.onnx")).arrayBuffer());
      t = performance.now();
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"],
        logSeverityLevel: 3 });
      const ortweb = { setupMs: performance.now() - t };
      const ortFeeds = Object.fromEntries(cfg.inputs.map((x, k) =>
        [x.name, new ort.Tensor(ORT_TYPES[x.dtype], data[k], x.dims)]));
      runOrt = () => session.run(ortFeeds);
      t = performance.now();
      const r = await runOrt();
      ortweb.firstMs = performance.now() - t;
      ortweb.outputs = Object.entries(r).map(([name, v]) => ({ name, dtype: ORT_CODES[v.type], dims: [...v.dims],
        b64: b64(v.data) }));
      report.ortweb = ortweb;
      log("ortweb session in " + ortweb.setupMs.toFixed(1) + " ms, first run " + ortweb.firstMs.toFixed(1) + " ms");
    } catch (e) {
      report.ortwebError = String(e && e.message || e).split("\n")[0];
      log("ortweb failed: " + report.ortwebError);
      runOrt = undefined;
    }
  }

  // interleaved timing, outputs read back to the CPU each time (both give CPU typed arrays)
  const sides = [["saturn", runSaturn]];
  if (runOrt) sides.push(["ortweb", runOrt]);
  for (const [k] of sides) report[k].runs = [];
  for (let n = 0; n < cfg.warmup + cfg.iters; n++) {
    for (const [k, run] of n % 2 ? [...sides].reverse() : sides) {
      const t0 = performance.now();
      await run();
      const dt = performance.now() - t0;
      if (n >= cfg.warmup) report[k].runs.push(dt);
    }
  }
  model.destroy();
  await post("/result", JSON.stringify(report));
}

main().catch((e) => post("/result", JSON.stringify({ error: String(e && e.stack || e) })));
`;
