/**
 * WebGPU lowerings of GatherND, ScatterND, ScatterElements/Scatter, QuantizeLinear,
 * DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, OneHot and EyeLike
 * against the reference interpreter, bit for bit, on what the ONNX node tests miss: negative
 * indices, scatter reductions over duplicate indices (runtime and constant indices), per-axis
 * quantization at rounding ties with saturation and NaN, integer products whose sums pass 2^24,
 * zero points on shapes that are not a multiple of the tile. Skipped when WebGPU has no adapter.
 * @module
 */
import { assert, assertEquals } from "./_assert.ts";
import { attr, EXACT, node, nodeMatcher, nodesModel, rand, randInts, runShader } from "./_models.ts";
import type { Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, fromNumbers, type Tensor } from "../ir/tensor.ts";
import { rng } from "../verify/inputs.ts";
import { unsupportedNodes } from "../codegen/plan.ts";
import { FDIV } from "../codegen/fdiv.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_index_quant_test: no WebGPU adapter here; GPU tests skipped");

/**
 * Run the nodes (ONNX opset 21 unless given) on WebGPU and in the reference interpreter; assert
 * every output is equal: every op here is exact (integer codes and float results must equal the
 * reference's). `software: false` takes the kernels generated for hardware GPUs.
 */
const matches = nodeMatcher(21, { tol: EXACT });

const t = (dtype: DataType, dims: number[], v: number[]): Tensor => fromNumbers(dtype, dims, v);
const i64 = (dims: number[], v: number[]) => t(DataType.INT64, dims, v);

const f32 = (dims: number[], seed: number) => rand(dims, seed);

Deno.test({
  name: "GatherND matches the reference with negative indices and batch_dims",
  ignore,
  async fn() {
    const g = node("GatherND", ["x", "i"], ["y"]);
    await matches(g, { x: f32([3, 4, 5], 1), i: i64([2, 2], [-1, 0, 1, -4]) });
    await matches(g, { x: f32([3, 4, 5], 2), i: i64([2, 1, 3], [0, -1, 4, -3, 3, -5]) });
    const b = node("GatherND", ["x", "i"], ["y"], [attr("batch_dims", 1)]);
    await matches(b, { x: f32([2, 3, 4], 3), i: i64([2, 3, 1], [-1, 0, 2, 1, -2, -3]) });
  },
});

Deno.test({
  name: "ScatterND reduces duplicate runtime indices exactly, for each reduction",
  ignore,
  async fn() {
    const x = f32([4, 3], 4), u = f32([5, 3], 5);
    const i = i64([5, 1], [1, -3, 3, 1, -1]); // row 1 three times, row 3 twice
    for (const r of ["add", "mul", "max", "min", "none"]) {
      await matches(node("ScatterND", ["x", "i", "u"], ["y"], [attr("reduction", r)]), { x, i, u }, {}, 18);
    }
    // reduction "none" over more tuples than a scan takes: the table of winners, last one wins
    const many = i64([40, 1], randInts([40], 60, -4, 3));
    await matches(node("ScatterND", ["x", "i", "u"], ["y"]), { x, i: many, u: f32([40, 3], 61) }, {}, 18);
    const tuples = i64([40, 2], randInts([80], 62, -3, 2));
    await matches(node("ScatterND", ["x", "i", "u"], ["y"]), { x, i: tuples, u: f32([40], 63) }, {}, 18);
    // NaN propagates through max; integer products wrap to uint8 before the next node reads them
    const xn = float32Tensor([4], [NaN, 1, 2, 3]), un = float32Tensor([3], [5, NaN, -1]);
    const mx = node("ScatterND", ["x", "i", "u"], ["y"], [attr("reduction", "max")]);
    await matches(mx, { x: xn, i: i64([3, 1], [0, 1, 1]), u: un }, {}, 18);
    const mul = node("ScatterND", ["x", "i", "u"], ["p"], [attr("reduction", "mul")]);
    const xb = t(DataType.UINT8, [3], [200, 7, 3]), ub = t(DataType.UINT8, [3], [3, 250, 9]);
    const cast = node("Cast", ["p"], ["y"], [attr("to", DataType.INT32)]);
    await matches([mul, cast], { x: xb, i: i64([3, 1], [0, 0, -1]), u: ub }, {}, 18);
    // full index tuples into a 3-D tensor
    const x3 = f32([2, 3, 4], 6), u3 = f32([4], 7);
    const add = node("ScatterND", ["x", "i", "u"], ["y"], [attr("reduction", "add")]);
    await matches(add, { x: x3, i: i64([4, 3], [0, 1, 2, -1, -1, -1, 0, 1, 2, 1, 0, 0]), u: u3 }, {}, 18);
  },
});

