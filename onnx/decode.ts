/**
 * ModelProto bytes → Model. Checks what a decoder can check (IR and opset versions, tensor
 * sizes, external data locations); graph structure is checked by `ir/validate.ts`.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { proto } from "./schema.ts";
import { WireError } from "./wire.ts";
import { dimFromParam } from "./dim_names.ts";
import { checkSparse, DENSIFY_BUDGET, densifyInitializers } from "./sparse.ts";
import { checkDims, decodeTensor, type ExternalReader, longToNumber } from "./tensor_proto.ts";
import type {
  Attribute,
  FunctionDef,
  Graph,
  Metadata,
  Model,
  Node,
  OpsetImport,
  SparseTensor,
  TrainingInfo,
  ValueInfo,
} from "../ir/graph.ts";
import type { Dim, ValueType } from "../ir/types.ts";
import { freshDim } from "../ir/dims.ts";
import { MAX_NESTING } from "../ir/functions.ts";
import { checkModelNesting } from "../ir/interpreter.ts";
import type { Tensor } from "../ir/tensor.ts";

// deno-lint-ignore no-explicit-any
type Proto = any;

/** Newest IR version Saturn reads (the schema is IR 10 in full; IR 11–13 models load, their multi-device configuration fields are not kept). */
export const MAX_IR_VERSION = 13;
/** Newest opset Saturn reads, per domain. */
export const MAX_OPSETS: Readonly<Record<string, number>> = {
  "": 27,
  "ai.onnx.ml": 5,
  "ai.onnx.preview.training": 1,
  "ai.onnx.preview": 1,
  "com.microsoft": 1,
};

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** An attribute's string bytes as text; bytes that are not UTF-8 are refused (re-encoding would change them). */
function attrString(bytes: Uint8Array | undefined, name: string | undefined, where: string): string {
  try {
    return utf8.decode(bytes ?? new Uint8Array());
  } catch {
    throw new SaturnError(
      "INVALID_GRAPH",
      `node '${where}': attribute '${name ?? ""}' holds a string that is not valid UTF-8`,
      where,
    );
  }
}

/**
 * Decode a ModelProto, without validating the graph (`loadOnnxBytes` does both). Checks the IR
 * version, opsets, tensor sizes and external data locations.
 * @param bytes a serialized ModelProto; tensors stay views into it
 * @param external resolves external tensor data (see `onnx/external.ts`); without it, a tensor
 * with external data is refused
 * @param file name used in error messages
 * @returns the model, nodes in file order
 * @example
 * ```ts
 * import { decodeModel, MAX_IR_VERSION, MAX_OPSETS } from "../mod.ts";
 * const model = decodeModel(Deno.readFileSync("examples/bert_tiny.onnx"));
 * if (model.irVersion > MAX_IR_VERSION) throw new Error("IR version within what loads");
 * for (const o of model.opsetImports) {
 *   if (o.version > (MAX_OPSETS[o.domain] ?? Infinity)) throw new Error("opsets within what loads");
 * }
 * ```
 */
