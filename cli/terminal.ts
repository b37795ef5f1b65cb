/**
 * Text for a terminal from text Saturn does not control. Names, op types, domains, metadata and
 * messages quoting them come from model and rule files, which may hold escape sequences (that clear
 * the screen, move the cursor, forge a line) or names of megabytes. Every line the CLI prints goes
 * through `terminalLine` (`cli/io.ts` applies it), and JSON output through `terminalJson`.
 *
 * Invariants of `terminalLine`'s result: no C0 control (newline and carriage return included), no
 * DEL, no C1 control, no line or paragraph separator, no bidirectional override or isolate and no
 * other invisible format character — each is shown as a visible escape (`\x1b`, `\n`, `\u202e`);
 * no run of more than `TOKEN_MAX` non-space characters and no more than `LINE_MAX` characters of
 * the input, the rest shown as `…(N more)`. Backslashes are kept as they are (paths on Windows),
 * so a name holding the four characters `\x1b` reads like one holding ESC: harmless, never forged.
 * @module
 */

/** The longest run of non-space characters printed whole; a longer name is cut after it. */
export const TOKEN_MAX = 200;
/** The most characters of one line printed; the rest is counted, not shown. */
export const LINE_MAX = 4096;

/** Characters that a terminal interprets or that hide text: controls, separators, bidi and format characters. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g");
/** What `JSON.stringify` leaves raw of `UNSAFE` (it escapes C0 controls inside strings; outside them, only its own newlines). */
const JSON_UNSAFE = /[\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;

const NAMED: Record<number, string> = { 0x09: "\\t", 0x0a: "\\n", 0x0d: "\\r" };

/** One unsafe character as a visible escape: `\n`, `\x1b`, `\u202e`. */
function escapeChar(c: number): string {
  return NAMED[c] ?? (c < 0x100 ? `\\x${c.toString(16).padStart(2, "0")}` : `\\u${c.toString(16).padStart(4, "0")}`);
}

/**
 * One line as it may be shown on a terminal: unsafe characters escaped, each run of non-space
 * characters cut after `TOKEN_MAX` characters and the line after `LINE_MAX` (counted in UTF-16
 * code units of the input), each cut marked `…(N more)`. A string of only safe, short words is
 * returned unchanged.
 * @param s a line that may hold text from a model or a file
 * @param tokenMax the longest run of non-space characters kept
 * @param lineMax the most input characters kept
 * @returns the line, safe to print
 * @example
 * ```ts
 * import { terminalLine } from "./terminal.ts";
 * if (terminalLine("x\x1b[2J\rsaturn: all good\n") !== "x\\x1b[2J\\rsaturn: all good\\n") throw new Error();
 * if (terminalLine("a".repeat(250)) !== "a".repeat(200) + "…(50 more)") throw new Error();
 * ```
 */
export function terminalLine(s: string, tokenMax: number = TOKEN_MAX, lineMax: number = LINE_MAX): string {
  if (s.length <= tokenMax && !UNSAFE.test(s)) return s;
  const parts: string[] = [];
  let kept = 0; // input characters kept
  let i = 0;
  while (i < s.length && kept < lineMax) {
    const room = lineMax - kept;
    // a run of spaces
    let j = i;
    while (j < s.length && j - i < room && s.charCodeAt(j) === 0x20) j++;
    if (j > i) {
      parts.push(s.slice(i, j));
      kept += j - i;
      i = j;
      continue;
    }
    // a token: up to the next space
    let end = s.indexOf(" ", i);
    if (end < 0) end = s.length;
    const len = end - i;
    if (len <= tokenMax && len <= room) {
      parts.push(escapeRun(s.slice(i, end)));
      kept += len;
      i = end;
    } else if (tokenMax < room) {
      const take = cutAt(s, i, tokenMax);
      parts.push(escapeRun(s.slice(i, i + take)), `…(${len - take} more)`);
      kept += take;
      i = end;
    } else {
      const take = cutAt(s, i, room);
      parts.push(escapeRun(s.slice(i, i + take)));
      kept += take;
      i += take;
      break;
    }
  }
  if (i < s.length) parts.push(`…(${s.length - i} more)`);
  return parts.join("");
}

function escapeRun(s: string): string {
  return s.replace(UNSAFE_ALL, (ch) => escapeChar(ch.charCodeAt(0)));
}

/** How many code units of `s` from `i` to keep, at most `n`, never splitting a surrogate pair. */
function cutAt(s: string, i: number, n: number): number {
  const c = s.charCodeAt(i + n - 1);
  return n > 1 && c >= 0xd800 && c <= 0xdbff ? n - 1 : n;
}

/**
 * JSON text as it may be shown on a terminal, denoting the same value: the characters that
 * `JSON.stringify` leaves raw but a terminal interprets or hides (DEL, C1 controls, line and
 * paragraph separators, bidi and format characters) become `\uXXXX` escapes. Nothing is cut:
 * machine output stays exact, however long a name is.
 * @param json text from `JSON.stringify` (any indentation)
 * @returns the same JSON value, in terminal-safe text
 * @example
 * ```ts
 * import { terminalJson } from "./terminal.ts";
 * const text = terminalJson(JSON.stringify({ name: "a\u009b2J\u202eb" }));
 * if (/[\u009b\u202e]/.test(text) || JSON.parse(text).name !== "a\u009b2J\u202eb") throw new Error();
 * ```
 */
export function terminalJson(json: string): string {
  // these can only stand inside strings, where \uXXXX means the same
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