Deno.test({
  name: "ScatterND with constant indices: unique ones scatter per update, duplicates scan",
  ignore,
  async fn() {
    const x = f32([5, 2, 3], 8), u = f32([3, 2, 3], 9);
    const add = node("ScatterND", ["x", "i", "u"], ["y"], [attr("reduction", "add")]);
    await matches(add, { x, u }, { i: i64([3, 1], [4, -5, 2]) }, 18);
    await matches(add, { x, u }, { i: i64([3, 1], [4, -1, 2]) }, 18);
    const none = node("ScatterND", ["x", "i", "u"], ["y"]);
    await matches(none, { x, u: f32([2, 3], 10) }, { i: i64([2, 2], [0, 1, -1, 0]) }, 18);
    // an out-of-range constant index is refused at plan time, never run
    const bad = nodesModel(none, { x, u: f32([1, 2, 3], 11) }, { i: i64([1, 1], [5]) }, 18);
    assertEquals(unsupportedNodes(bad).map((n) => n.op), ["ScatterND"]);
  },
});

Deno.test({
  name: "ScatterElements and Scatter reduce duplicates along the axis, indices smaller than data",
  ignore,
  async fn() {
    const x = f32([3, 5], 12), u = f32([2, 4], 13);
    const i = i64([2, 4], [0, -1, 4, 4, -5, 2, 2, 2]);
    for (const r of ["add", "mul", "max", "min", "none"]) {
      const n = node("ScatterElements", ["x", "i", "u"], ["y"], [attr("axis", 1), attr("reduction", r)]);
      await matches(n, { x, i, u }, {}, 18);
    }
    const i0 = i64([2, 4], [2, -1, 0, 0, 2, 1, -3, 0]);
    const ax0 = node("ScatterElements", ["x", "i", "u"], ["y"], [attr("axis", -2), attr("reduction", "add")]);
    await matches(ax0, { x, i: i0, u }, {}, 18);
    await matches(ax0, { x, u }, { i: i0 }, 18); // constant, with duplicates: the scan
    await matches(ax0, { x, u }, { i: i64([2, 4], [2, -1, 0, 1, 1, 0, -3, 0]) }, 18); // constant, unique
    const xi = t(DataType.INT32, [3, 5], randInts([3, 5], 14, -9, 9)),
      ui = t(DataType.INT32, [2, 4], randInts([2, 4], 15, -9, 9));
    await matches(ax0, { x: xi, i: i0, u: ui }, {}, 18);
    await matches(node("Scatter", ["x", "i", "u"], ["y"], [attr("axis", 1)]), { x, i, u }, {}, 10);
    // reduction "none" with 40 updates along the axis: the table of winners
    const along = i64([2, 40], randInts([80], 64, -3, 2));
    await matches(
      node("ScatterElements", ["x", "i", "u"], ["y"], [attr("axis", -2)]),
      {
        x: f32([3, 4], 65),
        i: i64([40, 2], randInts([80], 66, -3, 2)),
        u: f32([40, 2], 67),
      },
      {},
      18,
    );
    await matches(
      node("ScatterElements", ["x", "i", "u"], ["y"], [attr("axis", 1)]),
      {
        x: f32([3, 5], 68),
        i: along,
        u: f32([2, 40], 69),
      },
      {},
      18,
    );
  },
});

/** Values x = (k + ½)·s for the scale s of their channel: every one a rounding tie. */
function ties(dims: number[], axis: number, scales: number[]): number[] {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  return randInts(dims, 16, -300, 300).map((k, i) => (k + 0.5) * scales[Math.floor(i / inner) % dims[axis]]);
}

