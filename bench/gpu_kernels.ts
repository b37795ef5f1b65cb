/**
 * Kernel figures on the GPU through Deno's WebGPU: the GEMM of codegen/gemm_fast.ts per tile
 * configuration and size (TFLOP/s, checked against a CPU reference), copy kernels (TB/s, bytes read
 * plus bytes written), and the latency of a read-back (mapAsync of a staging buffer after a submit).
 *
 *   deno run -A bench/gpu_kernels.ts            # the full run (GPU machine)
 *   deno run -A bench/gpu_kernels.ts --small    # tiny sizes: a smoke test on llvmpipe
 * Options: --configs=a,b (tile names as in GEMM_TILES, suffixes _sb single buffer, _loop k loop,
 * _tA/_tB transposes, _f16 storage), --sizes=1024,4096, --top=N (configs timed at every size),
 * --skip=gemm,copy,readback,check. Writes $OUT/gpu_kernels.json when OUT is set.
 *
 * Timing: each run of a kernel is its own compute pass, R passes in one command buffer and one
 * submit. With `timestamp-query`, each pass carries begin/end timestamps (the median of R is
 * reported as `ts`); the wall clock (`wall`) is the time from submit to onSubmittedWorkDone over R
 * runs, divided by R. Inputs are filled on the GPU from a hash of the index, which the CPU
 * reproduces bit for bit for the reference.
 * @module
 */
import {
  chooseGemmTile,
  chooseSplitK,
  type GemmKernel,
  gemmKernel,
  type GemmParams,
  gemmReference,
  type GemmTile,
} from "../codegen/gemm_fast.ts";

const args = Deno.args;
const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SMALL = args.includes("--small");
const skip = new Set((opt("skip") ?? "").split(",").filter((s) => s));
const OUT = Deno.env.get("OUT");

// ---------------------------------------------------------------- device
const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  console.error("no WebGPU adapter");
  Deno.exit(1);
}
const al = adapter.limits as unknown as Record<string, number>;
const requiredLimits: Record<string, number> = {};
for (
  const k of [
    "maxBufferSize",
    "maxStorageBufferBindingSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxComputeWorkgroupSizeZ",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ]
) if (typeof al[k] === "number") requiredLimits[k] = al[k];
const features = (["timestamp-query", "shader-f16"] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
device.lost.then((i) => console.error("DEVICE LOST", i.reason, i.message));
device.addEventListener("uncapturederror", (e) => {
  console.error("uncaptured WebGPU error:", (e as GPUUncapturedErrorEvent).error.message);
});
const hasTs = device.features.has("timestamp-query");
const hasF16 = device.features.has("shader-f16");
const info = adapter.info;
const gpuName = info.description || `${info.vendor} ${info.architecture} ${info.device}`;
console.log(`adapter: ${gpuName}; features: ${[...adapter.features].join(", ")}`);
console.log(
  `limits: maxBufferSize ${device.limits.maxBufferSize}, maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize}, workgroup storage ${device.limits.maxComputeWorkgroupStorageSize}, invocations ${device.limits.maxComputeInvocationsPerWorkgroup}`,
);
console.log(`timestamp queries: ${hasTs ? "yes (per pass, timestampWrites)" : "NO: wall clock only"}`);

const summary: Record<string, unknown> = {
  date: new Date().toISOString(),
  deno: Deno.version,
  adapter: { description: info.description, vendor: info.vendor, architecture: info.architecture, device: info.device },
  features: [...adapter.features],
  timestampQueries: hasTs,
  small: SMALL,
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};
const now = () => performance.now();
const S = GPUBufferUsage.STORAGE, CS = GPUBufferUsage.COPY_SRC, CD = GPUBufferUsage.COPY_DST;

async function pipelineOf(code: string, label: string): Promise<{ pipeline: GPUComputePipeline; ms: number }> {
  const t0 = now();
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code, label });
  const info = await module.getCompilationInfo();
  const errs = info.messages.filter((m) => m.type === "error");
  if (errs.length) {
    await device.popErrorScope();
    throw new Error(`${label}: ${errs.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ")}`);
  }
  const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } });
  const err = await device.popErrorScope();
  if (err) throw new Error(`${label}: ${err.message}`);
  return { pipeline, ms: now() - t0 };
}

function bindGroup(pipeline: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}

async function readBuffer(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
  const st = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | CD });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, st, 0, size);
  device.queue.submit([enc.finish()]);
  await st.mapAsync(GPUMapMode.READ);
  const out = st.getMappedRange().slice(0);
  st.unmap();
  st.destroy();
  return out;
}

interface Timing {
  /** median per-run time from timestamps (ms), when available */
  ts?: number;
  tsMin?: number;
  /** wall clock per run over R runs in one submit (ms) */
  wall: number;
  /** wall clock per run from the slope between R and R/4 runs (the fixed wait for completion cancels) */
  wallSlope?: number;
  reps: number;
}

/** One dispatch of a pipeline with its bind group. */
interface Step {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  dispatch: [number, number, number];
}

/** Times `reps` runs (each its own pass holding every step) in one submit. */
async function timeDispatch(steps: Step[], reps: number): Promise<Timing> {
  const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 2 * reps }) : undefined;
  const resolve = qs ? device.createBuffer({ size: 16 * reps, usage: GPUBufferUsage.QUERY_RESOLVE | CS }) : undefined;
  const read = qs ? device.createBuffer({ size: 16 * reps, usage: GPUBufferUsage.MAP_READ | CD }) : undefined;
  const enc = device.createCommandEncoder();
  for (let r = 0; r < reps; r++) {
    const pass = enc.beginComputePass(
      qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } } : {},
    );
    for (const st of steps) {
      pass.setPipeline(st.pipeline);
      pass.setBindGroup(0, st.group);
      pass.dispatchWorkgroups(...st.dispatch);
    }
    pass.end();
  }
  if (qs) {
    enc.resolveQuerySet(qs, 0, 2 * reps, resolve!, 0);
    enc.copyBufferToBuffer(resolve!, 0, read!, 0, 16 * reps);
  }
  const cb = enc.finish();
  const t0 = now();
  device.queue.submit([cb]);
  await device.queue.onSubmittedWorkDone();
  const wall = (now() - t0) / reps;
  const out: Timing = { wall, reps };
  if (qs) {
    await read!.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read!.getMappedRange().slice(0));
    read!.unmap();
    const d: number[] = [];
    for (let r = 0; r < reps; r++) d.push(Number(t[2 * r + 1] - t[2 * r]) / 1e6);
    // a zero or negative duration means the timestamps are not usable
    if (d.every((x) => x > 0)) {
      out.ts = median(d);
      out.tsMin = Math.min(...d);
    }
    qs.destroy();
    resolve!.destroy();
    read!.destroy();
  }
  return out;
}

