/**
 * External tensor data: reading it from files beside the model (never outside the model's
 * folder), and the policy for writing large initializers out of the protobuf.
 *
 * Reading is by range: each tensor's bytes, exactly, are read with one positioned read, so a
 * 16-byte tensor in a 3 GiB file costs 16 bytes. Only regular files are read: a FIFO, a device
 * or a folder is refused before any read, and the file is opened non-blocking and checked
 * again after opening, so that nothing swapped in between can block the load.
 * @module
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SaturnError } from "../errors.ts";
import type { ExternalReader } from "./tensor_proto.ts";

/** Largest single external tensor read (bytes): past it the read is refused, never attempted. */
const MAX_READ = 2 ** 40;

/**
 * A reader of external data relative to `modelDir`. Locations that are absolute or lead out of
 * the folder (`../x`, symlinks included: links are resolved first) are refused, as are files
 * that are not regular files and ranges past the file's end.
 */
export function externalReader(modelDir: string): ExternalReader {
  let realDir: string;
  try {
    realDir = Deno.realPathSync(modelDir);
  } catch {
    realDir = path.resolve(modelDir);
  }
  const resolved = new Map<string, string>(); // location → real path, checked
  const fail = (tensor: string, what: string): never => {
    throw new SaturnError("EXTERNAL_DATA", `tensor '${tensor}': ${what}`, tensor);
  };
  const resolve = (location: string, tensor: string): string => {
    const known = resolved.get(location);
    if (known) return known;
    if (
      path.isAbsolute(location) || location.split(/[\\/]/).includes("..") || location.includes("\0")
    ) {
      fail(tensor, `external data location '${location}' is outside the model's folder`);
    }
    let real = "";
    try {
      real = Deno.realPathSync(path.join(realDir, location));
    } catch {
      fail(tensor, `external data file '${location}' is missing`);
    }
    if (real !== realDir && !real.startsWith(realDir + path.sep)) {
      fail(tensor, `external data file '${location}' resolves outside the model's folder`);
    }
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.statSync(real);
    } catch (e) {
      fail(tensor, `external data file '${location}' cannot be read (${(e as Error).message})`);
    }
    if (!info!.isFile) fail(tensor, `external data '${location}' is not a regular file`);
    resolved.set(location, real);
    return real;
  };
  return (location, offset, length, tensor) => {
    const real = resolve(location, tensor);
    if (
      !Number.isSafeInteger(offset) || offset < 0 ||
      length !== undefined && (!Number.isSafeInteger(length) || length < 0 || length > MAX_READ)
    ) {
      fail(tensor, `external data [${offset}, +${length}) of '${location}' is not a valid range`);
    }
    let fd = -1;
    try {
      // non-blocking: opening a FIFO that replaced the file since the check above must not wait
      fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      fail(tensor, `external data file '${location}' cannot be opened (${(e as Error).message})`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) fail(tensor, `external data '${location}' is not a regular file`);
      const size = st.size;
      const n = length ?? size - Math.min(offset, size);
      if (offset + n > size) {
        fail(tensor, `external data [${offset}, +${n}) lies beyond the end of '${location}' (${size} bytes)`);
      }
      let buf: Uint8Array;
      try {
        buf = new Uint8Array(n);
      } catch {
        return fail(tensor, `external data of ${n} bytes in '${location}' cannot be held in memory`);
      }
      let done = 0;
      while (done < n) {
        const got = fs.readSync(fd, buf, done, Math.min(n - done, 1 << 30), offset + done);
        if (got <= 0) fail(tensor, `external data file '${location}' ended early (it changed while read)`);
        done += got;
      }
      return buf;
    } catch (e) {
      if (e instanceof SaturnError) throw e;
      return fail(tensor, `external data file '${location}' cannot be read (${(e as Error).message})`);
    } finally {
      fs.closeSync(fd);
    }
  };
}
