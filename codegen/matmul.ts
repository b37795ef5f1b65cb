/**
 * MatMul (batched, batch dims broadcast; 1-D operands promoted as numpy does) and Gemm (transA,
 * transB, alpha, beta, C broadcast to [M, N]), each taking an elementwise epilogue. A MatMul whose
 * right operand has no batch (a weight) folds the left operand's batch into M, so
 * [1, 32, 128] × [128, 384] is one 32×384 GEMM.
 *
 * On a hardware target both run on the fast generator (`gemm_fast.ts` via `gemm_spec.ts`: tile and
 * split-K chosen per problem, the epilogue in its store hook). They fall back to the tiled core
 * (`gemm.ts`) on a software target (it compiles faster), for empty products, and for a MatMul whose
 * batch broadcast is not one stride per operand (e.g. [4, 1, ·, ·] × [1, 5, ·, ·]).
 * @module
 */
import { broadcastDims } from "../ir/ops/_broadcast.ts";
import { sizeOf } from "../ir/tensor.ts";
import { helperSource, leafLoad } from "./fusion.ts";
import { chooseTile, gemmKernel, type GemmSource } from "./gemm.ts";
import { tryFastGemm } from "./gemm_spec.ts";
import { type KernelSpec, requireStorage, unsupported } from "./kernel.ts";
import { type Epilogue, type LowerCtx, type Lowered, plainEpilogue, registerLowerings } from "./lowering.ts";
import { Bindings, broadcastOffset, f32Lit } from "./wgsl.ts";

function requireF32(ctx: LowerCtx, i: number): void {
  if (requireStorage(ctx.input(i).dtype) !== "f32") unsupported(`input ${i} must be float32`);
}

/** Finish a GEMM kernel: the epilogue (with `pre` applied to acc first) and the store at flat `idx`. */
function storeWith(
  b: Bindings,
  epi: Epilogue,
  idx: (m: string, n: string) => string,
  pre: (acc: string) => { code: string; value: string },
): { store: (m: string, n: string, v: string) => string; helpers: string[] } {
  const helpers: string[] = [];
  const store = (m: string, n: string, v: string) => {
    const p = pre(v);
    const e = epi.emit(b, "idx", p.value);
    helpers.push(...e.helpers);
    const out = b.write(epi.out.name, "f32");
    return `let idx = ${idx(m, n)};
        ${p.code}
        ${e.code}
        ${out}[idx] = ${e.result};`;
  };
  return { store, helpers };
}

/** The store body of a gemm_fast kernel: the epilogue of `v` at flat output index `idx`. */
function storeBody(b: Bindings, epi: Epilogue, idx: string, v: string, pre = ""): { code: string; helpers: string[] } {
  const e = epi.emit(b, "idx", v);
  const out = b.write(epi.out.name, "f32");
  return { code: `let idx = ${idx};\n  ${pre}\n  ${e.code}\n  ${out}[idx] = ${e.result};`, helpers: e.helpers };
}