/** Times a dispatch: one warm-up, a probe, then enough runs for ~targetMs of GPU time. */
async function timeAuto(steps: Step[], targetMs = SMALL ? 50 : 300, maxReps = 2000): Promise<Timing> {
  const probe = await timeDispatch(steps, 2);
  const one = probe.ts ?? probe.wall;
  // warm-up of ~150 ms of GPU time: an idle H100 clocks down, and short batches measured right
  // after the CPU-side checks ran up to 40% slow (same kernel: 0.131 vs 0.079 ms at 1024³)
  if (!SMALL) await timeDispatch(steps, Math.max(2, Math.min(2000, Math.ceil(150 / Math.max(one, 1e-3)))));
  const reps = Math.max(8, Math.min(maxReps, Math.ceil(targetMs / Math.max(one, 1e-3))));
  const t = await timeDispatch(steps, reps);
  const r2 = Math.floor(reps / 4);
  const t2 = await timeDispatch(steps, r2);
  t.wallSlope = (t.wall * reps - t2.wall * r2) / (reps - r2);
  return t;
}

/** Wall-clock ms per repetition of `encode` (n and n/4 repetitions in one submit each; the slope). */
async function wallSlope(encode: (enc: GPUCommandEncoder, n: number) => void, n: number): Promise<number> {
  const total = async (k: number) => {
    const enc = device.createCommandEncoder();
    encode(enc, k);
    const cb = enc.finish();
    const t0 = now();
    device.queue.submit([cb]);
    await device.queue.onSubmittedWorkDone();
    return now() - t0;
  };
  await total(2);
  const n2 = Math.max(1, Math.floor(n / 4));
  const a = await total(n), b = await total(n2);
  return (a - b) / (n - n2);
}

// ---------------------------------------------------------------- inputs from a hash
const HASH_WGSL = `
fn hsh(i: u32) -> u32 {
  var x = i * 747796405u + 2891336453u;
  x = ((x >> ((x >> 28u) + 4u)) ^ x) * 277803737u;
  return (x >> 22u) ^ x;
}
fn val(i: u32, seed: u32) -> f32 { return f32(hsh(i ^ (seed * 2654435769u)) >> 8u) * (1.0 / 8388608.0) - 1.0; }
`;
function hsh(i: number): number {
  let x = (Math.imul(i, 747796405) + 2891336453) >>> 0;
  x = Math.imul(((x >>> ((x >>> 28) + 4)) ^ x) >>> 0, 277803737) >>> 0;
  return ((x >>> 22) ^ x) >>> 0;
}
const f16r = (x: number) => new Float16Array([x])[0];
function val(i: number, seed: number, f16 = false): number {
  const v = (hsh((i ^ Math.imul(seed, 2654435769)) >>> 0) >>> 8) / 8388608 - 1;
  return f16 ? f16r(v) : v;
}
const fillPipes = new Map<string, GPUComputePipeline>();
/** Fills `buf` with val(i, seed) for i < n (f32, or f16 storage). */
async function fill(buf: GPUBuffer, n: number, seed: number, f16 = false): Promise<void> {
  const key = f16 ? "f16" : "f32";
  if (!fillPipes.has(key)) {
    const code = `${f16 ? "enable f16;" : ""}
@group(0) @binding(0) var<storage, read_write> o: array<${f16 ? "f16" : "f32"}>;
@group(0) @binding(1) var<uniform> prm: vec4<u32>; // n, seed, groups.x
${HASH_WGSL}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * prm.z + wid.x) * 256u + lid;
  if (i < prm.x) { o[i] = ${f16 ? "f16" : "f32"}(val(i, prm.y)); }
}`;
    fillPipes.set(key, (await pipelineOf(code, `fill_${key}`)).pipeline);
  }
  const pipe = fillPipes.get(key)!;
  const groups = Math.ceil(n / 256);
  const gx = Math.min(groups, 32768), gy = Math.ceil(groups / gx);
  const u = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | CD });
  device.queue.writeBuffer(u, 0, new Uint32Array([n, seed, gx, 0]));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, bindGroup(pipe, [buf, u]));
  pass.dispatchWorkgroups(gx, gy);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  u.destroy();
}

// ---------------------------------------------------------------- GEMM
/** "128x128x8_8x8[_sb][_loop][_tA][_tB][_f16]" → tile and problem flags. */
function parseConfig(
  name: string,
): { tile: GemmTile; transA: boolean; transB: boolean; f16: boolean; splitK?: number } {
  const m = /^(\d+)x(\d+)x(\d+)_(\d+)x(\d+)((?:_[a-zA-Z0-9]+)*)$/.exec(name);
  if (!m) throw new Error(`bad config name ${name}`);
  const flags = new Set(m[6].split("_").filter((s) => s));
  return {
    tile: {
      BM: +m[1],
      BN: +m[2],
      BK: +m[3],
      TM: +m[4],
      TN: +m[5],
      doubleBuffer: !flags.has("sb"),
      unroll: !flags.has("loop"),
      aLayout: flags.has("mk") ? "mk" : "km",
      transpose4: flags.has("sc") ? false : flags.has("x4") ? true : undefined,
      swizzle: Number([...flags].find((f) => /^sw\d+$/.test(f))?.slice(2) ?? 0),
    },
    transA: flags.has("tA"),
    transB: flags.has("tB"),
    f16: flags.has("f16"),
    splitK: Number([...flags].find((f) => /^sk\d+$/.test(f))?.slice(2) ?? 0) || undefined,
  };
}

