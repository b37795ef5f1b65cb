/**
 * MatMulNBits test models: seeded packed weights in ONNX Runtime's layout (B uint8 [N, n_blocks,
 * blob_size], codes low bits first; the last block's padding codes and the zero points' padding
 * bits drawn at random too, so a reader that uses them is caught), scales, zero points (packed uint8
 * or A's type), g_idx and bias, and a one-node model over them.
 * @module
 */
import { attr, graphModel, node, randInts, randValues } from "./_models.ts";
import { DataType } from "../ir/dtype.ts";
import type { Model, Node } from "../ir/graph.ts";
import { float32Tensor, fromNumbers, type Tensor } from "../ir/tensor.ts";
import type { Dim } from "../ir/types.ts";

/** One MatMulNBits problem. */
export interface NBitsCase {
  /** A's dims; the last is K */
  a: number[];
  N: number;
  bits: 2 | 4 | 8;
  block: number;
  /** zero points: none (2^(bits−1)), packed uint8, or float (A's type, unpacked) */
  zp?: "none" | "packed" | "float";
  bias?: boolean;
  gIdx?: boolean;
  accuracyLevel?: number;
  seed?: number;
}

/** The node's constant inputs: B, scales and the optional ones the case asks for. */
export interface NBitsWeights {
  b: Tensor;
  scales: Tensor;
  zp?: Tensor;
  gIdx?: Tensor;
  bias?: Tensor;
}

/** Pack `codes` (each < 2^bits) low bits first into bytes, `per` codes a byte. */
function packInto(out: Uint8Array, at: number, codes: number[], bits: number): void {
  const per = 8 / bits;
  codes.forEach((c, i) => (out[at + Math.floor(i / per)] |= c << ((i % per) * bits)));
}

/** Seeded weights for `c` in ONNX Runtime's layout. */
export function nbitsWeights(c: NBitsCase): NBitsWeights {
  const K = c.a[c.a.length - 1], { N, bits, block } = c;
  const seed = c.seed ?? 1;
  const blocks = Math.ceil(K / block), blob = (block * bits) / 8, levels = 1 << bits;
  // every code of the padded rows drawn (padding included)
  const codes = randInts([N, blocks * block], seed, 0, levels - 1);
  const b = new Uint8Array(N * blocks * blob);
  for (let n = 0; n < N; n++) {
    packInto(b, n * blocks * blob, codes.slice(n * blocks * block, (n + 1) * blocks * block), bits);
  }
  // scales near 1 / (levels · √K): outputs of order 1
  const scale = 1 / (levels * Math.sqrt(K));
  const scales = float32Tensor([N, blocks], randValues([N, blocks], seed + 1, { lo: 0.5 * scale, hi: 1.5 * scale }));
  const w: NBitsWeights = { b: fromNumbers(DataType.UINT8, [N, blocks, blob], b), scales };
  if (c.zp === "packed") {
    const row = Math.ceil((blocks * bits) / 8), per = 8 / bits;
    const zs = randInts([N, row * per], seed + 2, 0, levels - 1);
    const z = new Uint8Array(N * row);
    for (let n = 0; n < N; n++) packInto(z, n * row, zs.slice(n * row * per, (n + 1) * row * per), bits);
    w.zp = fromNumbers(DataType.UINT8, [N * row], z);
  } else if (c.zp === "float") {
    w.zp = float32Tensor([N, blocks], randInts([N, blocks], seed + 2, 0, levels - 1));
  }
  if (c.gIdx) {
    // a permutation of ⌊k / block⌋: every block keeps its size
    const g = Array.from({ length: K }, (_, k) => Math.floor(k / block));
    const r = randInts([K], seed + 3, 0, 1 << 30);
    for (let i = K - 1; i > 0; i--) {
      const j = r[i] % (i + 1);
      [g[i], g[j]] = [g[j], g[i]];
    }
    w.gIdx = fromNumbers(DataType.INT32, [K], g);
  }
  if (c.bias) w.bias = float32Tensor([N], randValues([N], seed + 4));
  return w;
}

/** The MatMulNBits node of `c` over inputs named a, b, scales, zp, g_idx, bias. */
export function nbitsNode(c: NBitsCase, w: NBitsWeights): Node {
  const inputs = ["a", "b", "scales", w.zp ? "zp" : "", w.gIdx ? "g_idx" : "", w.bias ? "bias" : ""];
  while (inputs[inputs.length - 1] === "") inputs.pop();
  const attrs = [
    attr("K", c.a[c.a.length - 1]),
    attr("N", c.N),
    attr("bits", c.bits),
    attr("block_size", c.block),
  ];
  if (c.accuracyLevel !== undefined) attrs.push(attr("accuracy_level", c.accuracyLevel));
  return node("MatMulNBits", inputs, ["y"], attrs, "com.microsoft");
}

/** A one-node model: A fed (dims `aDims`, default the case's), the weights as initializers. */
export function nbitsModel(c: NBitsCase, w: NBitsWeights = nbitsWeights(c), aDims: Dim[] = c.a): Model {
  const inits: Record<string, Tensor> = { b: w.b, scales: w.scales };
  if (w.zp) inits.zp = w.zp;
  if (w.gIdx) inits.g_idx = w.gIdx;
  if (w.bias) inits.bias = w.bias;
  return graphModel([nbitsNode(c, w)], { a: aDims }, ["y"], inits, {
    opset: 21,
    domains: [{ domain: "com.microsoft", version: 1 }],
  });
}

/** A seeded A for `c`. */
export function nbitsInput(c: NBitsCase): Tensor {
  return float32Tensor(c.a, randValues(c.a, (c.seed ?? 1) + 10));
}
