/**
 * Sizes for the symbolic dims of a model's inputs: one parser of `NAME=N` / `INPUT:AXIS=N`
 * specs, and one resolver every caller uses (random inputs, checks, the WebGPU plan).
 *
 * A `DimSizes` record maps a dim's name (`batch`) to its size, or `input:axis` (`x:2`) to
 * the size of one input's axis — the way to size a dim that has no name. An axis entry wins
 * over a name; a dim listed nowhere takes size 1.
 * @module
 */
import { SaturnError } from "../errors.ts";
import type { Model, ValueInfo } from "../ir/graph.ts";
import type { Dim } from "../ir/types.ts";

/** Sizes of symbolic dims: by dim name, or by `input:axis`. */
export type DimSizes = Record<string, number>;

/** The size a dim takes when no size is given for it. */
export const DEFAULT_DIM = 1;

/** Largest size one dim may be given (2^31 − 1: past it no buffer here holds the tensor). */
const MAX_DIM = 2 ** 31 - 1;

/** True for a dim the model leaves unnamed (decoded as a fresh `?__N` symbol). */
export function isUnnamedDim(d: Dim): boolean {
  return typeof d === "string" && d.startsWith("?");
}

/**
 * Parse `NAME=N` and `INPUT:AXIS=N` specs (the last `=` splits; a name may hold `:` and `=`).
 * @param specs the specs, as a user wrote them
 * @returns the sizes by key
 * @throws {SaturnError} `BAD_ARGUMENT` for a spec without `=N`, or N not a whole number in range
 * @example
 * ```ts
 * import { parseDimSizes } from "../mod.ts";
 * const d = parseDimSizes(["batch=2", "x:0=512"]);
 * if (d.batch !== 2 || d["x:0"] !== 512) throw new Error("names and input:axis");
 * ```
 */
export function parseDimSizes(specs: readonly string[] | undefined): DimSizes {
  const dims: DimSizes = {};
  for (const s of specs ?? []) {
    const eq = s.lastIndexOf("=");
    const key = s.slice(0, eq), size = s.slice(eq + 1);
    if (eq <= 0 || !/^\d+$/.test(size)) {
      throw new SaturnError("BAD_ARGUMENT", `dim ${s}: expected NAME=N or INPUT:AXIS=N`, s);
    }
    const n = Number(size);
    if (!(n >= 1 && n <= MAX_DIM)) {
      throw new SaturnError("BAD_ARGUMENT", `dim ${s}: size must be between 1 and ${MAX_DIM}`, s);
    }
    dims[key] = n;
  }
  return dims;
}

/**
 * One input's static shape: each axis from `input:axis` in `dims`, else its fixed size, else
 * its name in `dims`, else `DEFAULT_DIM`.
 * @param info the graph input (a tensor with a declared shape; no shape means a scalar)
 * @param dims sizes of symbolic dims
 * @returns the shape
 * @throws {SaturnError} `BAD_ARGUMENT` when an `input:axis` size contradicts a fixed dim
 * @example
 * ```ts
 * import { DataType, inputShape, type ValueInfo } from "../mod.ts";
 * const x: ValueInfo = { name: "x", type: { kind: "tensor", dtype: DataType.FLOAT, shape: ["batch", "?__1", 8] } };
 * // a named dim by its name, a dim without a name by input:axis, the rest 1
 * if (inputShape(x, { batch: 2, "x:1": 640 }).join() !== "2,640,8") throw new Error();
 * if (inputShape(x).join() !== "1,1,8") throw new Error("symbolic dims default to 1");
 * ```
 */
export function inputShape(info: ValueInfo, dims: DimSizes = {}): number[] {
  const shape = info.type?.kind === "tensor" ? info.type.shape ?? [] : [];
  return shape.map((d, axis) => {
    const byAxis = dims[`${info.name}:${axis}`];
    if (typeof d === "number") {
      if (byAxis !== undefined && byAxis !== d) {
        throw new SaturnError(
          "BAD_ARGUMENT",
          `dim ${info.name}:${axis}=${byAxis}: input '${info.name}' has size ${d} on axis ${axis}`,
          info.name,
        );
      }
      return d;
    }
    return byAxis ?? dims[d] ?? DEFAULT_DIM;
  });
}

/**
 * The symbolic dims of the inputs listed that no size in `dims` covers, as a user would
 * name them: the dim's name, or `input:axis` for a dim without one.
 * @param inputs the inputs whose dims took defaults
 * @param dims sizes given
 * @returns each defaulted dim once
 * @example
 * ```ts
 * import { DataType, defaultedDims, type ValueInfo } from "../mod.ts";
 * const x: ValueInfo = { name: "x", type: { kind: "tensor", dtype: DataType.FLOAT, shape: ["batch", "?__1", 8] } };
 * if (defaultedDims([x]).join() !== "batch,x:1") throw new Error();
 * if (defaultedDims([x], { batch: 1 }).join() !== "x:1") throw new Error();
 * ```
 */
export function defaultedDims(inputs: readonly ValueInfo[], dims: DimSizes = {}): string[] {
  const out = new Set<string>();
  for (const info of inputs) {
    const shape = info.type?.kind === "tensor" ? info.type.shape ?? [] : [];
    shape.forEach((d, axis) => {
      if (typeof d === "number" || dims[`${info.name}:${axis}`] !== undefined || dims[d] !== undefined) return;
      out.add(isUnnamedDim(d) ? `${info.name}:${axis}` : d);
    });
  }
  return [...out];
}

/**
 * Refuse sizes for dims no input has: a misspelt name would otherwise be ignored silently.
 * @param model the model
 * @param dims sizes given
 * @throws {SaturnError} `BAD_ARGUMENT` naming the first unknown key and the dims there are
 * @example
 * ```ts
 * import { checkDimNames, DataType, type Model, SaturnError } from "../mod.ts";
 * const model: Model = {
 *   irVersion: 8, opsetImports: [{ domain: "", version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
 *   graph: {
 *     name: "g", nodes: [{ name: "r", opType: "Relu", domain: "", inputs: ["x"], outputs: ["y"], attributes: [] }],
 *     inputs: [{ name: "x", type: { kind: "tensor", dtype: DataType.FLOAT, shape: ["batch", "?__1", 8] } }],
 *     outputs: [{ name: "y" }], initializers: new Map(), sparseInitializers: [], valueInfo: [],
 *   },
 * };
 * checkDimNames(model, { batch: 4, "x:1": 16 }); // both exist
 * try {
 *   checkDimNames(model, { bacth: 4 });
 *   throw new Error("a misspelt dim was accepted");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.code !== "BAD_ARGUMENT") throw e;
 * }
 * ```
 */
export function checkDimNames(model: Model, dims: DimSizes): void {
  const names = new Set<string>();
  const axes = new Set<string>();
  for (const info of model.graph.inputs) {
    const shape = info.type?.kind === "tensor" ? info.type.shape ?? [] : [];
    shape.forEach((d, axis) => {
      axes.add(`${info.name}:${axis}`);
      if (typeof d === "string" && !isUnnamedDim(d)) names.add(d);
    });
  }
  for (const key of Object.keys(dims)) {
    if (names.has(key) || axes.has(key)) continue;
    const known = [...names].slice(0, 8).join(", ") || "none";
    throw new SaturnError(
      "BAD_ARGUMENT",
      `dim ${key}: no input has a dim of that name or an axis there (named dims: ${known})`,
      key,
    );
  }
}
