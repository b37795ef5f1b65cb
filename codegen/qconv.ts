/**
 * Integer convolutions: ConvInteger (int32 output) and QLinearConv (requantized int8/uint8
 * output), 1-D and 2-D, with any strides, dilations, pads or auto_pad, and groups.
 *
 * Invariant: results equal the reference's (`ir/ops/conv_more.ts`) exactly. One thread per output
 * element sums (x − x_zero_point)·(w − w_zero_point) over its group's input channels and kernel
 * taps in i32; padded taps are skipped, as the reference pads x − x_zero_point with zeros (a
 * padded tap reads x_zero_point). ConvInteger's i32 sum wraps exactly as the reference's int32
 * store of its exact sum does. QLinearConv adds the int32 bias — refused at plan time where the sum
 * could leave i32, which the reference never wraps — then rounds acc · multiplier half to even
 * from the exact product (`mulround_` of `qmatmul.ts`), the multiplier being
 * (x_scale · w_scale[oc]) / y_scale with each step rounded to f32 as the reference does (a
 * plan-time table when the scales are constants), then adds y_zero_point and saturates.
 * x_zero_point is a scalar; w_zero_point and w_scale are scalars or one per output channel.
 * @module
 */
import { DataType, dtypeName, intRange } from "../ir/dtype.ts";
import { fromNumbers, sizeOf, type Tensor, toNumbers } from "../ir/tensor.ts";
import { convShape, directConvLoop } from "./conv.ts";
import { type KernelSpec, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings, type TensorInfo } from "./lowering.ts";
import { MULROUND } from "./qmatmul.ts";
import { Bindings, f32Lit, grid, i32Lit, mainHeader } from "./wgsl.ts";

const I32_MAX = 2147483647;

/** |x − x_zp|·|w − w_zp| ≤ 255·255 for 8-bit codes. */
const MAX_TERM = 255 * 255;

/** A per-tensor or per-output-channel operand (zero point, scale, bias), with its value if known. */
interface PerChannel {
  info: TensorInfo;
  /** one value per output channel (else one element) */
  vector: boolean;
  /** the known values, if constant */
  values?: Float64Array;
}

/** Optional input `i`: one element, or (when `perChannel`) one per output channel `OC`. */
function perChannel(ctx: LowerCtx, i: number, OC: number, what: string, perChannel: boolean): PerChannel | undefined {
  if (!ctx.hasInput(i)) return undefined;
  const info = ctx.input(i), size = sizeOf(info.dims);
  if (size !== 1 && (size !== OC || !perChannel)) {
    unsupported(`${what} of shape [${info.dims}]: expected one element${perChannel ? ` or ${OC}` : ""}`);
  }
  const c = ctx.constant(i);
  return { info, vector: size !== 1, values: c ? toNumbers(c) : undefined };
}

/** WGSL reading a per-channel i32 operand at output channel `oc`, or a literal when it is a known scalar. */
function readInt(b: Bindings, p: PerChannel): string {
  if (p.values && !p.vector) return i32Lit(p.values[0]);
  return `${b.read(p.info.name, "i32")}[${p.vector ? "oc" : "0u"}]`;
}

/** The operands both ops share: X (input 0), W (input `wi`) and their zero points. */
function operands(ctx: LowerCtx, wi: number, xzi: number, wzi: number) {
  const x = ctx.input(0), w = ctx.input(wi);
  for (const [t, what] of [[x, "x"], [w, "w"]] as const) {
    if (t.dtype !== DataType.INT8 && t.dtype !== DataType.UINT8) unsupported(`${what} of type ${dtypeName(t.dtype)}`);
  }
  const s = convShape(ctx, wi);
  const xz = perChannel(ctx, xzi, s.OC, "x_zero_point", false);
  const wz = perChannel(ctx, wzi, s.OC, "w_zero_point", true);
  return { x, w, s, xz, wz, K: (s.C / s.group) * s.KH * s.KW };
}

/**
 * The kernel: one thread per output element computes the i32 sum `acc` over its window, then
 * `finish(b)` gives the statements and the stored value.
 */
