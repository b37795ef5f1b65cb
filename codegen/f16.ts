/**
 * Half-precision storage (`--f16`): float32 tensors of the graph live on the GPU as f16 while every
 * kernel still computes in f32. Kernels are generated for f32 as usual; this pass then rewrites
 * each kernel's source so that the bindings of half values are declared `array<f16>` (or
 * `array<vecN<f16>>`), every load of them converts to f32 and every store converts back.
 *
 * Invariant: after the rewrite a kernel sees exactly the f32 values it saw before, rounded to f16
 * where they cross memory. Stores saturate to ±65504 (the f16 range) instead of overflowing to
 * infinity, so a mask of −3.4e38 stays a very negative finite number and never meets another
 * infinity in a subtraction; NaN stays NaN. Kernel-private buffers (split-K partial sums, tables)
 * are not graph values and stay f32.
 *
 * The `emulated` form keeps f32 buffers and rounds every store to the nearest f16 value with
 * integer arithmetic (core WGSL): the same values cross memory, on adapters without `shader-f16`
 * (llvmpipe), so the rewrite and the accuracy of half storage are tested where CI runs. It is
 * never faster; `run --f16` refuses an adapter without the feature instead of emulating.
 * @module
 */
import { type KernelSpec, unsupported } from "./kernel.ts";
import { declareSpecialFloats } from "./wgsl.ts";

/** The largest finite f16. */
export const F16_MAX = 65504;

const DECL = /@group\(0\) @binding\((\d+)\) var<storage, (read|read_write)> (\w+): array<(f32|vec[234]<f32>)>;/g;

/** Real f16 buffers, or f32 buffers whose stores are rounded to f16 values. */
export type HalfMode = "f16" | "emulated";

/**
 * How a value is held at half precision: the mode, and what a store past the f16 range gives —
 * ±65504 (`saturate`, float32 values under `--f16`) or ±infinity as an IEEE conversion does
 * (float16 values of the model).
 */
export interface HalfStore {
  mode: HalfMode;
  saturate: boolean;
}

interface HalfBinding {
  /** wraps a loaded value back to its f32 type */
  load: string;
  /** the store helper for a value of `n` components (n = 1: a scalar) */
  store(n: number): string;
}

/**
 * Round a finite f32 below 65520 in magnitude to the nearest f16 value (ties to even) with integer
 * arithmetic: a compiler may fold `unpack2x16float(pack2x16float(v))` into `v` (NVIDIA's does).
 * Below the f16 normal range the spacing is 2^-24, and `round` is ties-to-even.
 */
const ROUND_F16 = `fn h16round(v: f32) -> f32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) < 0x38800000u) { return round(v * 16777216.0) / 16777216.0; }
  return bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
}`;

/**
 * The store helper for `n` f32 components under `how`: rounds to the nearest f16, NaN stays NaN,
 * |v| ≥ 65520 (what IEEE rounds to infinity) gives ±65504 when saturating, else ±infinity
 * (an infinite input stays infinite either way). Classified by bits, so it holds even where the
 * compiler assumes no NaN; real f16 takes NaN and infinities from the hardware's conversion.
 * Returns the name and its WGSL (with the scalar helper it calls).
 */
function storeHelper(how: HalfStore, n: number): { name: string; source: string[] } {
  const real = how.mode === "f16";
  const T = real ? "f16" : "f32";
  const base = `h16${real ? "r" : "e"}${how.saturate ? "s" : "i"}`;
  if (n > 1) {
    const scalar = storeHelper(how, 1);
    const comps = ["x", "y", "z", "w"].slice(0, n).map((c) => `${base}(v.${c})`).join(", ");
    return {
      name: `${base}${n}`,
      source: [
        ...scalar.source,
        `fn ${base}${n}(v: vec${n}<f32>) -> vec${n}<${T}> { return vec${n}<${T}>(${comps}); }`,
      ],
    };
  }
  if (real) {
    // no non-finite f16 constant (a shader-creation error): a non-finite or overflowing f32 converts
    // at run time, which IEEE hardware does to ±infinity / NaN
    const over = how.saturate
      ? `select(f16(v), select(-f16(${F16_MAX}.0), f16(${F16_MAX}.0), v > 0.0), b < 0x7f800000u)`
      : "f16(v)";
    return {
      name: base,
      source: [`fn ${base}(v: f32) -> f16 {
  let b = bitcast<u32>(v) & 0x7fffffffu;
  if (b < 0x477ff000u) { return f16(clamp(v, -${F16_MAX}.0, ${F16_MAX}.0)); }
  return ${over};
}`],
    };
  }
  const conv = (x: string) => `h16round(${x})`;
  const inf = "bitcast<f32>(saturn_inf_bits)";
  const big = how.saturate ? `select(${conv(`${F16_MAX}.0`)}, ${inf}, b == 0x7f800000u)` : inf;
  return {
    name: base,
    source: [
      ROUND_F16,
      `fn ${base}(v: f32) -> f32 {
  let b = bitcast<u32>(v) & 0x7fffffffu;
  if (b > 0x7f800000u) { return v; }
  if (b < 0x477ff000u) { return ${conv(`clamp(v, -${F16_MAX}.0, ${F16_MAX}.0)`)}; }
  let m = ${big};
  return select(-m, m, v > 0.0);
}`,
    ],
  };
}

