/**
 * Graph → kernel plan. Shapes are made static (symbolic input dims take sizes from `dims`,
 * default 1), `inferModel` types every value and folds constant subgraphs (Shape → Gather →
 * Concat shape math) on the CPU, dead and folded nodes are dropped, each remaining node is
 * lowered by its op family (`lower.ts`), elementwise chains are fused (`fusion.ts`), and views
 * (Reshape, Squeeze, Unsqueeze, Flatten, Identity, Dropout) alias their input's buffer.
 *
 * Every node is checked before anything else happens: an op, dtype or attribute the backend
 * lacks is one `SaturnError` (`UNSUPPORTED_OP`) naming the op and the node.
 * @module
 */
import { OpError, SaturnError, type SaturnErrorCode } from "../errors.ts";
import { DataType, dtypeName } from "../ir/dtype.ts";
import { type Graph, type Model, type Node, opsetVersion } from "../ir/graph.ts";
import { inferModel } from "../ir/infer.ts";
import { expandFunctions } from "../ir/expand_functions.ts";
import { NodeContext } from "../ir/ops/node_context.ts";
import { sizeOf, type Tensor } from "../ir/tensor.ts";
import type { ValueType } from "../ir/types.ts";
import "../rules/contrib_ops.ts";
import { fuseAttention } from "./attention.ts";
import { fuse, type LoweredNode } from "./fusion.ts";
import { splitLargeWeights } from "./split_weights.ts";
import { inlineKnownIfs } from "./inline_if.ts";
import { type HalfMode, halfStorageKernel, type HalfStore } from "./f16.ts";
import { declareSpecialFloats } from "./wgsl.ts";
import { oneFdiv } from "./fdiv.ts";
import { type KernelSpec, storageType, storedBytes, type StoredType, type Target, UnsupportedError } from "./kernel.ts";
import { findLowering, type LowerCtx, type TensorInfo } from "./lowering.ts";
import "./lower.ts";
import { encodeInput, type RuntimeTensor } from "../webgpu/runtime.ts";

/** Options for `planModel`. */
export interface PlanOptions {
  /** sizes of symbolic input dims by name (unlisted ones are 1), as `randomInputs` takes them */
  dims?: Record<string, number>;
  /** exact shapes of inputs by name (override `dims`) */
  inputShapes?: Record<string, readonly number[]>;
  /** inputs whose values are fixed at plan time: folded like initializers */
  specialize?: ReadonlyMap<string, Tensor>;
  /** the device kernels are generated for (default: a hardware GPU) */
  target?: Target;
  /**
   * store the graph's float32 values (inputs, weights, activations, outputs) as f16 on the GPU;
   * kernels still compute in f32 (`f16.ts`). Needs the adapter's `shader-f16` feature;
   * `"emulated"` keeps f32 buffers and rounds what crosses memory to f16 values (for testing on
   * adapters without it).
   */
  f16?: boolean | "emulated";
}

/** A value the GPU holds: its static type, and the value whose buffer it lives in. */
export interface ValuePlan extends TensorInfo {
  /** How each element is stored in the GPU buffer. */
  elemType: StoredType;
  /** bytes on the GPU (4 per element, 2 for f16; a multiple of 4, at least 4) */
  bytes: number;
  /** the value that owns the buffer (itself, or what a view aliases) */
  root: string;
  /** held at half precision (`PlanOptions.f16`): as f16, or as f32 rounded to f16 values */
  half?: HalfMode;
  /** Fed by the caller each run, uploaded once per session, or computed by kernels. */
  kind: "input" | "weight" | "activation";
}

/** A graph output: computed on the GPU (`root`) or known at plan time (`constant`). */
export interface OutputPlan extends TensorInfo {
  /** The value whose buffer holds the output, when kernels compute it. */
  root?: string;
  /** how the GPU stores it (with `root`) */
  elemType?: StoredType;
  /** The output's value, when it is known at plan time (no kernel computes it). */
  constant?: Tensor;
}

