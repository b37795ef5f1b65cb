/**
 * Dim names between the file and the IR. In the IR a symbolic dim is an expression string
 * (`ir/dims.ts`: `2*n` is a product, `12` a number, `(a+b)` an atom, `?__N` an unnamed dim and
 * `unk__N`-style names are minted by shape inference), while a file's `dim_param` is any
 * string. A name the IR would misread — one holding `*`, `(`, `)` or `%`, starting with `?`,
 * that looks like a number, or ending like a minted name (`__N`) — is escaped on load to
 * `%` + the name with those four characters percent-encoded, so it stays one opaque atom equal
 * only to itself; saving reverses it. Every other name passes through unchanged. The mapping
 * is a bijection on names, so dim_params round-trip exactly.
 * @module
 */

/** Whether the IR would read `p` as something other than one opaque name. */
function misread(p: string): boolean {
  return /[*()%]/.test(p) || p.startsWith("?") || /^-?\d+$/.test(p) || /__\d+$/.test(p);
}

/** The IR dim for a file's non-empty `dim_param`. */
export function dimFromParam(p: string): string {
  if (!misread(p)) return p;
  return "%" + p.replace(/[%*()]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The `dim_param` to write for a symbolic IR dim (not an unnamed `?` one). */
export function paramOfDim(d: string): string {
  if (!d.startsWith("%")) return d;
  return d.slice(1).replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}
