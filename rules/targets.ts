/**
 * Cost targets and the rule packs each one uses. Saturn's output runs on two runtimes: ONNX
 * Runtime (`ort`: the written `.onnx` is for it) and Saturn's own WGSL kernels (`webgpu`). Each has
 * its own useful fused ops, so each target leaves out the packs written for the other:
 *
 * | pack | ort | webgpu | holds |
 * | --- | --- | --- | --- |
 * | `core` | yes | yes | clean-ups and fusions into standard ONNX ops |
 * | `layout` | yes | yes | transpose/reshape algebra |
 * | `ort` | yes | no | fusions into ONNX Runtime's contrib ops (`com.microsoft.FusedConv`, `Gelu`, `FastGelu`) |
 * | `webgpu` | no | yes | fusions for Saturn's codegen (standard `Gelu` from opset 20) |
 *
 * Invariant: no rule of a pack a target leaves out produces anything for that target; in
 * particular nothing for target `webgpu` produces a `com.microsoft` node.
 * @module
 */
import { SaturnError } from "../errors.ts";

/** A runtime Saturn optimizes for. */
export type CostTarget = "ort" | "webgpu";

/** The targets, the default first. */
export const TARGETS: readonly CostTarget[] = ["ort", "webgpu"];

/** Shipped packs used only by some targets; packs not listed here (`core`, `layout`) serve every target. */
const TARGET_PACKS: Readonly<Record<string, readonly CostTarget[]>> = {
  ort: ["ort"],
  webgpu: ["webgpu"],
};

/**
 * The target named by `name`, checked.
 * @param name a target's name, e.g. from the command line
 * @returns the target
 * @throws {SaturnError} `BAD_ARGUMENT` (option `target`) for a name that is no target
 * @example
 * ```ts
 * import { parseTarget } from "./targets.ts";
 * if (parseTarget("webgpu") !== "webgpu") throw new Error("webgpu is a target");
 * ```
 */
export function parseTarget(name: string): CostTarget {
  if ((TARGETS as readonly string[]).includes(name)) return name as CostTarget;
  throw new SaturnError("BAD_ARGUMENT", `unknown target '${name}' (targets: ${TARGETS.join(", ")})`, name, "target");
}

/**
 * The shipped packs `target` leaves out: give them to `loadRulePacks`'s (or `optimize`'s) `without`.
 * @param target the target
 * @returns pack names to leave out (the other targets' own packs)
 * @example
 * ```ts
 * import { packsFor } from "./targets.ts";
 * if (packsFor("webgpu").without.join() !== "ort") throw new Error("webgpu leaves out ONNX Runtime's contrib fusions");
 * if (packsFor("ort").without.join() !== "webgpu") throw new Error("ort leaves out Saturn's codegen fusions");
 * ```
 */
export function packsFor(target: CostTarget): { without: string[] } {
  const without = Object.keys(TARGET_PACKS).filter((pack) => !TARGET_PACKS[pack].includes(target));
  return { without };
}
