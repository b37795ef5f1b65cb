/**
 * `compile` as a user meets it: the module it writes for squeezenet1_1 runs in a separate Deno
 * process that imports nothing but that module, and gives ONNX Runtime's outputs.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { modelPath } from "./_helpers.ts";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { Tensor } from "../ir/tensor.ts";
import { compareTensors } from "../conformance/compare.ts";
import { DataType } from "../ir/dtype.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const adapter = await navigator.gpu?.requestAdapter().catch(() => null) ?? null;

Deno.test({
  name: "compile writes a standalone module for squeezenet1_1 that another Deno process runs to ONNX Runtime's outputs",
  ignore: adapter === null,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const file = modelPath("squeezenet1_1");
      const c = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", path.join(root, "cli.ts"), "compile", file, "-o", dir, "--json"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(c.code, 0, new TextDecoder().decode(c.stderr));
      const info = JSON.parse(new TextDecoder().decode(c.stdout));
      assert(info.kernels > 10, `only ${info.kernels} kernels`);
      // the module imports nothing: no import statements at all
      const src = Deno.readTextFileSync(path.join(dir, "squeezenet1_1.js"));
      assert(!/^\s*import\s/m.test(src) && !/\bimport\(/.test(src), "the compiled module must not import anything");
      const model = loadOnnx(file);
      const inputs = randomInputs(model, { seed: 4 });
      const x = inputs.get("input") as Tensor;
      Deno.writeFileSync(path.join(dir, "input.bin"), new Uint8Array((x.data as Float32Array).buffer));
      // a runner that imports only the compiled module, run with read/write permissions only
      Deno.writeTextFileSync(
        path.join(dir, "main.js"),
        `import { load } from "./squeezenet1_1.js";
const bytes = await Deno.readFile(new URL("./input.bin", import.meta.url));
const m = await load();
const out = await m.run({ input: { data: new Float32Array(bytes.buffer), dims: [1, 3, 224, 224] } });
const y = out[m.outputs[0].name];
await Deno.writeFile(new URL("./output.bin", import.meta.url), new Uint8Array(y.data.buffer));
m.destroy();
`,
      );
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "--allow-read", "--allow-write", path.join(dir, "main.js")],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
      const got = new Float32Array(Deno.readFileSync(path.join(dir, "output.bin")).buffer);
      const want = (await runOrt(file, inputs)).values().next().value!;
      const why = compareTensors(new Tensor(DataType.FLOAT, [...want.dims], got), want, { atol: 1e-4, rtol: 1e-3 });
      assert(!why, `compiled module vs ONNX Runtime: ${why}`);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
