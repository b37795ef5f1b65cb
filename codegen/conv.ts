/**
 * Convolution (1-D and 2-D, any strides, dilations, pads or auto_pad, groups) with fused bias,
 * and ONNX Runtime's com.microsoft FusedConv (activation + optional sum input Z). Every variant
 * takes an elementwise epilogue.
 *
 * - implicit GEMM on the tiled core: per group, C[oc, p] = Σ_k W[oc, k]·X̂[k, p] with k over
 *   (ic, kh, kw) and p over (n, oh, ow); X̂ is gathered on the fly (no im2col buffer). A 1×1,
 *   stride-1, unpadded convolution reads X̂ straight from X (vec4 along p where aligned). On a
 *   hardware target, a 1×1 convolution of one image (any groups) or of one group (any images)
 *   runs on the fast generator instead (`gemm_spec.ts`), the bias, activation, Z and fused chain
 *   in its epilogue.
 * - direct: one thread per output element, for depthwise and few-output-channel groups, where a
 *   GEMM tile would be mostly empty.
 * @module
 */
import { planWindow, windowAttrs } from "../ir/ops/_conv_util.ts";
import { sizeOf } from "../ir/tensor.ts";
import { helperSource } from "./fusion.ts";
import { chooseTile, gemmKernel, type GemmSource } from "./gemm.ts";
import { tryFastGemm } from "./gemm_spec.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type Epilogue, type LowerCtx, type Lowered, plainEpilogue, registerLowerings } from "./lowering.ts";
import { Bindings, f32Lit, grid, mainHeader } from "./wgsl.ts";
import { keepNaN } from "./expr.ts";

/** A convolution's sizes, with 1-D seen as 2-D of height 1. */
export interface ConvShape {
  N: number;
  C: number;
  H: number;
  W: number;
  OC: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph: number;
  pw: number;
  group: number;
}

/**
 * The sizes of the convolution of node input 0 (X) by input `wIndex` (W, 1 unless given: QLinearConv's is 3)
 * into output 0; 1-D is seen as 2-D of height 1. Unsupported past 2-D or where channels and groups disagree.
 */
export function convShape(ctx: LowerCtx, wIndex = 1): ConvShape {
  const x = ctx.input(0), w = ctx.input(wIndex), y = ctx.output(0);
  const nsp = x.dims.length - 2;
  if (nsp < 1 || nsp > 2) unsupported(`${nsp}-D convolution is not supported`);
  const a = windowAttrs(ctx.attrs, nsp, w.dims.slice(2));
  const plan = planWindow(ctx.attrs, x.dims.slice(2), a);
  const two = <T>(v: T[], fill: T): T[] => (nsp === 1 ? [fill, v[0]] : v);
  const [H, W] = two(x.dims.slice(2), 1), [OH, OW] = two(y.dims.slice(2), 1);
  const [KH, KW] = two(a.kernel, 1), [sh, sw] = two(a.strides, 1), [dh, dw] = two(a.dilations, 1);
  const [ph, pw] = two(plan.padBegin, 0);
  const group = ctx.attrs.attrInt("group", 1);
  const [N, C] = x.dims, OC = w.dims[0];
  if (C % group !== 0 || OC % group !== 0 || w.dims[1] !== C / group) unsupported("channels do not match the groups");
  return { N, C, H, W, OC, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, group };
}

/**
 * WGSL of a FusedConv activation applied to `v` (needs the `sigmoid_`, `tanh_` and `isnan_`
 * helpers). NaN stays NaN, as in ONNX Runtime's FusedConv (comparisons alone would not keep it:
 * llvmpipe turns a select on a comparison into min/max).
 */
function activation(ctx: LowerCtx): ((v: string) => string) | undefined {
  const act = activationOf(ctx);
  return act && ((v) => keepNaN(act(v), v));
}

function activationOf(ctx: LowerCtx): ((v: string) => string) | undefined {
  if (ctx.node.domain !== "com.microsoft") return undefined;
  const name = ctx.attrs.attrString("activation", "");
  const p = ctx.attrs.attrFloats("activation_params", []);
  switch (name) {
    case "Relu":
      return (v) => `select(${v}, 0.0, ${v} < 0.0)`;
    case "Sigmoid":
      return (v) => `sigmoid_(${v})`;
    case "Tanh":
      return (v) => `tanh_(${v})`;
    case "LeakyRelu":
      return (v) => `select(${v}, ${f32Lit(p[0] ?? 0.01)} * ${v}, ${v} < 0.0)`;
    case "Clip":
      return (v) => `min(max(${v}, ${f32Lit(p[0] ?? -Infinity)}), ${f32Lit(p[1] ?? Infinity)})`;
    case "HardSigmoid":
      return (v) => `clamp(${f32Lit(p[0] ?? 0.2)} * ${v} + ${f32Lit(p[1] ?? 0.5)}, 0.0, 1.0)`;
    default:
      return unsupported(`activation '${name}'`);
  }
}

