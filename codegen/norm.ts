/**
 * Normalizations: LayerNormalization (optional Mean and InvStdDev outputs), RMSNormalization and
 * ONNX Runtime's SimplifiedLayerNormalization (one workgroup per row, mean and variance reduced
 * in workgroup memory in two passes), InstanceNormalization (rows are (n, c) planes), and
 * BatchNormalization in inference mode and LpNormalization (one thread per element).
 * @module
 */
import { sizeOf } from "../ir/tensor.ts";
import { toNumbers } from "../ir/tensor.ts";
import { leafLoad } from "./fusion.ts";
import { requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, normAxis, registerLowerings, type TensorInfo } from "./lowering.ts";
import { rowKernel, rowLoop, rowMeanVar, rowWorkgroup, trailingRows } from "./rows.ts";
import { Bindings, broadcastOffset, f32Lit, workgroupReduce } from "./wgsl.ts";
import { copyKernel } from "./layout.ts";

function requireF32(t: TensorInfo): void {
  if (requireStorage(t.dtype) !== "f32") unsupported(`'${t.name}' must be float32`);
}

/** `param[j]` broadcast over the normalized dims (`j` the flat index within the row). */
function paramAt(ctx: LowerCtx, b: Bindings, i: number, normDims: readonly number[]): string | undefined {
  if (!ctx.hasInput(i)) return undefined;
  const p = ctx.input(i);
  requireF32(p);
  const c = ctx.constant(i);
  if (c && c.size === 1) return f32Lit(toNumbers(c)[0]);
  return `${b.read(p.name, "f32")}[${broadcastOffset(p.dims, normDims, "j")}]`;
}

function layerNorm(rms: boolean) {
  return (ctx: LowerCtx): Lowered => {
    const x = ctx.input(0), y = ctx.output(0);
    requireF32(x);
    const axis = normAxis(ctx.attrs.attrInt("axis", -1), x.dims.length);
    const eps = ctx.attrs.attrFloat("epsilon", 1e-5);
    const layout = trailingRows(x.dims, axis);
    const normDims = x.dims.slice(axis);
    const wg = rowWorkgroup(layout.len);
    const b = new Bindings();
    const X = b.read(x.name, "f32");
    const scale = paramAt(ctx, b, 1, normDims);
    const bias = rms ? undefined : paramAt(ctx, b, 2, normDims);
    const Y = b.write(y.name, "f32");
    const D = f32Lit(layout.len);
    let v = rms ? `${X}[at] * inv` : `(${X}[at] - mean) * inv`;
    if (scale) v = `${v} * ${scale}`;
    if (bias) v = `${v} + ${bias}`;
    const stats: string[] = [];
    const meanOut = !rms && ctx.hasOutput(1) ? b.write(ctx.output(1).name, "f32") : undefined;
    const invOut = ctx.hasOutput(rms ? 1 : 2) ? b.write(ctx.output(rms ? 1 : 2).name, "f32") : undefined;
    if (meanOut) stats.push(`${meanOut}[row] = mean;`);
    if (invOut) stats.push(`${invOut}[row] = inv;`);
    const body = rms
      ? `var s = 0.0;
  ${rowLoop(layout, wg, `let t = ${X}[at]; s = s + t * t;`)}
  ${workgroupReduce("sum", "s", "ss", wg)}
  let inv = inverseSqrt(ss / ${D} + ${f32Lit(eps)});
  ${rowLoop(layout, wg, `${Y}[at] = ${v};`)}
  if (lid.x == 0u) { ${stats.join(" ")} }`
      : `${rowMeanVar((body) => rowLoop(layout, wg, body), X, layout.len, wg)}
  let inv = inverseSqrt(qq / ${D} + ${f32Lit(eps)});
  ${rowLoop(layout, wg, `${Y}[at] = ${v};`)}
  if (lid.x == 0u) { ${stats.join(" ")} }`;
    return {
      kind: "kernels",
      kernels: [rowKernel({ name: ctx.node.opType, nodes: [ctx.node.name], layout, wg, b, body })],
    };
  };
}

