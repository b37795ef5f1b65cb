/**
 * Bad input never crashes: each broken model gives a typed SaturnError through the library,
 * and through the CLI one line naming the problem and where, exit code 2, no stack trace.
 */
import * as path from "node:path";
import { runCli } from "./_helpers.ts";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  encodeModel,
  inferModel,
  loadOnnx,
  loadOnnxBytes,
  type Model,
  SaturnError,
  type SaturnErrorCode,
  Tensor,
} from "../mod.ts";
import { rng } from "../verify/inputs.ts";
import { proto } from "../onnx/schema.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = Deno.makeTempDirSync({ prefix: "saturn-bad-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** x(float[4]) → Relu → y, with initializer w (float[4]) added to it. */
function tiny(): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      nodes: [
        { name: "add", opType: "Add", domain: "", inputs: ["x", "w"], outputs: ["s"], attributes: [] },
        { name: "relu", opType: "Relu", domain: "", inputs: ["s"], outputs: ["y"], attributes: [] },
      ],
      inputs: [{ name: "x", type: { kind: "tensor", dtype: 1, shape: [4] } }],
      outputs: [{ name: "y", type: { kind: "tensor", dtype: 1, shape: [4] } }],
      initializers: new Map([["w", new Tensor(1, [4], new Float32Array([1, 2, 3, 4]))]]),
      sparseInitializers: [],
      valueInfo: [],
    },
    metadataProps: [],
    trainingInfo: [],
    functions: [],
  };
}

function write(name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  Deno.writeFileSync(f, bytes);
  return f;
}

function writeModel(name: string, m: Model): string {
  return write(name, encodeModel(m).bytes);
}

/** The CLI run as a user runs it (`runCli`). */
const cli = runCli;

interface Case {
  name: string;
  make: () => string;
  code: SaturnErrorCode;
  /** words the message must contain (the problem and where) */
  says: string[];
}

const good = writeModel("good.onnx", tiny());
const goodBytes = Deno.readFileSync(good);

const cases: Case[] = [
  { name: "an empty file", make: () => write("empty.onnx", new Uint8Array()), code: "NOT_ONNX", says: ["empty"] },
  {
    name: "a truncated file",
    make: () => write("trunc.onnx", goodBytes.subarray(0, goodBytes.length - 7)),
    code: "TRUNCATED",
    says: ["truncated"],
  },
  {
    name: "a file that is not ONNX",
    make: () => write("text.onnx", new TextEncoder().encode("this is not a model, just some text\n")),
    code: "NOT_ONNX",
    says: ["not an ONNX model"],
  },
  {
    name: "a graph with a cycle",
    make: () => {
      const m = tiny();
      m.graph.nodes[0].inputs = ["x", "y"];
      m.graph.initializers.clear();
      return writeModel("cycle.onnx", m);
    },
    code: "GRAPH_CYCLE",
    says: ["cycle", "'add'", "'relu'"],
  },
  {
    name: "a node reading a value nobody produces",
    make: () => {
      const m = tiny();
      m.graph.nodes[1].inputs = ["ghost"];
      return writeModel("undef.onnx", m);
    },
    code: "UNDEFINED_VALUE",
    says: ["'relu'", "'ghost'"],
  },
  {
    name: "two nodes writing one value",
    make: () => {
      const m = tiny();
      m.graph.nodes[1].outputs = ["s"];
      m.graph.outputs = [{ name: "s" }];
      return writeModel("dup.onnx", m);
    },
    code: "DUPLICATE_VALUE",
    says: ["'s'", "'add'", "'relu'"],
  },
  {
    name: "two graph inputs with one name",
    make: () => {
      const m = tiny();
      m.graph.inputs.push({ ...m.graph.inputs[0] });
      return writeModel("dupin.onnx", m);
    },
    code: "DUPLICATE_VALUE",
    says: ["'x'", "graph input"],
  },
  {
    name: "a length prefix past 32 bits",
    // ModelProto.doc_string whose length varint is 2^32 + 1: read modulo 2^32 it would be 1
    make: () => write("wrap.onnx", new Uint8Array([...goodBytes, 0x32, 0x81, 0x80, 0x80, 0x80, 0x10, 0x61])),
    code: "NOT_ONNX",
    says: ["32 bits"],
  },
  {
    name: "an initializer whose bytes do not match its shape",
    make: () => {
      const m = tiny();
      m.graph.initializers.set("w", Tensor.fromRaw(1, [4], new Uint8Array(12)));
      return writeModel("badinit.onnx", m);
    },
    code: "BAD_TENSOR",
    says: ["'w'", "12 bytes", "16 expected"],
  },
  {
    name: "external data outside the model's folder",
    make: () => writeExternal("outside.onnx", "../../etc/passwd"),
    code: "EXTERNAL_DATA",
    says: ["'w'", "outside the model's folder"],
  },
  {
    name: "missing external data",
    make: () => writeExternal("missing.onnx", "nope.bin"),
    code: "EXTERNAL_DATA",
    says: ["'w'", "nope.bin", "missing"],
  },
  {
    name: "an absurd dimension",
    make: () => {
      const m = tiny();
      const bytes = encodeModel(m).bytes;
      // rewrite w's dims to 2^50 × 2^20 through the proto object
      // deno-lint-ignore no-explicit-any
      const p: any = proto.ModelProto.decode(bytes);
      p.graph.initializer[0].dims = [2 ** 50, 2 ** 20];
      return write("huge.onnx", proto.ModelProto.encode(p).finish());
    },
    code: "DIMENSION_TOO_LARGE",
    says: ["'w'", "dims"],
  },
  {
    name: "an IR version newer than supported",
    make: () => writeModel("ir99.onnx", { ...tiny(), irVersion: 99 }),
    code: "UNSUPPORTED_IR",
    says: ["IR version 99"],
  },
  {
    name: "an opset newer than supported",
    make: () => writeModel("opset99.onnx", { ...tiny(), opsetImports: [{ domain: "", version: 99 }] }),
    code: "UNSUPPORTED_OPSET",
    says: ["opset", "99"],
  },
  {
    name: "a file that does not exist",
    make: () => path.join(dir, "nothing-here.onnx"),
    code: "FILE_NOT_FOUND",
    says: ["nothing-here.onnx"],
  },
];

