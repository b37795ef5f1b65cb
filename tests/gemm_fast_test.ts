// codegen/gemm_fast.ts against a float64 CPU reference, on whatever WebGPU adapter is here
// (llvmpipe on CI: small shapes only). Skipped when there is no adapter.
import {
  chooseGemmTile,
  chooseSplitK,
  gemmKernel,
  type GemmParams,
  gemmReference,
  type GemmTile,
} from "../codegen/gemm_fast.ts";

const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" }).catch(() => null) ?? null;
const noGpu = adapter === null;
const NO_GPU_MSG = "gemm_fast: no WebGPU adapter here (install mesa-vulkan-drivers for llvmpipe); GPU tests skipped";
if (noGpu) console.warn(NO_GPU_MSG);

let devicePromise: Promise<GPUDevice> | undefined;
function device(): Promise<GPUDevice> {
  devicePromise ??= (async () => {
    const al = adapter!.limits as unknown as Record<string, number>;
    const requiredLimits: Record<string, number> = {};
    for (
      const k of ["maxComputeWorkgroupStorageSize", "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX"]
    ) {
      requiredLimits[k] = al[k];
    }
    const requiredFeatures = (["shader-f16"] as GPUFeatureName[]).filter((f) => adapter!.features.has(f));
    return await adapter!.requestDevice({ requiredLimits, requiredFeatures });
  })();
  return devicePromise;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296 * 2 - 1;
  };
}

function f16Round(x: Float32Array): Float32Array<ArrayBuffer> {
  const h = new Float16Array(x);
  return new Float32Array(h);
}

/**
 * Runs the kernel for `p` (tile optional) on random inputs; returns the max violation of |d| ≤ atol + rtol·|ref|.
 * With `hook`, the store goes through a general epilogue that writes 2·v + 1 into its own binding.
 */
async function check(p: GemmParams, tile?: GemmTile, seed = 1, hook = false): Promise<void> {
  const dev = await device();
  const batch = p.batch ?? 1;
  const sA = p.batchStrideA ?? p.M * p.K, sB = p.batchStrideB ?? p.K * p.N;
  const r = rng(seed * 7919 + p.M * 31 + p.N * 17 + p.K);
  const gen = (n: number) => Float32Array.from({ length: n }, r);
  let a = gen(sA * (batch - 1) + p.M * p.K);
  let b = gen(sB * (batch - 1) + p.K * p.N);
  const sC = p.batchStrideBias ?? 0;
  const cLen = p.bias === "row" ? p.N : p.M * p.N;
  let c = p.bias && p.bias !== "none" ? gen(sC * (batch - 1) + cLen) : undefined;
  if (p.f16) {
    a = f16Round(a);
    b = f16Round(b);
    if (c) c = f16Round(c);
  }
  if (hook) {
    p = {
      ...p,
      epilogue: (first) => ({
        decls:
          `@group(0) @binding(${first}) var<storage, read_write> E: array<f32>;\nfn twice(x: f32) -> f32 { return 2.0 * x; }`,
        store: `let e = bz * ${p.M * p.N}u + m * ${p.N}u + n; E[e] = twice(v) + 1.0;`,
      }),
    };
  }
  const k = gemmKernel(p, tile);
  // the hook's binding follows those of the kernel that stores the output
  const names = (
    s: { bindings: string[] },
  ) => [...s.bindings, ...(hook && (!k.reduce || s === k.reduce) ? ["out"] : [])];
  const esize = p.f16 ? 2 : 4;
  const buf = (data: Float32Array | null, n: number) => {
    const size = Math.max(16, Math.ceil((n * esize) / 16) * 16);
    const g = dev.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    const range = g.getMappedRange();
    if (p.f16) new Float16Array(range).set(data ?? new Float32Array(n).fill(NaN));
    else new Float32Array(range).set(data ?? new Float32Array(n).fill(NaN));
    g.unmap();
    return g;
  };
  const outLen = batch * p.M * p.N;
  const bufs: Record<string, GPUBuffer> = { a: buf(a, a.length), b: buf(b, b.length), out: buf(null, outLen) };
  if (c) bufs.c = buf(c, c.length);
  if (k.reduce) {
    bufs.partial = dev.createBuffer({ size: k.scratchBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  }
  dev.pushErrorScope("validation");
  const steps = [k, ...(k.reduce ? [k.reduce] : [])].map((s) => {
    const module = dev.createShaderModule({ code: s.code });
    const pipeline = dev.createComputePipeline({ layout: "auto", compute: { module, entryPoint: s.entryPoint } });
    const group = dev.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: names(s).map((name, i) => ({ binding: i, resource: { buffer: bufs[name] } })),
    });
    return { pipeline, group, dispatch: s.dispatch };
  });
  const staging = dev.createBuffer({ size: bufs.out.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const st of steps) {
    pass.setPipeline(st.pipeline);
    pass.setBindGroup(0, st.group);
    pass.dispatchWorkgroups(...st.dispatch);
  }
  pass.end();
  enc.copyBufferToBuffer(bufs.out, 0, staging, 0, bufs.out.size);
  dev.queue.submit([enc.finish()]);
  const err = await dev.popErrorScope();
  if (err) throw new Error(`WebGPU validation: ${err.message}\n${k.code}\n${k.reduce?.code ?? ""}`);
  await staging.mapAsync(GPUMapMode.READ);
  const got = p.f16
    ? new Float32Array(new Float16Array(staging.getMappedRange().slice(0), 0, outLen))
    : new Float32Array(staging.getMappedRange().slice(0), 0, outLen);
  staging.unmap();
  for (const g of [...Object.values(bufs), staging]) g.destroy();
  const ref = gemmReference(p, a, b, c);
  if (hook) { for (let i = 0; i < ref.length; i++) ref[i] = 2 * ref[i] + 1; }
  const [atol, rtol] = p.f16 ? [2e-2, 1e-2] : [1e-4, 1e-3];
  let worst = -Infinity, at = -1;
  for (let i = 0; i < outLen; i++) {
    const excess = Math.abs(got[i] - ref[i]) - (atol + rtol * Math.abs(ref[i]));
    if (!(excess <= worst) || Number.isNaN(got[i])) {
      worst = Number.isNaN(got[i]) ? Infinity : excess;
      at = i;
      if (worst === Infinity) break;
    }
  }
  if (worst > 0) {
    const t = k.tile;
    throw new Error(
      `${JSON.stringify(p)} tile ${t.BM}x${t.BN}x${t.BK}_${t.TM}x${t.TN}: out[${at}] = ${got[at]}, expected ${ref[at]}`,
    );
  }
}

// llvmpipe compiles small workgroups fast: most tests use this tile (the generator is the same code
// for every tile; the large ones are checked in full on the GPU by bench/gpu_kernels.ts)
const SMALL: GemmTile = { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4 };

const shapes: [number, number, number, number?][] = [
  [1, 1, 1],
  [7, 13, 5],
  [64, 64, 64],
  [65, 67, 63],
  [128, 96, 200],
  [17, 9, 33, 3],
];

Deno.test({
  name: "gemm_fast: shapes (chosen tile)",
  ignore: noGpu,
  fn: async () => {
    for (const [M, N, K, batch] of shapes) await check({ M, N, K, batch });
  },
});

Deno.test({
  name: "gemm_fast: every transpose combination",
  ignore: noGpu,
  fn: async () => {
    for (const [M, N, K, batch] of [[7, 13, 5, 1], [65, 67, 63, 1], [64, 32, 48, 2]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) await check({ M, N, K, batch, transA, transB }, SMALL);
      }
    }
  },
});

