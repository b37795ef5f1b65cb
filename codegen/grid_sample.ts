/**
 * GridSample (2-D and N-D; modes linear / nearest / cubic and their opset-16 names bilinear /
 * bicubic; padding_mode zeros / border / reflection; align_corners): one thread per output
 * element (n, c, p…). The grid is a run-time input, so the taps are computed in the kernel.
 *
 * Invariant: the kernel follows the reference (`ir/ops/grid.ts`) step by step, in f32 instead of
 * float64: per spatial dim, the grid value (the grid's last axis lists coordinates innermost
 * dim first) is unnormalized to a pixel coordinate (one `fma`, so a single rounding), padded
 * (border clamps, reflection folds; cubic pads each tap instead), and turned into taps — the
 * round-half-even pixel (nearest), the two neighbours (linear) or four with the A = −0.75 cubic
 * weights (cubic). The output sums weight · input over every combination of taps, in the
 * reference's order, skipping combinations with a tap outside the input or a zero weight.
 * @module
 */
import { gridMode } from "../ir/ops/grid.ts";
import type { RunContext } from "../ir/ops/run_context.ts";
import { sizeOf, stridesOf } from "../ir/tensor.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type LowerCtx, type Lowered, registerLowerings } from "./lowering.ts";
import { Bindings, f32Lit, grid, mainHeader } from "./wgsl.ts";

/** What selects a GridSample kernel: all static. */
export interface GridSampleConfig {
  mode: "linear" | "nearest" | "cubic";
  padding: "zeros" | "border" | "reflection";
  align: boolean;
  /** input dims (N, C, D1…Dr) */
  xDims: number[];
  /** output spatial dims (the grid's dims 1…r) */
  outSp: number[];
}

/** Round half to even, as the reference's `roundHalfEven`. */
const RNE = `fn rne_(v: f32) -> f32 {
  let f = floor(v);
  let d = v - f;
  if (d < 0.5) { return f; }
  if (d > 0.5) { return f + 1.0; }
  return f + (f - 2.0 * floor(f * 0.5));
}`;

/** A tap's index, or −1 when pixel `fi` is outside `[0, size)`. */
const TAP = `fn tap_(fi: f32, size: f32) -> i32 {
  return select(-1, i32(fi), fi >= 0.0 && fi < size);
}`;

/** The cubic convolution kernel (A = −0.75) at distance `x`; the taps of fraction t are at t+1, t, t−1, t−2. */
const CUBIC = `fn cubic_(x: f32) -> f32 {
  let a = abs(x);
  if (a <= 1.0) { return ((-0.75 + 2.0) * a - (-0.75 + 3.0)) * a * a + 1.0; }
  if (a < 2.0) { return ((-0.75 * a - 5.0 * -0.75) * a + 8.0 * -0.75) * a - 4.0 * -0.75; }
  return 0.0;
}`;

/** The padding function of a mode: border clamps into [0, size−1]; reflection folds, then clamps. */
function padFn(padding: GridSampleConfig["padding"], align: boolean): string {
  if (padding === "border") return `fn pad_(x: f32, size: f32) -> f32 { return clamp(x, 0.0, size - 1.0); }`;
  // reflect into [lo, lo + span]: with align_corners [0, size−1], else [−0.5, size − 0.5]
  const lo = align ? "0.0" : "-0.5", span = align ? "size - 1.0" : "size";
  return `fn pad_(x: f32, size: f32) -> f32 {
  let span = ${span};
  if (span == 0.0) { return 0.0; }
  let a = abs(x - ${lo});
  let q = floor(a / span);
  let e = a - q * span;
  let r = select(span - e + ${lo}, e + ${lo}, q % 2.0 == 0.0);
  return clamp(r, 0.0, size - 1.0);
}`;
}

/** Statements that fill `ti{d}` / `tw{d}` (tap indices, −1 when outside, and weights) of spatial dim `d`. */
function dimTaps(cfg: GridSampleConfig, G: string, d: number): string {
  const r = cfg.xDims.length - 2;
  const size = cfg.xDims[2 + d];
  const T = cfg.mode === "nearest" ? 1 : cfg.mode === "linear" ? 2 : 4;
  const sz = f32Lit(size);
  // unnormalize: (g+1)/2·(size−1) with align_corners, else ((g+1)·size − 1)/2
  const [mul, add] = cfg.align ? [(size - 1) / 2, (size - 1) / 2] : [size / 2, (size - 1) / 2];
  const lines = [
    `var ti${d}: array<i32, ${T}>;`,
    `var tw${d}: array<f32, ${T}>;`,
    `var x${d} = fma(${G}[gb + ${r - 1 - d}u], ${f32Lit(mul)}, ${f32Lit(add)});`,
  ];
  if (cfg.mode !== "cubic" && cfg.padding !== "zeros") lines.push(`x${d} = pad_(x${d}, ${sz});`);
  if (cfg.mode === "nearest") {
    lines.push(`ti${d}[0] = tap_(rne_(x${d}), ${sz});`, `tw${d}[0] = 1.0;`);
  } else if (cfg.mode === "linear") {
    lines.push(
      `let f${d} = floor(x${d});`,
      `let t${d} = x${d} - f${d};`,
      `ti${d}[0] = tap_(f${d}, ${sz});`,
      `tw${d}[0] = 1.0 - t${d};`,
      `ti${d}[1] = tap_(f${d} + 1.0, ${sz});`,
      `tw${d}[1] = t${d};`,
    );
  } else {
    const pad = (e: string) => (cfg.padding === "zeros" ? e : `floor(pad_(${e}, ${sz}) + 0.5)`);
    lines.push(`let f${d} = floor(x${d});`, `let t${d} = x${d} - f${d};`);
    for (let k = 0; k < 4; k++) {
      lines.push(`ti${d}[${k}] = tap_(${pad(`f${d} + ${f32Lit(k - 1)}`)}, ${sz});`);
      lines.push(`tw${d}[${k}] = cubic_(t${d} + ${f32Lit(1 - k)});`);
    }
  }
  return lines.join("\n  ");
}