/** What `planModel` returns: kernels in execution order and the values they bind. */
export interface KernelPlan {
  /** Every value a kernel binds, by name (views included: their `root` is the aliased value). */
  values: Map<string, ValuePlan>;
  /** the inputs a caller feeds, with their planned shapes */
  inputs: ValuePlan[];
  /** The graph outputs, in order. */
  outputs: OutputPlan[];
  /** constant buffers (by root value) as the bytes uploaded once per session */
  weights: Map<string, Uint8Array>;
  /** The kernels, in execution order: each reads only values written before it. */
  kernels: KernelSpec[];
}

/** A node the backend cannot run, and why. */
export interface UnsupportedNode {
  /** The node. */
  node: Node;
  /** `Op` or `domain.Op` */
  op: string;
  /** What the backend lacks: the op, a dtype, or an attribute value. */
  reason: string;
}

function opName(n: Node): string {
  return n.domain ? `${n.domain}.${n.opType}` : n.opType;
}

function nodeLabel(n: Node): string {
  return n.name || n.outputs[0] || "?";
}

/** The model with static input shapes and specialized inputs turned into initializers. */
function staticModel(model: Model, opts: PlanOptions): Model {
  const g = model.graph;
  const spec = opts.specialize ?? new Map<string, Tensor>();
  const initializers = new Map(g.initializers);
  for (const [k, v] of spec) initializers.set(k, v);
  const inputs = g.inputs.filter((i) => !spec.has(i.name) || g.initializers.has(i.name)).map((i) => {
    if (g.initializers.has(i.name) && !spec.has(i.name)) return i;
    const t = i.type;
    if (t?.kind !== "tensor") {
      throw new SaturnError("BAD_INPUT", `input '${i.name}' is not a tensor: the WebGPU backend takes tensors`, i.name);
    }
    const given = opts.inputShapes?.[i.name];
    if (!given && !t.shape) {
      throw new SaturnError("BAD_INPUT", `input '${i.name}' has no declared shape: give it a shape`, i.name);
    }
    const shape = given ? [...given] : t.shape!.map((d) => (typeof d === "number" ? d : opts.dims?.[d] ?? 1));
    return { ...i, type: { ...t, shape } as ValueType };
  });
  // an initializer that is also an input stays overridable unless specialized: keep it an input
  const graph: Graph = { ...g, inputs, initializers };
  return { ...model, graph };
}

function staticInfo(name: string, t: ValueType | undefined): TensorInfo | string {
  if (!t || t.kind !== "tensor") return `value '${name}' is not a tensor`;
  if (!t.shape || t.shape.some((d) => typeof d !== "number")) {
    return `value '${name}' has no static shape ([${t.shape?.join(",") ?? "?"}])`;
  }
  return { name, dtype: t.dtype, dims: t.shape as number[] };
}

interface Analysis {
  model: Model;
  known: (name: string) => Tensor | undefined;
  info: (name: string) => TensorInfo;
  lowered: LoweredNode[];
  errors: UnsupportedNode[];
  feeds: TensorInfo[];
}