/** Index of the `]` (or `)`) closing the bracket opened at `open`. */
function closing(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === "[" || c === "(") depth++;
    else if (c === "]" || c === ")") {
      depth--;
      if (depth === 0) return i;
    }
  }
  unsupported("unbalanced brackets in a kernel's source");
}

/** Index of the `;` ending the statement that continues at `from` (outside brackets). */
function statementEnd(src: string, from: number): number {
  let depth = 0;
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (c === "[" || c === "(") depth++;
    else if (c === "]" || c === ")") depth--;
    else if (c === ";" && depth === 0) return i;
  }
  unsupported("a store without a terminating ';' in a kernel's source");
}

/** Rewrite every access of the half bindings in `src` (recursively inside index expressions). */
function rewriteAccesses(src: string, half: ReadonlyMap<string, HalfBinding>): string {
  const names = [...half.keys()];
  const re = new RegExp(`(&\\s*)?\\b(${names.join("|")})\\s*\\[`, "g");
  let out = "";
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    const m = re.exec(src);
    if (!m) break;
    if (m[1]) unsupported(`a pointer to the f16 buffer ${m[2]} (f16 storage cannot be used by this kernel)`);
    const h = half.get(m[2])!;
    const open = m.index + m[0].length - 1;
    const close = closing(src, open);
    const access = `${m[2]}[${rewriteAccesses(src.slice(open + 1, close), half)}]`;
    out += src.slice(at, m.index);
    // what follows the access: a component, then maybe an assignment
    const rest = src.slice(close + 1);
    const member = /^\s*\.\s*[xyzwrgba]+/.exec(rest)?.[0] ?? "";
    const assign = /^\s*(\+|-|\*|\/|%|&|\||\^|<<|>>)?=(?!=)/.exec(rest.slice(member.length));
    if (!assign) {
      out += `${h.load}(${access})${member}`;
      at = close + 1 + member.length;
      continue;
    }
    const rhsStart = close + 1 + member.length + assign[0].length;
    const end = statementEnd(src, rhsStart);
    const rhs = rewriteAccesses(src.slice(rhsStart, end), half).trim();
    const op = assign[1];
    const value = op ? `${h.load}(${access})${member} ${op} (${rhs})` : rhs;
    const width = member ? member.replace(/[\s.]/g, "").length : Number(/vec(\d)/.exec(h.load)?.[1] ?? 1);
    out += `${access}${member} = ${h.store(width)}(${value});`;
    at = end + 1;
  }
  return out + src.slice(at);
}

/**
 * A kernel whose bindings of the values in `half` hold f16 (mode "f16") or f32 rounded to f16
 * values ("emulated"); the kernel unchanged when it binds none of them.
 * @example
 * ```ts ignore
 * const k16 = halfStorageKernel(kernel, new Map([["hidden", { mode: "f16", saturate: true }]]));
 * ```
 */
export function halfStorageKernel(kernel: KernelSpec, half: ReadonlyMap<string, HalfStore>): KernelSpec {
  const bindings = new Map<string, HalfBinding>();
  const helpers = new Map<string, string[]>();
  let real = false;
  const wgsl = kernel.wgsl.replace(DECL, (decl, index: string, access: string, name: string, type: string) => {
    const b = kernel.bindings[Number(index)];
    const how = b && half.get(b.value);
    if (!how) return decl;
    const store = (n: number) => {
      const h = storeHelper(how, n);
      helpers.set(h.name, h.source);
      return h.name;
    };
    bindings.set(name, { load: type, store });
    if (how.mode === "emulated") return decl;
    real = true;
    return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${type.replace("f32", "f16")}>;`;
  });
  if (!bindings.size) return kernel;
  const body = rewriteAccesses(wgsl, bindings);
  const fns = [...new Set([...helpers.values()].flat())].join("\n");
  const enable = real && !/^\s*enable f16;/m.test(body) ? "enable f16;\n" : "";
  return { ...kernel, wgsl: declareSpecialFloats(`${enable}${body}\n${fns}\n`) };
}
