/**
 * Hostile ONNX files: dims with no value, duplicate and non-UTF-8 names, length prefixes past
 * 32 bits, external data that is not a regular file or is huge, negative dims and sparse
 * initializers. Each is either loaded right or refused with one typed SaturnError — never a
 * hang, never an internal error (exit 70).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import { graphModel, node, rand } from "./_models.ts";
import {
  DataType,
  encodeModel,
  loadOnnx,
  loadOnnxBytes,
  type Model,
  runModel,
  SaturnError,
  saveOnnx,
  Tensor,
  toNumbers,
} from "../mod.ts";
import { proto } from "../onnx/schema.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = Deno.makeTempDirSync({ prefix: "saturn-hostile-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const REAL = "/work/shared/real";

// deno-lint-ignore no-explicit-any
type Proto = any;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno run cli.ts …`, killed after `seconds` (a hang fails the test instead of blocking it). */
async function cli(seconds: number, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(root, "cli.ts"), ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(seconds * 1000),
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

/** A refusal through the CLI: exit 2, one line on stderr, no stack trace. */
function assertOneLine(r: Run, ...says: string[]): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  assert(lines[0].startsWith("saturn: "), lines[0]);
  for (const w of says) assert(lines[0].includes(w), `"${lines[0]}" does not mention ${w}`);
}

function write(name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  Deno.writeFileSync(f, bytes);
  return f;
}

/** y = Relu(x + w), x float[4], w an initializer. */
function tiny(): Model {
  return graphModel(
    [node("Add", ["x", "w"], ["s"]), node("Relu", ["s"], ["y"])],
    { x: [4] },
    ["y"],
    { w: new Tensor(DataType.FLOAT, [4], new Float32Array([1, -2, 3, -4])) },
  );
}

function decodeProto(bytes: Uint8Array): Proto {
  return proto.ModelProto.decode(bytes);
}

function encodeProto(p: Proto): Uint8Array {
  return proto.ModelProto.encode(p).finish();
}