/** A config name on a problem: "auto" (chosen tile), "autosk" (chosen tile and split-K), "auto_skN", or a tile name. */
function resolveConfig(
  config: string,
  base: GemmParams,
): { p: GemmParams; tile: GemmTile; name: (k: GemmKernel) => string } {
  if (config.startsWith("auto")) {
    const tile = chooseGemmTile(base);
    const sk = config === "autosk"
      ? chooseSplitK(base, tile)
      : Number(/_sk(\d+)$/.exec(config)?.[1] ?? base.splitK ?? 1);
    return {
      p: { ...base, splitK: sk },
      tile,
      name: (k) => `${config.replace(/_sk\d+$/, "")}(${tileName(tile)}${k.splitK > 1 ? `,sk${k.splitK}` : ""})`,
    };
  }
  const c = parseConfig(config);
  return {
    p: {
      ...base,
      transA: base.transA || c.transA,
      transB: base.transB || c.transB,
      f16: base.f16 || c.f16,
      splitK: c.splitK ?? base.splitK,
    },
    tile: c.tile,
    name: () => config,
  };
}

/** Pipelines and bind groups of a kernel (and its split-K reduction) over named buffers. */
async function stepsOf(
  k: GemmKernel,
  named: Record<string, GPUBuffer>,
  label: string,
): Promise<{ steps: Step[]; ms: number }> {
  const steps: Step[] = [];
  let ms = 0;
  for (const s of [k, ...(k.reduce ? [k.reduce] : [])]) {
    const { pipeline, ms: t } = await pipelineOf(s.code, label);
    ms += t;
    steps.push({ pipeline, group: bindGroup(pipeline, s.bindings.map((n) => named[n])), dispatch: s.dispatch });
  }
  return { steps, ms };
}
const tileName = (t: GemmTile) =>
  `${t.BM}x${t.BN}x${t.BK}_${t.TM}x${t.TN}${t.doubleBuffer === false ? "_sb" : ""}${t.unroll === false ? "_loop" : ""}${
    t.swizzle ? `_sw${t.swizzle}` : ""
  }${t.aLayout === "mk" ? "_mk" : ""}${t.transpose4 === false ? "_sc" : t.transpose4 ? "_x4" : ""}`;

interface GemmRow {
  config: string;
  M: number;
  N: number;
  K: number;
  batch: number;
  tflopsTs?: number;
  tflopsWall: number;
  tflopsWallSlope?: number;
  msTs?: number;
  msWall: number;
  reps: number;
  compileMs: number;
  maxRelErr: number;
  ok: boolean;
  error?: string;
}

/** Element (m, k) of A, or (k, n) of B, as the hash filled it (A seed 1, B seed 2). */
function aVal(p: GemmParams, m: number, k: number) {
  return val(p.transA ? k * p.M + m : m * p.K + k, 1, p.f16);
}
function bVal(p: GemmParams, k: number, n: number) {
  return val(p.transB ? n * p.K + k : k * p.N + n, 2, p.f16);
}

async function gemmRun(size: number[], config: string, targetMs?: number): Promise<GemmRow> {
  const [M, N, K] = size;
  const batch = size[3] ?? 1;
  const rc = resolveConfig(config, { M, N, K, batch });
  const p = rc.p;
  const f16 = !!p.f16;
  const row: GemmRow = {
    config,
    M,
    N,
    K,
    batch,
    tflopsWall: 0,
    msWall: 0,
    reps: 0,
    compileMs: 0,
    maxRelErr: NaN,
    ok: false,
  };
  if (f16 && !hasF16) return { ...row, error: "no shader-f16" };
  const es = f16 ? 2 : 4;
  const bufs: GPUBuffer[] = [];
  try {
    const k = gemmKernel(p, rc.tile);
    row.config = rc.name(k);
    if (k.workgroupBytes > device.limits.maxComputeWorkgroupStorageSize) {
      throw new Error(`needs ${k.workgroupBytes} B of workgroup memory`);
    }
    const pad = (n: number) => Math.ceil((n * es) / 16) * 16;
    const a = device.createBuffer({ size: pad(batch * M * K), usage: S | CD });
    const b = device.createBuffer({ size: pad(batch * K * N), usage: S | CD });
    const o = device.createBuffer({ size: pad(batch * M * N), usage: S | CS | CD });
    bufs.push(a, b, o);
    const named: Record<string, GPUBuffer> = { a, b, out: o };
    if (k.reduce) bufs.push(named.partial = device.createBuffer({ size: k.scratchBytes, usage: S }));
    await fill(a, batch * M * K, 1, f16);
    await fill(b, batch * K * N, 2, f16);
    const { steps, ms } = await stepsOf(k, named, row.config);
    row.compileMs = ms;
    const t = await timeAuto(steps, targetMs);
    const flop = 2 * M * N * K * batch;
    row.reps = t.reps;
    row.msWall = t.wall;
    row.tflopsWall = flop / (t.wall * 1e-3) / 1e12;
    if (t.wallSlope) row.tflopsWallSlope = flop / (t.wallSlope * 1e-3) / 1e12;
    if (t.ts !== undefined) {
      row.msTs = t.ts;
      row.tflopsTs = flop / (t.ts * 1e-3) / 1e12;
    }
    // spot check: rows 0, M/2, M-1 at 48 columns (and the last) against a float64 reference
    const rows = [...new Set([0, Math.floor(M / 2), M - 1])];
    const cols = [...new Set([...Array.from({ length: 48 }, (_, i) => Math.floor((i * N) / 48)), N - 1])];
    let num = 0, den = 0, worst = 0;
    for (const m of rows) {
      const rowBytes = N * es;
      const off = m * rowBytes;
      const al4 = off - (off % 4), len = Math.ceil((off + rowBytes - al4) / 4) * 4;
      const raw = await readBuffer(o, al4, Math.min(len, o.size - al4));
      const got = (n: number) => f16 ? new Float16Array(raw, off - al4, N)[n] : new Float32Array(raw, off - al4, N)[n];
      const av = Float64Array.from({ length: K }, (_, kk) => aVal(p, m, kk));
      for (const n of cols) {
        let s = 0;
        for (let kk = 0; kk < K; kk++) s += av[kk] * bVal(p, kk, n);
        const g = got(n);
        const d = Math.abs(g - s);
        num += d * d;
        den += s * s;
        worst = Math.max(worst, Number.isFinite(g) ? d / Math.sqrt(K / 3) : Infinity);
      }
    }
    // ‖got − ref‖ / ‖ref‖ on the sample; f16 output rounding alone is ~3e-4
    row.maxRelErr = Math.sqrt(num / den);
    row.ok = row.maxRelErr < (f16 ? 2e-3 : 1e-5) && worst < (f16 ? 1e-2 : 1e-4);
  } catch (e) {
    row.error = e instanceof Error ? e.message.slice(0, 300) : String(e);
  } finally {
    for (const x of bufs) x.destroy();
  }
  return row;
}

