/**
 * Model → ModelProto bytes. Large initializers can be written as external data; past
 * protobuf's 2 GiB limit that is not optional, so every initializer of at least 1 KiB goes out.
 * @module
 */
import { SaturnError } from "../errors.ts";
import { proto } from "./schema.ts";
import { encodeTensor } from "./tensor_proto.ts";
import { paramOfDim } from "./dim_names.ts";
import { encodeRaw, type Tensor } from "../ir/tensor.ts";
import type { Attribute, FunctionDef, Graph, Metadata, Model, Node, SparseTensor, ValueInfo } from "../ir/graph.ts";
import type { Dim, ValueType } from "../ir/types.ts";

// deno-lint-ignore no-explicit-any
type Proto = any;

/** protobuf's limit on one message. */
export const PROTOBUF_LIMIT: number = 2 ** 31 - 1;

/** How initializers leave the protobuf. */
export interface ExternalDataOptions {
  /** File name (relative to the model) that receives the bytes. */
  location: string;
  /** Initializers of at least this many bytes go external (default 1024). */
  threshold?: number;
}

/** Result of encoding: the model bytes and, when used, the external data chunks in order. */
export interface EncodedModel {
  /** The ModelProto; its external tensors point into `external`'s file. */
  bytes: Uint8Array;
  /** The data file to write beside the model, as chunks to write in order (`size` bytes in all). */
  external?: { location: string; chunks: Uint8Array[]; size: number };
}

const utf8 = new TextEncoder();

/**
 * Encode a model. With `external`, or when the model would pass 2 GiB, weights go to a data
 * file; nothing is written to disk here (`saveOnnx` writes).
 * @param model the model
 * @param external which initializers go to a data file, and its name
 * @param defaultLocation the data file's name when size alone forces external data
 * @returns the ModelProto bytes and the external data, if any
 * @throws {SaturnError} `BAD_ARGUMENT` when the graph without its weights still passes 2 GiB
 * @example
 * ```ts
 * import { decodeModel, encodeModel, loadOnnx } from "../mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const inline = encodeModel(model);
 * if (inline.external !== undefined) throw new Error("small models stay in one file");
 * if (decodeModel(inline.bytes).graph.nodes.length !== model.graph.nodes.length) throw new Error("round trip");
 * const split = encodeModel(model, { location: "w.bin", threshold: 1024 });
 * const chunkBytes = split.external!.chunks.reduce((n, c) => n + c.byteLength, 0);
 * if (chunkBytes !== split.external!.size || split.bytes.byteLength >= inline.bytes.byteLength) {
 *   throw new Error("weights moved to the data file");
 * }
 * ```
 */
export function encodeModel(
  model: Model,
  external?: ExternalDataOptions,
  defaultLocation = "model.onnx.data",
): EncodedModel {
  let ext = external;
  if (!ext && estimateBytes(model.graph) > PROTOBUF_LIMIT - (64 << 20)) ext = { location: defaultLocation };
  const sink = ext
    ? { location: ext.location, threshold: ext.threshold ?? 1024, chunks: [] as Uint8Array[], size: 0 }
    : undefined;
  const m: Proto = {
    ir_version: model.irVersion,
    opset_import: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    graph: encodeGraph(model.graph, sink),
    metadata_props: kv(model.metadataProps),
    training_info: model.trainingInfo.map((t) => ({
      initialization: t.initialization ? encodeGraph(t.initialization, sink) : undefined,
      algorithm: t.algorithm ? encodeGraph(t.algorithm, sink) : undefined,
      initialization_binding: kv(t.initializationBinding),
      update_binding: kv(t.updateBinding),
    })),
    functions: model.functions.map(encodeFunction),
  };
  if (model.producerName !== undefined) m.producer_name = model.producerName;
  if (model.producerVersion !== undefined) m.producer_version = model.producerVersion;
  if (model.domain !== undefined) m.domain = model.domain;
  if (model.modelVersion !== undefined) m.model_version = model.modelVersion;
  if (model.docString !== undefined) m.doc_string = model.docString;
  const bytes = proto.ModelProto.encode(m).finish();
  if (bytes.byteLength > PROTOBUF_LIMIT) {
    throw new SaturnError("BAD_ARGUMENT", "the model's graph alone exceeds protobuf's 2 GiB limit");
  }
  return sink ? { bytes, external: { location: sink.location, chunks: sink.chunks, size: sink.size } } : { bytes };
}

