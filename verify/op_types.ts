/**
 * The ONNX type constraints of the ops rules use, as a small table: which element types each
 * input slot takes, and which slots must share one type. The verifier discards a rule instance
 * that breaks them (float indices for Gather, float axes, a float32 times an int64 in Mul, a
 * float shape for Expand): such a graph is invalid ONNX, so a difference there is not evidence
 * against a rule, nor agreement evidence for it.
 *
 * Ops not in the table are not checked (the reference interpreter still refuses what it cannot
 * run). The table follows the ONNX operator schemas (opset 21); types the reference does not
 * run (complex, float8, 4-bit) are left out.
 * @module
 */
import { DataType as D } from "../ir/dtype.ts";

const FLOATS = [D.FLOAT, D.FLOAT16, D.DOUBLE, D.BFLOAT16];
const SIGNED = [D.INT8, D.INT16, D.INT32, D.INT64];
const INTS = [...SIGNED, D.UINT8, D.UINT16, D.UINT32, D.UINT64];
const NUM = [...FLOATS, ...INTS];
const ANY = [...NUM, D.BOOL, D.STRING];
const IDX = [D.INT32, D.INT64];
const I64 = [D.INT64];
const B = [D.BOOL];
const FSIGNED = [...FLOATS, ...SIGNED];

/**
 * One op's constraints: `slots[i]` names the type variable of input `i` (the last repeats for
 * variadic inputs; `""`: unchecked), `types` what each variable may be. Inputs naming one
 * variable must share one element type.
 */
interface Sig {
  slots: string[];
  types: Record<string, readonly number[]>;
}

const sig = (slots: string, types: Record<string, readonly number[]>): Sig => ({ slots: slots.split(""), types });
const unary = (t: readonly number[]): Sig => sig("T", { T: t });
const binary = (t: readonly number[]): Sig => sig("TT", { T: t });

const TABLE: Record<string, Sig> = {
  Add: binary(NUM),
  Sub: binary(NUM),
  Mul: binary(NUM),
  Div: binary(NUM),
  Mod: binary(NUM),
  Max: sig("T", { T: NUM }),
  Min: sig("T", { T: NUM }),
  Sum: sig("T", { T: FLOATS }),
  Mean: sig("T", { T: FLOATS }),
  Pow: sig("TU", { T: [...FLOATS, D.INT32, D.INT64], U: NUM }),
  PRelu: binary([...FLOATS, D.INT32, D.INT64, D.UINT32, D.UINT64]),
  Neg: unary(FSIGNED),
  Abs: unary(NUM),
  Sign: unary(NUM),
  Relu: unary(FSIGNED),
  Identity: unary(ANY),
  Reciprocal: unary(FLOATS),
  Floor: unary(FLOATS),
  Ceil: unary(FLOATS),
  Round: unary(FLOATS),
  ...Object.fromEntries(
    [
      "Exp",
      "Log",
      "Sqrt",
      "Erf",
      "Tanh",
      "Sigmoid",
      "Softplus",
      "Softsign",
      "Sin",
      "Cos",
      "Tan",
      "Asin",
      "Acos",
      "Atan",
      "Sinh",
      "Cosh",
      "Asinh",
      "Acosh",
      "Atanh",
      "Elu",
      "Selu",
      "LeakyRelu",
      "HardSigmoid",
      "HardSwish",
      "ThresholdedRelu",
      "Celu",
      "Gelu",
      "Mish",
      "Softmax",
      "LogSoftmax",
      "Hardmax",
    ].map((op) => [op, unary(FLOATS)]),
  ),
  IsNaN: unary(FLOATS),
  IsInf: unary(FLOATS),
  Not: unary(B),
  And: binary(B),
  Or: binary(B),
  Xor: binary(B),
  Equal: binary([...NUM, D.BOOL, D.STRING]),
  Less: binary(NUM),
  LessOrEqual: binary(NUM),
  Greater: binary(NUM),
  GreaterOrEqual: binary(NUM),
  Where: sig("BTT", { B, T: ANY }),
  Clip: sig("TTT", { T: NUM }),
  Cast: unary(ANY),
  CastLike: sig("TU", { T: ANY, U: ANY }),
  MatMul: binary([...FLOATS, D.INT32, D.INT64, D.UINT32, D.UINT64]),
  Gemm: sig("TTT", { T: [...FLOATS, D.INT32, D.INT64, D.UINT32, D.UINT64] }),
  Conv: sig("TTT", { T: FLOATS }),
  FusedConv: sig("TTTT", { T: FLOATS }),
  FusedMatMul: binary(FLOATS),
  ConvTranspose: sig("TTT", { T: FLOATS }),
  BatchNormalization: sig("TUUUU", { T: FLOATS, U: FLOATS }),
  LayerNormalization: sig("TVV", { T: FLOATS, V: FLOATS }),
  SimplifiedLayerNormalization: sig("TVV", { T: FLOATS, V: FLOATS }),
  RMSNormalization: sig("TV", { T: FLOATS, V: FLOATS }),
  SkipLayerNormalization: sig("TTTTT", { T: FLOATS }),
  SkipSimplifiedLayerNormalization: sig("TTTT", { T: FLOATS }),
  InstanceNormalization: sig("TTT", { T: FLOATS }),
  GroupNormalization: sig("TTT", { T: FLOATS }),
  Dropout: sig("TUB", { T: FLOATS, U: FLOATS, B }),
  Transpose: unary(ANY),
  Reshape: sig("TI", { T: ANY, I: I64 }),
  Expand: sig("TI", { T: ANY, I: I64 }),
  Tile: sig("TI", { T: ANY, I: I64 }),
  Squeeze: sig("TI", { T: ANY, I: I64 }),
  Unsqueeze: sig("TI", { T: ANY, I: I64 }),
  Flatten: unary(ANY),
  Shape: sig("", {}),
  Size: sig("", {}),
  Concat: sig("T", { T: ANY }),
  Split: sig("TI", { T: ANY, I: I64 }),
  Slice: sig("TIIII", { T: ANY, I: IDX }),
  Gather: sig("TI", { T: ANY, I: IDX }),
  GatherElements: sig("TI", { T: ANY, I: IDX }),
  GatherND: sig("TI", { T: ANY, I: I64 }),
  ScatterElements: sig("TIT", { T: ANY, I: IDX }),
  ScatterND: sig("TIT", { T: ANY, I: I64 }),
  Pad: sig("TITJ", { T: ANY, I: I64, J: IDX }),
  DepthToSpace: unary(ANY),
  SpaceToDepth: unary(ANY),
  ReduceSum: sig("TI", { T: NUM, I: I64 }),
  ReduceMean: sig("TI", { T: NUM, I: I64 }),
  ReduceMax: sig("TI", { T: [...NUM, D.BOOL], I: I64 }),
  ReduceMin: sig("TI", { T: [...NUM, D.BOOL], I: I64 }),
  ReduceProd: sig("TI", { T: NUM, I: I64 }),
  ReduceL1: sig("TI", { T: NUM, I: I64 }),
  ReduceL2: sig("TI", { T: NUM, I: I64 }),
  ReduceSumSquare: sig("TI", { T: NUM, I: I64 }),
  ReduceLogSum: sig("TI", { T: NUM, I: I64 }),
  ReduceLogSumExp: sig("TI", { T: NUM, I: I64 }),
  ArgMax: unary(NUM),
  ArgMin: unary(NUM),
  CumSum: sig("TI", { T: NUM, I: IDX }),
  TopK: sig("TI", { T: NUM, I: I64 }),
  ConstantOfShape: sig("I", { I: I64 }),
  Range: sig("TTT", { T: [D.FLOAT, D.DOUBLE, D.INT16, D.INT32, D.INT64] }),
  OneHot: sig("IDV", { I: NUM, D: NUM, V: ANY }),
  Einsum: sig("T", { T: NUM }),
  MaxPool: unary([...FLOATS, D.INT8, D.UINT8]),
  AveragePool: unary(FLOATS),
  GlobalAveragePool: unary(FLOATS),
  GlobalMaxPool: unary(FLOATS),
  Resize: sig("T", { T: ANY }),
  Trilu: sig("TI", { T: ANY, I: I64 }),
  EyeLike: unary(ANY),
};

