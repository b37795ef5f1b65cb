/**
 * What a graph input's values decide, beyond plain data: a shape, a count, axes or a branch
 * (random values there break the model or take a path no caller takes), or indices into a
 * tensor of known size (random values must stay below that size). Found by following each
 * input's values forward through the graph and its subgraphs, iteratively.
 * @module
 */
import { isFloat } from "../ir/dtype.ts";
import { getAttr, type Graph, type Model, type Node } from "../ir/graph.ts";

/** Where an input's values set structure: the first such use found. */
export interface StructuralUse {
  /** The consuming node's name (or its first output's). */
  node: string;
  /** The consuming node's op. */
  opType: string;
  /** What that operand sets: "shape", "condition", "axes", … */
  what: string;
}

/** How one graph input's values are used; absent fields mean "plain data". */
export interface InputRole {
  /** Set when the values (or values computed from them) decide a shape, count, axes or branch. */
  structural?: StructuralUse;
  /** Set when the input is used directly as indices: the smallest size indexed, when known. */
  indexBound?: number;
}

const REDUCE_AXES = [
  "ReduceSum",
  "ReduceMean",
  "ReduceMax",
  "ReduceMin",
  "ReduceProd",
  "ReduceL1",
  "ReduceL2",
  "ReduceLogSum",
  "ReduceLogSumExp",
  "ReduceSumSquare",
];

/** Operands (op → input slot → what it sets) whose values decide shapes, counts, axes or branches. */
const STRUCTURAL: Record<string, Record<number, string>> = {
  Reshape: { 1: "shape" },
  Expand: { 1: "shape" },
  ConstantOfShape: { 0: "shape" },
  Range: { 0: "start", 1: "limit", 2: "delta" },
  Tile: { 1: "repeats" },
  Slice: { 1: "starts", 2: "ends", 3: "axes", 4: "steps" },
  Pad: { 1: "pads", 3: "axes" },
  Resize: { 1: "roi", 2: "scales", 3: "sizes" },
  Upsample: { 1: "scales" },
  TopK: { 1: "k" },
  OneHot: { 1: "depth" },
  If: { 0: "condition" },
  Loop: { 0: "trip count", 1: "condition" },
  Split: { 1: "split" },
  SplitToSequence: { 1: "split" },
  Squeeze: { 1: "axes" },
  Unsqueeze: { 1: "axes" },
  CumSum: { 1: "axis" },
  NonMaxSuppression: { 2: "max_output_boxes_per_class" },
  Trilu: { 1: "k" },
  CenterCropPad: { 1: "shape" },
  DFT: { 1: "dft_length", 2: "axis" },
  STFT: { 1: "frame_step", 3: "frame_length" },
  Col2Im: { 1: "image_shape", 2: "block_shape" },
  MelWeightMatrix: { 0: "num_mel_bins", 1: "dft_length", 2: "sample_rate" },
  HannWindow: { 0: "size" },
  HammingWindow: { 0: "size" },
  BlackmanWindow: { 0: "size" },
  SequenceAt: { 1: "position" },
  SequenceInsert: { 2: "position" },
  SequenceErase: { 1: "position" },
  ...Object.fromEntries(REDUCE_AXES.map((op) => [op, { 1: "axes" }])),
};

/** Operands that index into another operand (`data`) along an axis attribute (default 0). */
const INDEX: Record<string, { slot: number; data: number; axis?: string }> = {
  Gather: { slot: 1, data: 0, axis: "axis" },
  GatherElements: { slot: 1, data: 0, axis: "axis" },
  ScatterElements: { slot: 1, data: 0, axis: "axis" },
  Scatter: { slot: 1, data: 0, axis: "axis" },
  GatherND: { slot: 1, data: 0 },
  ScatterND: { slot: 1, data: 0 },
};

/** Ops whose output holds the input's values unchanged (indices stay indices through them). */
const PASS_THROUGH = new Set(["Identity", "Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten"]);

/** Ops whose outputs do not depend on the values of their inputs. */
const VALUE_FREE = new Set(["Shape", "Size"]);

interface Use {
  node: Node;
  slot: number;
  /** The control-flow nodes whose subgraphs hold `node`, outermost first. */
  owners: Node[];
}

function nodeName(n: Node): string {
  return n.name || n.outputs[0] || n.opType;
}

/** Every node of the graph and of its subgraphs, with the nodes that own them (an explicit stack). */
function consumers(graph: Graph): Map<string, Use[]> {
  const uses = new Map<string, Use[]>();
  const stack: { g: Graph; owners: Node[] }[] = [{ g: graph, owners: [] }];
  while (stack.length) {
    const { g, owners } = stack.pop()!;
    for (const node of g.nodes) {
      node.inputs.forEach((name, slot) => {
        if (!name) return;
        let list = uses.get(name);
        if (!list) uses.set(name, list = []);
        list.push({ node, slot, owners });
      });
      for (const a of node.attributes) {
        const subs = a.type === "graph" ? [a.value] : a.type === "graphs" ? a.value : [];
        for (const s of subs) stack.push({ g: s, owners: [...owners, node] });
      }
    }
  }
  return uses;
}

