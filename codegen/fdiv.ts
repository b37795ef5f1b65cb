/**
 * Correctly rounded f32 division in WGSL. WGSL lets `x / y` be off by 2.5 ulp (NVIDIA's is), but
 * quantization rounds quotients half to even, so one ulp moves a code at a tie; the reference
 * divides exactly. `fdiv_` divides the significands by shift-and-subtract (25 quotient bits and a
 * sticky remainder) and rounds to nearest even. Zeros, infinities, NaN, subnormal operands and
 * quotients outside the normal range fall back to the hardware's `x / y`.
 * @module
 */

/**
 * `wgsl` with `FDIV` defined once: kernels that bring it (quantization) may also fuse an expression
 * that asks for it (Mean) — a function defined twice is a shader-creation error.
 */
export function oneFdiv(wgsl: string): string {
  const at = wgsl.indexOf(FDIV);
  if (at < 0) return wgsl;
  const head = wgsl.slice(0, at + FDIV.length);
  return head + wgsl.slice(head.length).replaceAll(FDIV, "");
}

/** WGSL source of `fn fdiv_(x: f32, y: f32) -> f32`. */
export const FDIV = `fn fdiv_(x: f32, y: f32) -> f32 {
  let bx = bitcast<u32>(x); let by = bitcast<u32>(y);
  let ex = i32((bx >> 23u) & 0xffu); let ey = i32((by >> 23u) & 0xffu);
  if (ex == 0 || ex == 255 || ey == 0 || ey == 255) { return x / y; }
  var mx = (bx & 0x7fffffu) | 0x800000u;
  let my = (by & 0x7fffffu) | 0x800000u;
  var e = ex - ey + 127;
  if (mx < my) { mx = mx << 1u; e = e - 1; }
  var r = mx; var q = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    q = q << 1u;
    if (r >= my) { r = r - my; q = q | 1u; }
    r = r << 1u;
  }
  let half = (q & 1u) == 1u;
  q = q >> 1u;
  if (half && (r != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = q >> 1u; e = e + 1; }
  if (e <= 0 || e >= 255) { return x / y; }
  return bitcast<f32>(((bx ^ by) & 0x80000000u) | (u32(e) << 23u) | (q & 0x7fffffu));
}`;
