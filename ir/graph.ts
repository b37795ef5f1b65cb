/**
 * The tensor graph: a model, its graphs (the main one and the subgraphs of control-flow
 * attributes), nodes, attributes, initializers and model-local functions.
 *
 * Invariants: `Graph.nodes` is in topological order once `ir/validate.ts` has checked the
 * graph; an input name `""` marks an omitted optional input; every value has one producer
 * (a graph input, an initializer, a node output, or for subgraphs a value of an outer scope).
 * @module
 */
import type { Tensor } from "./tensor.ts";
import type { ValueType } from "./types.ts";

/** A sparse tensor in COO form: `indices` is [nnz, rank] or [nnz] (linearized). */
export interface SparseTensor {
  /** The nnz stored values, a rank-1 tensor in the order of `indices`. */
  values: Tensor;
  /** int64 coordinates of each stored value: [nnz, rank], or [nnz] as linear offsets into `dims`. */
  indices: Tensor;
  /** Shape of the dense tensor this stands for. */
  dims: number[];
  /** the values tensor's name, which is the sparse tensor's name */
  name?: string;
}

/** Attribute kinds, named as ONNX's AttributeType (lower case). */
export type AttrType =
  | "float"
  | "int"
  | "string"
  | "tensor"
  | "graph"
  | "sparse_tensor"
  | "type_proto"
  | "floats"
  | "ints"
  | "strings"
  | "tensors"
  | "graphs"
  | "sparse_tensors"
  | "type_protos";

/** The value an attribute of each kind holds. */
export interface AttrValueOf {
  /** A float32 value, held as a number. */
  float: number;
  /** An int64 value, held as a number (exact up to 2^53). */
  int: number;
  /** A string (ONNX stores bytes; Saturn decodes them as UTF-8). */
  string: string;
  /** A constant tensor, e.g. `Constant`'s `value`. */
  tensor: Tensor;
  /** A subgraph, e.g. `If`'s `then_branch`; it may read values of enclosing graphs. */
  graph: Graph;
  /** A constant sparse tensor. */
  sparse_tensor: SparseTensor;
  /** A type, e.g. the element type of `SequenceEmpty`. */
  type_proto: ValueType;
  /** A list of float32 values. */
  floats: number[];
  /** A list of int64 values, e.g. `perm`, `pads`. */
  ints: number[];
  /** A list of strings. */
  strings: string[];
  /** A list of tensors. */
  tensors: Tensor[];
  /** A list of subgraphs. */
  graphs: Graph[];
  /** A list of sparse tensors. */
  sparse_tensors: SparseTensor[];
  /** A list of types. */
  type_protos: ValueType[];
}

/** A node attribute. In a function body, `refAttrName` refers to the caller's attribute. */
export type Attribute = {
  [K in AttrType]: {
    /** The attribute's name, unique within its node. */
    name: string;
    /** Which kind of value `value` holds; the discriminant of the union. */
    type: K;
    /** The value, typed by `type`. */
    value: AttrValueOf[K];
    /** In a function body only: the caller's attribute this one takes its value from. */
    refAttrName?: string;
    /** Free text from the file. */
    docString?: string;
  };
}[AttrType];

/** Key/value metadata (ONNX StringStringEntryProto). */
export type Metadata = [string, string][];

/** One operator application. */
export interface Node {
  /** The node's name, possibly empty; used in error messages. */
  name: string;
  /** ONNX operator type, e.g. `"MatMul"`. */
  opType: string;
  /** "" is the default ONNX domain ("ai.onnx" is normalized to ""). */
  domain: string;
  /** Names of the values read, by position; `""` marks an omitted optional input. */
  inputs: string[];
  /** Names of the values produced, by position; `""` marks an omitted optional output. */
  outputs: string[];
  /** The node's attributes; an attribute left out takes the op's default. */
  attributes: Attribute[];
  /** Selects one overload of a model-local function called by `domain`/`opType`. */
  overload?: string;
  /** Free text from the file. */
  docString?: string;
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps?: Metadata;
}

/** A named, typed graph input, output or intermediate value. */
export interface ValueInfo {
  /** The value's name, unique in its graph and the scopes it sees. */
  name: string;
  /** Its type; absent when neither the file nor inference knows it. */
  type?: ValueType;
  /** Free text from the file. */
  docString?: string;
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps?: Metadata;
}

/** Extra fields an initializer may carry besides its tensor. */
export interface InitializerMeta {
  /** Free text from the file. */
  docString?: string;
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps?: Metadata;
}