Deno.test({
  name: "gemm_fast: alpha, beta, bias and relu",
  ignore: noGpu,
  fn: async () => {
    const shapes: [number, number, number, number][] = [[7, 13, 5, 1], [33, 36, 20, 2]];
    for (const [M, N, K, batch] of shapes) {
      await check({ M, N, K, batch, alpha: 0.5, bias: "row" }, SMALL);
      await check({ M, N, K, batch, alpha: -1.5, beta: 2, bias: "full", activation: "relu", transA: true }, SMALL);
      await check({ M, N, K, batch, bias: "row", activation: "relu", transB: true }, SMALL);
      await check({ M, N, K, batch, alpha: 0.25, activation: "relu" }, SMALL);
    }
    // one bias per batch
    await check({ M: 9, N: 12, K: 7, batch: 3, bias: "full", batchStrideBias: 9 * 12 }, SMALL);
  },
});

Deno.test({
  name: "gemm_fast: broadcast operands across the batch",
  ignore: noGpu,
  fn: async () => {
    await check({ M: 17, N: 20, K: 12, batch: 3, batchStrideB: 0 }, SMALL);
    await check({ M: 16, N: 9, K: 13, batch: 2, batchStrideA: 0, transB: true }, SMALL);
  },
});

// Every path of the generator on small tiles (llvmpipe compiles a 128-thread workgroup's unrolled
// kernel in ~10 s, so the large configurations of GEMM_TILES are checked on the GPU by bench/gpu_kernels.ts).
const smallTiles: GemmTile[] = [
  { BM: 32, BN: 32, BK: 4, TM: 8, TN: 8 },
  { BM: 32, BN: 16, BK: 8, TM: 8, TN: 4, aLayout: "mk" },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, transpose4: true },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, transpose4: false },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, doubleBuffer: false },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, unroll: false },
  { BM: 16, BN: 32, BK: 8, TM: 4, TN: 4, unroll: false, aLayout: "mk" },
  { BM: 16, BN: 16, BK: 4, TM: 4, TN: 4, swizzle: 2 },
];

