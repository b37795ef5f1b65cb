/**
 * Static types of graph values: tensors with (possibly symbolic) shapes, sequences, maps,
 * optionals and sparse tensors, as ONNX's TypeProto describes them.
 * @module
 */
import type { DataType } from "./dtype.ts";

/**
 * One dimension: a known size, or a symbolic one named by a string. Symbolic names are
 * either a model's `dim_param` (`"batch"`) or an expression Saturn derived (`"2*seq"`).
 */
export type Dim = number | string;

/** A tensor's static type; `shape` undefined means the rank is unknown. */
export interface TensorType {
  /** Discriminant of `ValueType`. */
  kind: "tensor";
  /** Element type. */
  dtype: DataType;
  /** Dimensions, known or symbolic; `[]` is a scalar, undefined an unknown rank. */
  shape?: Dim[];
  /** ONNX denotations of the type and its dims, kept so nothing is lost on the way through. */
  denotation?: string;
  /** ONNX denotation of each dimension (e.g. `"DATA_BATCH"`), by position. */
  dimDenotations?: (string | undefined)[];
}

/** A sparse tensor's static type. */
export interface SparseTensorType {
  /** Discriminant of `ValueType`. */
  kind: "sparse_tensor";
  /** Element type of the stored values. */
  dtype: DataType;
  /** Dimensions of the dense tensor it stands for; undefined for an unknown rank. */
  shape?: Dim[];
  /** ONNX type denotation, kept as read. */
  denotation?: string;
}

/** A sequence of values of one type. */
export interface SequenceType {
  /** Discriminant of `ValueType`. */
  kind: "sequence";
  /** Type of every element; undefined when unknown. */
  elem?: ValueType;
  /** ONNX type denotation, kept as read. */
  denotation?: string;
}

/** A map from an integer or string key type to values. */
export interface MapType {
  /** Discriminant of `ValueType`. */
  kind: "map";
  /** Key type: an integer type or STRING. */
  keyType: DataType;
  /** Type of every value; undefined when unknown. */
  value?: ValueType;
  /** ONNX type denotation, kept as read. */
  denotation?: string;
}

/** A value that may be absent. */
export interface OptionalType {
  /** Discriminant of `ValueType`. */
  kind: "optional";
  /** Type of the value when present; undefined when unknown. */
  elem?: ValueType;
  /** ONNX type denotation, kept as read. */
  denotation?: string;
}

/** ONNX-ML's opaque type. */
export interface OpaqueType {
  /** Discriminant of `ValueType`. */
  kind: "opaque";
  /** Domain that defines the type. */
  domain: string;
  /** The type's name within `domain`. */
  name: string;
  /** ONNX type denotation, kept as read. */
  denotation?: string;
}

/** Any value type. */
export type ValueType = TensorType | SparseTensorType | SequenceType | MapType | OptionalType | OpaqueType;

/** A tensor type. */
export function tensorType(dtype: DataType, shape?: Dim[]): TensorType {
  return shape === undefined ? { kind: "tensor", dtype } : { kind: "tensor", dtype, shape };
}

/** Human-readable type, e.g. `float32[batch,3,224,224]`, `seq(int64[?])`. */
export function formatType(t: ValueType | undefined, dtypeName: (d: number) => string): string {
  if (!t) return "?";
  switch (t.kind) {
    case "tensor":
    case "sparse_tensor": {
      const s = t.shape ? `[${t.shape.join(",")}]` : "[?]";
      return (t.kind === "sparse_tensor" ? "sparse " : "") + dtypeName(t.dtype) + s;
    }
    case "sequence":
      return `seq(${formatType(t.elem, dtypeName)})`;
    case "optional":
      return `optional(${formatType(t.elem, dtypeName)})`;
    case "map":
      return `map(${dtypeName(t.keyType)},${formatType(t.value, dtypeName)})`;
    case "opaque":
      return `opaque(${t.domain}.${t.name})`;
  }
}
