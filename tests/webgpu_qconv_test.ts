/**
 * WebGPU lowerings of ConvInteger and QLinearConv against the reference interpreter, bit for bit,
 * on what the ONNX node tests miss: per-channel w zero points and scales (runtime and constant),
 * padding where x_zero_point matters (a padded tap reads x_zero_point), strides, dilations, groups,
 * auto_pad, 1-D, int8 and uint8, requantization ties and saturation, a constant bias; and what is
 * refused at plan time (a runtime bias, sums that could leave i32). Skipped when WebGPU has no adapter.
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { attr, EXACT, node, nodeMatcher, nodesModel, randInts } from "./_models.ts";
import { DataType } from "../ir/dtype.ts";
import { float32Tensor, fromNumbers, type Tensor } from "../ir/tensor.ts";
import { unsupportedNodes } from "../codegen/plan.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_qconv_test: no WebGPU adapter here; GPU tests skipped");

/** Run the nodes (opset 21) on WebGPU and in the reference; the integer outputs must be equal. */
const matches = nodeMatcher(21, { tol: EXACT });

const u8 = (dims: number[], seed: number, lo = 0, hi = 255): Tensor =>
  fromNumbers(DataType.UINT8, dims, randInts(dims, seed, lo, hi));
const i8 = (dims: number[], seed: number, lo = -128, hi = 127): Tensor =>
  fromNumbers(DataType.INT8, dims, randInts(dims, seed, lo, hi));
const i32 = (dims: number[], v: number[]): Tensor => fromNumbers(DataType.INT32, dims, v);
const sc = (dims: number[], v: number[]): Tensor => float32Tensor(dims, v);

const QLC = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"];

Deno.test({
  name: "ConvInteger: per-channel w zero points, padding with x_zero_point, strides, dilations, groups",
  ignore,
  async fn() {
    const ci = (attrs = [attr("pads", [2, 1, 1, 2])]) => node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], attrs);
    // x near its zero point 200: a padded tap must read 200, not 0
    const feeds = { x: u8([2, 3, 7, 6], 1, 190, 255), w: u8([4, 3, 3, 2], 2), xz: u8([], 3, 200, 200), wz: u8([4], 4) };
    await matches(ci(), feeds);
    await matches(ci(), { x: feeds.x, w: feeds.w }, { xz: feeds.xz, wz: feeds.wz }); // constant zero points
    const strided = [attr("pads", [1, 3, 2, 0]), attr("strides", [2, 3]), attr("dilations", [2, 1])];
    await matches(ci(strided), feeds);
    // groups, int8, a scalar w zero point
    const grouped = [attr("group", 3), attr("pads", [1, 1, 1, 1]), attr("dilations", [1, 2])];
    const g = { x: i8([1, 6, 5, 7], 5), w: i8([9, 2, 3, 3], 6), xz: i8([], 7), wz: i8([], 8) };
    await matches(ci(grouped), g);
    await matches(ci(grouped), { ...g, wz: i8([9], 9) });
    // no zero points; auto_pad
    await matches(node("ConvInteger", ["x", "w"], ["y"], [attr("auto_pad", "SAME_UPPER")]), {
      x: u8([1, 2, 5, 5], 10),
      w: u8([3, 2, 2, 2], 11),
    });
  },
});

Deno.test({
  name: "ConvInteger 1-D and sums past 2^24",
  ignore,
  async fn() {
    const ci = node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], [
      attr("pads", [3, 1]),
      attr("strides", [2]),
      attr("dilations", [2]),
      attr("group", 2),
    ]);
    await matches(ci, { x: i8([2, 4, 19], 12), w: i8([6, 2, 3], 13), xz: i8([1], 14), wz: i8([6], 15) });
    const big = node("ConvInteger", ["x", "w"], ["y"], [attr("auto_pad", "SAME_LOWER")]);
    await matches(big, {
      x: fromNumbers(DataType.UINT8, [1, 300, 3, 3], new Array(2700).fill(255)),
      w: fromNumbers(DataType.UINT8, [2, 300, 3, 3], new Array(5400).fill(255)),
    });
  },
});

