/**
 * The one run loop of the WebGPU backend, shared by `createSession` and by the standalone module
 * `compile` writes: buffers of a `Program`, constant uploads, pipelines, bind groups, and per
 * inference one command encoder, one compute pass (one pass per kernel when profiling, with
 * timestamp queries) and one read-back of every output through one staging buffer.
 *
 * Invariant: every function in `RUNTIME_FUNCTIONS` is self-contained — it uses only globals
 * (WebGPU, typed arrays) and the other functions listed there — because `compile` copies their
 * source text (`Function.prototype.toString`) into a module that imports nothing.
 * @module
 */

/** How a buffer holds its elements (`f16e`: f32 elements holding values rounded to f16). */
export type BufferStore = "f32" | "i32" | "u32" | "f16" | "f16e";

/** The serializable program a session or a compiled module runs. */
export interface Program {
  /** The inputs a caller feeds: ONNX dtype, static dims, the buffer they are uploaded to and its storage. */
  inputs: { name: string; dtype: number; dims: number[]; buffer: number; store: BufferStore }[];
  /** The outputs, read back from their buffer or, when known at plan time, from the weights file. */
  outputs: {
    name: string;
    dtype: number;
    dims: number[];
    buffer?: number;
    store?: BufferStore;
    /** an output known at plan time: its GPU bytes in the weights file */
    constant?: { offset: number; bytes: number };
  }[];
  /** buffers: byte size, and for weights their offset in the weights file */
  buffers: { bytes: number; weight?: number }[];
  /** WGSL modules, each compiled once; kernels refer to them by index. */
  shaders: string[];
  /** Dispatches in execution order: shader, entry point, buffers bound, workgroup counts. */
  kernels: {
    name: string;
    nodes: string[];
    shader: number;
    entry: string;
    /** per binding: "r" read-only, "w" read-write */
    access: string;
    bindings: number[];
    dispatch: number[];
  }[];
  /** Size of the weights file: every constant buffer's bytes, at their offsets. */
  weightsBytes: number;
  /** device features the shaders need (e.g. `shader-f16`) */
  features: string[];
}

/** A tensor as the runtime takes and gives it: data in ONNX's typed-array convention, and dims. */
export interface RuntimeTensor {
  data: ArrayLike<number | bigint> & { length: number };
  dims: number[];
  dtype?: number;
}

/** GPU time of one kernel in a profiled run. */
export interface RuntimeKernelTime {
  kernel: string;
  nodes: string[];
  ms: number;
}

/** A program prepared on a device. */
export interface Runner {
  /** Run once: each input as a tensor or as its bytes already in GPU form; outputs by name. */
  run(inputs: Record<string, RuntimeTensor | Uint8Array>): Promise<Record<string, RuntimeTensor>>;
  /** per-kernel GPU times of the last run (with `profile` on an adapter with timestamp queries) */
  lastProfile(): RuntimeKernelTime[] | undefined;
  /** kernels one inference dispatches */
  kernels: number;
  /** bytes of the staging (read-back) buffer */
  stagingBytes: number;
  destroy(): void;
}

/** Options of `prepareProgram`. */
export interface PrepareOptions {
  profile?: boolean;
  /** compile a kernel (a cache across sessions); the default compiles each shader once per call */
  pipeline?: (
    kernel: Program["kernels"][number],
    code: string,
  ) => Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>;
}

/** The f16 bits nearest to `v` (ties to even; past the range: infinity; NaN stays NaN). */
export function f32ToF16Bits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry into the exponent is right, up to infinity
  return sign | h;
}

/** The value of f16 bits. */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * The GPU bytes of a tensor `given` for `want` (dtype numbers are ONNX's: 1 float, 10 float16,
 * 7 int64, 9 bool…), in the storage `want.store` names — the one encoder of the storage convention,
 * for inputs and (through `gpuBytes`) constants. Float16 data is its bits (a Uint16Array); float32
 * values stored as f16 saturate to ±65504; int64 values must fit in 32 bits; bool becomes 0/1.
 * Data already in GPU form (f32, i32, u32 arrays) is returned as a view, not copied. Errors name
 * `what` (default: the input).
 */