export function decodeModel(bytes: Uint8Array, external?: ExternalReader, file = "model"): Model {
  if (bytes.byteLength === 0) throw new SaturnError("NOT_ONNX", `${file}: the file is empty`, file);
  let m: Proto;
  try {
    m = proto.ModelProto.decode(bytes);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof WireError) throw new SaturnError("NOT_ONNX", `${file}: not a valid ONNX file (${msg})`, file);
    const truncated = /index out of range|premature|end of/i.test(msg);
    throw new SaturnError(
      truncated ? "TRUNCATED" : "NOT_ONNX",
      truncated ? `${file}: the file is truncated (${msg})` : `${file}: not an ONNX model (${msg})`,
      file,
    );
  }
  if (!m.graph || !m.ir_version) {
    throw new SaturnError("NOT_ONNX", `${file}: not an ONNX model (no ${m.graph ? "IR version" : "graph"})`, file);
  }
  const ir = longToNumber(m.ir_version);
  if (ir > MAX_IR_VERSION) {
    throw new SaturnError(
      "UNSUPPORTED_IR",
      `${file}: IR version ${ir} is newer than the supported ${MAX_IR_VERSION}`,
      file,
    );
  }
  const opsetImports: OpsetImport[] = (m.opset_import ?? []).map((o: Proto) => ({
    domain: o.domain ?? "",
    version: longToNumber(o.version),
  }));
  for (const o of opsetImports) {
    const max = MAX_OPSETS[o.domain === "ai.onnx" ? "" : o.domain];
    if (max !== undefined && o.version > max) {
      throw new SaturnError(
        "UNSUPPORTED_OPSET",
        `${file}: opset ${o.domain || "ai.onnx"} ${o.version} is newer than the supported ${max}`,
        file,
      );
    }
  }
  const ctx: Ctx = { external, file, densify: { left: DENSIFY_BUDGET } };
  const model: Model = {
    irVersion: ir,
    opsetImports,
    producerName: m.producer_name || undefined,
    producerVersion: m.producer_version || undefined,
    domain: m.domain || undefined,
    // protobufjs gives absent int64 fields a (truthy) Long zero: presence is an own property
    modelVersion: Object.hasOwn(m, "model_version") ? longToNumber(m.model_version) : undefined,
    docString: m.doc_string || undefined,
    graph: decodeGraph(m.graph, ctx),
    metadataProps: meta(m.metadata_props),
    trainingInfo: (m.training_info ?? []).map((t: Proto): TrainingInfo => ({
      initialization: t.initialization ? decodeGraph(t.initialization, ctx) : undefined,
      algorithm: t.algorithm ? decodeGraph(t.algorithm, ctx) : undefined,
      initializationBinding: meta(t.initialization_binding),
      updateBinding: meta(t.update_binding),
    })),
    functions: (m.functions ?? []).map((f: Proto) => decodeFunction(f, ctx)),
  };
  checkModelNesting(model); // local functions that call themselves; bodies nested too deep
  return model;
}

interface Ctx {
  external?: ExternalReader;
  /** How many graphs enclose the one being decoded (refused past `MAX_NESTING`). */
  depth?: number;
  /** The model's name, for errors. */
  file?: string;
  /** Dense elements that sparse initializers may still become (see `onnx/sparse.ts`). */
  densify: { left: number };
}

function meta(list: Proto[] | undefined): Metadata {
  return (list ?? []).map((e: Proto) => [e.key ?? "", e.value ?? ""]);
}

function optMeta(list: Proto[] | undefined): Metadata | undefined {
  return list && list.length ? meta(list) : undefined;
}

function decodeGraph(g: Proto, outer: Ctx): Graph {
  const ctx: Ctx = { ...outer, depth: (outer.depth ?? -1) + 1 };
  if (ctx.depth! > MAX_NESTING) {
    const where = `${ctx.file ?? "model"}: graph '${g.name ?? ""}'`;
    throw new SaturnError("INVALID_GRAPH", `${where}: subgraphs nested more than ${MAX_NESTING} levels deep`, g.name);
  }
  const initializers = new Map<string, Tensor>();
  const initializerMeta = new Map<string, { docString?: string; metadataProps?: Metadata }>();
  for (const t of g.initializer ?? []) {
    if (initializers.has(t.name ?? "")) {
      throw new SaturnError(
        "DUPLICATE_VALUE",
        `initializer '${t.name ?? ""}' is defined twice in graph '${g.name ?? ""}'`,
        t.name ?? "",
      );
    }
    initializers.set(t.name ?? "", decodeTensor(t, ctx.external));
    if (t.doc_string || t.metadata_props?.length) {
      initializerMeta.set(t.name, { docString: t.doc_string || undefined, metadataProps: optMeta(t.metadata_props) });
    }
  }
  return {
    name: g.name ?? "",
    nodes: (g.node ?? []).map((n: Proto) => decodeNode(n, ctx)),
    inputs: (g.input ?? []).map(decodeValueInfo),
    outputs: (g.output ?? []).map(decodeValueInfo),
    initializers,
    initializerMeta: initializerMeta.size ? initializerMeta : undefined,
    sparseInitializers: densifyInitializers(
      (g.sparse_initializer ?? []).map((s: Proto) => decodeSparse(s, ctx)),
      initializers,
      ctx.densify,
    ),
    valueInfo: (g.value_info ?? []).map(decodeValueInfo),
    docString: g.doc_string || undefined,
    quantizationAnnotation: g.quantization_annotation?.length
      ? g.quantization_annotation.map((a: Proto) => ({
        tensorName: a.tensor_name ?? "",
        quantParameterTensorNames: meta(a.quant_parameter_tensor_names),
      }))
      : undefined,
    metadataProps: optMeta(g.metadata_props),
  };
}

