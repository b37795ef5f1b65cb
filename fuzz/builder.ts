/**
 * Building one random graph node by node: a pool of typed values, fresh inputs and constants, and
 * transactions that keep a node only when shape inference (`inferModel`) types every output it makes.
 *
 * Invariant: every value in `pool` has a static dtype and static dims, as `inferModel` gave them,
 * and no value holds more than `MAX_ELEMENTS` elements, so every graph stays tiny.
 * @module
 */
import type { Attribute, Model, Node } from "../ir/graph.ts";
import { DataType } from "../ir/dtype.ts";
import { fromNumbers, sizeOf, type Tensor } from "../ir/tensor.ts";
import { inferModel } from "../ir/infer.ts";
import type { Rand } from "./random.ts";

/** Most elements any value of a generated graph holds. */
export const MAX_ELEMENTS = 256;

/** A value the next node may read: its name, dtype and static dims. */
export interface Val {
  name: string;
  dtype: DataType;
  dims: number[];
}

/** An attribute: a string, a list of ints, an int or a float (`float` forces a float for integral values). */
export function attr(name: string, value: number | number[] | string, float = false): Attribute {
  if (typeof value === "string") return { name, type: "string", value };
  if (Array.isArray(value)) return { name, type: "ints", value };
  return Number.isInteger(value) && !float ? { name, type: "int", value } : { name, type: "float", value };
}

/** The float dtypes and the integer dtypes the generator uses. */
export const FLOAT = DataType.FLOAT, INT64 = DataType.INT64, INT32 = DataType.INT32, BOOL = DataType.BOOL;

