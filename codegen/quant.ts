/**
 * Linear quantization: QuantizeLinear, DequantizeLinear (per-tensor, per-axis and blocked scales)
 * and DynamicQuantizeLinear, for float32 values and 8/16-bit integer (or int32, dequantized) codes.
 *
 * Invariant: the codes are the reference's (`ir/ops/quantize.ts`) exactly: x / scale divided in
 * f32 and correctly rounded (`fdiv.ts`: WGSL's own division may be 2.5 ulp off, NVIDIA's is, which
 * moves codes at ties), rounded half to even (WGSL `round`), the zero point
 * added, saturated to the output type's range, NaN giving 0, and stored as i32 inside that range.
 * Quantizing int32 inputs is unsupported (converting x to f32 would round it before the division).
 * Dequantization computes f32(x − zero_point) · scale: the reference's once-rounded product exactly
 * for 8/16-bit codes; for int32 codes past ±2^24 the conversion adds a rounding (≤ 1 ulp).
 * A per-tensor DequantizeLinear lowers to an elementwise op (it fuses with what reads it); the rest
 * to index kernels (one thread per element). float8/int4/int2 codes, float16 scales and a `precision`
 * other than float32 are unsupported.
 * @module
 */
import { DataType, dtypeName, intRange } from "../ir/dtype.ts";
import { sizeOf, toNumbers } from "../ir/tensor.ts";
import { type KernelSpec, unsupported } from "./kernel.ts";
import { copyKernel } from "./layout.ts";
import { FDIV } from "./fdiv.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { Bindings, groupGrid, i32Lit, MAX_THREAD_TRIPS, workgroupReduce } from "./wgsl.ts";

/** Integer codes the GPU quantizes to (i32 storage holds them exactly). */
const CODES: number[] = [DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16];

/** Where an element's scale lies: one scale, one per index along an axis, or one per block. */
type ScaleLayout =
  | { kind: "tensor" }
  | { kind: "axis"; inner: number; len: number }
  | { kind: "block"; inner: number; len: number; blocks: number; block: number };

/** The scale layout, checked as the reference checks it. */
function scaleLayout(ctx: LowerCtx, x: TensorInfo, scale: TensorInfo): ScaleLayout {
  const block = ctx.attrs.attrInt("block_size", 0);
  const sd = scale.dims, size = sizeOf(sd);
  if (sd.length === 0 || (sd.length === 1 && size === 1 && block <= 0)) return { kind: "tensor" };
  const axis = normAxis(ctx.attrs.attrInt("axis", 1), x.dims.length);
  const len = x.dims[axis], inner = sizeOf(x.dims.slice(axis + 1));
  if (block <= 0) {
    if (sd.length !== 1 || sd[0] !== len) unsupported(`scale [${sd}] does not match axis ${axis} of [${x.dims}]`);
    return { kind: "axis", inner, len };
  }
  const blocks = Math.ceil(len / block);
  if (sd.length !== x.dims.length || sd.some((d, a) => (a === axis ? d !== blocks : d !== x.dims[a]))) {
    unsupported(`blocked scale [${sd}] does not match [${x.dims}] with block_size ${block}`);
  }
  return { kind: "block", inner: Math.max(inner, 1), len, blocks, block };
}

/** The flat index of the scale of the element at flat index `i` (u32). */
function scaleIndex(l: ScaleLayout, i: string): string {
  if (l.kind === "tensor") return "0u";
  if (l.kind === "axis") return `(${i} / ${Math.max(l.inner, 1)}u) % ${Math.max(l.len, 1)}u`;
  const { inner, blocks, block } = l, len = Math.max(l.len, 1);
  return `((${i} / ${
    inner * len
  }u) * ${blocks}u + ((${i} / ${inner}u) % ${len}u) / ${block}u) * ${inner}u + ${i} % ${inner}u`;
}

/** The zero point, if any, must have the scale's shape or one element. */
function checkZeroPoint(ctx: LowerCtx, scale: TensorInfo): TensorInfo | undefined {
  if (!ctx.hasInput(2)) return undefined;
  const zp = ctx.input(2);
  if (zp.dims.join() !== scale.dims.join() && sizeOf(zp.dims) !== 1) unsupported("zero point and scale shapes differ");
  return zp;
}

function requireFloat(t: TensorInfo, what: string): void {
  if (t.dtype !== DataType.FLOAT) unsupported(`${what} is ${dtypeName(t.dtype)}; only float32 is supported`);
}

/** `kernel` with the correctly rounded division its quotients use (`fdiv.ts`). */
function withDivision(kernel: KernelSpec): KernelSpec {
  return { ...kernel, wgsl: `${kernel.wgsl}\n${FDIV}\n` };
}