function decodeSparse(s: Proto, ctx: Ctx): SparseTensor {
  const values = decodeTensor(s.values ?? {}, ctx.external);
  const sparse: SparseTensor = {
    values,
    indices: decodeTensor(s.indices ?? {}, ctx.external),
    dims: checkDims(s.dims ?? [], s.values?.name ?? "sparse tensor"),
    name: s.values?.name || undefined,
  };
  checkSparse(sparse);
  return sparse;
}

function decodeNode(n: Proto, ctx: Ctx): Node {
  const node: Node = {
    name: n.name ?? "",
    opType: n.op_type ?? "",
    domain: n.domain === "ai.onnx" ? "" : n.domain ?? "",
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes: (n.attribute ?? []).map((a: Proto) => decodeAttribute(a, ctx, n.name || n.op_type)),
  };
  if (n.overload) node.overload = n.overload;
  if (n.doc_string) node.docString = n.doc_string;
  if (n.metadata_props?.length) node.metadataProps = meta(n.metadata_props);
  return node;
}

const ATTR_TYPES: Record<number, Attribute["type"]> = {
  1: "float",
  2: "int",
  3: "string",
  4: "tensor",
  5: "graph",
  11: "sparse_tensor",
  13: "type_proto",
  6: "floats",
  7: "ints",
  8: "strings",
  9: "tensors",
  10: "graphs",
  12: "sparse_tensors",
  14: "type_protos",
};

function attrTypeOf(a: Proto): Attribute["type"] | undefined {
  if (a.type) return ATTR_TYPES[a.type];
  // files from old exporters omit `type`: infer it from the field that is set
  if (a.floats?.length) return "floats";
  if (a.ints?.length) return "ints";
  if (a.strings?.length) return "strings";
  if (a.tensors?.length) return "tensors";
  if (a.graphs?.length) return "graphs";
  if (a.t) return "tensor";
  if (a.g) return "graph";
  if (a.s?.length) return "string";
  if (a.i !== undefined && a.i !== null && longToNumber(a.i) !== 0) return "int";
  if (a.f) return "float";
  return undefined;
}

function decodeAttribute(a: Proto, ctx: Ctx, where: string): Attribute {
  const type = attrTypeOf(a);
  if (!type) throw new SaturnError("INVALID_GRAPH", `node '${where}': attribute '${a.name}' has no type`, where);
  const base = { name: a.name ?? "" } as { name: string; refAttrName?: string; docString?: string };
  if (a.ref_attr_name) base.refAttrName = a.ref_attr_name;
  if (a.doc_string) base.docString = a.doc_string;
  switch (type) {
    case "float":
      return { ...base, type, value: a.f ?? 0 };
    case "int":
      return { ...base, type, value: longToNumber(a.i) };
    case "string":
      return { ...base, type, value: attrString(a.s, a.name, where) };
    case "tensor":
      return { ...base, type, value: decodeTensor(a.t ?? {}, ctx.external) };
    case "graph":
      return { ...base, type, value: decodeGraph(a.g ?? {}, ctx) };
    case "sparse_tensor":
      return { ...base, type, value: decodeSparse(a.sparse_tensor ?? {}, ctx) };
    case "type_proto":
      return { ...base, type, value: decodeType(a.tp ?? {})! };
    case "floats":
      return { ...base, type, value: [...(a.floats ?? [])] };
    case "ints":
      return { ...base, type, value: (a.ints ?? []).map(longToNumber) };
    case "strings":
      return { ...base, type, value: (a.strings ?? []).map((s: Uint8Array) => attrString(s, a.name, where)) };
    case "tensors":
      return { ...base, type, value: (a.tensors ?? []).map((t: Proto) => decodeTensor(t, ctx.external)) };
    case "graphs":
      return { ...base, type, value: (a.graphs ?? []).map((g: Proto) => decodeGraph(g, ctx)) };
    case "sparse_tensors":
      return { ...base, type, value: (a.sparse_tensors ?? []).map((s: Proto) => decodeSparse(s, ctx)) };
    case "type_protos":
      return { ...base, type, value: (a.type_protos ?? []).map((t: Proto) => decodeType(t)!) };
  }
}