/**
 * WGSL of a direct convolution at flat output index `idx` (u32, in range): decodes (nb, oc, oh, ow),
 * then for every tap inside the image runs `step(x, w)` (a statement updating `acc`, which the caller
 * declares after this code's index lets) on the input element `x` and weight `w` read from
 * bindings `X` and `Wt`. Taps in the padding are skipped. `init` declares `acc`.
 */
export function directConvLoop(
  s: ConvShape,
  X: string,
  Wt: string,
  init: string,
  step: (x: string, w: string) => string,
): string {
  const ICg = s.C / s.group, OCg = s.OC / s.group, OHW = s.OH * s.OW, HW = s.H * s.W;
  return `let ow = idx % ${s.OW}u;
  let oh = (idx / ${s.OW}u) % ${s.OH}u;
  let oc = (idx / ${OHW}u) % ${s.OC}u;
  let nb = idx / ${OHW * s.OC}u;
  let grp = oc / ${OCg}u;
  ${init}
  for (var ic = 0u; ic < ${ICg}u; ic = ic + 1u) {
    let xBase = (nb * ${s.C}u + grp * ${ICg}u + ic) * ${HW}u;
    let wBase = (oc * ${ICg}u + ic) * ${s.KH * s.KW}u;
    for (var kh = 0u; kh < ${s.KH}u; kh = kh + 1u) {
      let ih = i32(oh * ${s.sh}u + kh * ${s.dh}u) - ${s.ph};
      if (ih < 0 || ih >= ${s.H}) { continue; }
      for (var kw = 0u; kw < ${s.KW}u; kw = kw + 1u) {
        let iw = i32(ow * ${s.sw}u + kw * ${s.dw}u) - ${s.pw};
        if (iw < 0 || iw >= ${s.W}) { continue; }
        ${step(`${X}[xBase + u32(ih) * ${s.W}u + u32(iw)]`, `${Wt}[wBase + kh * ${s.KW}u + kw]`)}
      }
    }
  }`;
}

/** Largest im2col matrix (bytes) a convolution may stage for gemm_fast; past it, the tiled kernel. */
const IM2COL_MAX_BYTES = 256 * 2 ** 20;