function qconvKernel(
  ctx: LowerCtx,
  name: string,
  o: ReturnType<typeof operands>,
  finish: (b: Bindings) => { code: string; value: string },
  helpers = "",
): KernelSpec {
  const { x, w, s, xz, wz } = o;
  const y = ctx.output(0);
  const b = new Bindings();
  const X = b.read(x.name, "i32"), Wt = b.read(w.name, "i32");
  const xs = xz ? ` - ${readInt(b, xz)}` : "";
  const ws = wz ? ` - ${readInt(b, wz)}` : "";
  const tail = finish(b);
  const Y = b.write(y.name, "i32");
  const n = sizeOf(y.dims);
  const g = grid(n, 64);
  const wgsl = `${b.decls}
${helpers}
${mainHeader(64)} {
  let idx = ${g.index};
  if (idx >= ${n}u) { return; }
  ${directConvLoop(s, X, Wt, "var acc = 0i;", (xv, wv) => `acc = acc + (${xv}${xs}) * (${wv}${ws});`)}
  ${tail.code}
  ${Y}[idx] = ${tail.value};
}
`;
  return {
    name,
    nodes: [ctx.node.name],
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
  };
}

function convInteger(ctx: LowerCtx): Lowered {
  const o = operands(ctx, 1, 2, 3);
  if (ctx.output(0).dtype !== DataType.INT32) unsupported("the output must be int32");
  const k = qconvKernel(ctx, "ConvInteger", o, () => ({ code: "", value: "acc" }));
  return { kind: "kernels", kernels: [k] };
}

function qlinearConv(ctx: LowerCtx): Lowered {
  const o = operands(ctx, 3, 2, 5);
  const { s, K } = o;
  const y = ctx.output(0);
  if (y.dtype !== DataType.INT8 && y.dtype !== DataType.UINT8) unsupported(`output type ${dtypeName(y.dtype)}`);
  const xs = perChannel(ctx, 1, s.OC, "x_scale", false)!, ws = perChannel(ctx, 4, s.OC, "w_scale", true)!;
  const ys = perChannel(ctx, 6, s.OC, "y_scale", false)!, yz = perChannel(ctx, 7, s.OC, "y_zero_point", false);
  for (const p of [xs, ws, ys]) {
    if (p.info.dtype !== DataType.FLOAT) unsupported(`scale '${p.info.name}' must be float32`);
  }
  if (yz && yz.info.dtype !== y.dtype) unsupported("y_zero_point must have the output's type");
  // the window sum is exact in i32; with the bias it must stay so (the reference never wraps)
  const bound = K * MAX_TERM;
  if (bound > I32_MAX) unsupported(`${K} terms per output could overflow the i32 accumulator`);
  const bias = ctx.hasInput(8) ? ctx.input(8) : undefined;
  if (bias) {
    if (bias.dtype !== DataType.INT32) unsupported(`bias of type ${dtypeName(bias.dtype)}`);
    if (sizeOf(bias.dims) !== s.OC) unsupported(`bias of shape [${bias.dims}]: expected ${s.OC} elements`);
    const c = ctx.constant(8);
    if (!c) unsupported("a runtime bias could overflow the i32 accumulator (a constant one is checked)");
    const most = toNumbers(c).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    if (most + bound > I32_MAX) unsupported(`bias up to ${most} could overflow the i32 accumulator`);
  }
  const f = Math.fround;
  const table = xs.values && ws.values && ys.values
    ? Array.from({ length: ws.vector ? s.OC : 1 }, (_, m) => f(f(xs.values![0] * ws.values![m]) / ys.values![0]))
    : undefined;
  const tableName = `${ctx.node.name || y.name}::qlinearconv_multipliers`;
  const constants = new Map<string, Tensor>();
  const [lo, hi] = intRange(y.dtype);
  const finish = (b: Bindings) => {
    let mult: string;
    if (table && table.length === 1) {
      mult = f32Lit(table[0]);
    } else if (table) {
      // the multipliers' f32 bits as int32: integer storage is never narrowed to f16
      const bits = new Int32Array(new Float32Array(table).buffer);
      constants.set(tableName, fromNumbers(DataType.INT32, [s.OC], bits));
      mult = `bitcast<f32>(${b.read(tableName, "i32")}[oc])`;
    } else {
      const v = (p: PerChannel) => `${b.read(p.info.name, "f32")}[${p.vector ? "oc" : "0u"}]`;
      mult = `fdiv_(${v(xs)} * ${v(ws)}, ${v(ys)})`;
    }
    const B = bias ? ` + ${b.read(bias.name, "i32")}[oc]` : "";
    const z = !yz ? "0i" : readInt(b, yz);
    return {
      code: `let r = mulround_(acc${B}, ${mult});`,
      value: `select(clamp(r + ${z}, ${i32Lit(lo)}, ${i32Lit(hi)}), 0i, r == i32(-2147483647 - 1))`,
    };
  };
  const k = qconvKernel(ctx, "QLinearConv", o, finish, MULROUND);
  if (constants.size) k.constants = constants;
  return { kind: "kernels", kernels: [k] };
}

registerLowerings("", {
  ConvInteger: { lower: convInteger },
  QLinearConv: { lower: qlinearConv },
});