Deno.test({
  name: "gemm_fast: tile variants (8×8 per thread, BM ≠ BN, A layouts, single buffer, k loop, swizzle)",
  ignore: noGpu,
  fn: async () => {
    for (const tile of smallTiles) {
      // ragged: no dimension a multiple of the tile, K not a multiple of BK (nor of 4), several k
      // steps; A transposed except for the "mk" layout (which only row-major A has)
      const transA = tile.aLayout !== "mk";
      await check({ M: 2 * tile.BM + (transA ? 4 : 5), N: tile.BN + 3, K: 2 * tile.BK + 3, transA }, tile);
      // aligned: vec4 paths without guards, batched, B transposed
      await check({ M: tile.BM, N: 2 * tile.BN, K: 3 * tile.BK, batch: 2, transB: true, bias: "row" }, tile);
    }
  },
});

Deno.test({
  name: "gemm_fast: split-K (ragged last chunk, batch, transposes, epilogue in the reduction)",
  ignore: noGpu,
  fn: async () => {
    const t = SMALL;
    await check({ M: 7, N: 13, K: 45, splitK: 3 }, t);
    await check({ M: 20, N: 36, K: 64, splitK: 4, batch: 2, bias: "row", alpha: 0.5, activation: "relu" }, t);
    await check({ M: 17, N: 9, K: 50, splitK: 2, transA: true, transB: true, bias: "full", beta: 2 }, t);
    const k = gemmKernel({ M: 8, N: 8, K: 100, splitK: 5 }, t);
    if (k.splitK !== 5 || k.dispatch[2] !== 5 || k.bindings.join() !== "a,b,partial" || !k.reduce) {
      throw new Error(`split-K kernel: ${JSON.stringify({ ...k, code: undefined })}`);
    }
    if (chooseSplitK({ M: 4096, N: 4096, K: 4096 }) !== 1) throw new Error("a large GEMM should not split K");
    if (chooseSplitK({ M: 128, N: 768, K: 3072 }) < 2) throw new Error("a thin GEMM with long K should split K");
  },
});

Deno.test({
  name: "gemm_fast: a general epilogue hook stores every element (vec4 and scalar stores, guards, split-K)",
  ignore: noGpu,
  fn: async () => {
    const t = SMALL;
    await check({ M: 7, N: 13, K: 5, bias: "row", activation: "relu" }, t, 1, true);
    await check({ M: 33, N: 36, K: 20, batch: 2, alpha: 0.5 }, t, 1, true);
    await check({ M: 16, N: 64, K: 16, bias: "full" }, t, 1, true);
    await check({ M: 20, N: 36, K: 64, splitK: 4, batch: 2, bias: "row", activation: "relu" }, t, 1, true);
    await check({ M: 17, N: 9, K: 50, splitK: 2, transA: true, alpha: 2 }, t, 1, true);
    const k = gemmKernel({ M: 8, N: 8, K: 8, bias: "row", epilogue: () => ({ decls: "", store: "" }) }, t);
    if (k.bindings.join() !== "a,b,c") throw new Error(`bindings with a hook: ${k.bindings}`);
  },
});

Deno.test({
  name: "gemm_fast: f16 storage (needs shader-f16, which llvmpipe through OpenGL lacks)",
  ignore: noGpu || !adapter!.features.has("shader-f16"),
  fn: async () => {
    await check({ M: 33, N: 36, K: 20, f16: true, bias: "row", alpha: 0.5 }, SMALL);
    await check({ M: 7, N: 13, K: 5, f16: true, transA: true, transB: true }, SMALL);
    await check({ M: 20, N: 36, K: 64, f16: true, splitK: 4, bias: "row" }, SMALL);
  },
});

Deno.test("gemm_fast: tile choice follows the shape", () => {
  const small = chooseGemmTile({ M: 7, N: 13, K: 5 });
  if (small.BM * small.BN > 32 * 32) throw new Error(`7×13 got a ${small.BM}×${small.BN} tile`);
  const big = chooseGemmTile({ M: 4096, N: 4096, K: 4096 });
  if (big.BM * big.BN < 64 * 128) throw new Error(`4096³ got a ${big.BM}×${big.BN} tile`);
  const k = gemmKernel({ M: 7, N: 13, K: 5, bias: "row" });
  if (k.bindings.join() !== "a,b,c,out") throw new Error(`bindings ${k.bindings}`);
  if (!k.code.includes("7u") || k.dispatch[2] !== 1) throw new Error("shapes are not baked in");
});
