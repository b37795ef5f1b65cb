/**
 * Strict protobuf wire reading. protobufjs reads length prefixes (and tags) as 32-bit
 * varints that silently drop higher bits, so a length of 2^32 + 3 is read as 3 and a corrupt
 * file loads; it decodes strings that are not UTF-8 by guessing, so two distinct names can
 * come out equal; and a nested message may claim more bytes than its parent holds. After
 * `hardenReader` runs (once, when `schema.ts` loads):
 * - a length or tag varint beyond 32 bits throws `WireError` (int32 fields keep protobuf's
 *   sign-extended ten-byte form);
 * - a string field that is not valid UTF-8 throws `WireError`; a valid one decodes exactly
 *   (a leading BOM is kept);
 * - a nested message must end exactly where its length says, within the bytes left (past the
 *   end of the buffer is reported as truncation, "index out of range").
 * @module
 */
import protobuf from "protobufjs";

/** A malformed wire encoding, with the byte offset where it was found. */
export class WireError extends Error {
  /** Byte offset in the decoded buffer. */
  readonly offset: number;
  /**
   * @param message what is wrong
   * @param offset where, in bytes from the start of the buffer
   */
  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = "WireError";
    this.offset = offset;
  }
}

interface ReaderLike {
  buf: Uint8Array;
  pos: number;
  len: number;
  uint32(): number;
  bytes(): Uint8Array;
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
let hardened = false;

/** Install the strict reading described in the module doc into protobufjs (idempotent). */
export function hardenReader(types: Iterable<protobuf.Type>): void {
  if (hardened) return;
  hardened = true;
  const R = protobuf.Reader.prototype as unknown as ReaderLike & { int32(): number; string(): string };
  const loose = R.uint32;
  // int32 (and enums) are encoded sign-extended to ten bytes: keep protobufjs's reading for them
  R.int32 = function (this: ReaderLike): number {
    return loose.call(this) | 0;
  };
  R.uint32 = function (this: ReaderLike): number {
    const start = this.pos;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.len) throw new RangeError(`index out of range: ${this.pos} + 1 > ${this.len}`);
      const b = this.buf[this.pos++];
      if (i === 4) {
        if (b > 0x0f) throw new WireError("a length or tag varint exceeds 32 bits", start);
        return (value | b << 28) >>> 0;
      }
      value |= (b & 0x7f) << (7 * i);
      if (b < 0x80) return value >>> 0;
    }
    return value >>> 0; // unreachable
  };
  const readString = function (this: ReaderLike): string {
    const bytes = this.bytes();
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return bytes.length < 64 ? String.fromCharCode(...bytes) : fatalUtf8.decode(bytes);
    try {
      return fatalUtf8.decode(bytes);
    } catch {
      throw new WireError("a name or string is not valid UTF-8", this.pos - bytes.length);
    }
  };
  R.string = readString;
  (protobuf.BufferReader.prototype as unknown as { string(): string }).string = readString;
  for (const type of types) strictNesting(type);
}

/** Wrap a message type's decoder: a nested message must fit in, and end at, its length. */
function strictNesting(type: protobuf.Type): void {
  type.setup();
  const decode = type.decode.bind(type) as (r: ReaderLike | Uint8Array, l?: number) => protobuf.Message;
  type.decode = ((r: ReaderLike | Uint8Array, l?: number) => {
    if (l === undefined || r instanceof Uint8Array) return decode(r, l);
    const start = r.pos;
    const end = start + l;
    const m = decode(r, l); // throws first when what the claimed length covers is malformed
    // the file ends inside the message: truncated
    if (end > r.len) throw new RangeError(`index out of range: ${start} + ${l} > ${r.len}`);
    if (r.pos !== end) throw new WireError(`a nested ${type.name} overruns its length`, start);
    return m;
  }) as typeof type.decode;
}