function analyze(model: Model, opts: PlanOptions): Analysis {
  const m = splitLargeWeights(
    inlineKnownIfs(staticModel(expandFunctions(model), opts)),
    opts.target?.maxStorageBindingBytes,
  );
  const g = m.graph;
  const { types, constants } = inferModel(m);
  const feedNames = new Set(g.inputs.filter((i) => !g.initializers.has(i.name)).map((i) => i.name));
  const known = (n: string): Tensor | undefined =>
    feedNames.has(n) ? undefined : g.initializers.get(n) ?? constants.get(n);
  const info = (name: string): TensorInfo => {
    const r = staticInfo(name, types.get(name));
    if (typeof r === "string") throw new UnsupportedError(r);
    return r;
  };
  // liveness: nodes that contribute to an output and are not folded away
  const live = new Set(g.outputs.map((o) => o.name));
  const liveNodes = new Set<Node>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    const outs = n.outputs.filter((o) => o !== "");
    if (!outs.some((o) => live.has(o))) continue;
    if (outs.every((o) => known(o) !== undefined)) continue;
    liveNodes.add(n);
    for (const x of n.inputs) if (x !== "" && known(x) === undefined) live.add(x);
  }
  const errors: UnsupportedNode[] = [];
  const lowered: LoweredNode[] = [];
  g.nodes.forEach((node, index) => {
    if (!liveNodes.has(node)) return;
    const fail = (reason: string) => errors.push({ node, op: opName(node), reason });
    if (node.attributes.some((a) => a.type === "graph" || a.type === "graphs")) {
      return fail("control flow is not supported");
    }
    const lowering = findLowering(node.domain, node.opType);
    if (!lowering) return fail("the op is not implemented");
    try {
      const opset = opsetVersion(m.opsetImports, node.domain) ?? 1;
      const present = (list: string[], i: number) => i < list.length && list[i] !== "";
      const inputs = node.inputs.map((x) => (x === "" ? undefined : info(x)));
      // an output nothing reads is as good as absent (a Dropout mask, LayerNorm's saved statistics)
      const outputs = node.outputs.map((x) => (x === "" || !live.has(x) ? undefined : info(x)));
      const planTime = new Set(lowering.constInputs ?? []);
      const typed = [...outputs, ...inputs.filter((_, i) => !planTime.has(i))];
      for (const t of typed) {
        if (t && !storageType(t.dtype)) {
          throw new UnsupportedError(`element type ${dtypeName(t.dtype)} ('${t.name}') has no WebGPU storage`);
        }
      }
      const ctx: LowerCtx = {
        node,
        attrs: new NodeContext(node, opset),
        opset,
        input: (i) =>
          inputs[i] ?? (() => {
            throw new UnsupportedError(`input ${i} is missing`);
          })(),
        hasInput: (i) => present(node.inputs, i),
        output: (i) =>
          outputs[i] ?? (() => {
            throw new UnsupportedError(`output ${i} is missing`);
          })(),
        hasOutput: (i) => outputs[i] !== undefined,
        constant: (i) => (present(node.inputs, i) ? known(node.inputs[i]) : undefined),
        target: opts.target ?? {},
      };
      for (const i of lowering.constInputs ?? []) {
        if (ctx.hasInput(i) && !ctx.constant(i)) throw new UnsupportedError(`input ${i} must be known at plan time`);
      }
      lowered.push({ index, node, lowered: lowering.lower(ctx), inputs, outputs });
    } catch (e) {
      if (e instanceof UnsupportedError) return fail(e.message);
      if (e instanceof OpError) return fail(e.message.replace(/^.*?': /, ""));
      throw e;
    }
  });
  const feeds: TensorInfo[] = [];
  for (const i of g.inputs) {
    if (!feedNames.has(i.name)) continue;
    const r = staticInfo(i.name, i.type);
    if (typeof r === "string") throw new SaturnError("BAD_INPUT", r, i.name);
    if (!storageType(r.dtype)) {
      errors.push({
        node: { name: i.name, opType: "(input)", domain: "", inputs: [], outputs: [i.name], attributes: [] },
        op: "(input)",
        reason: `input '${i.name}' is ${dtypeName(r.dtype)}, which has no WebGPU storage`,
      });
    }
    feeds.push(r);
  }
  return { model: m, known, info, lowered, errors, feeds };
}

/**
 * Every node of `model` the WebGPU backend cannot run (op, dtype or attribute it lacks), checked
 * with the static shapes `opts` gives. Empty when the whole model can run. Runs on the CPU.
 * @param model the model
 * @param opts as for `planModel`
 * @returns the unsupported nodes, in graph order
 * @example
 * ```ts
 * import { loadOnnx, type Model, unsupportedNodes } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * if (unsupportedNodes(model).length !== 0) throw new Error("bert_tiny runs on WebGPU");
 * const x = model.graph.outputs[0].name;
 * const unique = { name: "u", opType: "Unique", domain: "", inputs: [x], outputs: ["u"], attributes: [] };
 * const odd: Model = {
 *   ...model,
 *   graph: { ...model.graph, nodes: [...model.graph.nodes, unique], outputs: [...model.graph.outputs, { name: "u" }] },
 * };
 * const [first] = unsupportedNodes(odd);
 * if (first?.op !== "Unique" || first.node.name !== "u") throw new Error("Unique has no WebGPU kernel");
 * ```
 */
export function unsupportedNodes(model: Model, opts: PlanOptions = {}): UnsupportedNode[] {
  return analyze(model, opts).errors;
}

/** The SaturnError of an unsupported node: one line naming the op and the node. */
export function unsupportedError(u: UnsupportedNode): SaturnError {
  return new SaturnError(
    "UNSUPPORTED_OP",
    `op ${u.op} (node '${nodeLabel(u.node)}') is not supported by the WebGPU backend: ${u.reason}`,
    u.node.name,
  );
}

/**
 * Bytes of a tensor as the GPU holds it; int64 values must fit in 32 bits, else a SaturnError
 * with `code` (`UNSUPPORTED_OP` for a model's constant, `BAD_INPUT` for an input). With `half`, a
 * float32 tensor becomes f16 (or f32 holding f16 values when "emulated"), finite values past the
 * f16 range saturating to ±65504. A float16 tensor is always `half`: its bits as they are, or
 * decoded to f32.
 */
export function gpuBytes(
  t: Tensor,
  what: string,
  code: SaturnErrorCode = "UNSUPPORTED_OP",
  half?: HalfMode,
): Uint8Array {
  const st = storageType(t.dtype);
  if (!st) throw new SaturnError(code, `${what} is ${dtypeName(t.dtype)}, which has no WebGPU storage`);
  if (t.dtype === DataType.FLOAT16 && !half) throw new Error(`${what}: float16 values need half storage`);
  const store = half === "f16" ? "f16" : half === "emulated" ? "f16e" : st;
  const dims = [...t.dims];
  try {
    return encodeInput(
      { name: "", dtype: t.dtype, dims, store },
      { data: t.data as RuntimeTensor["data"], dims },
      what,
    );
  } catch (e) {
    throw new SaturnError(code, (e as Error).message);
  }
}

/**
 * Plan a model for the WebGPU backend: kernels in execution order, each value's buffer, the
 * constant buffers to upload. Runs on the CPU; no adapter is needed.
 * @param model the model
 * @param opts static dims, specialized inputs, the target, f16 storage
 * @returns the kernel plan
 * @throws {SaturnError} `UNSUPPORTED_OP` for the first unsupported node; `BAD_INPUT` for an input without a shape
 * @example
 * ```ts
 * import { loadOnnx, planModel } from "../mod.ts";
 * const plan = planModel(loadOnnx("examples/bert_tiny.onnx"));
 * if (plan.inputs[0].dims.join() !== "1,32" || plan.inputs[0].kind !== "input") throw new Error("one fed input");
 * const written = new Set([...plan.values.values()].filter((v) => v.kind !== "activation").map((v) => v.root));
 * for (const k of plan.kernels) {
 *   for (const b of k.bindings) {
 *     const root = plan.values.get(b.value)!.root;
 *     if (b.access === "read" && !written.has(root)) throw new Error(`${k.name} reads '${root}' before it is written`);
 *     if (b.access === "read_write") written.add(root);
 *   }
 * }
 * ```
 */
export function planModel(model: Model, opts: PlanOptions = {}): KernelPlan {
  const a = analyze(model, opts);
  if (a.errors.length) throw unsupportedError(a.errors[0]);
  const g = a.model.graph;
  const keep = new Set(g.outputs.map((o) => o.name));
  const consumers = new Map<string, number>();
  for (const l of a.lowered) {
    for (const x of new Set(l.node.inputs)) if (x !== "") consumers.set(x, (consumers.get(x) ?? 0) + 1);
  }
  const kernels = fuse(fuseAttention(a.lowered, consumers, keep, a.known), consumers, keep, a.known);
  // views alias their input's buffer
  const rootOf = new Map<string, string>();
  const root = (v: string): string => rootOf.get(v) ?? v;
  for (const l of a.lowered) {
    if (l.lowered.kind === "view") rootOf.set(l.outputs[0]!.name, root(l.node.inputs[0]));
  }
  const values = new Map<string, ValuePlan>();
  const feedSet = new Set(a.feeds.map((f) => f.name));
  const own = new Map<string, Tensor>(); // constants kernels bring
  const temps = new Map<string, TensorInfo>(); // kernel-private temporaries (activations)
  for (const k of kernels) {
    for (const [n, t] of k.constants ?? []) own.set(n, t);
    for (const t of k.temporaries ?? []) temps.set(t.name, { name: t.name, dtype: DataType.FLOAT, dims: [t.elements] });
  }
  const known = (n: string) => own.get(n) ?? a.known(n);
  const info = (n: string): TensorInfo => {
    const t = own.get(n);
    return t ? { name: n, dtype: t.dtype, dims: [...t.dims] } : temps.get(n) ?? a.info(n);
  };
  const halfMode: HalfMode | undefined = opts.f16 === "emulated" ? "emulated" : opts.f16 ? "f16" : undefined;
  // float16 values are always half; float32 ones with `f16`
  const float16Mode: HalfMode = opts.f16 === "emulated" || !opts.target?.shaderF16 ? "emulated" : "f16";
  const halfOf = (dtype: number): HalfMode | undefined =>
    dtype === DataType.FLOAT ? halfMode : dtype === DataType.FLOAT16 ? float16Mode : undefined;
  const addValue = (t: TensorInfo): ValuePlan => {
    const had = values.get(t.name);
    if (had) return had;
    const r = root(t.name);
    const rootInfo = r === t.name ? t : info(r);
    const kind = feedSet.has(r) ? "input" : known(r) ? "weight" : "activation";
    // kernel-private buffers (tables, partial sums) are not graph values: never half
    const half = own.has(r) || temps.has(r) ? undefined : halfOf(t.dtype);
    const elemType = half === "f16" ? "f16" : storageType(t.dtype)!;
    const v: ValuePlan = {
      ...t,
      elemType,
      bytes: storedBytes(elemType, sizeOf(rootInfo.dims)),
      root: r,
      kind,
      ...(half ? { half } : {}),
    };
    values.set(t.name, v);
    if (r !== t.name) addValue(rootInfo);
    return v;
  };
  const inputs = a.feeds.map(addValue);
  const weights = new Map<string, Uint8Array>();
  for (const k of kernels) {
    for (const b of k.bindings) {
      const v = addValue(info(b.value));
      if (v.kind === "weight" && !weights.has(v.root)) {
        const what = `constant '${v.root}' (read by ${k.name})`;
        weights.set(v.root, gpuBytes(known(v.root)!, what, "UNSUPPORTED_OP", v.half));
      }
    }
  }
  const outputs: OutputPlan[] = g.outputs.map((o) => {
    const c = a.known(o.name);
    if (c) return { name: o.name, dtype: c.dtype, dims: [...c.dims], constant: c };
    const v = addValue(a.info(o.name));
    if (v.kind === "weight" && !weights.has(v.root)) {
      weights.set(v.root, gpuBytes(a.known(v.root)!, `constant '${v.root}'`, "UNSUPPORTED_OP", v.half));
    }
    return { name: o.name, dtype: v.dtype, dims: v.dims, root: v.root, elemType: v.elemType };
  });
  const half = new Map<string, HalfStore>();
  for (const v of values.values()) if (v.half) half.set(v.name, { mode: v.half, saturate: v.dtype === DataType.FLOAT });
  return {
    values,
    inputs,
    outputs,
    weights,
    kernels: kernels.map((k) => {
      const h = halfStorageKernel(k, half);
      return { ...h, wgsl: declareSpecialFloats(oneFdiv(h.wgsl)) };
    }),
  };
}