function lowerConv(ctx: LowerCtx): Lowered {
  for (const i of [0, 1]) if (requireStorage(ctx.input(i).dtype) !== "f32") unsupported(`input ${i} must be float32`);
  const s = convShape(ctx);
  const x = ctx.input(0), w = ctx.input(1), y = ctx.output(0);
  const bias = ctx.hasInput(2) ? ctx.input(2) : undefined;
  const z = ctx.node.domain === "com.microsoft" && ctx.hasInput(3) ? ctx.input(3) : undefined;
  if (z && sizeOf(z.dims) !== sizeOf(y.dims)) unsupported("Z must have the output's shape");
  const act = activation(ctx);
  const ICg = s.C / s.group, OCg = s.OC / s.group;
  const OHW = s.OH * s.OW, HW = s.H * s.W, K = ICg * s.KH * s.KW;
  const direct = OCg < 8;
  const label = ctx.node.domain ? "FusedConv" : "Conv";

  /** the epilogue after acc at (oc, idx): bias, Z, activation, then the fused chain */
  const finish = (b: Bindings, epi: Epilogue, oc: string) => {
    const B = bias ? b.read(bias.name, "f32") : undefined;
    const Z = z ? b.read(z.name, "f32") : undefined;
    let v = "acc";
    if (B) v = `${v} + ${B}[${oc}]`;
    if (Z) v = `${v} + ${Z}[idx]`;
    if (act) v = act(`(${v})`);
    const e = epi.emit(b, "idx", "c0");
    const out = b.write(epi.out.name, "f32");
    return {
      code: `let c0 = ${v};\n  ${e.code}\n  ${out}[idx] = ${e.result};`,
      helpers: [...e.helpers, ...(act ? ["sigmoid_", "tanh_", "isnan_"] : [])],
    };
  };

  const buildDirect = (epi: Epilogue): KernelSpec => {
    const b = new Bindings();
    const X = b.read(x.name, "f32"), Wt = b.read(w.name, "f32");
    const n = sizeOf(y.dims);
    const g = grid(n, 64);
    const tail = finish(b, epi, "oc");
    const wgsl = `${b.decls}
${helperSource(tail.helpers)}
${mainHeader(64)} {
  let idx = ${g.index};
  if (idx >= ${n}u) { return; }
  ${directConvLoop(s, X, Wt, "var acc = 0.0;", (xv, wv) => `acc = fma(${xv}, ${wv}, acc);`)}
  ${tail.code}
}
`;
    return {
      name: [label, ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: n === 0 ? [0, 1, 1] : g.dispatch,
    };
  };

  const pointwise = s.KH === 1 && s.KW === 1 && s.sh === 1 && s.sw === 1 && s.ph === 0 && s.pw === 0 &&
    s.OH === s.H && s.OW === s.W;
  /**
   * a 1×1 convolution on gemm_fast (hardware targets): per group (one image) or per image (one
   * group), out[bz, oc, p] = W[oc, :]·X[bz, :, p], with W and X read in place
   */
  const buildFast = (epi: Epilogue): KernelSpec[] | undefined => {
    const perGroup = s.N === 1;
    return tryFastGemm({
      params: {
        M: OCg,
        N: HW,
        K: ICg,
        batch: perGroup ? s.group : s.N,
        batchStrideA: perGroup ? OCg * ICg : 0,
        batchStrideB: perGroup ? ICg * HW : s.C * HW,
      },
      a: w.name,
      b: x.name,
      store: (b) => {
        const t = finish(b, epi, perGroup ? `(bz * ${OCg}u + m)` : "m");
        return {
          code: `let acc = v;\n  let idx = bz * ${OCg * HW}u + m * ${HW}u + n;\n  ${t.code}`,
          helpers: t.helpers,
        };
      },
      name: [label, ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      out: epi.out.name,
    });
  };

  /**
   * any other convolution on gemm_fast (hardware targets): an im2col kernel writes, per group, the
   * K × (N·OH·OW) matrix of input taps (zeros where the window leaves the padded image) into a
   * kernel-private temporary, then out[g] = W[g] · cols[g]. Skipped past `IM2COL_MAX_BYTES`.
   */
  const buildIm2col = (epi: Epilogue): KernelSpec[] | undefined => {
    const cols = s.N * OHW, elements = s.group * K * cols;
    if (elements * 4 > IM2COL_MAX_BYTES) return undefined;
    const temp = `${ctx.node.name || y.name}::im2col`;
    const name = [label, ...epi.ops].join("+");
    const gemm = tryFastGemm({
      params: { M: OCg, N: cols, K, batch: s.group, batchStrideA: OCg * K, batchStrideB: K * cols },
      a: w.name,
      b: temp,
      store: (b) => {
        const t = finish(b, epi, `(bz * ${OCg}u + m)`);
        return {
          code:
            `let acc = v;\n  let idx = ((n / ${OHW}u) * ${s.OC}u + bz * ${OCg}u + m) * ${OHW}u + n % ${OHW}u;\n  ${t.code}`,
          helpers: t.helpers,
        };
      },
      name,
      nodes: [ctx.node.name, ...epi.nodes],
      out: epi.out.name,
    });
    if (!gemm) return undefined;
    const b = new Bindings();
    const X = b.read(x.name, "f32"), T = b.write(temp, "f32");
    const g = grid(elements, 256);
    const wgsl = `${b.decls}
${mainHeader(256)} {
  let e = ${g.index};
  if (e >= ${elements}u) { return; }
  let grp = e / ${K * cols}u;
  let k = (e / ${cols}u) % ${K}u;
  let p = e % ${cols}u;
  let ic = grp * ${ICg}u + k / ${s.KH * s.KW}u;
  let r = k % ${s.KH * s.KW}u;
  let nb = p / ${OHW}u;
  let q = p % ${OHW}u;
  let ih = i32((q / ${s.OW}u) * ${s.sh}u + (r / ${s.KW}u) * ${s.dh}u) - ${s.ph};
  let iw = i32((q % ${s.OW}u) * ${s.sw}u + (r % ${s.KW}u) * ${s.dw}u) - ${s.pw};
  var v = 0.0;
  if (ih >= 0 && ih < ${s.H} && iw >= 0 && iw < ${s.W}) {
    v = ${X}[((nb * ${s.C}u + ic) * ${s.H}u + u32(ih)) * ${s.W}u + u32(iw)];
  }
  ${T}[e] = v;
}
`;
    const im2col: KernelSpec = {
      name: `${label}[im2col]`,
      nodes: [ctx.node.name],
      wgsl,
      entryPoint: "main",
      bindings: b.list,
      dispatch: g.dispatch,
      temporaries: [{ name: temp, elements }],
    };
    return [im2col, ...gemm];
  };

  const buildGemm = (epi: Epilogue): KernelSpec | KernelSpec[] => {
    if (!ctx.target.software && pointwise && (s.N === 1 || s.group === 1) && sizeOf(y.dims) > 0 && K > 0) {
      const fk = buildFast(epi);
      if (fk) return fk;
    }
    if (!ctx.target.software && !pointwise && sizeOf(y.dims) > 0 && K > 0) {
      const fk = buildIm2col(epi);
      if (fk) return fk;
    }
    const b = new Bindings();
    const Wt = b.read(w.name, K % 4 === 0 ? "vec4<f32>" : "f32");
    const vecX = pointwise && s.N === 1 && HW % 4 === 0;
    const X = b.read(x.name, vecX ? "vec4<f32>" : "f32");
    let loadB: (k: string, p: string) => string;
    let decls = "";
    if (pointwise) {
      loadB = s.N === 1
        ? (
          k,
          p,
        ) => (vecX ? `${X}[((xc0 + ${k}) * ${HW}u + ${p}) / 4u][${p} % 4u]` : `${X}[(xc0 + ${k}) * ${HW}u + ${p}]`)
        : (k, p) => `${X}[((${p} / ${HW}u) * ${s.C}u + xc0 + ${k}) * ${HW}u + ${p} % ${HW}u]`;
    } else {
      decls = `fn loadX(xc0: u32, k: u32, p: u32) -> f32 {
  let ic = k / ${s.KH * s.KW}u;
  let r = k % ${s.KH * s.KW}u;
  let kh = r / ${s.KW}u;
  let kw = r % ${s.KW}u;
  let nb = p / ${OHW}u;
  let q = p % ${OHW}u;
  let ih = i32((q / ${s.OW}u) * ${s.sh}u + kh * ${s.dh}u) - ${s.ph};
  let iw = i32((q % ${s.OW}u) * ${s.sw}u + kw * ${s.dw}u) - ${s.pw};
  if (ih < 0 || ih >= ${s.H} || iw < 0 || iw >= ${s.W}) { return 0.0; }
  return ${X}[((nb * ${s.C}u + xc0 + ic) * ${s.H}u + u32(ih)) * ${s.W}u + u32(iw)];
}`;
      loadB = (k, p) => `loadX(xc0, ${k}, ${p})`;
    }
    const helpers: string[] = [];
    const store = (m: string, p: string, v: string) => {
      const oc = `(batch * ${OCg}u + ${m})`;
      const t = finish(b, epi, oc);
      helpers.push(...t.helpers);
      return `let acc = ${v};
        let idx = ((${p} / ${OHW}u) * ${s.OC}u + ${oc}) * ${OHW}u + ${p} % ${OHW}u;
        ${t.code}`;
    };
    const src: GemmSource = {
      M: OCg,
      N: s.N * OHW,
      K,
      batch: s.group,
      decls,
      prelude: `let wBase = batch * ${OCg * K}u; let xc0 = batch * ${ICg}u;`,
      loadA: (m, k) => `${Wt}[wBase + ${m} * ${K}u + ${k}]`,
      loadA4: K % 4 === 0 ? (m, k) => `${Wt}[(wBase + ${m} * ${K}u + ${k}) / 4u]` : undefined,
      loadB,
      loadB4: vecX ? (k, p) => `${X}[((xc0 + ${k}) * ${HW}u + ${p}) / 4u]` : undefined,
      store,
    };
    const gk = gemmKernel(src, chooseTile(src.M, src.N, ctx.target));
    return {
      name: [label, ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      wgsl: `${b.decls}\n${helperSource(helpers)}\n${gk.wgsl}`,
      entryPoint: "main",
      bindings: b.list,
      dispatch: sizeOf(y.dims) === 0 ? [0, 1, 1] : gk.dispatch,
    };
  };
  return {
    kind: "gemm",
    build: (epi) => (direct ? buildDirect : buildGemm)(epi ?? plainEpilogue(y)),
  };
}

registerLowerings("", { Conv: { lower: lowerConv } });
registerLowerings("com.microsoft", { FusedConv: { lower: lowerConv } });
