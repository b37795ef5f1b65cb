/**
 * Small pieces every WGSL generator uses: exact literals, the binding list of a kernel, 1-D
 * grids past the 65535-workgroup limit, and index arithmetic specialized to constant shapes
 * (flat index → coordinates, broadcast offsets with adjacent dims merged so that a bias over the
 * last axis costs one `%`).
 * @module
 */
import { stridesOf } from "../ir/tensor.ts";
import { type Binding, type ElemType, unsupported } from "./kernel.ts";

/** Most workgroups per dispatch dimension WebGPU guarantees. */
export const MAX_GROUPS = 65535;

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** An exact f32 literal (bit pattern for non-finite or subnormal values). */
export function f32Lit(v: number): string {
  f32buf[0] = v;
  const f = f32buf[0];
  if (!Number.isFinite(f) || (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) || Object.is(f, -0)) {
    return `bitcast<f32>(${u32buf[0]}u)`;
  }
  let s = f.toPrecision(9);
  if (!/[.e]/.test(s)) s += ".0";
  return `${s}f`;
}

/** An i32 literal; fails when `v` does not fit. */
export function i32Lit(v: number): string {
  if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) unsupported(`value ${v} does not fit in 32 bits`);
  return v === -2147483648 ? "i32(-2147483647 - 1)" : `${v}i`;
}

/** A u32 literal. */
export function u32Lit(v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 4294967295) unsupported(`value ${v} does not fit in u32`);
  return `${v}u`;
}

/** A literal of a storage type. */
export function literal(t: ElemType, v: number): string {
  return t === "f32" ? f32Lit(v) : t === "i32" ? i32Lit(Math.trunc(v)) : u32Lit(Math.trunc(v));
}

/** The bindings of one kernel, numbered in the order they are added. */
export class Bindings {
  readonly list: Binding[] = [];
  readonly #decls: string[] = [];
  readonly #names = new Map<string, string>();
  readonly #first: number;

  /** Bindings numbered from `first` (a kernel whose first bindings are declared elsewhere). */
  constructor(first = 0) {
    this.#first = first;
  }

  /** Bind `value` read-only as `array<type>`; the same value and type bind once. Returns the WGSL name. */
  read(value: string, type: string): string {
    const key = `r:${value}:${type}`;
    const known = this.#names.get(key);
    if (known) return known;
    const name = `in${this.#first + this.list.length}`;
    this.#add(value, "read", name, type, key);
    return name;
  }

  /** Bind `value` writable as `array<type>`. Returns the WGSL name. */
  write(value: string, type: string): string {
    const key = `w:${value}:${type}`;
    const known = this.#names.get(key);
    if (known) return known;
    const name = `out${this.#first + this.list.length}`;
    this.#add(value, "read_write", name, type, key);
    return name;
  }

  #add(value: string, access: Binding["access"], name: string, type: string, key: string): void {
    const i = this.#first + this.list.length;
    this.list.push({ value, access });
    this.#decls.push(`@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${type}>;`);
    this.#names.set(key, name);
  }

  /** The WGSL declarations of every binding. */
  get decls(): string {
    return this.#decls.join("\n");
  }
}

/** A 1-D grid of `n` invocations in workgroups of `wg`: the dispatch and the flat index expression. */
export function grid(n: number, wg: number): { dispatch: [number, number, number]; index: string } {
  const groups = Math.ceil(n / wg);
  if (groups <= MAX_GROUPS) return { dispatch: [groups, 1, 1], index: "gid.x" };
  const x = MAX_GROUPS;
  const y = Math.ceil(groups / x);
  if (y > MAX_GROUPS) unsupported(`${n} elements exceed one dispatch`);
  return { dispatch: [x, y, 1], index: `(gid.x + gid.y * ${x * wg}u)` };
}

