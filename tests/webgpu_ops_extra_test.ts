/**
 * WebGPU lowerings of GridSample, RotaryEmbedding, CenterCropPad and BitShift against the
 * reference interpreter, on the cases the ONNX node tests miss: GridSample with grid points past
 * the borders under every padding mode and both align_corners, N-D cubic, 1-D, size-1 axes,
 * half-pixel ties for nearest and the opset-16 mode names; RotaryEmbedding with a partial
 * rotary dim, 1-row position_ids, 3-D interleaved input and a wide cache; CenterCropPad with odd
 * crops/pads per axis and int32 data; BitShift by the type's width and more, left-shift wrap,
 * constant shift amounts and a fused chain. Shapes stay small for llvmpipe; skipped when WebGPU
 * has no adapter.
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { attr, node, nodeMatcher, nodesModel, rand } from "./_models.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, int64Tensor, type Tensor } from "../ir/tensor.ts";
import { unsupportedNodes } from "../codegen/plan.ts";

const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;
const ignore = adapter === null;
if (ignore) console.warn("webgpu_ops_extra_test: no WebGPU adapter here; GPU tests skipped");

/**
 * Run the nodes (ONNX opset 23 unless given) on WebGPU and in the reference interpreter; assert
 * the backend supports them and every output matches.
 */
const matches = nodeMatcher(23, { supported: true });

// ---------------------------------------------------------------------------------------------
// GridSample

const MODES = ["linear", "nearest", "cubic"];
const PADDINGS = ["zeros", "border", "reflection"];

Deno.test({
  name: "GridSample matches the reference past the borders for every mode, padding and align_corners",
  ignore,
  async fn() {
    const x = rand([2, 3, 4, 5], 1);
    const grid = rand([2, 3, 4, 2], 2, { lo: -2.6, hi: 2.6 }); // far outside [-1, 1]: reflection folds more than once
    const ties = rand([2, 2, 3, 2], 3, { lo: -1.5, hi: 1.5, step: 0.25 }); // pixel centres and half-pixel ties
    for (const mode of MODES) {
      for (const padding_mode of PADDINGS) {
        for (const align of [0, 1]) {
          const n = node("GridSample", ["x", "g"], ["y"], [
            attr("mode", mode),
            attr("padding_mode", padding_mode),
            attr("align_corners", align),
          ]);
          await matches(n, { x, g: grid });
          await matches(n, { x, g: ties });
        }
      }
    }
  },
});

Deno.test({
  name: "GridSample matches the reference in 1-D, 3-D cubic and on size-1 axes",
  ignore,
  async fn() {
    for (const padding_mode of PADDINGS) {
      for (const align of [0, 1]) {
        const attrs = (mode: string) => [
          attr("mode", mode),
          attr("padding_mode", padding_mode),
          attr("align_corners", align),
        ];
        for (const mode of MODES) {
          // 1-D: (N, C, W) with a grid (N, W_out, 1)
          await matches(node("GridSample", ["x", "g"], ["y"], attrs(mode)), {
            x: rand([1, 2, 6], 4),
            g: rand([1, 7, 1], 5, { lo: -2, hi: 2 }),
          });
          // a size-1 height: reflection with align_corners has a zero span there
          await matches(node("GridSample", ["x", "g"], ["y"], attrs(mode)), {
            x: rand([1, 1, 1, 4], 6),
            g: rand([1, 2, 3, 2], 7, { lo: -1.8, hi: 1.8 }),
          });
        }
        // volumetric cubic (64 taps)
        await matches(node("GridSample", ["x", "g"], ["y"], attrs("cubic")), {
          x: rand([1, 2, 3, 4, 3], 8),
          g: rand([1, 2, 2, 3, 3], 9, { lo: -1.4, hi: 1.4 }),
        });
      }
    }
  },
});