/** Full check of one configuration on a ragged problem with transposes, bias and ReLU (small, CPU reference). */
async function gemmCheck(
  config: string,
  p: GemmParams,
): Promise<{ config: string; shape: string; ok: boolean; err: string }> {
  const rc = resolveConfig(config, p);
  const q = rc.p;
  const shape = JSON.stringify(q);
  if (q.f16 && !hasF16) return { config, shape, ok: true, err: "skipped (no shader-f16)" };
  const batch = q.batch ?? 1;
  const es = q.f16 ? 2 : 4;
  const nA = batch * q.M * q.K, nB = batch * q.K * q.N, nC = q.bias === "row" ? q.N : q.M * q.N, nO = batch * q.M * q.N;
  const pad = (n: number) => Math.max(16, Math.ceil((n * es) / 16) * 16);
  const bufs: GPUBuffer[] = [];
  try {
    const k = gemmKernel(q, rc.tile);
    const a = device.createBuffer({ size: pad(nA), usage: S | CD });
    const b = device.createBuffer({ size: pad(nB), usage: S | CD });
    const cb = device.createBuffer({ size: pad(nC), usage: S | CD });
    const o = device.createBuffer({ size: pad(nO), usage: S | CS | CD });
    bufs.push(a, b, cb, o);
    await fill(a, nA, 11, q.f16);
    await fill(b, nB, 12, q.f16);
    await fill(cb, nC, 13, q.f16);
    const named: Record<string, GPUBuffer> = { a, b, c: cb, out: o };
    if (k.reduce) bufs.push(named.partial = device.createBuffer({ size: k.scratchBytes, usage: S }));
    const { steps } = await stepsOf(k, named, config);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const st of steps) {
      pass.setPipeline(st.pipeline);
      pass.setBindGroup(0, st.group);
      pass.dispatchWorkgroups(...st.dispatch);
    }
    pass.end();
    device.queue.submit([enc.finish()]);
    const raw = await readBuffer(o, 0, o.size);
    const got = q.f16 ? new Float16Array(raw, 0, nO) : new Float32Array(raw, 0, nO);
    const gen = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => val(i, seed, q.f16));
    const ref = gemmReference(q, gen(nA, 11), gen(nB, 12), gen(nC, 13));
    const [atol, rtol] = q.f16 ? [3e-2, 1e-2] : [1e-4, 1e-3];
    let bad = 0, first = "";
    for (let i = 0; i < nO; i++) {
      if (!(Math.abs(got[i] - ref[i]) <= atol + rtol * Math.abs(ref[i]))) {
        if (!bad++) first = `out[${i}] = ${got[i]}, expected ${ref[i]}`;
      }
    }
    return { config, shape, ok: bad === 0, err: bad ? `${bad} wrong; ${first}` : "" };
  } catch (e) {
    return { config, shape, ok: false, err: e instanceof Error ? e.message.slice(0, 300) : String(e) };
  } finally {
    for (const x of bufs) x.destroy();
  }
}

const defaultConfigs = SMALL
  ? ["16x32x8_4x4", "32x32x4_8x8", "16x32x8_4x4_tB", "16x32x8_4x4_mk", "16x32x8_4x4_x4_sb", "16x32x8_4x4_sk3"]
  : [
    "64x128x16_8x8",
    "128x64x16_8x8",
    "128x128x16_8x8_sb",
    "64x64x16_8x8",
    "128x128x8_8x8",
    "64x128x16_8x8_mk",
    "64x128x16_8x8_tA_sb",
    "64x128x16_8x8_tB",
    "64x128x16_8x8_f16_sb",
    "32x32x16_4x4",
  ];
const configs = opt("configs")?.split(",") ?? defaultConfigs;
const sizes = (opt("sizes")?.split(",").map(Number)) ?? (SMALL ? [64, 128] : [1024, 2048, 4096, 8192]);
const sweepSize = SMALL ? 128 : sizes.includes(4096) ? 4096 : sizes[sizes.length - 1];
const top = Number(opt("top") ?? (SMALL ? 2 : 4));