/** A protobuf varint of `n` (any size). */
function varint(n: bigint): number[] {
  const out: number[] = [];
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Replace every occurrence of `from` in `bytes` by `to` (same length). */
function patch(bytes: Uint8Array, from: string, to: number[]): Uint8Array {
  const f = new TextEncoder().encode(from);
  assertEquals(f.length, to.length);
  const out = bytes.slice();
  let hits = 0;
  for (let i = 0; i + f.length <= out.length; i++) {
    if (f.every((b, k) => out[i + k] === b)) {
      out.set(to, i);
      hits++;
    }
  }
  assert(hits > 0, `'${from}' not found`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. dims with neither dim_value nor dim_param

/** x float[?, 4] (the first dim has neither field) → Relu → y float[?, 4]. */
function unnamedDimBytes(): Uint8Array {
  const p = decodeProto(encodeModel(tiny()).bytes);
  const dims = () => [{}, { dim_value: 4 }];
  p.graph.input[0].type.tensor_type.shape = { dim: dims() };
  p.graph.output[0].type = { tensor_type: { elem_type: 1, shape: { dim: dims() } } };
  p.graph.initializer[0].dims = [1];
  p.graph.initializer[0].raw_data = new Uint8Array(new Float32Array([0.5]).buffer);
  return encodeProto(p);
}

Deno.test("a dim with neither dim_value nor dim_param loads as an unnamed symbolic dim, not 0", () => {
  const m = loadOnnxBytes(unnamedDimBytes());
  const shape = m.graph.inputs[0].type?.kind === "tensor" ? m.graph.inputs[0].type.shape! : [];
  assertEquals(shape.length, 2);
  assert(typeof shape[0] === "string" && shape[0].startsWith("?"), `decoded as ${shape[0]}`);
  assertEquals(shape[1], 4);
  const out = m.graph.outputs[0].type?.kind === "tensor" ? m.graph.outputs[0].type.shape! : [];
  assert(out[0] !== shape[0], "two unnamed dims are never the same dim");
});

Deno.test("a dim with neither field re-encodes with neither field: the bytes round-trip exactly", () => {
  const bytes = unnamedDimBytes();
  const again = encodeModel(loadOnnxBytes(bytes)).bytes;
  assertEquals([...again], [...bytes]);
  const dim = decodeProto(again).graph.input[0].type.tensor_type.shape.dim[0];
  assertEquals(Object.keys(dim), [], "no dim_value, no dim_param");
});

Deno.test("inspect and optimize accept a model with an unnamed dim, and optimize writes no zero dims", async () => {
  const f = write("unnamed.onnx", unnamedDimBytes());
  const ins = await cli(60, "inspect", f);
  assertEquals(ins.code, 0, ins.stderr);
  const out = path.join(dir, "unnamed.opt.onnx");
  const opt = await cli(120, "optimize", f, "-o", out);
  assertEquals(opt.code, 0, opt.stderr);
  const dim = decodeProto(Deno.readFileSync(out)).graph.input[0].type.tensor_type.shape.dim[0];
  assertEquals(Object.keys(dim), [], `optimize wrote ${JSON.stringify(dim)}`);
});

function realModel(name: string): string | undefined {
  const f = path.join(REAL, name);
  try {
    Deno.statSync(f);
    return f;
  } catch {
    return undefined;
  }
}

Deno.test({
  name: "silero VAD (unnamed dims) inspects and optimizes without zero-sized inputs",
  ignore: realModel("silero_vad_v5.onnx") === undefined,
  async fn() {
    const f = realModel("silero_vad_v5.onnx")!;
    const ins = await cli(120, "inspect", f);
    assertEquals(ins.code, 0, ins.stderr);
    const out = path.join(dir, "silero.opt.onnx");
    const opt = await cli(300, "optimize", f, "-o", out);
    assertEquals(opt.code, 0, opt.stderr);
    for (const i of decodeProto(Deno.readFileSync(out)).graph.input) {
      for (const d of i.type.tensor_type.shape?.dim ?? []) {
        assert(d.value !== "dim_value" || d.dim_value.toNumber() !== 0, `input '${i.name}' has a 0 dim`);
      }
    }
  },
});

Deno.test("dim names the IR would misread (a number, a product, '?__1', 'unk__2') stay opaque names and round-trip", () => {
  const names = ["12", "2*n", "?__1", "unk__2", "%41", "(q)", "a)*(b", "batch"];
  const p = decodeProto(encodeModel(tiny()).bytes);
  p.graph.input[0].type.tensor_type.shape = { dim: [...names.map((n) => ({ dim_param: n })), {}] };
  const bytes = encodeProto(p);
  const m = loadOnnxBytes(bytes);
  const shape = m.graph.inputs[0].type?.kind === "tensor" ? m.graph.inputs[0].type.shape! : [];
  assert(shape.every((d) => typeof d === "string"), `some name became a number: ${shape}`);
  assertEquals(new Set(shape).size, shape.length, `two names became one dim: ${shape}`);
  assertEquals(shape[names.length - 1], "batch", "a plain name is kept as it is");
  assertEquals([...encodeModel(m).bytes], [...bytes]);
});

// ---------------------------------------------------------------------------------------------
// 2. duplicate names

Deno.test("two graph inputs with one name are refused with DUPLICATE_VALUE", async () => {
  const m = graphModel([node("Sub", ["a", "a"], ["y"])], { a: [2] }, ["y"]);
  m.graph.inputs.push({ name: "a", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [2] } });
  const f = write("dup_inputs.onnx", encodeModel(m).bytes);
  const e = assertThrows(() => loadOnnx(f), SaturnError);
  assertEquals(e.code, "DUPLICATE_VALUE");
  assert(e.message.includes("'a'") && e.message.includes("graph input"), e.message);
  assertOneLine(await cli(60, "inspect", f), "'a'");
});

Deno.test("a graph input with an initializer of the same name (a default value) still loads", () => {
  const m = tiny();
  m.graph.inputs.push({ name: "w", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [4] } });
  const back = loadOnnxBytes(encodeModel(m).bytes);
  assertEquals(back.graph.inputs.length, 2);
  assert(back.graph.initializers.has("w"));
});

Deno.test("two initializers with one name are refused, not one silently dropped", () => {
  const p = decodeProto(encodeModel(tiny()).bytes);
  const other = { ...p.graph.initializer[0], raw_data: new Uint8Array(16).fill(1) };
  p.graph.initializer.push(other);
  const e = assertThrows(() => loadOnnxBytes(encodeProto(p)), SaturnError);
  assertEquals(e.code, "DUPLICATE_VALUE");
  assert(e.message.includes("'w'"), e.message);
});

Deno.test("two nodes writing one value inside a subgraph are refused", () => {
  const body = graphModel(
    [node("Relu", ["x"], ["t"]), node("Neg", ["x"], ["t"])],
    {},
    ["t"],
  ).graph;
  body.inputs = [];
  const m = graphModel(
    [{
      name: "if",
      opType: "If",
      domain: "",
      inputs: ["c"],
      outputs: ["y"],
      attributes: [{ name: "then_branch", type: "graph", value: body }, {
        name: "else_branch",
        type: "graph",
        value: body,
      }],
    }],
    { c: [DataType.BOOL, []], x: [2] },
    ["y"],
  );
  const e = assertThrows(() => loadOnnxBytes(encodeModel(m).bytes), SaturnError);
  assertEquals(e.code, "DUPLICATE_VALUE");
});

Deno.test("names whose bytes are not valid UTF-8 are refused, never merged into one", async () => {
  // a − b over two inputs; their names differ only in a byte that is not UTF-8 (0xff vs 0xfe)
  const m = graphModel([node("Sub", ["in_A", "in_B"], ["y"])], { in_A: [2], in_B: [2] }, ["y"]);
  const bytes = patch(patch(encodeModel(m).bytes, "in_A", [0x69, 0x6e, 0x5f, 0xff]), "in_B", [0x69, 0x6e, 0x5f, 0xfe]);
  const e = assertThrows(() => loadOnnxBytes(bytes, { name: "bad_utf8.onnx" }), SaturnError);
  assertEquals(e.code, "NOT_ONNX");
  assert(e.message.includes("UTF-8") && e.message.startsWith("bad_utf8.onnx"), e.message);
  assertOneLine(await cli(60, "inspect", write("bad_utf8.onnx", bytes)), "UTF-8");
});

Deno.test("an attribute string that is not valid UTF-8 is refused naming the attribute", () => {
  const m = graphModel([node("Relu", ["x"], ["y"], [{ name: "note", type: "string", value: "Zz" }])], { x: [2] }, [
    "y",
  ]);
  const bytes = patch(encodeModel(m).bytes, "Zz", [0xc3, 0x28]);
  const e = assertThrows(() => loadOnnxBytes(bytes), SaturnError);
  assert(e.message.includes("'note'") && e.message.includes("UTF-8"), e.message);
});

Deno.test("names in any valid UTF-8 (accents, emoji, a leading BOM) round-trip exactly", () => {
  const names = ["é_x", "😀", "\uFEFFbom", "日本"];
  const m = graphModel(
    [node("Sum", names, ["y"])],
    Object.fromEntries(names.map((n) => [n, [2]])),
    ["y"],
  );
  const bytes = encodeModel(m).bytes;
  const back = loadOnnxBytes(bytes);
  assertEquals(back.graph.inputs.map((i) => i.name), names);
  assertEquals([...encodeModel(back).bytes], [...bytes]);
});

// ---------------------------------------------------------------------------------------------
// 3. length prefixes past 32 bits

Deno.test("a length prefix of 2^32 + 3 is refused, not wrapped around to 3", () => {
  const good = encodeModel(tiny()).bytes;
  // ModelProto.doc_string (field 6, wire type 2) whose length is 2^32 + 3, then 3 bytes
  for (const len of [varint(2n ** 32n + 3n), [0x83, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]]) {
    const bytes = concat(good, [0x32], len, [0x61, 0x62, 0x63]);
    const e = assertThrows(() => loadOnnxBytes(bytes, { name: "wrap.onnx" }), SaturnError);
    assert(e.code === "NOT_ONNX" || e.code === "TRUNCATED", e.code);
    assert(e.message.startsWith("wrap.onnx"), e.message);
  }
});

Deno.test("a nested message longer than the bytes left is refused", () => {
  const good = encodeModel(tiny()).bytes;
  // ModelProto.graph (field 7) claiming 2^31 bytes
  const e = assertThrows(() => loadOnnxBytes(concat(good, [0x3a], varint(2n ** 31n), [0x12, 0x00])), SaturnError);
  assert(e.code === "NOT_ONNX" || e.code === "TRUNCATED", e.code);
});

Deno.test("negative int32 values (ten-byte varints) still load", () => {
  const p = decodeProto(encodeModel(tiny()).bytes);
  p.graph.initializer.push({ name: "k", data_type: DataType.INT32, dims: [3], int32_data: [-1, -7, 2 ** 31 - 1] });
  p.graph.initializer.push({ name: "q", data_type: DataType.INT8, dims: [2], int32_data: [-128, -3] });
  const m = loadOnnxBytes(encodeProto(p));
  assertEquals([...toNumbers(m.graph.initializers.get("k")!)], [-1, -7, 2 ** 31 - 1]);
  assertEquals([...toNumbers(m.graph.initializers.get("q")!)], [-128, -3]);
});

// ---------------------------------------------------------------------------------------------
// 4. external data

/** tiny() with w as external data at `location`, [offset, +length). */
function externalModel(name: string, location: string, offset = 0, length = 16): string {
  const p = decodeProto(encodeModel(tiny()).bytes);
  const t = p.graph.initializer[0];
  delete t.raw_data;
  t.data_location = 1;
  t.external_data = [
    { key: "location", value: location },
    { key: "offset", value: String(offset) },
    { key: "length", value: String(length) },
  ];
  return write(name, encodeProto(p));
}

const W_BYTES = new Uint8Array(new Float32Array([1, -2, 3, -4]).buffer);

Deno.test("external data that is a FIFO is refused at once, never read (no hang)", async () => {
  const fifo = path.join(dir, "fifo.bin");
  const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert(mk.success, "mkfifo failed");
  const f = externalModel("fifo.onnx", "fifo.bin");
  const t0 = performance.now();
  const e = assertThrows(() => loadOnnx(f), SaturnError);
  assertEquals(e.code, "EXTERNAL_DATA");
  assert(e.message.includes("not a regular file"), e.message);
  assert(performance.now() - t0 < 5000, "took too long");
  assertOneLine(await cli(60, "inspect", f), "fifo.bin", "not a regular file");
});

Deno.test("external data that is a folder is refused", () => {
  Deno.mkdirSync(path.join(dir, "afolder"), { recursive: true });
  const e = assertThrows(() => loadOnnx(externalModel("folder.onnx", "afolder")), SaturnError);
  assertEquals(e.code, "EXTERNAL_DATA");
  assert(e.message.includes("not a regular file"), e.message);
});

Deno.test("external data through a link to a device is refused", () => {
  const link = path.join(dir, "zero.bin");
  try {
    Deno.symlinkSync("/dev/zero", link);
  } catch { /* exists */ }
  const e = assertThrows(() => loadOnnx(externalModel("dev.onnx", "zero.bin")), SaturnError);
  assertEquals(e.code, "EXTERNAL_DATA");
});

Deno.test("external data through a link to a file inside the folder loads", () => {
  const sub = path.join(dir, "linked");
  Deno.mkdirSync(sub, { recursive: true });
  Deno.writeFileSync(path.join(sub, "real.bin"), W_BYTES);
  try {
    Deno.symlinkSync("real.bin", path.join(sub, "alias.bin"));
  } catch { /* exists */ }
  const p = externalModel("linked.onnx", "alias.bin");
  Deno.renameSync(p, path.join(sub, "linked.onnx"));
  const m = loadOnnx(path.join(sub, "linked.onnx"));
  assertEquals([...toNumbers(m.graph.initializers.get("w")!)], [1, -2, 3, -4]);
});

Deno.test("external data whose length disagrees with the tensor's size is refused before reading", () => {
  write("short.bin", W_BYTES);
  const e = assertThrows(() => loadOnnx(externalModel("badlen.onnx", "short.bin", 0, 3 * 2 ** 30)), SaturnError);
  assertEquals(e.code, "BAD_TENSOR");
  const e2 = assertThrows(() => loadOnnx(externalModel("past_end.onnx", "short.bin", 8, 16)), SaturnError);
  assertEquals(e2.code, "EXTERNAL_DATA");
  assert(e2.message.includes("beyond the end"), e2.message);
});

Deno.test("external data is read by range: 16 bytes at the end of a 3 GiB file load at once", () => {
  const big = path.join(dir, "big.bin");
  const size = 3 * 2 ** 30;
  const f = Deno.openSync(big, { write: true, create: true, truncate: true });
  try {
    f.truncateSync(size); // sparse: takes no disk space
    f.seekSync(size - 16, Deno.SeekMode.Start);
    f.writeSync(W_BYTES);
  } finally {
    f.close();
  }
  const rss0 = Deno.memoryUsage().rss;
  const t0 = performance.now();
  const m = loadOnnx(externalModel("big.onnx", "big.bin", size - 16, 16));
  const ms = performance.now() - t0;
  const grew = Deno.memoryUsage().rss - rss0;
  assertEquals([...toNumbers(m.graph.initializers.get("w")!)], [1, -2, 3, -4]);
  assert(ms < 2000, `took ${ms.toFixed(0)} ms`);
  assert(grew < 256 * 2 ** 20, `memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
  Deno.removeSync(big);
});

Deno.test("external data written by saveOnnx loads back, each tensor exactly its bytes", () => {
  const m = graphModel([node("Add", ["x", "w"], ["y"])], { x: [64, 64] }, ["y"], { w: rand([64, 64], 3) });
  const sub = path.join(dir, "saved");
  Deno.mkdirSync(sub, { recursive: true });
  saveOnnx(m, path.join(sub, "m.onnx"), { externalData: { location: "m.bin", threshold: 16 } });
  const w = loadOnnx(path.join(sub, "m.onnx")).graph.initializers.get("w")!;
  assertEquals(w.raw!.byteLength, 64 * 64 * 4);
  assertEquals(toNumbers(w), toNumbers(m.graph.initializers.get("w")!));
});

// ---------------------------------------------------------------------------------------------
// 5. negative dims

function negativeDimBytes(): Uint8Array {
  const m = tiny();
  m.graph.valueInfo.push({ name: "s", type: { kind: "tensor", dtype: DataType.FLOAT, shape: [-3] } });
  m.graph.outputs[0].type = { kind: "tensor", dtype: DataType.FLOAT, shape: [-1] };
  return encodeModel(m).bytes;
}

Deno.test("a negative dim in a value_info or an output loads as an unknown dim", () => {
  const m = loadOnnxBytes(negativeDimBytes());
  for (const v of [m.graph.valueInfo[0], m.graph.outputs[0]]) {
    const shape = v.type?.kind === "tensor" ? v.type.shape! : [];
    assert(typeof shape[0] === "string" && shape[0].startsWith("?"), `'${v.name}' decoded as ${shape[0]}`);
  }
});

Deno.test("run and inspect on a model with negative dims in value_info do not crash", async () => {
  const f = write("negdim.onnx", negativeDimBytes());
  const inputs = path.join(dir, "negdim.json");
  Deno.writeTextFileSync(inputs, JSON.stringify({ x: [1, 2, 3, 4] }));
  const r = await cli(60, "run", f, "--backend", "ref", "--inputs", inputs);
  assertEquals(r.code, 0, r.stderr);
  const ins = await cli(60, "inspect", f);
  assertEquals(ins.code, 0, ins.stderr);
});

Deno.test("a negative dim in a graph input loads as unknown and runs", () => {
  const m = tiny();
  m.graph.inputs[0].type = { kind: "tensor", dtype: DataType.FLOAT, shape: [-1] };
  const back = loadOnnxBytes(encodeModel(m).bytes);
  const out = runModel(back, new Map([["x", new Tensor(DataType.FLOAT, [4], new Float32Array([1, 1, 1, 1]))]]));
  assertEquals([...toNumbers(out.get("y") as Tensor)], [2, 0, 4, 0]);
});

// ---------------------------------------------------------------------------------------------
// 6. sparse initializers

/** y = x + S, S a sparse float[2, 3] initializer with two values (indices flat or [NNZ, rank]). */
function sparseModel(coords: boolean): Uint8Array {
  const m = graphModel([node("Add", ["x", "S"], ["y"])], { x: [2, 3] }, ["y"]);
  m.graph.sparseInitializers.push({
    name: "S",
    dims: [2, 3],
    values: new Tensor(DataType.FLOAT, [2], new Float32Array([5, 7])),
    indices: coords
      ? new Tensor(DataType.INT64, [2, 2], new BigInt64Array([0n, 1n, 1n, 2n]))
      : new Tensor(DataType.INT64, [2], new BigInt64Array([1n, 5n])),
  });
  return encodeModel(m).bytes;
}

for (const coords of [false, true]) {
  const kind = coords ? "[NNZ, rank] indices" : "flat indices";
  Deno.test(`optimize on a model with a sparse initializer (${kind}) succeeds and keeps the result`, async () => {
    const f = write(`sparse_${coords}.onnx`, sparseModel(coords));
    const out = path.join(dir, `sparse_${coords}.opt.onnx`);
    const r = await cli(120, "optimize", f, "-o", out);
    assertEquals(r.code, 0, r.stderr);
    const x = new Tensor(DataType.FLOAT, [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
    const y = runModel(loadOnnx(out), new Map([["x", x]])).get("y") as Tensor;
    assertEquals([...toNumbers(y)], [1, 7, 3, 4, 5, 13]);
  });
}

Deno.test("a sparse initializer whose indices do not match its values is refused", () => {
  const m = graphModel([node("Add", ["x", "S"], ["y"])], { x: [2, 3] }, ["y"]);
  m.graph.sparseInitializers.push({
    name: "S",
    dims: [2, 3],
    values: new Tensor(DataType.FLOAT, [2], new Float32Array([5, 7])),
    indices: new Tensor(DataType.INT64, [3], new BigInt64Array([0n, 1n, 9n])),
  });
  const e = assertThrows(() => loadOnnxBytes(encodeModel(m).bytes), SaturnError);
  assertEquals(e.code, "BAD_TENSOR");
  assert(e.message.includes("'S'"), e.message);
});

Deno.test("a sparse initializer with an index out of range is refused", () => {
  const m = graphModel([node("Add", ["x", "S"], ["y"])], { x: [2, 3] }, ["y"]);
  m.graph.sparseInitializers.push({
    name: "S",
    dims: [2, 3],
    values: new Tensor(DataType.FLOAT, [1], new Float32Array([5])),
    indices: new Tensor(DataType.INT64, [1], new BigInt64Array([6n])),
  });
  const e = assertThrows(() => loadOnnxBytes(encodeModel(m).bytes), SaturnError);
  assertEquals(e.code, "BAD_TENSOR");
});

// ---------------------------------------------------------------------------------------------
// the model file itself

Deno.test("a model read from a pipe loads; a device as the model is refused in one line", async () => {
  const model = path.join(root, "examples", "bert_tiny.onnx");
  const out = await new Deno.Command("bash", {
    args: ["-c", `"$0" run -A "$1" inspect <(cat "$2")`, Deno.execPath(), path.join(root, "cli.ts"), model],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assert(new TextDecoder().decode(out.stdout).includes("inputs:"));
  assertOneLine(await cli(60, "inspect", "/dev/zero"), "/dev/zero", "not a regular file");
});