Deno.test({
  name: "GridSample takes opset 16's mode names and its bilinear default, and refuses an unknown padding",
  ignore,
  async fn() {
    const inputs = { x: rand([1, 2, 3, 4], 10), g: rand([1, 3, 3, 2], 11, { lo: -1.2, hi: 1.2 }) };
    await matches(node("GridSample", ["x", "g"], ["y"]), inputs, {}, 16);
    await matches(node("GridSample", ["x", "g"], ["y"], [attr("mode", "bicubic")]), inputs, {}, 16);
    await matches(node("GridSample", ["x", "g"], ["y"], [attr("mode", "bilinear")]), inputs, {}, 16);
    const bad = nodesModel([node("GridSample", ["x", "g"], ["y"], [attr("padding_mode", "mirror")])], inputs, {}, 20);
    assertEquals(unsupportedNodes(bad).map((u) => u.op), ["GridSample"]);
  },
});

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding

Deno.test({
  name: "RotaryEmbedding matches the reference with a partial rotary dim, position_ids and a wide cache",
  ignore,
  async fn() {
    const [B, H, S, D] = [2, 3, 4, 10];
    const x4 = rand([B, H, S, D], 12);
    const cos = rand([9, 5], 13), sin = rand([9, 5], 14);
    const ids = int64Tensor([B, S], [0, 3, 8, 2, 7, 7, 1, 5]);
    for (const interleaved of [0, 1]) {
      for (const rot of [0, 4, 6]) {
        const attrs = [attr("interleaved", interleaved), attr("rotary_embedding_dim", rot)];
        const n = node("RotaryEmbedding", ["x", "cos", "sin", "ids"], ["y"], attrs);
        await matches(n, { x: x4, cos, sin, ids });
        // one row of position ids shared by the batch
        await matches(n, { x: x4, cos, sin, ids: int64Tensor([1, S], [4, 0, 8, 1]) });
        // 3-D input (B, S, H·D) split into heads by num_heads
        const n3 = node("RotaryEmbedding", ["x", "cos", "sin", "ids"], ["y"], [...attrs, attr("num_heads", H)]);
        await matches(n3, { x: rand([B, S, H * D], 15), cos, sin, ids });
      }
    }
  },
});

Deno.test({
  name: "RotaryEmbedding matches the reference without position_ids and refuses caches that do not fit",
  ignore,
  async fn() {
    const [B, S, H, D] = [2, 3, 2, 8];
    const n = node("RotaryEmbedding", ["x", "cos", "sin"], ["y"], [
      attr("num_heads", H),
      attr("rotary_embedding_dim", 6),
    ]);
    await matches(n, { x: rand([B, S, H * D], 16), cos: rand([B, S, 4], 17), sin: rand([B, S, 4], 18) });
    const small = { x: rand([B, S, H * D], 16), cos: rand([B, S, 2], 17), sin: rand([B, S, 2], 18) };
    assertEquals(unsupportedNodes(nodesModel([n], small, {}, 23)).map((u) => u.op), ["RotaryEmbedding"]);
    const odd = node("RotaryEmbedding", ["x", "cos", "sin"], ["y"], [
      attr("num_heads", H),
      attr("rotary_embedding_dim", 5),
    ]);
    const inputs = { x: rand([B, S, H * D], 16), cos: rand([B, S, 4], 17), sin: rand([B, S, 4], 18) };
    assertEquals(unsupportedNodes(nodesModel([odd], inputs, {}, 23)).map((u) => u.op), ["RotaryEmbedding"]);
  },
});

// ---------------------------------------------------------------------------------------------
// CenterCropPad

Deno.test({
  name: "CenterCropPad matches the reference cropping and padding by odd amounts, on axes and int32 data",
  ignore,
  async fn() {
    const x = rand([5, 4, 3], 19);
    const xi = fromNumbers(DataType.INT32, [5, 4, 3], Array.from({ length: 60 }, (_, i) => i * 7 - 100));
    const cases: [number[], number[] | undefined][] = [
      [[4, 5, 3], undefined], // crop by 1 (shift 0), pad by 1 (shift 0, bounds checked)
      [[2, 7, 1], undefined], // crop by 3, pad by 3, crop to one element
      [[8, 1, 6], undefined], // pad, crop to one, pad
      [[1, 9], [0, 1]],
      [[6, 2], [-1, -3]],
      [[5], [1]], // pad one axis by 1
    ];
    for (const [shape, axes] of cases) {
      const n = node("CenterCropPad", ["x", "s"], ["y"], axes ? [attr("axes", axes)] : []);
      const s = int64Tensor([shape.length], shape);
      await matches(n, { x }, { s }, 18);
      await matches(n, { x: xi }, { s }, 18);
    }
  },
});

