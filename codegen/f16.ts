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
 * The `emulated` form keeps f32 buffers and rounds every store to the nearest f16 through
 * `pack2x16float` (core WGSL): the same values cross memory, on adapters without `shader-f16`
 * (llvmpipe), so the rewrite and the accuracy of half storage are tested where CI runs. It is
 * never faster; `run --f16` refuses an adapter without the feature instead of emulating.
 * @module
 */
import { type KernelSpec, unsupported } from "./kernel.ts";

/** The largest finite f16. */
export const F16_MAX = 65504;

const DECL = /@group\(0\) @binding\((\d+)\) var<storage, (read|read_write)> (\w+): array<(f32|vec[234]<f32>)>;/g;

/** Real f16 buffers, or f32 buffers whose stores are rounded to f16 values. */
export type HalfMode = "f16" | "emulated";

interface HalfBinding {
  /** wraps a loaded value back to its f32 type */
  load: string;
  /** wraps an f32 value (clamped to the f16 range) to store it */
  store: string;
  /** wraps an f32 scalar (a component) to store it */
  storeScalar: string;
}

/** Helpers of the emulated form: round f32 scalars and vectors to the nearest f16 value. */
const ROUND_HELPERS = `fn f16r(v: f32) -> f32 { return unpack2x16float(pack2x16float(vec2<f32>(v, 0.0))).x; }
fn f16r2(v: vec2<f32>) -> vec2<f32> { return unpack2x16float(pack2x16float(v)); }
fn f16r3(v: vec3<f32>) -> vec3<f32> { return vec3<f32>(f16r2(v.xy), f16r(v.z)); }
fn f16r4(v: vec4<f32>) -> vec4<f32> { return vec4<f32>(f16r2(v.xy), f16r2(v.zw)); }`;

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
    const value = op ? `${h.load}(${access})${member} ${op} (${rhs})` : `(${rhs})`;
    const store = member ? h.storeScalar : h.store;
    const bound = member || h.load === "f32" ? `${F16_MAX}.0` : `${h.load}(${F16_MAX}.0)`;
    out += `${access}${member} = ${store}(clamp(${value}, -${bound}, ${bound}));`;
    at = end + 1;
  }
  return out + src.slice(at);
}

/**
 * A kernel whose bindings of the values in `half` hold f16 (`mode` "f16") or f32 rounded to f16
 * values ("emulated"); the kernel unchanged when it binds none of them.
 * @example
 * ```ts ignore
 * const k16 = halfStorageKernel(kernel, new Set(["hidden", "weight"]), "f16");
 * ```
 */
export function halfStorageKernel(kernel: KernelSpec, half: ReadonlySet<string>, mode: HalfMode): KernelSpec {
  const bindings = new Map<string, HalfBinding>();
  const wgsl = kernel.wgsl.replace(DECL, (decl, index: string, access: string, name: string, type: string) => {
    const b = kernel.bindings[Number(index)];
    if (!b || !half.has(b.value)) return decl;
    if (mode === "emulated") {
      const n = /vec(\d)/.exec(type)?.[1] ?? "";
      bindings.set(name, { load: type, store: `f16r${n}`, storeScalar: "f16r" });
      return decl;
    }
    const t16 = type.replace("f32", "f16");
    bindings.set(name, { load: type, store: t16, storeScalar: "f16" });
    return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${t16}>;`;
  });
  if (!bindings.size) return kernel;
  const body = rewriteAccesses(wgsl, bindings);
  if (mode === "emulated") return { ...kernel, wgsl: `${body}\n${ROUND_HELPERS}\n` };
  const enable = /^\s*enable f16;/m.test(body) ? "" : "enable f16;\n";
  return { ...kernel, wgsl: enable + body };
}