export function encodeInput(
  want: { name: string; dtype: number; dims: number[]; store: BufferStore },
  given: RuntimeTensor,
  what = `input '${want.name}'`,
): Uint8Array {
  const n = want.dims.reduce((a, b) => a * b, 1);
  if (!given || !given.data) throw new Error(`${what} was not given`);
  if (given.dims && given.dims.join() !== want.dims.join()) {
    throw new Error(`${what} has shape [${given.dims}], the program was planned for [${want.dims}]`);
  }
  const d = given.data;
  if (d.length !== n) throw new Error(`${what} has ${d.length} elements, expected ${n}`);
  const view = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, 4 * n);
  // Float16Array where the engine has it (fast); the bit functions elsewhere
  const F16 = (globalThis as { Float16Array?: new (n: number) => ArrayLike<number> & { [i: number]: number } })
    .Float16Array;
  const sat = (v: number) => (isFinite(v) ? Math.max(-65504, Math.min(65504, v)) : v);
  if (want.store === "f16") {
    const out = new Uint16Array(Math.ceil(n / 2) * 2);
    if (want.dtype === 10) out.set(d as ArrayLike<number>);
    else if (F16) {
      const h = new F16(out.length);
      for (let i = 0; i < n; i++) h[i] = sat(Number(d[i])); // float32 values saturate
      return new Uint8Array((h as unknown as Uint16Array).buffer);
    } else for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(sat(Number(d[i])));
    return new Uint8Array(out.buffer);
  }
  if (want.store === "f16e") {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = want.dtype === 10 ? f16BitsToF32(Number(d[i])) : f16BitsToF32(f32ToF16Bits(sat(Number(d[i]))));
    }
    return new Uint8Array(out.buffer);
  }
  if (want.store === "f32") {
    return d instanceof Float32Array
      ? view(d)
      : new Uint8Array(Float32Array.from(d as ArrayLike<number>, Number).buffer);
  }
  if (want.store === "u32") {
    if (want.dtype === 9) return new Uint8Array(Uint32Array.from(d as ArrayLike<number>, (x) => (x ? 1 : 0)).buffer);
    return d instanceof Uint32Array ? view(d) : new Uint8Array(Uint32Array.from(d as ArrayLike<number>).buffer);
  }
  if (d instanceof Int32Array) return view(d);
  if (!(d instanceof BigInt64Array || d instanceof BigUint64Array)) {
    return new Uint8Array(Int32Array.from(d as ArrayLike<number>).buffer);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = d[i];
    if (v > 2147483647n || v < -2147483648n) {
      throw new Error(`${what} holds the int64 value ${v}, which does not fit in the 32 bits WGSL has`);
    }
    out[i] = Number(v);
  }
  return new Uint8Array(out.buffer);
}

/** An output from its GPU bytes at `offset`, in ONNX's typed-array convention for its dtype. */
export function decodeOutput(
  o: { dtype: number; dims: number[]; store?: BufferStore },
  bytes: ArrayBuffer,
  offset: number,
): RuntimeTensor {
  const n = o.dims.reduce((a, b) => a * b, 1);
  const dims = o.dims.slice();
  if (o.store === "f16") {
    const raw16 = bytes.slice(offset, offset + 2 * n);
    if (o.dtype === 10) return { data: new Uint16Array(raw16), dims, dtype: o.dtype };
    // Float16Array where the engine has it: a JS loop over the bits costs ~100 ns per element
    const F16 = (globalThis as { Float16Array?: new (b: ArrayBuffer) => ArrayLike<number> }).Float16Array;
    const data = F16 ? Float32Array.from(new F16(raw16)) : Float32Array.from(new Uint16Array(raw16), f16BitsToF32);
    return { data, dims, dtype: o.dtype };
  }
  const raw = bytes.slice(offset, offset + 4 * n);
  if (o.dtype === 10) return { data: Uint16Array.from(new Float32Array(raw), f32ToF16Bits), dims, dtype: o.dtype };
  if (o.dtype === 1) return { data: new Float32Array(raw), dims, dtype: o.dtype };
  if (o.dtype === 12) return { data: new Uint32Array(raw), dims, dtype: o.dtype };
  if (o.dtype === 9) return { data: Uint8Array.from(new Uint32Array(raw)), dims, dtype: o.dtype };
  const ints = new Int32Array(raw);
  if (o.dtype === 7) return { data: BigInt64Array.from(ints, (x) => BigInt(x)), dims, dtype: o.dtype };
  const ctor = o.dtype === 2
    ? Uint8Array
    : o.dtype === 3
    ? Int8Array
    : o.dtype === 4
    ? Uint16Array
    : o.dtype === 5
    ? Int16Array
    : Int32Array;
  return { data: ctor.from(ints), dims, dtype: o.dtype };
}

/**
 * Create a program's buffers (uploading its constants from `weights`: the weights file, or the
 * bytes at an offset of it), pipelines and bind groups on `device`. Runs are serialized.
 */