Deno.test({
  name: "QuantizeLinear rounds ties to even and saturates, per axis, per tensor and blocked",
  ignore,
  async fn() {
    const s = [0.5, 0.25, 2];
    const v = ties([2, 3, 4], 1, s);
    v[0] = NaN, v[1] = Infinity, v[2] = -Infinity;
    const x = float32Tensor([2, 3, 4], v);
    const q = node("QuantizeLinear", ["x", "s", "z"], ["y"]);
    const zps: [DataType, number[]][] = [[DataType.INT8, [-3, 0, 5]], [DataType.UINT8, [0, 128, 255]], [
      DataType.INT16,
      [7, -9, 0],
    ]];
    for (const [dt, z] of zps) {
      await matches(q, { x }, { s: float32Tensor([3], s), z: t(dt, [3], z) });
      await matches(q, { x, s: float32Tensor([3], s), z: t(dt, [3], z) });
    }
    // one scale: the elementwise form, with constant and runtime scale / zero point
    const x1 = float32Tensor([2, 3, 4], ties([2, 3, 4], 1, [0.25, 0.25, 0.25]));
    await matches(q, { x: x1 }, { s: float32Tensor([], [0.25]), z: t(DataType.UINT8, [], [3]) });
    await matches(q, { x: x1, s: float32Tensor([1], [0.25]), z: t(DataType.INT8, [1], [-1]) });
    await matches(node("QuantizeLinear", ["x", "s"], ["y"]), { x: x1 }, { s: float32Tensor([], [0.25]) });
    // blocks of 3 along the last axis (5 = 3 + 2)
    const xb = float32Tensor([2, 5], ties([2, 5], 1, [1, 1, 1, 1, 1]));
    const blocked = node("QuantizeLinear", ["x", "s", "z"], ["y"], [attr("axis", -1), attr("block_size", 3)]);
    await matches(blocked, { x: xb }, {
      s: float32Tensor([2, 2], [0.5, 1, 2, 4]),
      z: t(DataType.INT8, [2, 2], [1, 2, 3, 4]),
    });
  },
});

Deno.test({
  name: "DequantizeLinear matches per axis, per tensor and for int32 inputs, and after a GEMM and Q",
  ignore,
  async fn() {
    const dq = node("DequantizeLinear", ["x", "s", "z"], ["y"], [attr("axis", 1)]);
    const x8 = t(DataType.INT8, [2, 3, 4], randInts([2, 3, 4], 17, -128, 127));
    await matches(dq, { x: x8 }, { s: float32Tensor([3], [0.1, 0.02, 3]), z: t(DataType.INT8, [3], [-128, 0, 127]) });
    const xu = t(DataType.UINT16, [3, 4], randInts([3, 4], 18, 0, 65535));
    const last = node("DequantizeLinear", ["x", "s", "z"], ["y"], [attr("axis", -1)]);
    await matches(last, { x: xu, s: f32([4], 19), z: t(DataType.UINT16, [4], [0, 1, 65535, 30000]) });
    const x32 = t(DataType.INT32, [5], [-2147483648, -5, 0, 77777, 2147483647]);
    await matches(node("DequantizeLinear", ["x", "s"], ["y"]), { x: x32 }, { s: float32Tensor([], [0.003]) });
    // MatMul → QuantizeLinear → DequantizeLinear → Relu: the codes stay i32 next to a GEMM (small
    // integers: the product is exact whatever the GEMM's summation order)
    const w = float32Tensor([6, 5], randInts([6, 5], 21, -9, 9)),
      sz = { s: float32Tensor([], [2]), z: t(DataType.INT8, [], [3]) };
    const chain = [
      node("MatMul", ["x", "w"], ["h"]),
      node("QuantizeLinear", ["h", "s", "z"], ["q"]),
      node("DequantizeLinear", ["q", "s", "z"], ["d"]),
      node("Relu", ["d"], ["y"]),
    ];
    for (const software of [true, false]) {
      const x = float32Tensor([4, 6], randInts([4, 6], 20, -9, 9));
      await matches(chain, { x }, { w, ...sz }, 21, software);
      await matches(chain.slice(0, 2), { x }, { w, ...sz }, 21, software);
    }
  },
});

Deno.test({
  name: "DynamicQuantizeLinear matches on ties, NaN, all-positive and all-zero inputs",
  ignore,
  async fn() {
    const d = node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"]);
    // min −100.5, max 154.5: scale 1, zero point round(100.5) = 100, and every x/scale a tie
    const v = randInts([700], 21, -100, 154).map((k) => k + 0.5);
    v[0] = -100.5, v[1] = 154.5, v[3] = NaN;
    await matches(d, { x: float32Tensor([700], v) });
    await matches(d, { x: float32Tensor([700], randInts([700], 23, -255, 255).map((k) => k / 2)) });
    await matches(d, { x: float32Tensor([3, 4], randInts([3, 4], 22, 1, 50)) });
    await matches(d, { x: float32Tensor([2, 2], [0, 0, 0, 0]) });
  },
});