/** The loops over every combination of taps, dim 0 outermost (the reference's summation order). */
function combine(cfg: GridSampleConfig, X: string): string {
  const r = cfg.xDims.length - 2;
  const T = cfg.mode === "nearest" ? 1 : cfg.mode === "linear" ? 2 : 4;
  const st = stridesOf(cfg.xDims.slice(2));
  let body = `if (w${r - 1} != 0.0) { acc = acc + w${r - 1} * ${X}[xb + o${r - 1}]; }`;
  for (let d = r - 1; d >= 0; d--) {
    const [w, o] = d === 0 ? ["", "0u"] : [`w${d - 1} * `, `o${d - 1}`];
    body = `for (var k${d} = 0u; k${d} < ${T}u; k${d} = k${d} + 1u) {
    let i${d} = ti${d}[k${d}];
    if (i${d} < 0) { continue; }
    let w${d} = ${w}tw${d}[k${d}];
    let o${d} = ${o} + u32(i${d}) * ${st[d]}u;
    ${body}
  }`;
  }
  return body;
}

/**
 * The kernel of a GridSample reading input `x` and grid `g` into `y`.
 * @param cfg the static shape and attributes
 * @param names the graph names of the input, the grid and the output, and the node's name
 * @returns one kernel, one thread per output element
 */
export function gridSampleKernel(
  cfg: GridSampleConfig,
  names: { x: string; grid: string; y: string; node: string },
): KernelSpec {
  const b = new Bindings();
  const X = b.read(names.x, "f32"), G = b.read(names.grid, "f32");
  const Y = b.write(names.y, "f32");
  const [N, C] = cfg.xDims;
  const r = cfg.xDims.length - 2;
  const P = sizeOf(cfg.outSp), S = sizeOf(cfg.xDims.slice(2));
  const n = N * C * P;
  // an empty output dispatches nothing; its divisors stay non-zero so that the source compiles
  const [Pd, Cd] = [Math.max(P, 1), Math.max(C, 1)];
  const wg = 256;
  const g = grid(n, wg);
  const taps = Array.from({ length: r }, (_, d) => dimTaps(cfg, G, d)).join("\n  ");
  const helpers = [TAP, cfg.mode === "nearest" ? RNE : "", cfg.mode === "cubic" ? CUBIC : ""];
  if (cfg.padding !== "zeros") helpers.push(padFn(cfg.padding, cfg.align));
  const wgsl = `${b.decls}
${helpers.filter((h) => h).join("\n")}
${mainHeader(wg)} {
  let i = ${g.index};
  if (i >= ${n}u) { return; }
  let p = i % ${Pd}u;
  let nc = i / ${Pd}u;
  let gb = ((nc / ${Cd}u) * ${Pd}u + p) * ${r}u;
  let xb = nc * ${S}u;
  ${taps}
  var acc = 0.0;
  ${combine(cfg, X)}
  ${Y}[i] = acc;
}
`;
  return {
    name: "GridSample",
    nodes: [names.node],
    wgsl,
    entryPoint: "main",
    bindings: b.list,
    dispatch: n ? g.dispatch : [0, 1, 1],
  };
}

function lowerGridSample(ctx: LowerCtx): Lowered {
  const x = ctx.input(0), gridIn = ctx.input(1), y = ctx.output(0);
  // gridMode reads only the attributes and opset that every NodeContext has
  const mode = gridMode(ctx.attrs as RunContext);
  const padding = ctx.attrs.attrString("padding_mode", "zeros");
  if (padding !== "zeros" && padding !== "border" && padding !== "reflection") {
    unsupported(`unknown padding_mode '${padding}'`);
  }
  const align = ctx.attrs.attrInt("align_corners", 0) !== 0;
  if (requireStorage(x.dtype) !== "f32") unsupported("input must be a float tensor");
  if (requireStorage(gridIn.dtype) !== "f32") unsupported("grid must be a float tensor");
  const r = x.dims.length - 2;
  if (r < 1) unsupported(`input must have rank 3 or more, is [${x.dims}]`);
  const gd = gridIn.dims;
  if (gd.length !== r + 2 || gd[0] !== x.dims[0] || gd[r + 1] !== r) {
    unsupported(`grid of shape [${gd}] does not fit input [${x.dims}]`);
  }
  const outSp = gd.slice(1, r + 1);
  if (y.dims.join() !== [x.dims[0], x.dims[1], ...outSp].join()) unsupported(`unexpected output shape [${y.dims}]`);
  if (sizeOf(y.dims) > 0 && x.dims.slice(2).some((d) => d === 0)) unsupported("cannot sample an empty input");
  const names = { x: x.name, grid: gridIn.name, y: y.name, node: ctx.node.name };
  return { kind: "kernels", kernels: [gridSampleKernel({ mode, padding, align, xDims: x.dims, outSp }, names)] };
}

registerLowerings("", { GridSample: { lower: lowerGridSample } });