/** The static size of `name` along `axis`: from an initializer, a Constant, or a declared shape. */
function sizeAlong(model: Model, name: string, axis: number): number | undefined {
  const g = model.graph;
  let dims: readonly (number | string)[] | undefined = g.initializers.get(name)?.dims;
  if (!dims) {
    const c = g.nodes.find((n) => n.opType === "Constant" && n.outputs[0] === name);
    const v = c && getAttr(c, "value");
    if (v?.type === "tensor") dims = v.value.dims;
  }
  if (!dims) {
    const info = [...g.inputs, ...g.valueInfo, ...g.outputs].find((i) => i.name === name);
    if (info?.type?.kind === "tensor") dims = info.type.shape;
  }
  if (!dims) return undefined;
  const d = dims[axis < 0 ? axis + dims.length : axis];
  return typeof d === "number" && d > 0 ? d : undefined;
}

/**
 * How each graph input's values are used: as structure (shape, count, axes, branch condition),
 * as indices with a known bound, or (absent from the map) as plain data. Values flow forward
 * through every op except `Shape` and `Size`, and into subgraphs that read them; a value read
 * inside a subgraph reaches the outputs of the nodes that own it. An integer or bool input is
 * structural wherever its values arrive; a float input only where it arrives unchanged
 * (through Identity, Cast, Reshape, …).
 * @param model the model
 * @returns the role of each input that has one
 * @example
 * ```ts
 * import { DataType, inputRoles, type Model } from "../mod.ts";
 * const t = (dtype: DataType, shape: number[]) => ({ kind: "tensor" as const, dtype, shape });
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *     inputs: [{ name: "x", type: t(DataType.FLOAT, [6]) }, { name: "s", type: t(DataType.INT64, [2]) }],
 *     outputs: [{ name: "y", type: t(DataType.FLOAT, [2, 3]) }],
 *     nodes: [{ name: "r", opType: "Reshape", domain: "", inputs: ["x", "s"], outputs: ["y"], attributes: [] }],
 *   },
 * };
 * const roles = inputRoles(model);
 * if (roles.get("s")?.structural?.what !== "shape") throw new Error("s sets Reshape's shape");
 * if (roles.has("x")) throw new Error("x is plain data");
 * ```
 */
export function inputRoles(model: Model): Map<string, InputRole> {
  const uses = consumers(model.graph);
  const roles = new Map<string, InputRole>();
  for (const input of model.graph.inputs) {
    const role: InputRole = {};
    // real-valued data (an image, audio) decides structure only when it is the operand itself (Resize's scales):
    // random values through other ops give other shapes, not a broken model
    const dtype = model.graph.initializers.get(input.name)?.dtype ??
      (input.type?.kind === "tensor" ? input.type.dtype : undefined);
    const float = dtype !== undefined && isFloat(dtype);
    const seen = new Set<string>([input.name]);
    // each value reached, and whether it still holds the input's values unchanged
    const queue: { name: string; direct: boolean }[] = [{ name: input.name, direct: true }];
    while (queue.length && !role.structural) {
      const { name, direct } = queue.pop()!;
      for (const { node, slot, owners } of uses.get(name) ?? []) {
        if (node.domain !== "" && node.domain !== "ai.onnx") {
          // unknown semantics: follow the values, decide nothing
        } else if (STRUCTURAL[node.opType]?.[slot] !== undefined && (direct || !float)) {
          role.structural = { node: nodeName(node), opType: node.opType, what: STRUCTURAL[node.opType][slot] };
          break;
        } else if (direct && INDEX[node.opType]?.slot === slot) {
          const spec = INDEX[node.opType];
          const axisAttr = spec.axis ? getAttr(node, spec.axis) : undefined;
          const axis = axisAttr?.type === "int" ? axisAttr.value : 0;
          const bound = spec.axis ? sizeAlong(model, node.inputs[spec.data], axis) : undefined;
          if (bound !== undefined) role.indexBound = Math.min(role.indexBound ?? bound, bound);
        }
        if (VALUE_FREE.has(node.opType)) continue;
        const keep = direct && slot === 0 && PASS_THROUGH.has(node.opType);
        for (const out of [...node.outputs, ...owners.flatMap((o) => o.outputs)]) {
          if (out && !seen.has(out)) {
            seen.add(out);
            queue.push({ name: out, direct: keep });
          }
        }
      }
    }
    if (role.structural || role.indexBound !== undefined) roles.set(input.name, role);
  }
  return roles;
}
