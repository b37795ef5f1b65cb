/**
 * Arithmetic on dimensions that may be symbolic.
 *
 * A symbolic dim is a monomial string `c*a*b` (coefficient first when ≠ 1, atoms sorted) so
 * that products and exact quotients of shapes (`Reshape` with -1, head split and merge)
 * simplify: `dimDiv(dimMul("batch", "seq"), "seq") === "batch"`. Sums and quotients that do
 * not simplify become parenthesized atoms. Equal strings mean equal dims; different strings
 * may still be equal at run time.
 * @module
 */
import type { Dim } from "./types.ts";

interface Monomial {
  c: number;
  atoms: string[];
}

function parse(d: Dim): Monomial {
  if (typeof d === "number") return { c: d, atoms: [] };
  let c = 1;
  const atoms: string[] = [];
  for (const part of splitTop(d)) {
    if (/^-?\d+$/.test(part)) c *= Number(part);
    else atoms.push(part);
  }
  return { c, atoms };
}

/** Split at top-level `*` (not inside parentheses). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "*" && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function format(m: Monomial): Dim {
  if (m.atoms.length === 0 || m.c === 0) return m.c;
  const atoms = [...m.atoms].sort();
  return (m.c === 1 ? "" : `${m.c}*`) + atoms.join("*");
}

function atom(d: Dim): string {
  const s = String(d);
  return /^[A-Za-z_][\w.:]*$/.test(s) || /^\(.*\)$/.test(s) && balanced(s.slice(1, -1)) ? s : `(${s})`;
}

function balanced(s: string): boolean {
  let depth = 0;
  for (const ch of s) {
    if (ch === "(") depth++;
    else if (ch === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

/** True when the dim is a known number. */
export function isStatic(d: Dim | undefined): d is number {
  return typeof d === "number";
}

/** True when every dim of the shape is a known number. */
export function isStaticShape(s: readonly Dim[] | undefined): s is number[] {
  return s !== undefined && s.every((d) => typeof d === "number");
}

/** a × b */
export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a * b;
  const x = parse(a), y = parse(b);
  return format({ c: x.c * y.c, atoms: [...x.atoms, ...y.atoms] });
}

/** The product of dims (1 for none). */
export function dimProduct(dims: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of dims) p = dimMul(p, d);
  return p;
}

/** a / b when it divides exactly; a symbolic floor quotient otherwise. */
export function dimDiv(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return Math.floor(a / b);
  const x = parse(a), y = parse(b);
  const atoms = [...x.atoms];
  for (const t of y.atoms) {
    const i = atoms.indexOf(t);
    if (i < 0) return `(${a})/(${b})`.replace(/^\((\w+)\)\//, "$1/");
    atoms.splice(i, 1);
  }
  if (y.c === 0 || x.c % y.c !== 0) return `(${a})/(${b})`;
  return format({ c: x.c / y.c, atoms });
}

/** a + b */
export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  const x = parse(a), y = parse(b);
  if (x.atoms.length && [...x.atoms].sort().join("*") === [...y.atoms].sort().join("*")) {
    return format({ c: x.c + y.c, atoms: x.atoms });
  }
  return `(${atom(a)}+${atom(b)})`;
}

/** a − b */
export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (b === 0) return a;
  if (a === b) return 0;
  const x = parse(a), y = parse(b);
  if (x.atoms.length && [...x.atoms].sort().join("*") === [...y.atoms].sort().join("*")) {
    return format({ c: x.c - y.c, atoms: x.atoms });
  }
  return `(${atom(a)}-${atom(b)})`;
}

let fresh = 0;
/** A new symbolic dim for a size known only at run time (NonZero's count, Unique's length…). */
export function freshDim(prefix = "unk"): string {
  return `${prefix}__${++fresh}`;
}

/**
 * Numpy-style broadcast of shapes. Returns undefined when a shape is unknown; calls
 * `onError` (which should throw) when two known dims differ and neither is 1. A symbolic dim
 * against 1 keeps the symbol, against a number n > 1 gives n (a valid model has the symbol 1 or n);
 * two different symbols give a fresh dim, as ONNX leaves it open: `n` against `m` is `n` only
 * when `m` is 1 or `n`, so neither is true at every size.
 */
export function broadcastShapes(
  shapes: readonly (readonly Dim[] | undefined)[],
  onError: (msg: string) => never,
): Dim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = new Array(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s!.length;
    for (let i = 0; i < s!.length; i++) {
      const d = s![i], o = out[off + i];
      if (o === 1) out[off + i] = d;
      else if (d === 1 || d === o) continue;
      else if (typeof d === "number" && typeof o === "number") {
        onError(`cannot broadcast shapes ${shapes.map((x) => `[${x}]`).join(" and ")}`);
      } else if (typeof o === "string" && typeof d === "number") out[off + i] = d;
      else if (typeof o === "string" && typeof d === "string") out[off + i] = freshDim("bcast");
    }
  }
  return out;
}

/** Normalize a possibly negative axis into [0, rank); calls `onError` when out of range. */
export function normAxis(axis: number, rank: number, onError: (msg: string) => never): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) onError(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}