const gemmRows: GemmRow[] = [];
const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));
function printGemm(r: GemmRow) {
  console.log(
    `gemm ${String(r.M).padStart(5)}³ ${r.config.padEnd(24)} ts ${fmt(r.tflopsTs).padStart(6)} TFLOP/s (${
      fmt(r.msTs, 3)
    } ms)  wall ${fmt(r.tflopsWall).padStart(6)} TFLOP/s  slope ${
      fmt(r.tflopsWallSlope).padStart(6)
    }  reps ${r.reps}  compile ${r.compileMs.toFixed(0)} ms  relErr ${r.maxRelErr.toExponential(1)} ${
      r.ok ? "ok" : "FAIL"
    } ${r.error ?? ""}`,
  );
}
if (!skip.has("gemm")) {
  // the sweep: every config at the sweep size
  for (const cfg of configs) {
    const r = await gemmRun([sweepSize, sweepSize, sweepSize], cfg);
    gemmRows.push(r);
    printGemm(r);
  }
  // the best few (f32, no transposes) and the automatic choice at every size
  const rate = (r: GemmRow) => (r.ok ? (r.tflopsTs ?? r.tflopsWall) : 0);
  const best = gemmRows.filter((r) => !/_t[AB]|_f16|_mk|_sk/.test(r.config)).sort((x, y) => rate(y) - rate(x))
    .slice(0, top).map((r) => r.config);
  const f16best = gemmRows.filter((r) => /_f16/.test(r.config)).sort((x, y) => rate(y) - rate(x)).slice(0, 1);
  const withF16 = [...best, ...f16best.map((r) => r.config), "auto", "autosk"];
  for (const s of sizes) {
    for (const cfg of withF16) {
      if (s === sweepSize && !cfg.startsWith("auto")) continue;
      const r = await gemmRun([s, s, s], cfg);
      gemmRows.push(r);
      printGemm(r);
    }
  }
  summary.gemm = gemmRows;
}

if (!skip.has("shapes")) {
  // shapes from real models (batch 1): the automatic tile against fixed ones, µs per GEMM
  const shapes: [string, number[]][] = SMALL ? [["tiny", [7, 13, 5]], ["attn", [16, 16, 8, 3]]] : [
    ["bert qkv 128×2304×768", [128, 2304, 768]],
    ["bert out 128×768×768", [128, 768, 768]],
    ["bert ffn1 128×3072×768", [128, 3072, 768]],
    ["bert ffn2 128×768×3072", [128, 768, 3072]],
    ["attn QKᵀ 12×128×128×64", [128, 128, 64, 12]],
    ["attn PV 12×128×64×128", [128, 64, 128, 12]],
    ["resnet 3136×64×576", [3136, 64, 576]],
    ["resnet 784×128×1152", [784, 128, 1152]],
    ["resnet 196×256×2304", [196, 256, 2304]],
    ["resnet 49×512×4608", [49, 512, 4608]],
    ["fc 1×1000×2048", [1, 1000, 2048]],
  ];
  const alts = SMALL
    ? ["auto", "autosk", "16x16x4_4x4"]
    : ["auto", "autosk", "auto_sk2", "auto_sk4", "auto_sk8", "auto_sk16", "64x64x16_8x8_sk4"];
  const rows: Record<string, unknown>[] = [];
  for (const [name, shape] of shapes) {
    const line: string[] = [];
    for (const cfg of alts) {
      const r = await gemmRun(shape, cfg, SMALL ? 20 : 100);
      rows.push({ shape: name, ...r });
      line.push(
        `${r.config} ${fmt((r.msTs ?? r.msWall) * 1e3, 1)} µs ${fmt(r.tflopsTs ?? r.tflopsWall, 1)} TF${
          r.ok ? "" : " FAIL"
        }`,
      );
    }
    console.log(`shape ${name}: ${line.join(" | ")}`);
  }
  summary.shapes = rows;
}

if (!skip.has("check")) {
  // every config, in full, on ragged problems: transposes, batch, alpha, bias, relu
  const checks = [];
  const shapes: GemmParams[] = SMALL
    ? [{ M: 37, N: 45, K: 29, transA: true, bias: "row", alpha: 0.5 }, { M: 20, N: 12, K: 70, splitK: 3, bias: "row" }]
    : [
      { M: 100, N: 260, K: 1000, splitK: 3, bias: "row", activation: "relu", alpha: 2 },
      { M: 509, N: 515, K: 259 },
      { M: 300, N: 260, K: 131, batch: 2, transA: true, transB: true, bias: "full", alpha: 0.5, activation: "relu" },
      { M: 256, N: 384, K: 96, transB: true, bias: "row", activation: "relu" },
    ];
  for (const cfg of [...configs, "auto", "autosk"]) {
    for (const s of shapes) {
      const r = await gemmCheck(cfg, s);
      checks.push(r);
      if (!r.ok || r.err) console.log(`check ${cfg} ${r.shape}: ${r.ok ? "ok" : "FAIL"} ${r.err}`);
    }
  }
  console.log(`full checks: ${checks.filter((c) => c.ok).length}/${checks.length} ok`);
  summary.gemmChecks = checks;
}