const isNaN32 = (e: string) => `((bitcast<u32>(${e}) & 0x7fffffffu) > 0x7f800000u)`;

/**
 * The code of f32 `x` over f32 `scale` plus i32 `zp`, saturated to `[lo, hi]` (NaN → 0). Values past
 * ±2^20 saturate every 16-bit type whatever the zero point, so clamping there first keeps the i32
 * conversion and the addition exact.
 */
function quantizeExpr(x: string, scale: string, zp: string, lo: number, hi: number): string {
  const q = `fdiv_(${x}, ${scale})`;
  const code = `clamp(i32(clamp(round(${q}), -1048576.0, 1048576.0)) + ${zp}, ${i32Lit(lo)}, ${i32Lit(hi)})`;
  return `select(${code}, 0i, ${isNaN32(q)})`;
}

/** Elementwise when one scale (and zero point) serves every element and broadcasts to x. */
function perTensor(l: ScaleLayout, x: TensorInfo, scale: TensorInfo, zp: TensorInfo | undefined): boolean {
  const fits = (t: TensorInfo) => sizeOf(t.dims) === 1 && t.dims.length <= x.dims.length;
  return l.kind === "tensor" && fits(scale) && (!zp || fits(zp));
}

function quantize(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), scale = ctx.input(1), y = ctx.output(0);
  requireFloat(x, "input x");
  requireFloat(scale, "y_scale");
  const prec = ctx.attrs.attrInt("precision", 0);
  if (prec !== 0 && prec !== DataType.FLOAT) unsupported(`precision ${dtypeName(prec)}`);
  const zp = checkZeroPoint(ctx, scale);
  const od = ctx.attrs.attrInt("output_dtype", 0);
  if (od !== 0 && zp && zp.dtype !== od) unsupported("output_dtype differs from the zero point's type");
  if (!CODES.includes(y.dtype)) unsupported(`output type ${dtypeName(y.dtype)}`);
  if (zp && zp.dtype !== y.dtype) unsupported("the zero point must have the output's type");
  const [lo, hi] = intRange(y.dtype);
  const l = scaleLayout(ctx, x, scale);
  // always an index kernel, never elementwise: fusion.ts would make a per-tensor QuantizeLinear after
  // a MatMul/Conv that GEMM's epilogue, whose store is f32 while the codes are i32
  return {
    kind: "kernels",
    kernels: [withDivision(copyKernel({
      name: "QuantizeLinear",
      nodes: [ctx.node.name],
      dims: [sizeOf(y.dims)],
      out: y,
      value: (b) => {
        const z = zp ? `${b.read(zp.name, "i32")}[${sizeOf(zp.dims) === 1 ? "0u" : "s"}]` : "0i";
        return {
          code: `let s = ${scaleIndex(l, "i")};`,
          expr: quantizeExpr(`${b.read(x.name, "f32")}[i]`, `${b.read(scale.name, "f32")}[s]`, z, lo, hi),
        };
      },
    }))],
  };
}

function dequantize(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), scale = ctx.input(1), y = ctx.output(0);
  if (![...CODES, DataType.INT32].includes(x.dtype)) unsupported(`input type ${dtypeName(x.dtype)}`);
  requireFloat(scale, "x_scale");
  requireFloat(y, "the output");
  const zp = checkZeroPoint(ctx, scale);
  if (zp && zp.dtype !== x.dtype) unsupported("the zero point must have the input's type");
  const zc = ctx.constant(2);
  if (x.dtype === DataType.INT32 && zc && toNumbers(zc).some((v) => v !== 0)) {
    unsupported("an int32 input must have a zero point of 0");
  }
  const l = scaleLayout(ctx, x, scale);
  const expr = (xv: string, s: string, z: string | undefined) => `f32(${z ? `${xv} - ${z}` : xv}) * ${s}`;
  if (perTensor(l, x, scale, zp)) {
    const args = zp ? [0, 1, 2] : [0, 1];
    return { kind: "elementwise", op: { args, emit: (a) => expr(a[0], a[1], a[2]), helpers: [] } };
  }
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "DequantizeLinear",
      nodes: [ctx.node.name],
      dims: [sizeOf(y.dims)],
      out: y,
      value: (b) => {
        const z = zp ? `${b.read(zp.name, "i32")}[${sizeOf(zp.dims) === 1 ? "0u" : "s"}]` : undefined;
        return {
          code: `let s = ${scaleIndex(l, "i")};`,
          expr: expr(`${b.read(x.name, "i32")}[i]`, `${b.read(scale.name, "f32")}[s]`, z),
        };
      },
    })],
  };
}

