/**
 * Already-quantized models: a QDQ model made the way ONNX Runtime's static quantizer writes one
 * (activations through QuantizeLinear → DequantizeLinear pairs, int8 weights per output channel
 * through DequantizeLinear, an int32 bias at scale x_scale · w_scale) is optimized without being
 * de-quantized back to float, and still matches ONNX Runtime.
 */
import { assert } from "./_assert.ts";
import { attr, graphModel, node, rand, randValues } from "./_models.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, type Tensor, toNumbers } from "../ir/tensor.ts";
import type { Model } from "../ir/graph.ts";
import { saveOnnx } from "../onnx/load.ts";
import { optimize } from "../optimize/verified.ts";
import { runOrt } from "../verify/ort.ts";
import { compareValues } from "../optimize/quant_error.ts";

const K = 32, N = 16, M = 4;

/** x → Q/DQ → MatMul(·, DQ(int8 W)) + DQ(int32 bias) → Q/DQ → Relu → y, as quantize_static writes it. */
function qdqModel(): Model {
  const w = randValues([K, N], 7, { lo: -0.5, hi: 0.5 });
  const xScale = 2 / 255, wScales: number[] = [];
  const wq = new Int8Array(K * N);
  for (let n = 0; n < N; n++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(w[k * N + n]));
    const s = amax / 127;
    wScales.push(s);
    for (let k = 0; k < K; k++) wq[k * N + n] = Math.round(w[k * N + n] / s);
  }
  const bias = randValues([N], 8, { lo: -0.2, hi: 0.2 });
  const inits: Record<string, Tensor> = {
    x_scale: fromNumbers(DataType.FLOAT, [], [xScale]),
    x_zp: fromNumbers(DataType.UINT8, [], [128]),
    w_q: fromNumbers(DataType.INT8, [K, N], wq),
    w_scale: fromNumbers(DataType.FLOAT, [N], wScales),
    w_zp: fromNumbers(DataType.INT8, [N], new Array(N).fill(0)),
    b_q: fromNumbers(DataType.INT32, [N], bias.map((b, n) => Math.round(b / (xScale * wScales[n])))),
    b_scale: fromNumbers(DataType.FLOAT, [N], wScales.map((s) => s * xScale)),
    y_scale: fromNumbers(DataType.FLOAT, [], [4 / 255]),
    y_zp: fromNumbers(DataType.UINT8, [], [128]),
  };
  const nodes = [
    node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"]),
    node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"]),
    node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_dq"], [attr("axis", 1)]),
    node("DequantizeLinear", ["b_q", "b_scale"], ["b_dq"], [attr("axis", 0)]),
    node("MatMul", ["x_dq", "w_dq"], ["mm"]),
    node("Add", ["mm", "b_dq"], ["mm_b"]),
    node("QuantizeLinear", ["mm_b", "y_scale", "y_zp"], ["y_q"]),
    node("DequantizeLinear", ["y_q", "y_scale", "y_zp"], ["y_dq"]),
    node("Relu", ["y_dq"], ["y"]),
  ];
  return graphModel(nodes, { x: [M, K] }, ["y"], inits, { opset: 17 });
}

Deno.test("a QDQ model like ONNX Runtime's quantizer writes is optimized without de-quantizing its weights, and matches ONNX Runtime", async () => {
  const model = qdqModel();
  const dir = Deno.makeTempDirSync();
  const cacheFile = `${dir}/verdicts.json`;
  const { model: out } = await optimize(model, { guard: false, cacheFile });
  const dq = out.graph.nodes.filter((n) => n.opType === "DequantizeLinear");
  assert(dq.length >= 2, `DequantizeLinear nodes kept: ${dq.length}`);
  const floatWeights = [...out.graph.initializers.values()].filter((t) =>
    t.dtype === DataType.FLOAT && t.size >= K * N
  );
  assert(floatWeights.length === 0, `no float weight: found ${floatWeights.map((t) => t.dims.join("x"))}`);
  const int8 = [...out.graph.initializers.values()].filter((t) => t.dtype === DataType.INT8 && t.size === K * N);
  assert(int8.length === 1, "the int8 weight stays int8");
  saveOnnx(model, `${dir}/a.onnx`);
  saveOnnx(out, `${dir}/b.onnx`);
  const x = rand([M, K], 3, { lo: -1, hi: 1 });
  const a = (await runOrt(`${dir}/a.onnx`, new Map([["x", x]]))).get("y")!;
  const b = (await runOrt(`${dir}/b.onnx`, new Map([["x", x]]))).get("y")!;
  const va = toNumbers(a), vb = toNumbers(b);
  // the same quantized arithmetic: equal up to one output quantization step where rounding ties move
  const step = 4 / 255;
  assert(va.every((v, i) => Math.abs(v - vb[i]) <= step + 1e-6), "outputs within one quantization step");
  assert(compareValues(va, vb).cosine > 0.999, "outputs agree");
  Deno.removeSync(dir, { recursive: true });
});