/** A 1-D grid of workgroups (one per item): the dispatch and the item index expression over `wid`. */
export function groupGrid(n: number): { dispatch: [number, number, number]; index: string } {
  if (n <= MAX_GROUPS) return { dispatch: [n, 1, 1], index: "wid.x" };
  const y = Math.ceil(n / MAX_GROUPS);
  if (y > MAX_GROUPS) unsupported(`${n} workgroups exceed one dispatch`);
  return { dispatch: [MAX_GROUPS, y, 1], index: `(wid.x + wid.y * ${MAX_GROUPS}u)` };
}

/**
 * Statements that set `${prefix}0…` to the coordinates of flat index `idx` in `dims` (u32).
 * Size-1 dims get the constant 0; the outermost coordinate needs no `%`.
 */
export function coords(idx: string, dims: readonly number[], prefix: string): string {
  const st = stridesOf(dims);
  const lines: string[] = [];
  dims.forEach((d, i) => {
    let e: string;
    if (d === 1) e = "0u";
    else {
      e = st[i] === 1 ? idx : `(${idx} / ${st[i]}u)`;
      if (i > 0) e = `${e} % ${d}u`;
    }
    lines.push(`let ${prefix}${i} = ${e};`);
  });
  return lines.join("\n  ");
}

/** `Σ c_i·s_i` over the given coordinate expressions and strides, skipping zero strides. */
export function dot(cs: readonly string[], strides: readonly number[]): string {
  const terms: string[] = [];
  cs.forEach((c, i) => {
    if (strides[i] === 0 || c === "0u") return;
    terms.push(strides[i] === 1 ? c : `${c} * ${strides[i]}u`);
  });
  return terms.length ? terms.join(" + ") : "0u";
}

/**
 * The flat offset into a tensor of `inDims` that broadcasts (numpy rules) to the element at flat
 * index `idx` of `outDims`. Adjacent output dims that are both broadcast or both kept merge, so
 * equal shapes give `idx`, a trailing bias gives `idx % n`, and a scalar gives `0u`.
 */
export function broadcastOffset(inDims: readonly number[], outDims: readonly number[], idx: string): string {
  const rank = outDims.length;
  const off = rank - inDims.length;
  if (off < 0) throw new Error(`[${inDims}] does not broadcast to [${outDims}]`);
  // per output dim: is it kept in the input (size matches) or broadcast (input size 1 / absent)?
  const groups: { size: number; kept: boolean }[] = [];
  for (let i = 0; i < rank; i++) {
    const d = outDims[i];
    if (d === 1) continue;
    const din = i >= off ? inDims[i - off] : 1;
    if (din !== 1 && din !== d) throw new Error(`[${inDims}] does not broadcast to [${outDims}]`);
    const kept = din === d;
    const last = groups[groups.length - 1];
    if (last && last.kept === kept) last.size *= d;
    else groups.push({ size: d, kept });
  }
  if (!groups.some((g) => g.kept)) return "0u";
  if (groups.length === 1) return idx;
  // output strides of the merged groups, and input strides of the kept ones
  const outStr: number[] = new Array(groups.length);
  let acc = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    outStr[i] = acc;
    acc *= groups[i].size;
  }
  const inStr: number[] = new Array(groups.length).fill(0);
  acc = 1;
  for (let i = groups.length - 1; i >= 0; i--) {
    if (groups[i].kept) {
      inStr[i] = acc;
      acc *= groups[i].size;
    }
  }
  const terms: string[] = [];
  groups.forEach((g, i) => {
    if (!g.kept) return;
    let c = outStr[i] === 1 ? idx : `(${idx} / ${outStr[i]}u)`;
    if (i > 0) c = `(${c} % ${g.size}u)`;
    terms.push(inStr[i] === 1 ? c : `${c} * ${inStr[i]}u`);
  });
  return terms.join(" + ");
}

/** The WGSL header of a 1-D elementwise-style kernel: workgroup size and the global id. */
export function mainHeader(wg: number): string {
  return `@compute @workgroup_size(${wg})\nfn main(@builtin(global_invocation_id) gid: vec3<u32>)`;
}

