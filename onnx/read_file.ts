/**
 * Reading whole files with one-line errors and no transient double copy. Regular files and
 * pipes are read; devices (`/dev/zero` would never end) are refused.
 * @module
 */
import { SaturnError } from "../errors.ts";

/** Read the bytes of a file, mapping OS errors to one-line SaturnErrors. */
export function readFileOrFail(file: string): Uint8Array {
  try {
    return readWhole(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new SaturnError("FILE_NOT_FOUND", `${file}: no such file`, file);
    if (e instanceof SaturnError) throw e;
    if (e instanceof Deno.errors.IsADirectory) {
      throw new SaturnError("FILE_UNREADABLE", `${file}: is a directory`, file);
    }
    throw new SaturnError("FILE_UNREADABLE", `${file}: cannot be read (${(e as Error).message})`, file);
  }
}

/**
 * Read a file into one buffer of its exact size, in chunks: `Deno.readFileSync` peaks at twice
 * the file size (it copies from a growable buffer), which a 300 MB model cannot afford.
 */
function readWhole(file: string): Uint8Array {
  const f = Deno.openSync(file, { read: true });
  try {
    const st = f.statSync();
    if (st.isDirectory) throw new Deno.errors.IsADirectory(file);
    if (st.isFifo || st.isSocket) return readStream(f, file);
    if (!st.isFile) throw new SaturnError("FILE_UNREADABLE", `${file}: is not a regular file`, file);
    const size = st.size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = f.readSync(buf.subarray(off, Math.min(size, off + (64 << 20))));
      if (n === null || n === 0) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    f.close();
  }
}

/** Largest stream (pipe) read whole: protobuf's 2 GiB limit; more is refused, never buffered. */
const MAX_STREAM = 2 ** 31;

/** A pipe (`<(cat model.onnx)`) has no size: read it to its end, up to `MAX_STREAM` bytes. */
function readStream(f: Deno.FsFile, file: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const buf = new Uint8Array(1 << 20);
    const n = f.readSync(buf);
    if (n === null || n === 0) break;
    total += n;
    if (total > MAX_STREAM) {
      throw new SaturnError("FILE_UNREADABLE", `${file}: the stream is longer than ${MAX_STREAM} bytes`, file);
    }
    chunks.push(buf.subarray(0, n));
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}