Deno.test({
  name: "MatMulInteger matches with per-row / per-column zero points at sizes off the tile",
  ignore,
  async fn() {
    const mm = node("MatMulInteger", ["a", "b", "az", "bz"], ["y"]);
    const u8 = (dims: number[], seed: number) => t(DataType.UINT8, dims, randInts(dims, seed, 0, 255));
    const i8 = (dims: number[], seed: number) => t(DataType.INT8, dims, randInts(dims, seed, -128, 127));
    const zps = { a: u8([17, 33], 23), b: u8([33, 19], 24), az: u8([17], 25), bz: u8([19], 26) };
    await matches(mm, zps);
    await matches(mm, zps, {}, 21, false); // the tiled kernel
    await matches(mm, { a: i8([2, 5, 33], 27), b: i8([33, 7], 28) }, { az: i8([], 29), bz: i8([7], 30) });
    const batched = { a: u8([2, 1, 5, 9], 31), b: u8([3, 9, 6], 32), az: u8([1], 33), bz: u8([], 34) };
    await matches(mm, batched);
    await matches(mm, batched, {}, 21, false);
    await matches(mm, { a: u8([9], 35), b: u8([9, 6], 36), az: u8([], 37), bz: u8([6], 38) });
    // sums past 2^24 (an f32 accumulator would round them)
    const big = t(DataType.UINT8, [3, 300], new Array(900).fill(255));
    await matches(node("MatMulInteger", ["a", "b"], ["y"]), {
      a: big,
      b: t(DataType.UINT8, [300, 2], new Array(600).fill(255)),
    });
  },
});

Deno.test({
  name: "QLinearMatMul requantizes exactly: ties, per-row and per-column scales, saturation",
  ignore,
  async fn() {
    const q = node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"]);
    const u8 = (dims: number[], seed: number, lo = 0, hi = 255) =>
      t(DataType.UINT8, dims, randInts(dims, seed, lo, hi));
    const i8 = (dims: number[], seed: number, lo = -128, hi = 127) =>
      t(DataType.INT8, dims, randInts(dims, seed, lo, hi));
    const sc = (dims: number[], v: number[]) => float32Tensor(dims, v);
    // multiplier 1/2 and 1/4: many exact ties; constant scalars (the multiplier folds on the CPU)
    const inits = { as: sc([], [1]), bs: sc([], [0.5]), ys: sc([], [1]), az: u8([], 39), bz: i8([], 40) };
    await matches(q, { a: u8([5, 7], 41, 0, 3), b: i8([7, 6], 42, -2, 2), yz: u8([], 43) }, inits);
    await matches(q, { a: u8([5, 7], 44, 0, 3), b: i8([7, 6], 45, -2, 2), yz: u8([], 46) }, {
      ...inits,
      ys: sc([], [2]),
    });
    // runtime per-row and per-column scales, int8 output with saturation, batched
    const perRowCol = {
      a: i8([2, 5, 40], 47),
      as: sc([5], [0.01, 0.02, 0.5, 0.001, 1]),
      az: i8([5], 48),
      b: i8([40, 6], 49),
      bs: sc([6], [0.03, 0.25, 0.004, 1, 0.1, 0.0625]),
      bz: i8([6], 50),
      ys: sc([], [0.75]),
      yz: i8([], 51),
    };
    await matches(q, perRowCol);
    await matches(q, perRowCol, {}, 21, false);
    // row r multiplies by 2^-k (k = 1…14: the rounding shifts of 24 to 37 bits) sums S of 2^(k−1) − 1,
    // 2^(k−1) and 2^(k−1) + 1; columns ±125 and ±1 put the ties at ±62.5 and ±0.5
    const sums: number[] = [], shifts: number[] = [];
    for (let k = 1; k <= 14; k++) {
      for (const d of [-1, 0, 1]) sums.push(2 ** (k - 1) + d), shifts.push(2 ** -k);
    }
    const K = 64,
      rows = sums.flatMap((s) => Array.from({ length: K }, (_, j) => Math.max(0, Math.min(255, s - 255 * j))));
    const exact = {
      a: t(DataType.UINT8, [sums.length, K], rows),
      as: sc([sums.length], shifts),
      b: t(DataType.INT8, [K, 4], Array.from({ length: K }, () => [125, -125, 1, -1]).flat()),
    };
    const unit = { az: u8([], 0, 0, 0), bs: sc([], [1]), bz: i8([], 0, 0, 0), ys: sc([], [1]), yz: i8([], 0, 0, 0) };
    await matches(q, exact, unit);
    await matches(q, exact, unit, 21, false);
  },
});