/**
 * f32 `max(a, b)` or `min(a, b)` that is NaN when either is (as ONNX's reductions are): WGSL leaves
 * NaN in min and max to the implementation, and llvmpipe returns the other operand. The NaN test
 * reads bits, which no shader compiler folds away.
 */
export function nanMinMax(op: "max" | "min", a: string, b: string): string {
  const nan = (e: string) => `(bitcast<u32>(${e}) & 0x7fffffffu) > 0x7f800000u`;
  return `select(${op}(${a}, ${b}), bitcast<f32>(saturn_nan_bits), ${nan(a)} || ${nan(b)})`;
}

/**
 * Statements that combine `v` (of type `t`, f32 by default) across a workgroup of `wg` threads (a
 * power of two) through workgroup array `red` (declared by the caller as `array<t, wg>`), leaving the
 * result in `out`. f32 max and min are NaN when any element is (`nanMinMax`).
 */
export function workgroupReduce(
  op: "sum" | "max" | "min" | "prod",
  v: string,
  out: string,
  wg: number,
  t: "f32" | "i32" = "f32",
): string {
  const [x, y] = ["red[lid.x]", "red[lid.x + s]"];
  const minMax = (m: "max" | "min") => t === "f32" ? nanMinMax(m, x, y) : `${m}(${x}, ${y})`;
  const comb = op === "sum" ? `${x} + ${y}` : op === "prod" ? `${x} * ${y}` : minMax(op);
  return `red[lid.x] = ${v};
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { red[lid.x] = ${comb}; }
    workgroupBarrier();
  }
  let ${out} = red[0];
  workgroupBarrier();`;
}

/**
 * The most loop iterations one invocation may run over data whose size comes from the model.
 * llvmpipe stops an invocation's loops after 65,535 iterations counted over all its loops (nested
 * ones included — measured on Mesa 22.3), silently; this leaves room for the other loops of a
 * kernel (workgroup reductions, coordinates). Kernels whose work per thread grows with a tensor
 * split it across more invocations (partial reductions) or refuse past it.
 */
export const MAX_THREAD_TRIPS = 16_384;

/**
 * −∞ as an f32 expression. Kernels write ±∞ and NaN as `bitcast<f32>(saturn_inf_bits)`,
 * `bitcast<f32>(saturn_ninf_bits)` and `bitcast<f32>(saturn_nan_bits)`: WGSL makes a non-finite
 * constant expression a shader-creation error (Chromium's Tint refuses `bitcast<f32>(0xff800000u)`;
 * Deno's naga accepts it), so the bits live in module-scope private variables, which
 * `declareSpecialFloats` declares in every kernel that names them.
 */
export const NEG_INF = "bitcast<f32>(saturn_ninf_bits)";

const SPECIAL_FLOAT_BITS: readonly [string, string][] = [
  ["saturn_inf_bits", "0x7f800000u"],
  ["saturn_ninf_bits", "0xff800000u"],
  ["saturn_nan_bits", "0x7fc00000u"],
];

/**
 * `wgsl` with the private variables holding ±∞ and NaN bits declared, after its `enable`
 * directives, for those it names (see `NEG_INF`).
 * @param wgsl a kernel's module
 * @returns the module, declarations added
 * @example
 * ```ts
 * import { declareSpecialFloats, NEG_INF } from "./wgsl.ts";
 * const code = declareSpecialFloats(`enable f16;\nfn f() -> f32 { return ${NEG_INF}; }`);
 * if (!code.startsWith("enable f16;\nvar<private> saturn_ninf_bits: u32 = 0xff800000u;")) throw new Error(code);
 * ```
 */
export function declareSpecialFloats(wgsl: string): string {
  // idempotent: names already declared are left alone
  const decls = SPECIAL_FLOAT_BITS.filter(([name]) => wgsl.includes(name) && !wgsl.includes(`var<private> ${name}`))
    .map(([name, bits]) => `var<private> ${name}: u32 = ${bits};\n`).join("");
  if (!decls) return wgsl;
  const head = /^(\s*enable [^;]*;\s*)*/.exec(wgsl)![0];
  return head + decls + wgsl.slice(head.length);
}