/** A graph under construction: see the module invariant. */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: Val[] = [];
  readonly inits = new Map<string, Tensor>();
  readonly pool: Val[] = [];
  #count = 0;
  #mark: [number, number, number, string[]] | undefined;

  /**
   * @param rand the graph's choices
   * @param opset the ONNX opset the graph imports (13–21)
   */
  constructor(readonly rand: Rand, readonly opset: number) {}

  /** A name not used yet, starting with `prefix`. */
  fresh(prefix: string): string {
    return `${prefix}${this.#count++}`;
  }

  /** A new graph input of `dtype` and `dims`, added to the pool. */
  addInput(dtype: DataType, dims: number[]): Val {
    const v = { name: this.fresh("in"), dtype, dims: [...dims] };
    this.inputs.push(v);
    this.pool.push(v);
    return v;
  }

  /** A new initializer holding `values` (of `dtype`, shape `dims`); its name. */
  constant(dtype: DataType, dims: number[], values: ArrayLike<number>): string {
    const name = this.fresh("c");
    this.inits.set(name, fromNumbers(dtype, dims, values));
    return name;
  }

  /** A 1-D int64 initializer (shapes, axes, pads, starts); its name. */
  ints(values: readonly number[]): string {
    return this.constant(INT64, [values.length], values);
  }

  /** A 0-D or shaped float initializer of random values in [lo, hi); its name. */
  floats(dims: number[], lo = -1, hi = 1): string {
    const n = sizeOf(dims);
    return this.constant(FLOAT, dims, Array.from({ length: n }, () => lo + this.rand.float() * (hi - lo)));
  }

  /**
   * A value of exactly `dtype` and `dims` for a second operand: a pool value that fits (sometimes),
   * else a fresh input or, less often, a random constant.
   */
  operand(dtype: DataType, dims: number[]): string {
    const fits = this.pool.filter((v) => v.dtype === dtype && v.dims.join() === dims.join());
    if (fits.length && this.rand.chance(0.5)) return this.rand.pick(fits).name;
    if (this.rand.chance(0.7)) return this.addInput(dtype, dims).name;
    const n = sizeOf(dims);
    const vals = Array.from({ length: n }, () => randomValue(this.rand, dtype));
    return this.constant(dtype, dims, vals);
  }

  /** A pool value passing `ok`, recent values more likely; undefined when none passes. */
  pick(ok: (v: Val) => boolean): Val | undefined {
    const c = this.pool.filter(ok);
    if (!c.length) return undefined;
    // half the time one of the three most recent, so chains grow deep
    return this.rand.chance(0.5) ? c[Math.max(0, c.length - 1 - this.rand.int(0, 2))] : this.rand.pick(c);
  }

  /** Start a transaction: `commit` keeps what was added since, `rollback` drops it. */
  begin(): void {
    this.#mark = [this.nodes.length, this.inputs.length, this.pool.length, [...this.inits.keys()]];
  }

  /** Drop every node, input and constant added since `begin`. */
  rollback(): void {
    if (!this.#mark) return;
    const [n, i, p, keys] = this.#mark;
    this.nodes.length = n;
    this.inputs.length = i;
    this.pool.length = p;
    const keep = new Set(keys);
    for (const k of [...this.inits.keys()]) if (!keep.has(k)) this.inits.delete(k);
    this.#mark = undefined;
  }

  /**
   * Add `node` (its outputs named here when empty); keep it when shape inference types every output
   * statically within `MAX_ELEMENTS`, else roll the whole transaction back.
   * @returns the node's outputs, typed, or undefined after a rollback
   */
  emit(opType: string, inputs: string[], attrs: Attribute[] = [], outputs = 1): Val[] | undefined {
    const outs = Array.from({ length: outputs }, () => this.fresh("v"));
    this.nodes.push({
      name: `n${this.nodes.length}_${opType}`,
      opType,
      domain: "",
      inputs,
      outputs: outs,
      attributes: attrs,
    });
    const typed = this.#typeOf(outs);
    if (!typed) {
      this.rollback();
      return undefined;
    }
    this.pool.push(...typed);
    return typed;
  }

  /** Keep what the transaction added. */
  commit(): void {
    this.#mark = undefined;
  }

  #typeOf(names: string[]): Val[] | undefined {
    let types;
    try {
      types = inferModel(this.model(names)).types;
    } catch {
      return undefined;
    }
    const out: Val[] = [];
    for (const name of names) {
      const t = types.get(name);
      if (t?.kind !== "tensor" || !t.shape || t.shape.some((d) => typeof d !== "number" || d < 1)) return undefined;
      const dims = t.shape as number[];
      if (sizeOf(dims) > MAX_ELEMENTS || dims.length > 5) return undefined;
      out.push({ name, dtype: t.dtype, dims });
    }
    return out;
  }

  /** The model so far with `outputs` as its outputs (typed where the pool knows them). */
  model(outputs: readonly string[]): Model {
    const typeOf = (n: string) => this.pool.find((v) => v.name === n);
    return {
      irVersion: this.opset >= 21 ? 10 : this.opset >= 19 ? 9 : this.opset >= 15 ? 8 : 7,
      opsetImports: [{ domain: "", version: this.opset }],
      metadataProps: [],
      trainingInfo: [],
      functions: [],
      graph: {
        name: "fuzz",
        nodes: [...this.nodes],
        inputs: this.inputs.map((v) => ({
          name: v.name,
          type: { kind: "tensor", dtype: v.dtype, shape: [...v.dims] },
        })),
        outputs: outputs.map((name) => {
          const v = typeOf(name);
          return v ? { name, type: { kind: "tensor", dtype: v.dtype, shape: [...v.dims] } } : { name };
        }),
        initializers: new Map(this.inits),
        sparseInitializers: [],
        valueInfo: [],
      },
    };
  }
}

/** One way to add a node (or a few) of one op to a graph. */
export interface Template {
  /** The op the template adds (its last node's op). */
  op: string;
  /** The first opset the template's form is valid in (13), and the last (21). */
  minOpset?: number;
  maxOpset?: number;
  /** How often it is chosen relative to others (1). */
  weight?: number;
  /** Add the node(s) inside the builder's transaction; false when no fitting operand was found. */
  build(b: GraphBuilder): boolean;
}

/** One random element of `dtype`: floats in [−2, 2), integers in [−4, 4], booleans. */
export function randomValue(rand: Rand, dtype: DataType): number {
  if (dtype === BOOL) return rand.chance(0.5) ? 1 : 0;
  if (dtype === FLOAT || dtype === DataType.DOUBLE || dtype === DataType.FLOAT16) return rand.float() * 4 - 2;
  return rand.int(-4, 4);
}