/**
 * Why a node with these input element types is invalid ONNX, or undefined when it is valid (or
 * the op is not in the table). `undefined` entries are omitted optional inputs.
 * @param op the op type (ai.onnx or com.microsoft)
 * @param inputs each input's element type
 * @returns the reason, or undefined
 * @example
 * ```ts
 * import { schemaViolation } from "./op_types.ts";
 * if (!schemaViolation("Gather", [1, 1])) throw new Error("float indices are invalid");
 * if (schemaViolation("Gather", [1, 7])) throw new Error("int64 indices are fine");
 * if (!schemaViolation("Mul", [1, 7])) throw new Error("Mul needs one element type");
 * ```
 */
export function schemaViolation(op: string, inputs: readonly (number | undefined)[]): string | undefined {
  const s = TABLE[op];
  if (!s || !s.slots.length) return undefined;
  const bound = new Map<string, number>();
  for (let i = 0; i < inputs.length; i++) {
    const dt = inputs[i];
    if (dt === undefined) continue;
    const v = s.slots[Math.min(i, s.slots.length - 1)];
    if (!v) continue;
    const allowed = s.types[v];
    if (allowed && !allowed.includes(dt)) return `${op} input ${i} cannot be ${dtypeLabel(dt)}`;
    const had = bound.get(v);
    if (had !== undefined && had !== dt) {
      return `${op} inputs must share one element type (${dtypeLabel(had)} and ${dtypeLabel(dt)})`;
    }
    bound.set(v, dt);
  }
  return undefined;
}

function dtypeLabel(dt: number): string {
  return Object.entries(D).find(([, v]) => v === dt)?.[0].toLowerCase() ?? `${dt}`;
}

/**
 * Whether input `slot` of `op` must share its element type with an earlier input (`Mul`'s
 * second operand: true; `CastLike`'s target, `Pow`'s exponent: false); undefined for ops not
 * in the table.
 * @param op the op type
 * @param slot the input index
 * @returns whether the slot's type is tied to an earlier one's
 * @example
 * ```ts
 * import { sharesType } from "./op_types.ts";
 * if (sharesType("Mul", 1) !== true) throw new Error("Mul needs one element type");
 * if (sharesType("CastLike", 1) !== false) throw new Error("CastLike's target has its own type");
 * ```
 */
export function sharesType(op: string, slot: number): boolean | undefined {
  const s = TABLE[op];
  if (!s || !s.slots.length) return undefined;
  const at = (i: number) => s.slots[Math.min(i, s.slots.length - 1)];
  const v = at(slot);
  if (!v) return undefined;
  for (let i = 0; i < slot; i++) if (at(i) === v) return true;
  return false;
}