function instanceNorm(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  const C = x.dims[1];
  const eps = ctx.attrs.attrFloat("epsilon", 1e-5);
  const layout = trailingRows(x.dims, 2);
  const wg = rowWorkgroup(layout.len);
  const b = new Bindings();
  const X = b.read(x.name, "f32");
  const S = b.read(ctx.input(1).name, "f32"), B = b.read(ctx.input(2).name, "f32");
  const Y = b.write(y.name, "f32");
  const D = f32Lit(layout.len);
  const body = `${rowMeanVar((body) => rowLoop(layout, wg, body), X, layout.len, wg)}
  let inv = inverseSqrt(qq / ${D} + ${f32Lit(eps)});
  let c = row % ${C}u;
  let sc = ${S}[c] * inv;
  let sh = ${B}[c] - mean * sc;
  ${rowLoop(layout, wg, `${Y}[at] = ${X}[at] * sc + sh;`)}`;
  return {
    kind: "kernels",
    kernels: [rowKernel({ name: "InstanceNormalization", nodes: [ctx.node.name], layout, wg, b, body })],
  };
}

function batchNorm(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  if (ctx.attrs.attrInt("training_mode", 0) !== 0 || ctx.node.outputs.filter((o) => o !== "").length > 1) {
    unsupported("training mode is not supported");
  }
  const eps = ctx.attrs.attrFloat("epsilon", 1e-5);
  const C = x.dims[1] ?? 1;
  const inner = sizeOf(x.dims.slice(2));
  const chan = [1, 2, 3, 4].map((i) => ctx.input(i));
  for (const t of chan) requireF32(t);
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "BatchNormalization",
      nodes: [ctx.node.name],
      dims: x.dims,
      out: y,
      value: (b) => {
        const k = (i: number) =>
          leafLoad(b, chan[i], [C], "c", (n) => (n === chan[i].name ? ctx.constant(i + 1) : undefined));
        return {
          code: `let c = ${inner === 1 ? "i" : `(i / ${inner}u)`} % ${C}u;`,
          expr: `(${b.read(x.name, "f32")}[i] - ${k(2)}) * (${k(0)} * inverseSqrt(${k(3)} + ${f32Lit(eps)})) + ${k(1)}`,
        };
      },
    })],
  };
}

function lpNorm(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), y = ctx.output(0);
  requireF32(x);
  const p = ctx.attrs.attrInt("p", 2);
  if (p !== 1 && p !== 2) unsupported(`p must be 1 or 2, is ${p}`);
  if (x.dims.length === 0) unsupported("a scalar input is not supported");
  const axis = normAxis(ctx.attrs.attrInt("axis", -1), x.dims.length);
  const n = x.dims[axis], inner = sizeOf(x.dims.slice(axis + 1));
  return {
    kind: "kernels",
    kernels: [copyKernel({
      name: "LpNormalization",
      nodes: [ctx.node.name],
      dims: x.dims,
      out: y,
      value: (b, c) => {
        const X = b.read(x.name, "f32");
        return {
          code: `let base = i - ${c[axis]} * ${inner}u;
  var s = 0.0;
  for (var k = 0u; k < ${n}u; k = k + 1u) { let v = ${X}[base + k * ${inner}u]; s = s + ${
            p === 1 ? "abs(v)" : "v * v"
          }; }
  let norm = ${p === 1 ? "s" : "sqrt(s)"};`,
          expr: `select(${X}[i] / norm, 0.0, norm == 0.0)`,
        };
      },
    })],
  };
}

registerLowerings("", {
  LpNormalization: { lower: lpNorm },
  LayerNormalization: { lower: layerNorm(false) },
  RMSNormalization: { lower: layerNorm(true) },
  SimplifiedLayerNormalization: { lower: layerNorm(true) },
  InstanceNormalization: { lower: instanceNorm },
  BatchNormalization: { lower: batchNorm },
});