// ---------------------------------------------------------------- copy
interface CopyVariant {
  name: string;
  wg: number;
  /** vec4s per thread (unrolled, strided by wg) */
  per: number;
  /** a fixed grid with a grid-stride loop (workgroups), else one block per workgroup */
  grid?: number;
  scalar?: boolean;
}
function copyCode(v: CopyVariant, n4: number): { code: string; dispatch: [number, number, number] } {
  const T = v.scalar ? "f32" : "vec4<f32>";
  const n = v.scalar ? n4 * 4 : n4;
  const head = `@group(0) @binding(0) var<storage, read> src: array<${T}>;
@group(0) @binding(1) var<storage, read_write> dst: array<${T}>;
`;
  if (v.grid) {
    const stride = v.grid * v.wg;
    const loads = Array.from({ length: v.per }, (_, j) => `let v${j} = src[i + ${j * stride}u];`).join(" ");
    const stores = Array.from({ length: v.per }, (_, j) => `dst[i + ${j * stride}u] = v${j};`).join(" ");
    return {
      code: `${head}
@compute @workgroup_size(${v.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var i = wid.x * ${v.wg}u + lid;
  for (; i + ${(v.per - 1) * stride}u < ${n}u; i += ${v.per * stride}u) { ${loads} ${stores} }
  for (; i < ${n}u; i += ${stride}u) { dst[i] = src[i]; }
}`,
      dispatch: [v.grid, 1, 1],
    };
  }
  const block = v.wg * v.per;
  const groups = Math.ceil(n / block);
  const gx = Math.min(groups, 32768), gy = Math.ceil(groups / gx);
  const loads = Array.from({ length: v.per }, (_, j) => `let v${j} = src[base + ${j * v.wg}u];`).join("\n  ");
  const stores = Array.from({ length: v.per }, (_, j) => `dst[base + ${j * v.wg}u] = v${j};`).join("\n  ");
  const exact = n % block === 0;
  return {
    code: `${head}
@compute @workgroup_size(${v.wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wid.y * ${gx}u + wid.x;
  if (blk >= ${groups}u) { return; }
  let base = blk * ${block}u + lid;
  ${
      exact ? `${loads}\n  ${stores}` : Array.from(
        { length: v.per },
        (_, j) => `if (base + ${j * v.wg}u < ${n}u) { dst[base + ${j * v.wg}u] = src[base + ${j * v.wg}u]; }`,
      ).join("\n  ")
    }
}`,
    dispatch: [gx, gy, 1],
  };
}
const copyVariants: CopyVariant[] = [
  { name: "f32_x1_wg256", wg: 256, per: 1, scalar: true },
  { name: "v4_x1_wg256", wg: 256, per: 1 },
  { name: "v4_x2_wg256", wg: 256, per: 2 },
  { name: "v4_x4_wg256", wg: 256, per: 4 },
  { name: "v4_x8_wg256", wg: 256, per: 8 },
  { name: "v4_x4_wg64", wg: 64, per: 4 },
  { name: "v4_x4_wg128", wg: 128, per: 4 },
  { name: "v4_x4_wg512", wg: 512, per: 4 },
  { name: "v4_x4_wg1024", wg: 1024, per: 4 },
  { name: "v4_x1_wg1024", wg: 1024, per: 1 },
  { name: "v4_gs1_wg256_g1056", wg: 256, per: 1, grid: 1056 },
  { name: "v4_gs4_wg256_g1056", wg: 256, per: 4, grid: 1056 },
  { name: "v4_gs4_wg256_g4224", wg: 256, per: 4, grid: 4224 },
  { name: "v4_gs4_wg512_g2112", wg: 512, per: 4, grid: 2112 },
  { name: "v4_gs2_wg1024_g1056", wg: 1024, per: 2, grid: 1056 },
];
if (!skip.has("copy")) {
  const copyRows: Record<string, unknown>[] = [];
  const copySizes = SMALL ? [1 << 20, 4 << 20] : [256 << 20, 1 << 30];
  for (const bytes of copySizes) {
    const src = device.createBuffer({ size: bytes, usage: S | CD | CS });
    const dst = device.createBuffer({ size: bytes, usage: S | CS | CD });
    await fill(src, bytes / 4, 5);
    // the copy engine, for comparison (wall clock over several copies in one submit)
    {
      const ms = await wallSlope((enc, n) => {
        for (let r = 0; r < n; r++) enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
      }, SMALL ? 8 : Math.round(80 * (256 << 20) / bytes));
      const row = { variant: "copyBufferToBuffer", bytes, tbpsWall: (2 * bytes) / (ms * 1e-3) / 1e12, msWall: ms };
      copyRows.push(row);
      console.log(
        `copy ${(bytes / 2 ** 20).toFixed(0)} MiB ${"copyBufferToBuffer".padEnd(22)} wall ${
          row.tbpsWall.toFixed(3)
        } TB/s`,
      );
    }
    for (const v of copyVariants) {
      try {
        if (v.wg > device.limits.maxComputeInvocationsPerWorkgroup) continue;
        const { code, dispatch } = copyCode(v, bytes / 16);
        const { pipeline } = await pipelineOf(code, v.name);
        const group = bindGroup(pipeline, [src, dst]);
        const clear = device.createCommandEncoder();
        clear.clearBuffer(dst);
        device.queue.submit([clear.finish()]);
        const t = await timeAuto([{ pipeline, group, dispatch }], SMALL ? 20 : 200, 200);
        // many dispatches in one pass, wall clock
        const reps = t.reps;
        const onePass = await wallSlope((enc, n) => {
          const pass = enc.beginComputePass();
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          for (let r = 0; r < n; r++) pass.dispatchWorkgroups(...dispatch);
          pass.end();
        }, reps);
        // check a few places
        const probe = [0, bytes / 2 - 64, bytes - 64];
        let ok = true;
        for (const off of probe) {
          const got = new Float32Array(await readBuffer(dst, off, 64));
          for (let i = 0; i < 16; i++) if (got[i] !== val(off / 4 + i, 5)) ok = false;
        }
        const tb = (ms: number | undefined) => (ms ? (2 * bytes) / (ms * 1e-3) / 1e12 : undefined);
        const row = {
          variant: v.name,
          bytes,
          tbpsTs: tb(t.ts),
          tbpsWall: tb(t.wall),
          tbpsWallSlope: tb(t.wallSlope),
          tbpsOnePassWall: tb(onePass),
          msTs: t.ts,
          msWall: t.wall,
          reps,
          ok,
        };
        copyRows.push(row);
        console.log(
          `copy ${(bytes / 2 ** 20).toFixed(0)} MiB ${v.name.padEnd(22)} ts ${fmt(row.tbpsTs, 3)} TB/s  wall ${
            fmt(row.tbpsWall, 3)
          } (slope ${fmt(row.tbpsWallSlope, 3)}) TB/s  one-pass wall slope ${
            fmt(row.tbpsOnePassWall, 3)
          } TB/s  reps ${reps} ${ok ? "ok" : "WRONG"}`,
        );
      } catch (e) {
        copyRows.push({ variant: v.name, bytes, error: String(e) });
        console.log(`copy ${v.name}: ${e}`);
      }
    }
    src.destroy();
    dst.destroy();
  }
  summary.copy = copyRows;
}