/**
 * DynamicQuantizeLinear in three kernels, no thread looping over more than `MAX_THREAD_TRIPS`
 * elements (llvmpipe stops an invocation's loops after 65,535 iterations in all): partial
 * min(0, x) / max(0, x) (NaN skipped) per chunk of `wg · MAX_THREAD_TRIPS` elements, one
 * workgroup combining the partials into the scale (max − min) / 255 and the zero point
 * round(clamp(−min / scale, 0, 255)) as the reference does in f32 (written to the outputs and to an
 * f32 temporary, which keeps f32 values under half storage), then one thread per element
 * quantizing to uint8.
 */
function dynamicQuantize(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0), ys = ctx.output(1), yz = ctx.output(2);
  requireFloat(x, "input x");
  if (y.dtype !== DataType.UINT8 || yz.dtype !== DataType.UINT8) unsupported("outputs must be uint8");
  requireFloat(ys, "y_scale");
  const n = sizeOf(x.dims), wg = 256;
  const chunk = wg * MAX_THREAD_TRIPS, parts = Math.max(1, Math.ceil(n / chunk));
  if (parts > wg * MAX_THREAD_TRIPS) unsupported(`${n} elements are too many to reduce`);
  const temp = `${y.name}::dynamicQuantize`, partial = `${y.name}::dynamicQuantizeParts`;
  const pb = new Bindings();
  const PX = pb.read(x.name, "f32"), PP = pb.write(partial, "f32");
  const g = groupGrid(parts);
  const partials: KernelSpec = {
    name: "DynamicQuantizeLinear[partial range]",
    nodes: [ctx.node.name],
    wgsl: `${pb.decls}
var<workgroup> red: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = ${g.index};
  if (p >= ${parts}u) { return; }
  let end = min(${n}u, (p + 1u) * ${chunk}u);
  var lo = 0.0;
  var hi = 0.0;
  for (var i = p * ${chunk}u + lid.x; i < end; i = i + ${wg}u) {
    let v = ${PX}[i];
    if (!${isNaN32("v")}) {
      lo = min(lo, v);
      hi = max(hi, v);
    }
  }
  ${workgroupReduce("min", "lo", "mn", wg)}
  ${workgroupReduce("max", "hi", "mx", wg)}
  if (lid.x == 0u) {
    ${PP}[2u * p] = mn;
    ${PP}[2u * p + 1u] = mx;
  }
}
`,
    entryPoint: "main",
    bindings: pb.list,
    dispatch: g.dispatch,
    temporaries: [{ name: partial, elements: 2 * parts }],
  };
  const b = new Bindings();
  const P = b.read(partial, "f32");
  const T = b.write(temp, "f32"), S = b.write(ys.name, "f32"), Z = b.write(yz.name, "i32");
  const stats: KernelSpec = {
    name: "DynamicQuantizeLinear[range]",
    nodes: [ctx.node.name],
    wgsl: `${b.decls}
var<workgroup> red: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var lo = 0.0;
  var hi = 0.0;
  for (var p = lid.x; p < ${parts}u; p = p + ${wg}u) {
    lo = min(lo, ${P}[2u * p]);
    hi = max(hi, ${P}[2u * p + 1u]);
  }
  ${workgroupReduce("min", "lo", "mn", wg)}
  ${workgroupReduce("max", "hi", "mx", wg)}
  if (lid.x == 0u) {
    let scale = fdiv_(mx - mn, 255.0);
    let z = -fdiv_(mn, scale);
    var zp = 0.0;
    if (scale != 0.0 && !${isNaN32("z")}) { zp = round(clamp(z, 0.0, 255.0)); }
    ${T}[0] = scale;
    ${T}[1] = zp;
    ${S}[0] = scale;
    ${Z}[0] = i32(zp);
  }
}
`,
    entryPoint: "main",
    bindings: b.list,
    dispatch: [1, 1, 1],
    temporaries: [{ name: temp, elements: 2 }],
  };
  const apply = withDivision(copyKernel({
    name: "DynamicQuantizeLinear",
    nodes: [ctx.node.name],
    dims: [n],
    out: y,
    value: (kb) => {
      const K = kb.read(temp, "f32");
      return {
        code: `let scale = ${K}[0];\n  let q = round(fdiv_(${kb.read(x.name, "f32")}[i], scale)) + ${K}[1];`,
        expr: `select(i32(clamp(q, 0.0, 255.0)), 0i, scale == 0.0 || ${isNaN32("q")})`,
      };
    },
  }));
  return { kind: "kernels", kernels: [partials, withDivision(stats), apply] };
}

registerLowerings("", {
  QuantizeLinear: { lower: quantize },
  DequantizeLinear: { lower: dequantize },
  DynamicQuantizeLinear: { lower: dynamicQuantize },
});
