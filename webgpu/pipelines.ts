/**
 * The pipeline cache: one compute pipeline per WGSL source and binding signature, per device.
 * Kernels are specialized to shapes, so the layers of a transformer share their pipelines.
 * Layouts are explicit (read-only vs read-write storage per binding), never "auto", so a
 * binding a shader leaves unused does not break its bind group.
 * @module
 */

/** A compiled kernel and the layout its bind groups use. */
export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/** What the cache needs of a kernel: its source, entry point and per-binding access ("r"/"w"). */
export interface PipelineKey {
  name: string;
  nodes: readonly string[];
  wgsl: string;
  entry: string;
  access: string;
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<CachedPipeline>>>();

/** The pipeline of a kernel, compiled once per device; compile errors name the kernel. */
export function pipelineFor(device: GPUDevice, k: PipelineKey): Promise<CachedPipeline> {
  let cache = caches.get(device);
  if (!cache) caches.set(device, cache = new Map());
  const key = `${k.entry}|${k.access}|${k.wgsl}`;
  let p = cache.get(key);
  if (!p) {
    p = compile(device, k);
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  return p;
}

async function compile(device: GPUDevice, k: PipelineKey): Promise<CachedPipeline> {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: k.wgsl, label: k.name });
  const layout = device.createBindGroupLayout({
    label: k.name,
    entries: [...k.access].map((a, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: a === "r" ? "read-only-storage" : "storage" },
    })),
  });
  const pipeline = device.createComputePipeline({
    label: k.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: k.entry },
  });
  const err = await device.popErrorScope();
  if (err) {
    const info = await module.getCompilationInfo?.().catch(() => undefined);
    const msgs = info?.messages?.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
    throw new Error(`kernel ${k.name} (${k.nodes.join(", ")}) does not compile: ${msgs || err.message}`);
  }
  return { pipeline, layout };
}