function writeExternal(name: string, location: string): string {
  // deno-lint-ignore no-explicit-any
  const p: any = proto.ModelProto.decode(goodBytes);
  const t = p.graph.initializer[0];
  t.raw_data = new Uint8Array();
  t.data_location = 1;
  t.external_data = [{ key: "location", value: location }, { key: "offset", value: "0" }, {
    key: "length",
    value: "16",
  }];
  return write(name, proto.ModelProto.encode(p).finish());
}

for (const c of cases) {
  Deno.test(`loadOnnx() refuses ${c.name} with a typed ${c.code} error`, () => {
    const file = c.make();
    const e = assertThrows(() => loadOnnx(file), SaturnError);
    assertEquals(e.code, c.code, e.message);
    for (const w of c.says) assert(e.message.includes(w), `"${e.message}" does not mention ${w}`);
  });

  Deno.test(`inspect on ${c.name} prints one line and exits 2`, async () => {
    const file = c.make();
    const r = await cli("inspect", file);
    assertEquals(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assert(lines[0].startsWith("saturn: "), lines[0]);
    assert(!/\bat .*:\d+:\d+/.test(r.stderr), "stack trace leaked");
    for (const w of c.says) assert(lines[0].includes(w), `"${lines[0]}" does not mention ${w}`);
    assertEquals(r.stdout, "");
  });
}

Deno.test("the good model of these tests loads (the cases above differ from it only in their fault)", () => {
  assertEquals(loadOnnx(good).graph.nodes.length, 2);
});

Deno.test("run with an op the reference lacks names the op and node, exit 2", async () => {
  const m = tiny();
  m.graph.nodes[1].opType = "NoSuchOp";
  const r = await cli("run", writeModel("unknown-op.onnx", m), "--backend", "ref");
  assertEquals(r.code, 2);
  assert(r.stderr.includes("NoSuchOp") && r.stderr.includes("'relu'"), r.stderr);
});

Deno.test("run rejects --inputs naming an input the model lacks, exit 2", async () => {
  const f = path.join(dir, "in.json");
  Deno.writeTextFileSync(f, JSON.stringify({ nope: [1, 2, 3, 4] }));
  const r = await cli("run", good, "--inputs", f);
  assertEquals(r.code, 2);
  assert(r.stderr.includes("'nope'"), r.stderr);
});

Deno.test("loadOnnx and inferModel on 300 randomly corrupted models raise only SaturnErrors", () => {
  const base = Deno.readFileSync(path.join(root, "examples", "bert_tiny.onnx"));
  const next = rng(7);
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    const b = base.slice();
    for (let j = 0; j < 1 + Math.floor(next() * 4); j++) b[Math.floor(next() * 40000)] = Math.floor(next() * 256);
    try {
      inferModel(loadOnnxBytes(b));
    } catch (e) {
      if (!(e instanceof SaturnError)) throw new Error(`mutation ${i}: ${(e as Error).stack}`);
      refused++;
    }
  }
  assert(refused > 0, "no corruption was detected at all");
});