// ---------------------------------------------------------------------------------------------
// BitShift

function uints(dtype: DataType, dims: number[], values: number[]): Tensor {
  return fromNumbers(dtype, dims, values);
}

Deno.test({
  name: "BitShift gives 0 for shifts of the type's width or more and wraps left shifts to the width",
  ignore,
  async fn() {
    const cases: [DataType, number[], number[]][] = [
      [DataType.UINT8, [200, 255, 1, 7, 128, 3, 9, 0], [3, 1, 7, 8, 9, 31, 200, 255]],
      [DataType.UINT16, [65535, 40000, 1, 3, 9, 32768, 5, 2], [4, 1, 15, 16, 17, 33, 40000, 0]],
      [DataType.UINT32, [4294967295, 3000000000, 1, 5, 9, 2147483648, 77, 6], [4, 1, 31, 32, 33, 64, 255, 0]],
    ];
    for (const [dt, a, b] of cases) {
      for (const direction of ["LEFT", "RIGHT"]) {
        const n = node("BitShift", ["a", "b"], ["y"], [attr("direction", direction)]);
        await matches(n, { a: uints(dt, [2, 4], a), b: uints(dt, [2, 4], b) }, {}, 18);
        // constant shift amounts past the width (a literal in the kernel), broadcast
        const bits = dt === DataType.UINT8 ? 8 : dt === DataType.UINT16 ? 16 : 32;
        for (const k of [3, bits, bits + 8]) {
          await matches(n, { a: uints(dt, [2, 4], a) }, { b: uints(dt, [1], [k]) }, 18);
        }
        // broadcast over a row of shifts
        await matches(n, { a: uints(dt, [2, 4], a), b: uints(dt, [4], b.slice(0, 4)) }, {}, 18);
      }
    }
  },
});

Deno.test({
  name: "BitShift fuses into an elementwise chain with other integer ops",
  ignore,
  async fn() {
    const a = uints(DataType.UINT8, [3, 4], Array.from({ length: 12 }, (_, i) => (i * 37) % 256));
    const b = uints(DataType.UINT8, [3, 4], Array.from({ length: 12 }, (_, i) => i % 10));
    const nodes = [
      // (a << b) >> b keeps a's low bits only if the left shift wrapped to 8 bits
      node("BitShift", ["a", "b"], ["t"], [attr("direction", "LEFT")]),
      node("BitShift", ["t", "b"], ["u"], [attr("direction", "RIGHT")]),
      node("BitwiseXor", ["u", "a"], ["y"]),
    ];
    await matches(nodes, { a, b }, {}, 18);
  },
});

Deno.test("Dropout in training mode with ratio 0 is an identity; an unread mask is fine, a read one is refused", async () => {
  const x = rand([2, 5], 41);
  const ratio = fromNumbers(DataType.FLOAT, [], [0]), training = fromNumbers(DataType.BOOL, [], [1]);
  // as PyTorch exports attention dropout: the mask is named but nothing reads it
  const dropped = node("Dropout", ["x", "r", "t"], ["d", "mask"]);
  await matches([dropped, node("Relu", ["d"], ["y"])], { x }, { r: ratio, t: training });
  const readMask = nodesModel(node("Dropout", ["x", "r", "t"], ["d", "mask"]), { x }, { r: ratio, t: training });
  assertEquals(unsupportedNodes(readMask).map((u) => u.reason), ["the mask output is not supported"]);
  const half = nodesModel([dropped, node("Relu", ["d"], ["y"])], { x }, {
    r: fromNumbers(DataType.FLOAT, [], [0.5]),
    t: training,
  });
  assertEquals(unsupportedNodes(half).map((u) => u.reason), ["training mode is not supported"]);
});
