/**
 * Split weights too large for one storage binding. WebGPU binds a buffer of at most
 * `maxStorageBufferBindingSize` bytes (128 MiB by default, and on llvmpipe), which the classifier
 * of VGG (411 MB) or AlexNet (151 MB) and GPT-2's token embedding (154 MB) exceed.
 *
 * - MatMul/Gemm whose B is a rank-2 initializer past the limit: B is cut along N (the output
 *   columns) into slices that fit; each slice gets its own MatMul/Gemm (Gemm's bias cut alike
 *   where it has N columns) and a Concat on the last axis joins the pieces.
 * - Gather on axis 0 of an initializer past the limit (an embedding table): the table is cut into
 *   row blocks; each block gathers the (wrapped, clamped) indices, and a chain of Where keeps, per
 *   index, the block that holds its row.
 *
 * Invariant: the result computes what the model computes for every feed (indices out of range
 * excepted, which ONNX leaves undefined); every weight the rewritten nodes read fits in
 * `maxBytes`, unless one row of it (K elements for MatMul, one embedding row for Gather) alone
 * does not. New names carry a `/split` suffix no name of the model uses; other nodes are untouched.
 * @module
 */
import { type Attribute, getAttr, type Graph, type Model, type Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { inferModel } from "../ir/infer.ts";
import { allocate, int64Tensor, sizeOf, Tensor } from "../ir/tensor.ts";

const int32Scalar = (v: number) => new Tensor(DataType.INT32, [], new Int32Array([v]));

/** WebGPU's default `maxStorageBufferBindingSize`: what every adapter grants. */
export const DEFAULT_MAX_BINDING_BYTES = 134217728;

/** Rows [r0, r1) of a rank-2 tensor, or columns when `cols`. */
function slice2d(t: Tensor, cols: boolean, a: number, b: number): Tensor {
  const [R, C] = t.dims;
  const src = t.data as ArrayLike<unknown> as Float32Array;
  const dims = cols ? [R, b - a] : [b - a, C];
  const out = allocate(t.dtype, sizeOf(dims)) as Float32Array;
  if (!cols) out.set(src.subarray(a * C, b * C));
  else for (let r = 0; r < R; r++) out.set(src.subarray(r * C + a, r * C + b), r * (b - a));
  return new Tensor(t.dtype, dims, out);
}

/** Equal slices of `n` items with at most `per` items each (a multiple of 4 where that fits). */
function ranges(n: number, per: number): [number, number][] {
  per = Math.max(1, per);
  let step = Math.ceil(n / Math.ceil(n / per));
  if (Math.ceil(step / 4) * 4 <= per) step = Math.ceil(step / 4) * 4;
  const out: [number, number][] = [];
  for (let a = 0; a < n; a += step) out.push([a, Math.min(n, a + step)]);
  return out;
}

const intAttr = (n: Node, name: string, def: number) => {
  const a = getAttr(n, name);
  return a?.type === "int" ? a.value : def;
};

/**
 * The model with every over-large MatMul/Gemm B and Gather table split (see the module notes);
 * the model itself when none is.
 *
 * @example
 * ```ts
 * import { splitLargeWeights } from "./split_weights.ts";
 * import { compareValues, loadOnnx, randomInputs, runModel } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * if (splitLargeWeights(model) !== model) throw new Error("bert_tiny's weights fit a default binding");
 * const split = splitLargeWeights(model, 32 * 1024); // as if bindings held 32 KiB
 * if (split.graph.initializers.size <= model.graph.initializers.size) throw new Error("weights were split");
 * const inputs = randomInputs(model, { seed: 0 });
 * const name = model.graph.outputs[0].name;
 * const why = compareValues(runModel(split, inputs).get(name), runModel(model, inputs).get(name), {
 *   atol: 1e-5,
 *   rtol: 1e-4,
 * });
 * if (why) throw new Error(`the split model computes the same: ${why}`);
 * ```
 */
export function splitLargeWeights(model: Model, maxBytes: number = DEFAULT_MAX_BINDING_BYTES): Model {
  const g = model.graph;
  const inits = g.initializers;
  const big = (name: string) => {
    const t = inits.get(name);
    return t && t.dims.length === 2 && t.dtype === DataType.FLOAT && sizeOf(t.dims) * 4 > maxBytes ? t : undefined;
  };
  if (!g.nodes.some((n) => n.domain === "" && n.inputs.some((x) => x !== "" && big(x)))) return model;
  const used = new Set<string>([...inits.keys(), ...g.inputs.map((i) => i.name)]);
  for (const n of g.nodes) for (const x of [...n.inputs, ...n.outputs]) used.add(x);
  const fresh = (base: string) => {
    let name = `${base}/split`, k = 0;
    while (used.has(name)) name = `${base}/split${++k}`;
    used.add(name);
    return name;
  };
  let inferred: ReturnType<typeof inferModel>["types"] | undefined;
  const types = () => (inferred ??= inferModel(model).types);
  const initializers = new Map(inits);
  const nodes: Node[] = [];
  const node = (opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node => {
    const n: Node = { name: fresh(outputs[0]), opType, domain: "", inputs, outputs, attributes };
    nodes.push(n);
    return n;
  };
  const constant = (base: string, t: Tensor) => {
    const name = fresh(base);
    initializers.set(name, t);
    return name;
  };
  for (const n of g.nodes) {
    const isMatMul = n.domain === "" && n.opType === "MatMul";
    const isGemm = n.domain === "" && n.opType === "Gemm";
    // the tables split are rank 2: axis −2 is axis 0
    const isGather = n.domain === "" && n.opType === "Gather" && [0, -2].includes(intAttr(n, "axis", 0));
    const w = (isMatMul || isGemm) ? big(n.inputs[1]) : isGather ? big(n.inputs[0]) : undefined;
    if (!w) {
      nodes.push(n);
      continue;
    }
    const [R, C] = w.dims;
    const y = n.outputs[0];
    if (isGather) {
      const blocks = ranges(R, Math.floor(maxBytes / (C * 4)));
      // index arithmetic in the indices' own type (int32 or int64)
      const dt = types().get(n.inputs[1]);
      const ix = (v: number) =>
        dt?.kind === "tensor" && dt.dtype === DataType.INT32 ? int32Scalar(v) : int64Tensor([], [v]);
      // wrap negative indices once: idx < 0 ? idx + R : idx
      const idx = n.inputs[1];
      const zero = constant(`${y}/zero`, ix(0));
      const neg = node("Less", [idx, zero], [fresh(`${y}/neg`)]).outputs[0];
      const shifted = node("Add", [idx, constant(`${y}/rows`, ix(R))], [fresh(`${y}/wrapped`)])
        .outputs[0];
      const wrapped = node("Where", [neg, shifted, idx], [fresh(`${y}/index`)]).outputs[0];
      const axisEnd = constant(`${y}/axes`, int64Tensor([1], [-1]));
      let acc: string | undefined;
      blocks.forEach(([a, b], i) => {
        const table = constant(`${n.inputs[0]}/rows${a}`, slice2d(w, false, a, b));
        const local = node("Sub", [wrapped, constant(`${y}/from${i}`, ix(a))], [fresh(`${y}/local`)])
          .outputs[0];
        const lo = node("Max", [local, zero], [fresh(`${y}/lo`)]).outputs[0];
        const clamped = node("Min", [lo, constant(`${y}/last${i}`, ix(b - a - 1))], [
          fresh(`${y}/clamped`),
        ]).outputs[0];
        const last = i === blocks.length - 1;
        const part = node("Gather", [table, clamped], [last && acc === undefined ? y : fresh(`${y}/part`)], [
          { name: "axis", type: "int", value: 0 },
        ]).outputs[0];
        if (acc === undefined) {
          acc = part;
          return;
        }
        // rows at or past this block's start take this block's row
        const inBlock = node("GreaterOrEqual", [wrapped, constant(`${y}/start${i}`, ix(a))], [
          fresh(`${y}/inblock`),
        ]).outputs[0];
        const mask = node("Unsqueeze", [inBlock, axisEnd], [fresh(`${y}/mask`)]).outputs[0];
        acc = node("Where", [mask, part, acc], [last ? y : fresh(`${y}/acc`)]).outputs[0];
      });
      continue;
    }
    // MatMul B [K, N]; Gemm B [K, N], or [N, K] with transB
    const transB = isGemm && intAttr(n, "transB", 0) !== 0;
    const [K, N] = transB ? [C, R] : [R, C];
    const cols = ranges(N, Math.floor(maxBytes / (K * 4)));
    const bias = isGemm && n.inputs[2] ? inits.get(n.inputs[2]) : undefined;
    // a bias of N columns ([N], [1, N]) is cut with B; a scalar one is read whole by every piece
    const splitBias = bias !== undefined && N > 1 && sizeOf(bias.dims) === N && bias.dims.at(-1) === N;
    if (isGemm && n.inputs[2] && !(splitBias || (bias && sizeOf(bias.dims) === 1))) {
      // a runtime or full [M, N] bias: B stays whole (the plan then names the limit it passes)
      nodes.push(n);
      continue;
    }
    const parts = cols.map(([a, b]) => {
      const piece = constant(`${n.inputs[1]}/cols${a}`, slice2d(w, !transB, a, b));
      const ins = [n.inputs[0], piece];
      if (isGemm && n.inputs[2]) {
        ins.push(
          splitBias
            ? constant(`${n.inputs[2]}/cols${a}`, slice2d(new Tensor(bias!.dtype, [1, N], bias!.data), true, a, b))
            : n.inputs[2],
        );
      }
      return node(n.opType, ins, [fresh(`${y}/cols${a}`)], n.attributes).outputs[0];
    });
    node("Concat", parts, [y], [{ name: "axis", type: "int", value: -1 }]);
  }
  const graph: Graph = { ...g, nodes, initializers };
  return { ...model, graph };
}
