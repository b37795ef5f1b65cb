/**
 * The fast GEMM generator (`gemm_fast.ts`) as plan kernels: MatMul, Gemm and the 1×1 Conv use it
 * on hardware targets. The op's whole epilogue (Gemm's C, Conv's bias and activation, the
 * elementwise chain `fusion.ts` attached) runs per output element in gemm_fast's general epilogue
 * hook (`store_`), with its bindings after the GEMM's own. With split-K (`chooseSplitK`) the product
 * is two kernels: the partial sums go to a kernel-private temporary (`KernelSpec.temporaries`, a
 * value the memory planner allocates like an activation) that the second kernel reduces, applying
 * the epilogue.
 *
 * On a software target (llvmpipe) the lowerings keep `gemm.ts`, whose small k-step compiles fast.
 * @module
 */
import { helperSource } from "./fusion.ts";
import { chooseGemmTile, chooseSplitK, gemmKernel, type GemmParams } from "./gemm_fast.ts";
import { type Binding, type KernelSpec, UnsupportedError } from "./kernel.ts";
import { Bindings } from "./wgsl.ts";

/** A GEMM-like kernel for `fastGemmKernels`. */
export interface FastGemm {
  /** the product (no `epilogue`: `store` is it) */
  params: GemmParams;
  /** the values gemm_fast binds as "a", "b" and (with `params.bias`) "c" */
  a: string;
  b: string;
  c?: string;
  /**
   * the body of `fn store_(bz: u32, m: u32, n: u32, v: f32)`: statements storing the op's result at
   * out[bz, m, n] from `v` (the product after alpha, bias and ReLU), binding what it reads and
   * writes with `b`; must not redeclare `bz`, `m`, `n`, `v`
   */
  store: (b: Bindings) => { code: string; helpers: string[] };
  /** the kernel's label and the nodes it covers */
  name: string;
  nodes: string[];
  /** the value the kernel writes (names the split-K temporary) */
  out: string;
}

/**
 * The kernels of a GEMM on gemm_fast (the tile and split-K chosen for the problem): one, or the
 * split-K product and its reduction. Throws (a plain Error) where gemm_fast cannot take the
 * problem (empty, or past the dispatch limits): callers fall back to `gemm.ts`.
 */
export function fastGemmKernels(g: FastGemm): KernelSpec[] {
  const tile = chooseGemmTile(g.params);
  const splitK = chooseSplitK(g.params, tile);
  let tail: Binding[] = [];
  const k = gemmKernel({
    ...g.params,
    splitK,
    epilogue: (first) => {
      const b = new Bindings(first);
      const s = g.store(b);
      tail = b.list;
      return { decls: `${b.decls}\n${helperSource(s.helpers)}`, store: s.code };
    },
  }, tile);
  const temp = `${g.out}::splitK`;
  const bind = (names: string[], partial: Binding["access"]): Binding[] =>
    names.map((n) => {
      switch (n) {
        case "a":
          return { value: g.a, access: "read" };
        case "b":
          return { value: g.b, access: "read" };
        case "c":
          return { value: g.c!, access: "read" };
        case "partial":
          return { value: temp, access: partial };
        default:
          throw new Error(`fastGemmKernels: unexpected binding '${n}'`);
      }
    });
  if (!k.reduce) {
    return [{
      name: g.name,
      nodes: g.nodes,
      wgsl: k.code,
      entryPoint: k.entryPoint,
      bindings: [...bind(k.bindings, "read_write"), ...tail],
      dispatch: k.dispatch,
    }];
  }
  return [
    {
      name: `${g.name}[splitK ${k.splitK}]`,
      nodes: g.nodes,
      wgsl: k.code,
      entryPoint: k.entryPoint,
      bindings: bind(k.bindings, "read_write"),
      dispatch: k.dispatch,
      temporaries: [{ name: temp, elements: k.scratchBytes / 4 }],
    },
    {
      name: `${g.name}[reduce]`,
      nodes: g.nodes,
      wgsl: k.reduce.code,
      entryPoint: k.reduce.entryPoint,
      bindings: [...bind(k.reduce.bindings, "read"), ...tail],
      dispatch: k.reduce.dispatch,
    },
  ];
}

/** `fastGemmKernels`, or undefined where gemm_fast cannot take the problem (the caller falls back). */
export function tryFastGemm(g: FastGemm): KernelSpec[] | undefined {
  try {
    return fastGemmKernels(g);
  } catch (e) {
    if (e instanceof UnsupportedError) throw e;
    return undefined;
  }
}
