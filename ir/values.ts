/**
 * Runtime values the interpreter passes along edges: tensors, sequences, maps and optionals.
 * @module
 */
import { Tensor } from "./tensor.ts";
import type { DataType } from "./dtype.ts";
import type { ValueType } from "./types.ts";

/**
 * A sequence value: an ordered list of values of one type.
 * @example
 * ```ts
 * import { float32Tensor, SequenceValue } from "../mod.ts";
 * const s = new SequenceValue([float32Tensor([1], [1]), float32Tensor([2], [2, 3])]);
 * if (s.kind !== "sequence" || s.items.length !== 2) throw new Error("two items");
 * const empty = new SequenceValue([], { kind: "tensor", dtype: 1 });
 * if (empty.elemType?.kind !== "tensor") throw new Error("an empty sequence keeps its element type");
 * ```
 */
export class SequenceValue {
  /** Discriminant of `Value` (tensors have none; test those with `instanceof Tensor`). */
  readonly kind = "sequence";
  /** Static element type, kept for empty sequences. */
  readonly elemType: ValueType | undefined;
  /** The elements, in order; all of one type. */
  readonly items: readonly Value[];
  /**
   * Make a sequence of `items` (not copied).
   * @param items the elements, in order
   * @param elemType their static type, needed to type an empty sequence
   */
  constructor(items: readonly Value[], elemType?: ValueType) {
    this.items = items;
    this.elemType = elemType;
  }
}

/**
 * An optional value: `value` undefined means "none".
 * @example
 * ```ts
 * import { int64Tensor, OptionalValue } from "../mod.ts";
 * const none = new OptionalValue(undefined, { kind: "tensor", dtype: 7 });
 * if (none.value !== undefined) throw new Error("none holds no value");
 * const some = new OptionalValue(int64Tensor([], [3]));
 * if (some.value === undefined) throw new Error("some holds its value");
 * ```
 */
export class OptionalValue {
  /** Discriminant of `Value`. */
  readonly kind = "optional";
  /** Static type of the value, kept so that "none" is still typed. */
  readonly elemType: ValueType | undefined;
  /** The value, or undefined for "none". */
  readonly value: Value | undefined;
  /**
   * Make an optional holding `value`, or "none".
   * @param value the value, or undefined for "none"
   * @param elemType its static type, needed to type "none"
   */
  constructor(value: Value | undefined, elemType?: ValueType) {
    this.value = value;
    this.elemType = elemType;
  }
}

/**
 * A map value (ONNX-ML): keys are numbers/bigints or strings.
 * @example
 * ```ts
 * import { DataType, float32Tensor, MapValue } from "../mod.ts";
 * const m = new MapValue(DataType.STRING, new Map([["cat", float32Tensor([], [0.9])]]));
 * if (m.kind !== "map" || !m.entries.has("cat")) throw new Error("string-keyed map");
 * ```
 */
export class MapValue {
  /** Discriminant of `Value`. */
  readonly kind = "map";
  /** Key type: an integer type (keys are numbers, bigints for 64-bit) or STRING. */
  readonly keyType: DataType;
  /** The entries, in insertion order. */
  readonly entries: ReadonlyMap<number | bigint | string, Value>;
  /**
   * Make a map of `entries` (not copied).
   * @param keyType the key type
   * @param entries the entries
   */
  constructor(keyType: DataType, entries: ReadonlyMap<number | bigint | string, Value>) {
    this.keyType = keyType;
    this.entries = entries;
  }
}

/** Any runtime value. */
export type Value = Tensor | SequenceValue | OptionalValue | MapValue;

/** Narrow a value to a tensor or throw a TypeError naming what it was. */
export function asTensor(v: Value | undefined, what: string): Tensor {
  if (v instanceof Tensor) return v;
  throw new TypeError(`${what}: expected a tensor, got ${v === undefined ? "nothing" : v.kind}`);
}