// ---------------------------------------------------------------- read-back latency
if (!skip.has("readback")) {
  const iters = SMALL ? 10 : 100;
  const rows: Record<string, unknown>[] = [];
  const incCode = `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&o)) { o[g.x] = o[g.x] + 1u; } }`;
  const { pipeline: inc } = await pipelineOf(incCode, "inc");
  const stats = (xs: number[]) => ({
    median: median(xs),
    p10: pct(xs, 0.1),
    p90: pct(xs, 0.9),
    min: Math.min(...xs),
    max: Math.max(...xs),
  });
  for (const bytes of [4, 4096, 4 << 20]) {
    const buf = device.createBuffer({ size: bytes, usage: S | CS | CD });
    const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | CD });
    const group = bindGroup(inc, [buf]);
    let expect = 0;
    const work = (copy: boolean) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(inc);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(bytes / 4 / 256));
      pass.end();
      if (copy) enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
      expect++;
      return enc.finish();
    };
    let wrong = 0;
    const readCheck = () => {
      const u = new Uint32Array(staging.getMappedRange());
      if (u[0] !== expect || u[u.length - 1] !== expect) wrong++;
      staging.unmap();
    };
    const direct: number[] = [], doneOnly: number[] = [], doneThenMap: number[] = [], mapAfterDone: number[] = [];
    const emptyDone: number[] = [];
    // warm-up
    for (let i = 0; i < 3; i++) {
      device.queue.submit([work(true)]);
      await staging.mapAsync(GPUMapMode.READ);
      readCheck();
    }
    for (let i = 0; i < iters; i++) {
      // submit, then mapAsync directly
      let t0 = now();
      device.queue.submit([work(true)]);
      await staging.mapAsync(GPUMapMode.READ);
      readCheck();
      direct.push(now() - t0);
      // submit, onSubmittedWorkDone, then mapAsync
      t0 = now();
      device.queue.submit([work(true)]);
      await device.queue.onSubmittedWorkDone();
      const t1 = now();
      await staging.mapAsync(GPUMapMode.READ);
      readCheck();
      const t2 = now();
      doneOnly.push(t1 - t0);
      doneThenMap.push(t2 - t0);
      mapAfterDone.push(t2 - t1);
      // onSubmittedWorkDone with nothing pending
      t0 = now();
      await device.queue.onSubmittedWorkDone();
      emptyDone.push(now() - t0);
    }
    // onSubmittedWorkDone while empty submits nudge the device (wgpu-core polls after a submit)
    const spin: number[] = [];
    for (let i = 0; i < iters; i++) {
      const t0 = now();
      device.queue.submit([work(false)]);
      let done = false;
      const p = device.queue.onSubmittedWorkDone().then(() => (done = true));
      while (!done) {
        await new Promise((r) => setTimeout(r, 0));
        device.queue.submit([]);
      }
      await p;
      spin.push(now() - t0);
    }
    // pipelined: DEPTH staging buffers, read-back of iteration i awaited after submitting i + DEPTH - 1
    const DEPTH = 4;
    const ring = Array.from(
      { length: DEPTH },
      () => device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | CD }),
    );
    const pending: { p: Promise<void>; buf: GPUBuffer; want: number }[] = [];
    let pipeWrong = 0;
    const drain = async () => {
      const x = pending.shift()!;
      await x.p;
      const u = new Uint32Array(x.buf.getMappedRange());
      if (u[0] !== x.want || u[u.length - 1] !== x.want) pipeWrong++;
      x.buf.unmap();
    };
    const tp0 = now();
    for (let i = 0; i < iters; i++) {
      if (pending.length === DEPTH) await drain();
      const st = ring[i % DEPTH];
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(inc);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(Math.ceil(bytes / 4 / 256));
      pass.end();
      enc.copyBufferToBuffer(buf, 0, st, 0, bytes);
      device.queue.submit([enc.finish()]);
      expect++;
      pending.push({ p: st.mapAsync(GPUMapMode.READ), buf: st, want: expect });
    }
    while (pending.length) await drain();
    const pipelinedPerIter = (now() - tp0) / iters;
    for (const r of ring) r.destroy();
    const row = {
      bytes,
      iters,
      wrongReads: wrong + pipeWrong,
      pipelinedDepth4PerIterMs: pipelinedPerIter,
      onSubmittedWorkDoneWithEmptySubmits: stats(spin),
      mapDirect: stats(direct),
      onSubmittedWorkDone: stats(doneOnly),
      doneThenMapTotal: stats(doneThenMap),
      mapAfterDone: stats(mapAfterDone),
      onSubmittedWorkDoneIdle: stats(emptyDone),
    };
    rows.push(row);
    console.log(
      `readback ${String(bytes).padStart(8)} B: mapAsync after submit ${fmt(row.mapDirect.median, 3)} ms (p10 ${
        fmt(row.mapDirect.p10, 3)
      }, p90 ${fmt(row.mapDirect.p90, 3)}); onSubmittedWorkDone ${
        fmt(row.onSubmittedWorkDone.median, 3)
      } ms + mapAsync ${fmt(row.mapAfterDone.median, 3)} ms = ${
        fmt(row.doneThenMapTotal.median, 3)
      } ms; idle onSubmittedWorkDone ${fmt(row.onSubmittedWorkDoneIdle.median, 3)} ms; done with empty submits ${
        fmt(row.onSubmittedWorkDoneWithEmptySubmits.median, 3)
      } ms; pipelined (4 in flight) ${fmt(pipelinedPerIter, 3)} ms/iter; wrong reads ${row.wrongReads}`,
    );
    buf.destroy();
    staging.destroy();
  }
  // a read-back after real work: k copies of 256 MiB (each ~0.2 ms on a 3 TB/s card), then 4 bytes
  {
    const bytes = SMALL ? 1 << 20 : 256 << 20;
    const src = device.createBuffer({ size: bytes, usage: S | CD });
    const dst = device.createBuffer({ size: bytes, usage: S | CS });
    const { code, dispatch } = copyCode({ name: "v4_x1_wg256", wg: 256, per: 1 }, bytes / 16);
    const { pipeline } = await pipelineOf(code, "copy");
    const group = bindGroup(pipeline, [src, dst]);
    const staging = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | CD });
    const after: Record<string, unknown>[] = [];
    for (const k of [1, 5, 25]) {
      const lat: number[] = [], gpu: number[] = [];
      for (let i = 0; i < (SMALL ? 3 : 20); i++) {
        const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 2 }) : undefined;
        const qb = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | CS });
        const qr = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | CD });
        const enc = device.createCommandEncoder();
        const pass = enc.beginComputePass(
          qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
        );
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        for (let j = 0; j < k; j++) pass.dispatchWorkgroups(...dispatch);
        pass.end();
        enc.copyBufferToBuffer(dst, 0, staging, 0, 4);
        if (qs) {
          enc.resolveQuerySet(qs, 0, 2, qb, 0);
          enc.copyBufferToBuffer(qb, 0, qr, 0, 16);
        }
        const cb = enc.finish();
        const t0 = now();
        device.queue.submit([cb]);
        await staging.mapAsync(GPUMapMode.READ);
        lat.push(now() - t0);
        staging.unmap();
        if (qs) {
          await qr.mapAsync(GPUMapMode.READ);
          const t = new BigUint64Array(qr.getMappedRange());
          gpu.push(Number(t[1] - t[0]) / 1e6);
          qr.unmap();
          qs.destroy();
        }
        qb.destroy();
        qr.destroy();
      }
      const row = { copies: k, latencyMs: stats(lat), gpuMs: gpu.length ? stats(gpu) : undefined };
      after.push(row);
      console.log(
        `readback after ${k} × ${bytes >> 20} MiB copies: submit→mapped ${fmt(row.latencyMs.median, 3)} ms, GPU work ${
          fmt(row.gpuMs?.median, 3)
        } ms, difference ${fmt(row.latencyMs.median - (row.gpuMs?.median ?? 0), 3)} ms`,
      );
    }
    summary.readbackAfterWork = after;
    for (const x of [src, dst, staging]) x.destroy();
  }
  summary.readback = rows;
}