/** Quantization annotation of a tensor (kept as read). */
export interface TensorAnnotation {
  /** The annotated tensor. */
  tensorName: string;
  /** Pairs such as `["SCALE_TENSOR", name]`, `["ZERO_POINT_TENSOR", name]`. */
  quantParameterTensorNames: Metadata;
}

/** A graph: the main graph of a model, or the body of a control-flow attribute. */
export interface Graph {
  /** The graph's name (free-form; not referenced by other values). */
  name: string;
  /** The nodes, in topological order once validated. */
  nodes: Node[];
  /** Graph inputs, in order. An input that also names an initializer is one with a default value. */
  inputs: ValueInfo[];
  /** Graph outputs, in order; each names a value produced in this graph or an outer scope. */
  outputs: ValueInfo[];
  /** Constant tensors by name. Loaded weights are views into the file's bytes, not copies. */
  initializers: Map<string, Tensor>;
  /** Doc strings and metadata of initializers that carry any, by initializer name. */
  initializerMeta?: Map<string, InitializerMeta>;
  /** Constant sparse tensors; each defines the value named by its `name`. */
  sparseInitializers: SparseTensor[];
  /** Types of intermediate values: declared in the file, or filled in by shape inference. */
  valueInfo: ValueInfo[];
  /** Free text from the file. */
  docString?: string;
  /** Quantization parameters of tensors, as the file gave them. */
  quantizationAnnotation?: TensorAnnotation[];
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps?: Metadata;
}

/** An operator set a model imports. */
export interface OpsetImport {
  /** The domain; `""` and `"ai.onnx"` both name the default ONNX domain. */
  domain: string;
  /** The opset version of that domain that the model's nodes follow. */
  version: number;
}

/** A model-local function (ONNX FunctionProto). */
export interface FunctionDef {
  /** The op type by which nodes call this function. */
  name: string;
  /** The domain by which nodes call this function. */
  domain: string;
  /** Tells apart functions of one name and domain; matched against `Node.overload`. */
  overload?: string;
  /** Formal input names, by position, as the body's nodes refer to them. */
  inputs: string[];
  /** Formal output names, by position, each produced by a body node. */
  outputs: string[];
  /** names of attributes without defaults */
  attributes: string[];
  /** attributes with default values */
  attributeProtos: Attribute[];
  /** The body, in topological order. */
  nodes: Node[];
  /** The opsets the body's nodes follow (may differ from the model's). */
  opsetImports: OpsetImport[];
  /** Types of the body's values, where the file declares them. */
  valueInfo: ValueInfo[];
  /** Free text from the file. */
  docString?: string;
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps?: Metadata;
}

/** ONNX TrainingInfoProto, kept so a training model survives a round trip. */
export interface TrainingInfo {
  /** Graph run once to initialize training state. */
  initialization?: Graph;
  /** Graph run for each training step. */
  algorithm?: Graph;
  /** Pairs (initializer name, `initialization` output name) that set initializers. */
  initializationBinding: Metadata;
  /** Pairs (initializer name, `algorithm` output name) that update initializers after a step. */
  updateBinding: Metadata;
}

/** A whole model. */
export interface Model {
  /** ONNX IR version of the file (at most `MAX_IR_VERSION` to load). */
  irVersion: number;
  /** The opsets the main graph's nodes follow, one per domain. */
  opsetImports: OpsetImport[];
  /** Tool that wrote the model, e.g. `"pytorch"`. */
  producerName?: string;
  /** Version of that tool. */
  producerVersion?: string;
  /** Reverse-DNS namespace of the model, e.g. `"com.example"`. */
  domain?: string;
  /** The model's own version number. */
  modelVersion?: number;
  /** Free text from the file. */
  docString?: string;
  /** The main graph. */
  graph: Graph;
  /** Key/value metadata from the file, kept on a round trip. */
  metadataProps: Metadata;
  /** Training information, kept so that a training model survives a round trip. */
  trainingInfo: TrainingInfo[];
  /** Model-local functions, called by nodes whose domain and op type name them. */
  functions: FunctionDef[];
}

/** The opset version a model imports for `domain` ("" and "ai.onnx" are the same domain). */
export function opsetVersion(imports: readonly OpsetImport[], domain: string): number | undefined {
  const d = domain === "ai.onnx" ? "" : domain;
  for (const o of imports) if ((o.domain === "ai.onnx" ? "" : o.domain) === d) return o.version;
  return undefined;
}

/** Find an attribute by name. */
export function getAttr(node: Node, name: string): Attribute | undefined {
  for (const a of node.attributes) if (a.name === name) return a;
  return undefined;
}