function lowerMatMul(ctx: LowerCtx): Lowered {
  requireF32(ctx, 0);
  requireF32(ctx, 1);
  const a = ctx.input(0), bIn = ctx.input(1), y = ctx.output(0);
  const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bDims = bIn.dims.length === 1 ? [bIn.dims[0], 1] : bIn.dims;
  const M = aDims[aDims.length - 2], K = aDims[aDims.length - 1], N = bDims[bDims.length - 1];
  if (bDims[bDims.length - 2] !== K) unsupported(`inner dims differ: [${a.dims}] × [${bIn.dims}]`);
  const aBatch = aDims.slice(0, -2), bBatch = bDims.slice(0, -2);
  const outBatch = broadcastDims(aBatch, bBatch) ?? unsupported(`batch dims do not broadcast`);
  const foldBatch = bBatch.every((d) => d === 1);
  const batch = foldBatch ? 1 : sizeOf(outBatch);
  const Mx = foldBatch ? sizeOf(aBatch) * M : M;
  // gemm_fast: one batch stride per operand (0: broadcast to every batch)
  const stride = (d: number[], size: number): number | undefined => {
    if (sizeOf(d) === 1) return 0;
    const padded = [...Array(outBatch.length - d.length).fill(1), ...d];
    return padded.every((x, i) => x === outBatch[i]) ? size : undefined;
  };
  const sA = foldBatch ? M * K : stride(aBatch, M * K), sB = foldBatch ? K * N : stride(bBatch, K * N);
  const fast = !ctx.target.software && Mx * N * K * batch > 0 && sA !== undefined && sB !== undefined;
  const build = (epi: Epilogue | undefined): KernelSpec | KernelSpec[] => {
    epi ??= plainEpilogue(y);
    if (fast) {
      const e = epi;
      const fk = tryFastGemm({
        params: { M: Mx, N, K, batch, batchStrideA: sA, batchStrideB: sB },
        a: a.name,
        b: bIn.name,
        store: (b) => storeBody(b, e, `bz * ${Mx * N}u + m * ${N}u + n`, "v"),
        name: ["MatMul", ...e.ops].join("+"),
        nodes: [ctx.node.name, ...e.nodes],
        out: e.out.name,
      });
      if (fk) return fk;
    }
    const b = new Bindings();
    const A = b.read(a.name, K % 4 === 0 ? "vec4<f32>" : "f32");
    const B = b.read(bIn.name, N % 4 === 0 ? "vec4<f32>" : "f32");
    const prelude = foldBatch
      ? "let aBase = 0u; let bBase = 0u;"
      : `let aBase = (${broadcastOffset(aBatch, outBatch, "batch")}) * ${M * K}u; let bBase = (${
        broadcastOffset(bBatch, outBatch, "batch")
      }) * ${K * N}u;`;
    const { store, helpers } = storeWith(
      b,
      epi,
      (m, n) => (batch === 1 ? `${m} * ${N}u + ${n}` : `batch * ${Mx * N}u + ${m} * ${N}u + ${n}`),
      (acc) => ({ code: "", value: acc }),
    );
    const src: GemmSource = {
      M: Mx,
      N,
      K,
      batch,
      decls: "",
      prelude,
      loadA: (m, k) => `${A}[aBase + ${m} * ${K}u + ${k}]`,
      loadA4: K % 4 === 0 ? (m, k) => `${A}[(aBase + ${m} * ${K}u + ${k}) / 4u]` : undefined,
      loadB: (k, n) => `${B}[bBase + ${k} * ${N}u + ${n}]`,
      loadB4: N % 4 === 0 ? (k, n) => `${B}[(bBase + ${k} * ${N}u + ${n}) / 4u]` : undefined,
      store,
    };
    const g = gemmKernel(src, chooseTile(src.M, src.N, ctx.target));
    return {
      name: ["MatMul", ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      wgsl: `${b.decls}\n${helperSource(helpers)}\n${g.wgsl}`,
      entryPoint: "main",
      bindings: b.list,
      dispatch: sizeOf(y.dims) === 0 ? [0, 1, 1] : g.dispatch,
    };
  };
  return { kind: "gemm", build };
}

function lowerGemm(ctx: LowerCtx): Lowered {
  requireF32(ctx, 0);
  requireF32(ctx, 1);
  const a = ctx.input(0), bIn = ctx.input(1), y = ctx.output(0);
  if (a.dims.length !== 2 || bIn.dims.length !== 2) unsupported("A and B must be 2-D");
  const transA = ctx.attrs.attrInt("transA", 0) !== 0, transB = ctx.attrs.attrInt("transB", 0) !== 0;
  const alpha = ctx.attrs.attrFloat("alpha", 1), beta = ctx.attrs.attrFloat("beta", 1);
  const [M, K] = transA ? [a.dims[1], a.dims[0]] : a.dims;
  const N = transB ? bIn.dims[0] : bIn.dims[1];
  const c = ctx.hasInput(2) && beta !== 0 ? ctx.input(2) : undefined;
  if (c) requireF32(ctx, 2);
  const same = (d: number[], want: number[]) => d.length === want.length && d.every((x, i) => x === want[i]);
  // C as gemm_fast's bias where it is a row ([N], [1, N]) or the whole [M, N]; else in the epilogue
  const cBias = !c
    ? "none"
    : same(c.dims, [N]) || same(c.dims, [1, N])
    ? "row"
    : same(c.dims, [M, N])
    ? "full"
    : undefined;
  const build = (epi: Epilogue | undefined): KernelSpec | KernelSpec[] => {
    epi ??= plainEpilogue(y);
    if (!ctx.target.software && M * N * K > 0) {
      const e = epi;
      const fk = tryFastGemm({
        params: { M, N, K, transA, transB, alpha, beta, bias: cBias ?? "none" },
        a: a.name,
        b: bIn.name,
        c: cBias && cBias !== "none" ? c!.name : undefined,
        store: (b) => {
          if (cBias) return storeBody(b, e, `m * ${N}u + n`, "v");
          const cv = leafLoad(b, c!, [M, N], "idx", (n) => (n === c!.name ? ctx.constant(2) : undefined));
          return storeBody(b, e, `m * ${N}u + n`, "g", `let g = v + ${beta === 1 ? cv : `${f32Lit(beta)} * ${cv}`};`);
        },
        name: ["Gemm", ...e.ops].join("+"),
        nodes: [ctx.node.name, ...e.nodes],
        out: e.out.name,
      });
      if (fk) return fk;
    }
    const b = new Bindings();
    const vecA = !transA && K % 4 === 0, vecB = !transB && N % 4 === 0;
    const A = b.read(a.name, vecA ? "vec4<f32>" : "f32");
    const B = b.read(bIn.name, vecB ? "vec4<f32>" : "f32");
    const pre = (acc: string) => {
      let v = alpha === 1 ? acc : `${f32Lit(alpha)} * ${acc}`;
      if (c) {
        const cv = leafLoad(b, c, [M, N], "idx", (n) => (n === c.name ? ctx.constant(2) : undefined));
        v = `${v} + ${beta === 1 ? cv : `${f32Lit(beta)} * ${cv}`}`;
      }
      return { code: `let g = ${v};`, value: "g" };
    };
    const { store, helpers } = storeWith(b, epi, (m, n) => `${m} * ${N}u + ${n}`, pre);
    const src: GemmSource = {
      M,
      N,
      K,
      batch: 1,
      decls: "",
      prelude: "",
      loadA: transA ? (m, k) => `${A}[${k} * ${M}u + ${m}]` : (m, k) => `${A}[${m} * ${K}u + ${k}]`,
      loadA4: vecA ? (m, k) => `${A}[(${m} * ${K}u + ${k}) / 4u]` : undefined,
      aRowMajor: !transA,
      loadB: transB ? (k, n) => `${B}[${n} * ${K}u + ${k}]` : (k, n) => `${B}[${k} * ${N}u + ${n}]`,
      loadB4: vecB ? (k, n) => `${B}[(${k} * ${N}u + ${n}) / 4u]` : undefined,
      bRowMajor: !transB,
      store,
    };
    const g = gemmKernel(src, chooseTile(src.M, src.N, ctx.target));
    return {
      name: ["Gemm", ...epi.ops].join("+"),
      nodes: [ctx.node.name, ...epi.nodes],
      wgsl: `${b.decls}\n${helperSource(helpers)}\n${g.wgsl}`,
      entryPoint: "main",
      bindings: b.list,
      dispatch: M * N === 0 ? [0, 1, 1] : g.dispatch,
    };
  };
  return { kind: "gemm", build };
}

registerLowerings("", {
  MatMul: { lower: lowerMatMul },
  Gemm: { lower: lowerGemm },
});
