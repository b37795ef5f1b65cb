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

/**
 * The value of a dim at given sizes of its symbols: a number as is, a symbol by `sizes`, and an
 * expression that `dimAdd`/`dimSub`/`dimMul`/`dimDiv` built (`((h-(1))/(2))+(1)`, `2*b*seq`) by
 * evaluating it, `/` as their floor quotient. Undefined when a symbol has no size or the text is
 * not such an expression. Iterative (an explicit operator stack): the nesting of an expression
 * grows with the model's depth (a chain of strided convolutions nests one level each).
 * @param d the dim
 * @param sizes sizes of symbols by name
 * @returns the number, or undefined
 * @example
 * ```ts
 * import { evalDim } from "./dims.ts";
 * if (evalDim("((h-(1))/(2))+(1)", { h: 640 }) !== 320) throw new Error("a strided conv's output height");
 * if (evalDim("2*b*seq", { b: 3, seq: 5 }) !== 30) throw new Error("a monomial");
 * if (evalDim("(h+w)", { h: 1 }) !== undefined) throw new Error("w has no size");
 * ```
 */
export function evalDim(d: Dim, sizes: Readonly<Record<string, number>>): number | undefined {
  if (typeof d === "number") return d;
  if (Object.hasOwn(sizes, d)) return sizes[d];
  const prec: Record<string, number> = { "+": 1, "-": 1, "*": 2, "/": 2, "~": 3 };
  const vals: number[] = [], ops: string[] = [];
  const apply = (): boolean => {
    const op = ops.pop()!;
    if (op === "~") {
      if (!vals.length) return false;
      vals.push(-vals.pop()!);
      return true;
    }
    if (vals.length < 2) return false;
    const b = vals.pop()!, a = vals.pop()!;
    vals.push(op === "+" ? a + b : op === "-" ? a - b : op === "*" ? a * b : b === 0 ? NaN : Math.floor(a / b));
    return true;
  };
  let operand = true; // an operand (or a unary minus, or "(") is expected next
  for (let i = 0; i < d.length;) {
    const ch = d[i];
    if (ch === " ") {
      i++;
    } else if (ch === "(") {
      if (!operand) return undefined;
      ops.push(ch);
      i++;
    } else if (ch === ")") {
      if (operand) return undefined;
      while (ops.length && ops[ops.length - 1] !== "(") if (!apply()) return undefined;
      if (!ops.length) return undefined;
      ops.pop();
      i++;
    } else if ("+-*/".includes(ch)) {
      if (operand) {
        if (ch !== "-") return undefined;
        ops.push("~"); // unary minus (a negative coefficient)
      } else {
        while (ops.length && ops[ops.length - 1] !== "(" && prec[ops[ops.length - 1]] >= prec[ch]) {
          if (!apply()) return undefined;
        }
        ops.push(ch);
        operand = true;
      }
      i++;
    } else {
      if (!operand) return undefined;
      const token = /\d+|[A-Za-z_][\w.:]*/y;
      token.lastIndex = i;
      const m = token.exec(d);
      if (!m) return undefined;
      const tok = m[0];
      if (/^\d/.test(tok)) vals.push(Number(tok));
      else if (Object.hasOwn(sizes, tok)) vals.push(sizes[tok]);
      else return undefined;
      i += tok.length;
      operand = false;
    }
  }
  if (operand) return undefined;
  while (ops.length) if (ops[ops.length - 1] === "(" || !apply()) return undefined;
  return vals.length === 1 && Number.isFinite(vals[0]) ? vals[0] : undefined;
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