// ---------------------------------------------------------------- per-dispatch overhead
if (!skip.has("dispatch")) {
  const code = `@group(0) @binding(0) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) i: u32) { o[i] = o[i] + 1u; }`;
  const { pipeline } = await pipelineOf(code, "tiny");
  const bufs = Array.from({ length: 8 }, () => device.createBuffer({ size: 256, usage: S }));
  const groups = bufs.map((b) => bindGroup(pipeline, [b]));
  const N = SMALL ? 64 : 2000;
  const modes: Record<string, (enc: GPUCommandEncoder, n: number) => void> = {
    "one pass, same buffer": (enc, n) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, groups[0]);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
      pass.end();
    },
    "one pass, 8 buffers in turn": (enc, n) => {
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      for (let i = 0; i < n; i++) {
        pass.setBindGroup(0, groups[i % 8]);
        pass.dispatchWorkgroups(1);
      }
      pass.end();
    },
    "a pass per dispatch": (enc, n) => {
      for (let i = 0; i < n; i++) {
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, groups[i % 8]);
        pass.dispatchWorkgroups(1);
        pass.end();
      }
    },
  };
  const rows: Record<string, unknown>[] = [];
  for (const [name, encode] of Object.entries(modes)) {
    // CPU cost of encoding (JS → Deno ops → wgpu), then GPU-side cost per dispatch (wall slope)
    const enc = device.createCommandEncoder();
    const t0 = now();
    encode(enc, N);
    const cb = enc.finish();
    const encodeUs = ((now() - t0) / N) * 1e3;
    const t1 = now();
    device.queue.submit([cb]);
    const submitUs = ((now() - t1) / N) * 1e3;
    await device.queue.onSubmittedWorkDone();
    const gpuUs = (await wallSlope(encode, N)) * 1e3;
    rows.push({
      mode: name,
      dispatches: N,
      encodeUsPerDispatch: encodeUs,
      submitUsPerDispatch: submitUs,
      gpuUsPerDispatch: gpuUs,
    });
    console.log(
      `dispatch ${name.padEnd(28)}: encode ${encodeUs.toFixed(2)} µs, submit ${
        submitUs.toFixed(2)
      } µs, GPU (wall slope) ${gpuUs.toFixed(2)} µs per dispatch`,
    );
  }
  // a submit per dispatch
  {
    const n = SMALL ? 16 : 500;
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const enc = device.createCommandEncoder();
      modes["one pass, same buffer"](enc, 1);
      device.queue.submit([enc.finish()]);
    }
    const cpu = ((now() - t0) / n) * 1e3;
    await device.queue.onSubmittedWorkDone();
    const total = ((now() - t0) / n) * 1e3;
    rows.push({ mode: "a submit per dispatch", dispatches: n, cpuUsPerSubmit: cpu, totalUsPerSubmit: total });
    console.log(
      `dispatch ${"a submit per dispatch".padEnd(28)}: CPU ${cpu.toFixed(2)} µs, to done ${
        total.toFixed(2)
      } µs per submit`,
    );
  }
  for (const b of bufs) b.destroy();
  summary.dispatch = rows;
}

// ---------------------------------------------------------------- summary
if (summary.gemm) {
  console.log("\nGEMM (TFLOP/s; ts = timestamp median per run, wall = submit→done over R runs)");
  console.log("| size | config | ts TFLOP/s | wall TFLOP/s | wall slope TFLOP/s | ms (ts) | check |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of gemmRows) {
    console.log(
      `| ${r.M}³ | ${r.config} | ${fmt(r.tflopsTs)} | ${fmt(r.tflopsWall)} | ${fmt(r.tflopsWallSlope)} | ${
        fmt(r.msTs, 3)
      } | ${r.ok ? "ok" : "FAIL " + (r.error ?? "")} |`,
    );
  }
}
if (OUT) {
  await Deno.writeTextFile(`${OUT}/gpu_kernels.json`, JSON.stringify(summary, null, 1));
  console.log(`wrote ${OUT}/gpu_kernels.json`);
}