function decodeValueInfo(v: Proto): ValueInfo {
  const info: ValueInfo = { name: v.name ?? "" };
  const t = v.type ? decodeType(v.type) : undefined;
  if (t) info.type = t;
  if (v.doc_string) info.docString = v.doc_string;
  if (v.metadata_props?.length) info.metadataProps = meta(v.metadata_props);
  return info;
}

function decodeShape(s: Proto | undefined): { shape?: Dim[]; dimDenotations?: (string | undefined)[] } {
  if (!s) return {};
  const shape: Dim[] = [];
  let den: (string | undefined)[] | undefined;
  (s.dim ?? []).forEach((d: Proto, i: number) => {
    // `value` names the oneof member present: protobufjs fills an absent dim_value in with 0
    const v = d.value === "dim_value" ? longToNumber(d.dim_value) : -1;
    if (d.value === "dim_param" && d.dim_param) shape.push(dimFromParam(d.dim_param));
    else if (v >= 0 && Number.isSafeInteger(v)) shape.push(v);
    // neither field, an empty name, or a negative size (invalid, written by some exporters for
    // "unknown"): unknown and unnamed, unique, never equal to another; re-encoded with neither field
    else shape.push(freshDim("?"));
    if (d.denotation) (den ??= [])[i] = d.denotation;
  });
  return den ? { shape, dimDenotations: den } : { shape };
}

/** TypeProto → ValueType (undefined when the type is not set). */
export function decodeType(t: Proto): ValueType | undefined {
  const denotation = t.denotation || undefined;
  const withDen = <T extends ValueType>(v: T): T => (denotation ? { ...v, denotation } : v);
  if (t.tensor_type) {
    const { shape, dimDenotations } = decodeShape(t.tensor_type.shape);
    const out: ValueType = { kind: "tensor", dtype: t.tensor_type.elem_type ?? 0 };
    if (shape) out.shape = shape;
    if (dimDenotations) out.dimDenotations = dimDenotations;
    return withDen(out);
  }
  if (t.sparse_tensor_type) {
    const { shape } = decodeShape(t.sparse_tensor_type.shape);
    return withDen({ kind: "sparse_tensor", dtype: t.sparse_tensor_type.elem_type ?? 0, shape });
  }
  if (t.sequence_type) return withDen({ kind: "sequence", elem: decodeType(t.sequence_type.elem_type ?? {}) });
  if (t.optional_type) return withDen({ kind: "optional", elem: decodeType(t.optional_type.elem_type ?? {}) });
  if (t.map_type) {
    return withDen({ kind: "map", keyType: t.map_type.key_type ?? 0, value: decodeType(t.map_type.value_type ?? {}) });
  }
  if (t.opaque_type) {
    return withDen({ kind: "opaque", domain: t.opaque_type.domain ?? "", name: t.opaque_type.name ?? "" });
  }
  return undefined;
}

function decodeFunction(f: Proto, ctx: Ctx): FunctionDef {
  return {
    name: f.name ?? "",
    domain: f.domain ?? "",
    overload: f.overload || undefined,
    inputs: [...(f.input ?? [])],
    outputs: [...(f.output ?? [])],
    attributes: [...(f.attribute ?? [])],
    attributeProtos: (f.attribute_proto ?? []).map((a: Proto) => decodeAttribute(a, ctx, f.name)),
    nodes: (f.node ?? []).map((n: Proto) => decodeNode(n, ctx)),
    opsetImports: (f.opset_import ?? []).map((o: Proto) => ({
      domain: o.domain ?? "",
      version: longToNumber(o.version),
    })),
    valueInfo: (f.value_info ?? []).map(decodeValueInfo),
    docString: f.doc_string || undefined,
    metadataProps: optMeta(f.metadata_props),
  };
}