interface Sink {
  location: string;
  threshold: number;
  chunks: Uint8Array[];
  size: number;
}

function estimateBytes(g: Graph): number {
  let n = 0;
  for (const t of g.initializers.values()) n += t.byteLength;
  return n;
}

function kv(m: Metadata | undefined): Proto[] {
  return (m ?? []).map(([key, value]) => ({ key, value }));
}

function tensorOut(t: Tensor, name: string, sink?: Sink): Proto {
  if (!sink || t.dtype === 8 || t.byteLength < sink.threshold) return encodeTensor(t, name);
  const raw = encodeRaw(t);
  const pad = (4096 - (sink.size % 4096)) % 4096; // page-aligned offsets: mappable by readers
  if (pad) {
    sink.chunks.push(new Uint8Array(pad));
    sink.size += pad;
  }
  const p: Proto = {
    name,
    dims: [...t.dims],
    data_type: t.dtype,
    data_location: 1,
    external_data: [
      { key: "location", value: sink.location },
      { key: "offset", value: String(sink.size) },
      { key: "length", value: String(raw.byteLength) },
    ],
  };
  sink.chunks.push(raw);
  sink.size += raw.byteLength;
  return p;
}

function encodeGraph(g: Graph, sink?: Sink): Proto {
  const out: Proto = {
    node: g.nodes.map((n) => encodeNode(n, sink)),
    name: g.name,
    initializer: [...g.initializers].map(([name, t]) => {
      const p = tensorOut(t, name, sink);
      const meta = g.initializerMeta?.get(name);
      if (meta?.docString) p.doc_string = meta.docString;
      if (meta?.metadataProps) p.metadata_props = kv(meta.metadataProps);
      return p;
    }),
    sparse_initializer: g.sparseInitializers.map((s) => encodeSparse(s)),
    input: g.inputs.map(encodeValueInfo),
    output: g.outputs.map(encodeValueInfo),
    value_info: g.valueInfo.map(encodeValueInfo),
  };
  if (g.docString) out.doc_string = g.docString;
  if (g.quantizationAnnotation) {
    out.quantization_annotation = g.quantizationAnnotation.map((a) => ({
      tensor_name: a.tensorName,
      quant_parameter_tensor_names: kv(a.quantParameterTensorNames),
    }));
  }
  if (g.metadataProps) out.metadata_props = kv(g.metadataProps);
  return out;
}

function encodeSparse(s: SparseTensor): Proto {
  return { values: encodeTensor(s.values, s.name), indices: encodeTensor(s.indices), dims: s.dims };
}

function encodeNode(n: Node, sink?: Sink): Proto {
  const p: Proto = {
    input: n.inputs,
    output: n.outputs,
    name: n.name,
    op_type: n.opType,
    domain: n.domain,
    attribute: n.attributes.map((a) => encodeAttribute(a, sink)),
  };
  if (n.overload) p.overload = n.overload;
  if (n.docString) p.doc_string = n.docString;
  if (n.metadataProps) p.metadata_props = kv(n.metadataProps);
  return p;
}

const ATTR_CODES: Record<Attribute["type"], number> = {
  float: 1,
  int: 2,
  string: 3,
  tensor: 4,
  graph: 5,
  sparse_tensor: 11,
  type_proto: 13,
  floats: 6,
  ints: 7,
  strings: 8,
  tensors: 9,
  graphs: 10,
  sparse_tensors: 12,
  type_protos: 14,
};

