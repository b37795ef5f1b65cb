/**
 * ConvTranspose (1-D and 2-D; strides, dilations, pads, output_padding, output_shape, auto_pad,
 * groups) with bias, taking an elementwise epilogue: one thread per output element gathering
 * the inputs whose strided taps land on it (no scatter, so no atomics).
 * @module
 */
import { sizeOf } from "../ir/tensor.ts";
import { helperSource } from "./fusion.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type Epilogue, type LowerCtx, type Lowered, plainEpilogue, registerLowerings } from "./lowering.ts";
import { Bindings, grid, mainHeader } from "./wgsl.ts";

/** Begin pads of each spatial axis, as the reference computes them. */
function padBegin(ctx: LowerCtx, inSizes: number[], outSizes: number[], kernel: number[]): number[] {
  const n = inSizes.length;
  const strides = ctx.attrs.attrInts("strides", new Array(n).fill(1));
  const dil = ctx.attrs.attrInts("dilations", new Array(n).fill(1));
  const pads = ctx.attrs.attrInts("pads", new Array(2 * n).fill(0));
  const outPad = ctx.attrs.attrInts("output_padding", new Array(n).fill(0));
  const autoPad = ctx.attrs.attrString("auto_pad", "NOTSET");
  const explicitShape = ctx.attrs.hasAttr("output_shape");
  return inSizes.map((len, i) => {
    const full = strides[i] * (len - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1;
    if (explicitShape || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      const total = full - outSizes[i];
      const half = Math.floor(total / 2);
      return autoPad === "SAME_UPPER" ? half : total - half;
    }
    return autoPad === "VALID" ? 0 : pads[i];
  });
}

function lowerConvTranspose(ctx: LowerCtx): Lowered {
  for (const i of [0, 1]) if (requireStorage(ctx.input(i).dtype) !== "f32") unsupported(`input ${i} must be float32`);
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  const nsp = x.dims.length - 2;
  if (nsp < 1 || nsp > 2) unsupported(`${nsp}-D transposed convolution is not supported`);
  const group = ctx.attrs.attrInt("group", 1);
  const kernel = ctx.attrs.attrInts("kernel_shape", w.dims.slice(2));
  const two = (v: number[], fill: number): number[] => (nsp === 1 ? [fill, v[0]] : v);
  const [H, W] = two(x.dims.slice(2), 1), [OH, OW] = two(y.dims.slice(2), 1);
  const [KH, KW] = two(kernel, 1);
  const [sh, sw] = two(ctx.attrs.attrInts("strides", new Array(nsp).fill(1)), 1);
  const [dh, dw] = two(ctx.attrs.attrInts("dilations", new Array(nsp).fill(1)), 1);
  const [ph, pw] = two(padBegin(ctx, x.dims.slice(2), y.dims.slice(2), kernel), 0);
  const C = x.dims[1], OC = y.dims[1];
  const ICg = C / group, OCg = OC / group;
  if (w.dims[0] !== C || w.dims[1] !== OCg) unsupported("weight shape does not match the groups");
  const bias = ctx.hasInput(2) ? ctx.input(2) : undefined;
  const build = (epi: Epilogue | undefined): KernelSpec => {
    epi ??= plainEpilogue(y);
    const b = new Bindings();
    const X = b.read(x.name, "f32"), Wt = b.read(w.name, "f32");
    const B = bias ? b.read(bias.name, "f32") : undefined;
    const n = sizeOf(y.dims);
    const g = grid(n, 64);
    const e = epi.emit(b, "idx", B ? `acc + ${B}[oc]` : "acc");
    const out = b.write(epi.out.name, "f32");
    // tap (kh, kw) of input (ih, iw) lands on oh = ih·sh + kh·dh − ph: gather the ones that hit
    const axis = (o: string, k: string, s: number, d: number, p: number, len: number, v: string) =>
      `let t${v} = i32(${o}) + ${p} - i32(${k} * ${d}u);
        if (t${v} < 0 || t${v} % ${s} != 0) { continue; }
        let ${v} = u32(t${v} / ${s});
        if (${v} >= ${len}u) { continue; }`;
    const wgsl = `${b.decls}
${helperSource(e.helpers)}
${mainHeader(64)} {
  let idx = ${g.index};
  if (idx >= ${n}u) { return; }
  let ow = idx % ${OW}u;
  let oh = (idx / ${OW}u) % ${OH}u;
  let oc = (idx / ${OH * OW}u) % ${OC}u;
  let nb = idx / ${OH * OW * OC}u;
  let grp = oc / ${OCg}u;
  let ocg = oc % ${OCg}u;
  var acc = 0.0;
  for (var icg = 0u; icg < ${ICg}u; icg = icg + 1u) {
    let ic = grp * ${ICg}u + icg;
    for (var kh = 0u; kh < ${KH}u; kh = kh + 1u) {
      for (var kw = 0u; kw < ${KW}u; kw = kw + 1u) {
        ${axis("oh", "kh", sh, dh, ph, H, "ih")}
        ${axis("ow", "kw", sw, dw, pw, W, "iw")}
        acc = fma(${X}[((nb * ${C}u + ic) * ${H}u + ih) * ${W}u + iw], ${Wt}[((ic * ${OCg}u + ocg) * ${KH}u + kh) * ${KW}u + kw], acc);
      }
    }
  }
  ${e.code}
  ${out}[idx] = ${e.result};
}
`;
    return {
      name: ["ConvTranspose", ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
    };
  };
  return { kind: "gemm", build };
}

registerLowerings("", { ConvTranspose: { lower: lowerConvTranspose } });