Deno.test({
  name: "OneHot and EyeLike match with float and negative indices, axes, k and dtypes",
  ignore,
  async fn() {
    const values = t(DataType.INT32, [2], [-7, 9]);
    const ind = float32Tensor([2, 3], [0, -1.5, 3.9, -4, 4, NaN]);
    await matches(node("OneHot", ["i", "d", "v"], ["y"], [attr("axis", 0)]), { i: ind, v: values }, {
      d: float32Tensor([], [4]),
    });
    const ind64 = i64([3, 2], [1, -1, -3, 2, 7, -8]);
    await matches(node("OneHot", ["i", "d", "v"], ["y"]), { i: ind64, v: f32([2], 55) }, { d: i64([1], [3]) });
    await matches(node("EyeLike", ["x"], ["y"], [attr("k", -1), attr("dtype", DataType.INT32)]), {
      x: f32([3, 5], 56),
    });
    await matches(node("EyeLike", ["x"], ["y"], [attr("k", 1)]), { x: f32([4, 2], 57) });
  },
});

Deno.test("what the lowerings cannot do exactly is refused at plan time", () => {
  const x = f32([4], 58);
  const refused = (n: Node, inputs: Record<string, Tensor>, inits: Record<string, Tensor>) =>
    unsupportedNodes(nodesModel(n, inputs, inits, 21)).map((u) => u.op);
  // int32 input: f32 division would round x first
  const xi = t(DataType.INT32, [4], [1, 2, 3, 4]);
  assertEquals(refused(node("QuantizeLinear", ["x", "s"], ["y"]), { x: xi }, { s: float32Tensor([], [1]) }), [
    "QuantizeLinear",
  ]);
  // int4 codes have no storage
  const q4 = node("QuantizeLinear", ["x", "s", "z"], ["y"]);
  assertEquals(refused(q4, { x }, { s: float32Tensor([], [1]), z: t(DataType.INT4, [], [0]) }), ["QuantizeLinear"]);
  // a scale that fits no layout
  const q = node("QuantizeLinear", ["x", "s"], ["y"], [attr("axis", 0)]);
  assertEquals(refused(q, { x }, { s: float32Tensor([3], [1, 2, 3]) }), ["QuantizeLinear"]);
});

Deno.test({
  name: "fdiv_ divides f32 correctly rounded (as the reference does), where WGSL's `/` may be 2.5 ulp off",
  ignore,
  async fn() {
    const r = rng(77);
    const xs: number[] = [], ys: number[] = [];
    for (let i = 0; i < 4096; i++) {
      xs.push(Math.fround((r() - 0.5) * 2 ** Math.floor(r() * 40 - 20)));
      ys.push(Math.fround((r() - 0.5) * 2 ** Math.floor(r() * 40 - 20)) || 1);
    }
    // exact ties of a later rounding: small integers over scales, and the edge cases
    for (let k = 1; k < 200; k++) xs.push(k), ys.push(Math.fround(k / 2.5));
    xs.push(0, -0, 1, Infinity, NaN, 1e-40, 3e38, 1), ys.push(3, 3, 0, 2, 2, 3, 1e-10, 1e-40);
    const device = await adapter!.requestDevice();
    const n = xs.length;
    const code = `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < ${n}u) { o[g.x] = fdiv_(a[g.x], b[g.x]); }
}
${FDIV}`;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const buf = (data?: number[]) => {
      const g = device.createBuffer({ size: 4 * n, usage });
      if (data) device.queue.writeBuffer(g, 0, new Float32Array(data));
      return g;
    };
    const got = new Float32Array(await runShader(device, code, [buf(xs), buf(ys), buf()], Math.ceil(n / 64), 4 * n));
    device.destroy();
    // the last cases (zero, infinity, NaN, subnormal operands or quotients) take the hardware's division
    const exact = n - 8;
    let bad = 0;
    for (let i = 0; i < exact; i++) if (!Object.is(got[i], Math.fround(xs[i] / ys[i]))) bad++;
    assertEquals(bad, 0, `${bad} of ${exact} quotients not correctly rounded`);
    assert(Object.is(got[exact], 0) && Object.is(got[exact + 1], -0) && got[exact + 2] === Infinity);
    assert(got[exact + 3] === Infinity && Number.isNaN(got[exact + 4]));
  },
});
