/**
 * Errors a user can cause. Each has a stable `code`, a one-line message that names the
 * problem and where it is (file, node, tensor), and reaches the CLI as that one line with
 * exit code 2; stack traces are shown only with `--debug`.
 * @module
 */

/** Stable error codes, grouped by the stage that raises them. */
export type SaturnErrorCode =
  | "FILE_NOT_FOUND"
  | "FILE_UNREADABLE"
  | "NOT_ONNX"
  | "TRUNCATED"
  | "UNSUPPORTED_IR"
  | "UNSUPPORTED_OPSET"
  | "INVALID_GRAPH"
  | "GRAPH_CYCLE"
  | "UNDEFINED_VALUE"
  | "DUPLICATE_VALUE"
  | "BAD_TENSOR"
  | "EXTERNAL_DATA"
  | "DIMENSION_TOO_LARGE"
  | "UNSUPPORTED_OP"
  | "OP_ERROR"
  | "SHAPE_ERROR"
  | "BAD_INPUT"
  | "BAD_ARGUMENT"
  | "MISMATCH"
  | "RULE_ERROR"
  | "NO_GPU";

/**
 * An error in what the user gave Saturn (model, inputs, arguments). Anything else thrown is a
 * bug in Saturn; the CLI tells the two apart by `instanceof SaturnError`.
 * @example
 * ```ts
 * import { loadOnnxBytes, SaturnError } from "./mod.ts";
 * try {
 *   loadOnnxBytes(new Uint8Array(0), { name: "empty.onnx" });
 *   throw new Error("an empty file must be refused");
 * } catch (e) {
 *   if (!(e instanceof SaturnError) || e.code !== "NOT_ONNX") throw e;
 * }
 * ```
 */
export class SaturnError extends Error {
  /** A stable, machine-readable reason. */
  readonly code: SaturnErrorCode;
  /** Where: a node name, tensor name or file, when there is one. */
  readonly where?: string;
  /**
   * The library option that answers the error (`"inputs"`, `"f16"`, `"backend"`, `"without"`), when
   * one does. Library messages never name command-line flags; the CLI maps this to its flag.
   */
  readonly option?: string;

  /**
   * Make an error with a stable code and a one-line message.
   * @param code stable reason
   * @param message one line naming the problem and where
   * @param where the node, tensor or file concerned
   * @param option the library option that answers it, if any
   * @example
   * ```ts
   * import { SaturnError } from "./errors.ts";
   * const e = new SaturnError("BAD_TENSOR", "initializer 'w' holds 12 bytes, 16 expected", "w");
   * if (e.code !== "BAD_TENSOR") throw new Error();
   * ```
   */
  constructor(code: SaturnErrorCode, message: string, where?: string, option?: string) {
    super(message);
    this.name = "SaturnError";
    this.code = code;
    this.where = where;
    if (option !== undefined) this.option = option;
  }
}

/**
 * Raised while running or inferring an op: names the node and op. Its code is `OP_ERROR`
 * unless the cause is more specific (`SHAPE_ERROR`, `BAD_INPUT`, …).
 * @example
 * ```ts
 * import { OpError, SaturnError } from "./mod.ts";
 * const e = new OpError("Reshape node 'r': cannot reshape 6 elements to [4]", "r", "SHAPE_ERROR");
 * if (!(e instanceof SaturnError) || e.code !== "SHAPE_ERROR" || e.where !== "r") throw new Error();
 * if (new OpError("bad").code !== "OP_ERROR") throw new Error("OP_ERROR by default");
 * ```
 */
export class OpError extends SaturnError {
  /**
   * Make an op error.
   * @param message one line naming the node, the op and the problem
   * @param where the node's name (or its first output's)
   * @param code a more specific reason than `OP_ERROR`, when there is one
   */
  constructor(message: string, where?: string, code: SaturnErrorCode = "OP_ERROR") {
    super(code, message, where);
    this.name = "OpError";
  }
}
