/**
 * BitShift (LEFT / RIGHT) on uint8, uint16 and uint32, as an elementwise op that `fusion.ts`
 * chains and broadcasts like any other.
 *
 * Invariant: the result is the reference's (`ir/ops/binary.ts`): a shift by the type's bit width
 * or more gives 0, and a left shift wraps to the type's width. uint8/uint16 live in `i32` storage
 * (values 0…2ⁿ−1), so shifts are done on their bits as `u32` and masked back; uint32 lives in
 * `u32`. The shift amount given to WGSL is masked to 0…31 so that a constant amount ≥ 32 (a
 * literal leaf) is never a shader-creation error; the `select` supplies the 0 for those.
 * @module
 */
import { DataType, dtypeName } from "../ir/dtype.ts";
import type { EwOp } from "./expr.ts";
import { unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";

/** Bit width and value mask of the unsigned types the backend stores. */
const WIDTH: Record<number, { bits: number; mask: string }> = {
  [DataType.UINT8]: { bits: 8, mask: "255u" },
  [DataType.UINT16]: { bits: 16, mask: "65535u" },
  [DataType.UINT32]: { bits: 32, mask: "" },
};

/**
 * The elementwise op of a BitShift over inputs of `dtype` shifting `left` or right.
 * @param dtype the (shared) element type of both inputs
 * @param left true for LEFT, false for RIGHT
 * @returns the op reading inputs 0 (values) and 1 (shift amounts)
 */
export function bitShiftOp(dtype: number, left: boolean): EwOp {
  const w = WIDTH[dtype] ?? unsupported(`element type ${dtypeName(dtype)} is not supported`);
  if (dtype === DataType.UINT32) {
    const shift = (a: string, b: string) => `(${a} ${left ? "<<" : ">>"} (${b} & 31u))`;
    return { args: [0, 1], emit: ([a, b]) => `select(${shift(a, b)}, 0u, ${b} >= 32u)`, helpers: [] };
  }
  const emit = ([a, b]: string[]) => {
    const bits = `(bitcast<u32>(${b}) & 31u)`;
    const v = left ? `i32((bitcast<u32>(${a}) << ${bits}) & ${w.mask})` : `(${a} >> ${bits})`;
    return `select(${v}, 0, ${b} >= ${w.bits})`;
  };
  return { args: [0, 1], emit, helpers: [] };
}

function lowerBitShift(ctx: LowerCtx): Lowered {
  const a = ctx.input(0), b = ctx.input(1);
  if (a.dtype !== b.dtype) {
    unsupported(`inputs have different element types (${dtypeName(a.dtype)}, ${dtypeName(b.dtype)})`);
  }
  const dir = ctx.attrs.attrString("direction");
  if (dir !== "LEFT" && dir !== "RIGHT") unsupported(`direction must be LEFT or RIGHT, is '${dir}'`);
  return { kind: "elementwise", op: bitShiftOp(a.dtype, dir === "LEFT") };
}

registerLowerings("", { BitShift: { lower: lowerBitShift } });