Deno.test({
  name: "QLinearConv rounds ties half to even from the exact product, with a constant bias",
  ignore,
  async fn() {
    // multiplier 1 · 0.5 / 1 = 0.5 and 0.25: odd sums are ties; small codes keep them in range
    const pads = [attr("pads", [1, 1, 1, 1])];
    const q = node("QLinearConv", QLC, ["y"], pads);
    const inits = { xs: sc([], [1]), ws: sc([], [0.5]), ys: sc([], [1]), xz: u8([], 0, 130, 130), wz: u8([], 0, 1, 1) };
    const x = u8([1, 2, 6, 5], 16, 126, 134), w = u8([3, 2, 3, 3], 17, 0, 3);
    await matches(q, { x, w, yz: u8([], 18, 100, 140) }, inits);
    await matches(q, { x, w, yz: u8([], 19, 100, 140) }, { ...inits, ys: sc([], [2]) });
    // bias (int32, constant), int8 output with y_zero_point
    const qb = node("QLinearConv", [...QLC, "b"], ["y"], pads);
    await matches(qb, { x, w, yz: i8([], 20) }, { ...inits, b: i32([3], [-7, 0, 1001]) });
    // sum 300·255·255 = 19507500 times the f32 multiplier 1.2046648407704197e-6 is 23.4999994, which
    // an f32 product would round to the tie 23.5 and then to 24
    const full = (dims: number[]) =>
      fromNumbers(DataType.UINT8, dims, new Array(dims.reduce((a, b) => a * b)).fill(255));
    const near = { xs: sc([], [1]), ws: sc([], [1.2046648407704197e-6]), ys: sc([], [1]) };
    const plain = node("QLinearConv", ["x", "xs", "", "w", "ws", "", "ys"], ["y"]);
    await matches(plain, { x: full([1, 300, 2, 2]), w: full([1, 300, 1, 1]) }, near);
    await matches(plain, { x: full([1, 300, 2, 2]), w: full([1, 300, 1, 1]), ...near });
    // runtime scalars: the multiplier computed on the GPU (fdiv_)
    await matches(q, { x, w, yz: u8([], 21), xs: sc([], [1]), ws: sc([], [0.5]), ys: sc([], [1]) }, {
      xz: inits.xz,
      wz: inits.wz,
    });
  },
});

Deno.test({
  name: "QLinearConv with per-channel w scales and zero points, groups, strides, dilations, saturation",
  ignore,
  async fn() {
    const attrs = [attr("group", 2), attr("pads", [0, 2, 1, 1]), attr("strides", [1, 2]), attr("dilations", [2, 1])];
    const q = node("QLinearConv", QLC, ["y"], attrs);
    const feeds = {
      x: i8([2, 4, 7, 8], 22),
      xs: sc([], [0.05]),
      xz: i8([], 23),
      w: i8([6, 2, 2, 3], 24),
      ws: sc([6], [0.01, 0.002, 0.03, 0.0005, 0.125, 0.007]),
      wz: i8([6], 25, -5, 5),
      ys: sc([], [0.1]),
      yz: i8([], 26),
    };
    await matches(q, feeds); // runtime scales
    const { x, w, ...rest } = feeds;
    await matches(q, { x, w }, rest); // constant scales: the plan-time multiplier table
    // uint8 with per-channel everything, a constant bias, ws that saturate some channels
    const u = {
      x: u8([1, 3, 6, 6], 27),
      xs: sc([], [0.02]),
      xz: u8([], 28),
      w: u8([4, 3, 3, 3], 29),
      ws: sc([4], [0.5, 0.001, 0.03, 0.00003]),
      wz: u8([4], 30),
      ys: sc([], [0.3]),
      yz: u8([], 31),
    };
    const qb = node("QLinearConv", [...QLC, "b"], ["y"], [attr("auto_pad", "SAME_UPPER"), attr("strides", [2, 1])]);
    const { x: ux, w: uw, ...uRest } = u;
    await matches(qb, { x: ux, w: uw }, { ...uRest, b: i32([4], [500, -20000, 3, 0]) });
    await matches(node("QLinearConv", QLC, ["y"]), u);
  },
});

Deno.test({
  name: "QLinearConv 1-D, per-channel constant scales",
  ignore,
  async fn() {
    const q = node("QLinearConv", QLC, ["y"], [attr("pads", [2, 0]), attr("dilations", [3])]);
    const inits = {
      xs: sc([], [0.25]),
      xz: u8([], 32),
      ws: sc([3], [0.5, 1.5, 0.0078125]),
      wz: u8([3], 33),
      ys: sc([], [4]),
      yz: u8([], 34),
    };
    await matches(q, { x: u8([2, 5, 13], 35), w: u8([3, 5, 4], 36) }, inits);
  },
});

Deno.test({
  name: "QLinearConv refuses a runtime bias and sums that could leave i32 at plan time",
  fn() {
    const q = node("QLinearConv", [...QLC, "b"], ["y"]);
    const scalars = {
      xs: sc([], [1]),
      xz: u8([], 37),
      ws: sc([], [1]),
      wz: u8([], 38),
      ys: sc([], [1]),
      yz: u8([], 39),
    };
    const runtimeBias = nodesModel(
      q,
      { x: u8([1, 2, 3, 3], 40), w: u8([2, 2, 1, 1], 41), b: i32([2], [1, 2]) },
      scalars,
      21,
    );
    assertEquals(unsupportedNodes(runtimeBias).map((n) => n.op), ["QLinearConv"]);
    const hugeBias = nodesModel(q, { x: u8([1, 2, 3, 3], 42), w: u8([2, 2, 1, 1], 43) }, {
      ...scalars,
      b: i32([2], [2 ** 31 - 1000, 0]),
    }, 21);
    assertEquals(unsupportedNodes(hugeBias).map((n) => n.op), ["QLinearConv"]);
    const fine = nodesModel(q, { x: u8([1, 2, 3, 3], 44), w: u8([2, 2, 1, 1], 45) }, {
      ...scalars,
      b: i32([2], [5, -5]),
    }, 21);
    assertEquals(unsupportedNodes(fine).map((n) => n.op), []);
  },
});