function encodeAttribute(a: Attribute, sink?: Sink): Proto {
  const p: Proto = { name: a.name, type: ATTR_CODES[a.type] };
  if (a.refAttrName) p.ref_attr_name = a.refAttrName;
  if (a.docString) p.doc_string = a.docString;
  switch (a.type) {
    case "float":
      p.f = a.value;
      break;
    case "int":
      p.i = a.value;
      break;
    case "string":
      p.s = utf8.encode(a.value);
      break;
    case "tensor":
      p.t = encodeTensor(a.value);
      break;
    case "graph":
      p.g = encodeGraph(a.value, sink);
      break;
    case "sparse_tensor":
      p.sparse_tensor = encodeSparse(a.value);
      break;
    case "type_proto":
      p.tp = encodeType(a.value);
      break;
    case "floats":
      p.floats = a.value;
      break;
    case "ints":
      p.ints = a.value;
      break;
    case "strings":
      p.strings = a.value.map((s) => utf8.encode(s));
      break;
    case "tensors":
      p.tensors = a.value.map((t) => encodeTensor(t));
      break;
    case "graphs":
      p.graphs = a.value.map((g) => encodeGraph(g, sink));
      break;
    case "sparse_tensors":
      p.sparse_tensors = a.value.map(encodeSparse);
      break;
    case "type_protos":
      p.type_protos = a.value.map(encodeType);
      break;
  }
  return p;
}

function encodeValueInfo(v: ValueInfo): Proto {
  const p: Proto = { name: v.name };
  if (v.type) p.type = encodeType(v.type);
  if (v.docString) p.doc_string = v.docString;
  if (v.metadataProps) p.metadata_props = kv(v.metadataProps);
  return p;
}

function encodeShape(shape: Dim[] | undefined, den?: (string | undefined)[]): Proto | undefined {
  if (!shape) return undefined;
  return {
    dim: shape.map((d, i) => {
      const p: Proto = typeof d === "number" ? { dim_value: d } : d.startsWith("?") ? {} : { dim_param: paramOfDim(d) };
      if (den?.[i]) p.denotation = den[i];
      return p;
    }),
  };
}

/** ValueType → TypeProto object. */
export function encodeType(t: ValueType): Proto {
  const p: Proto = {};
  if (t.denotation) p.denotation = t.denotation;
  switch (t.kind) {
    case "tensor":
      p.tensor_type = { elem_type: t.dtype, shape: encodeShape(t.shape, t.dimDenotations) };
      break;
    case "sparse_tensor":
      p.sparse_tensor_type = { elem_type: t.dtype, shape: encodeShape(t.shape) };
      break;
    case "sequence":
      p.sequence_type = { elem_type: t.elem ? encodeType(t.elem) : {} };
      break;
    case "optional":
      p.optional_type = { elem_type: t.elem ? encodeType(t.elem) : {} };
      break;
    case "map":
      p.map_type = { key_type: t.keyType, value_type: t.value ? encodeType(t.value) : {} };
      break;
    case "opaque":
      p.opaque_type = { domain: t.domain, name: t.name };
      break;
  }
  return p;
}

function encodeFunction(f: FunctionDef): Proto {
  const p: Proto = {
    name: f.name,
    domain: f.domain,
    input: f.inputs,
    output: f.outputs,
    attribute: f.attributes,
    attribute_proto: f.attributeProtos.map((a) => encodeAttribute(a)),
    node: f.nodes.map((n) => encodeNode(n)),
    opset_import: f.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    value_info: f.valueInfo.map(encodeValueInfo),
  };
  if (f.overload) p.overload = f.overload;
  if (f.docString) p.doc_string = f.docString;
  if (f.metadataProps) p.metadata_props = kv(f.metadataProps);
  return p;
}