export async function prepareProgram(
  device: GPUDevice,
  program: Program,
  weights: Uint8Array | ((offset: number, bytes: number) => Uint8Array),
  options: PrepareOptions = {},
): Promise<Runner> {
  const weightAt = typeof weights === "function" ? weights : (o: number, n: number) => weights.subarray(o, o + n);
  const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const owned: GPUBuffer[] = [];
  const make = (size: number, usage: number, label: string) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage, label });
    owned.push(b);
    return b;
  };
  const bufs = program.buffers.map((b, i) => {
    const buf = make(b.bytes, USAGE, `b${i}`);
    if (b.weight !== undefined && b.bytes) {
      const w = weightAt(b.weight, b.bytes);
      device.queue.writeBuffer(buf, 0, w.buffer as ArrayBuffer, w.byteOffset, b.bytes);
    }
    return buf;
  });
  const compile = options.pipeline ?? ((k: Program["kernels"][number], code: string) => {
    const layout = device.createBindGroupLayout({
      entries: k.bindings.map((_, j) => ({
        binding: j,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: k.access[j] === "r" ? "read-only-storage" as const : "storage" as const },
      })),
    });
    const pipeline = device.createComputePipeline({
      label: k.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ code, label: k.name }), entryPoint: k.entry },
    });
    return Promise.resolve({ pipeline, layout });
  });
  const compiled = await Promise.all(program.kernels.map((k) => compile(k, program.shaders[k.shader])));
  const steps = program.kernels.map((k, i) => ({
    kernel: k,
    pipeline: compiled[i].pipeline,
    dispatch: k.dispatch,
    group: device.createBindGroup({
      label: k.name,
      layout: compiled[i].layout,
      entries: k.bindings.map((b, j) => ({ binding: j, resource: { buffer: bufs[b] } })),
    }),
  }));
  const copies: { name: string; buffer: number; offset: number; bytes: number }[] = [];
  let stagingBytes = 0;
  for (const o of program.outputs) {
    if (o.buffer === undefined) continue;
    const n = o.dims.reduce((a, b) => a * b, 1);
    const bytes = n ? Math.ceil((n * (o.store === "f16" ? 2 : 4)) / 4) * 4 : 0;
    copies.push({ name: o.name, buffer: o.buffer, offset: stagingBytes, bytes });
    stagingBytes += bytes;
  }
  const profiling = options.profile === true && device.features.has("timestamp-query") && steps.length > 0;
  const profileOffset = Math.ceil(stagingBytes / 8) * 8;
  const readBytes = profiling ? profileOffset + 16 * steps.length : stagingBytes;
  const staging = make(readBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "staging");
  const querySet = profiling ? device.createQuerySet({ type: "timestamp", count: 2 * steps.length }) : undefined;
  const resolved = querySet
    ? make(16 * steps.length, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, "timestamps")
    : undefined;
  let profile: RuntimeKernelTime[] | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let destroyed = false;

  async function runOnce(inputs: Record<string, RuntimeTensor | Uint8Array>): Promise<Record<string, RuntimeTensor>> {
    if (destroyed) throw new Error("the program was destroyed");
    for (const i of program.inputs) {
      const given = inputs[i.name];
      const bytes = given instanceof Uint8Array ? given : encodeInput(i, given);
      if (bytes.byteLength) {
        device.queue.writeBuffer(bufs[i.buffer], 0, bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
      }
    }
    device.pushErrorScope("validation");
    const enc = device.createCommandEncoder();
    if (querySet) {
      steps.forEach((s, i) => {
        const pass = enc.beginComputePass({
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
        pass.end();
      });
      enc.resolveQuerySet(querySet, 0, 2 * steps.length, resolved!, 0);
      enc.copyBufferToBuffer(resolved!, 0, staging, profileOffset, 16 * steps.length);
    } else if (steps.length) {
      const pass = enc.beginComputePass();
      for (const s of steps) {
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(s.dispatch[0], s.dispatch[1], s.dispatch[2]);
      }
      pass.end();
    }
    for (const c of copies) if (c.bytes) enc.copyBufferToBuffer(bufs[c.buffer], 0, staging, c.offset, c.bytes);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`WebGPU rejected the inference: ${err.message}`);
    let data = new ArrayBuffer(0);
    if (readBytes > 0) {
      await staging.mapAsync(GPUMapMode.READ, 0, readBytes);
      data = staging.getMappedRange(0, readBytes).slice(0);
      staging.unmap();
    }
    if (querySet) {
      const ts = new BigUint64Array(data, profileOffset, 2 * steps.length);
      profile = steps.map((s, i) => ({
        kernel: s.kernel.name,
        nodes: s.kernel.nodes,
        ms: Number(ts[2 * i + 1] - ts[2 * i]) / 1e6,
      }));
    }
    const out: Record<string, RuntimeTensor> = {};
    for (const o of program.outputs) {
      if (o.constant) {
        out[o.name] = decodeOutput(o, weightAt(o.constant.offset, o.constant.bytes).slice().buffer, 0);
      } else {
        const c = copies.find((x) => x.name === o.name)!;
        out[o.name] = decodeOutput(o, data, c.offset);
      }
    }
    return out;
  }

  return {
    run(inputs) {
      const r = queue.then(() => runOnce(inputs));
      queue = r.catch(() => undefined);
      return r;
    },
    lastProfile: () => profile,
    kernels: steps.length,
    stagingBytes: readBytes,
    destroy() {
      destroyed = true;
      for (const b of owned) b.destroy();
      querySet?.destroy();
    },
  };
}

/** The functions a compiled module carries, in order (see the module invariant). */
export const RUNTIME_FUNCTIONS: readonly ((...args: never[]) => unknown)[] = [
  f32ToF16Bits,
  f16BitsToF32,
  encodeInput,
  decodeOutput,
  prepareProgram,
];
