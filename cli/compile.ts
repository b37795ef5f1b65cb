/**
 * `saturn compile MODEL -o DIR [--dim name=N…] [--f16] [--json]`: writes `DIR/NAME.js`, a standalone
 * ES module with the model's WGSL kernels and plan, and `DIR/NAME.weights.bin`. The module needs
 * only WebGPU (Deno or a browser), not Saturn; with `--f16` (float tensors stored as f16) it needs
 * an adapter with `shader-f16` and says so when loaded on one without.
 * @module
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SaturnError } from "../errors.ts";
import { loadOnnx } from "../onnx/load.ts";
import { buildProgram, moduleSource } from "../webgpu/compile.ts";
import { type CliIO, parseDims } from "./io.ts";

/** Run the command; returns the exit code. */
export function compileCommand(args: string[], io: CliIO): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: "string", short: "o" },
      dim: { type: "string", multiple: true },
      f16: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 1) throw new SaturnError("BAD_ARGUMENT", "compile takes one model path");
  if (!values.output) throw new SaturnError("BAD_ARGUMENT", "compile needs -o DIR");
  const dims = parseDims(values.dim);
  const file = positionals[0];
  const model = loadOnnx(file);
  const { program, weights } = buildProgram(model, { dims, f16: values.f16 });
  const name = path.basename(file).replace(/\.onnx$/i, "");
  const dir = values.output;
  const js = path.join(dir, `${name}.js`), bin = path.join(dir, `${name}.weights.bin`);
  // both files appear together or not at all
  const tmp = `.tmp-${Deno.pid}`;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeFileSync(bin + tmp, weights);
    Deno.writeTextFileSync(js + tmp, moduleSource(program, `./${name}.weights.bin`, name));
    Deno.renameSync(bin + tmp, bin);
    Deno.renameSync(js + tmp, js);
  } catch (e) {
    for (const f of [bin + tmp, js + tmp]) {
      try {
        Deno.removeSync(f);
      } catch { /* not written */ }
    }
    throw new SaturnError("FILE_UNREADABLE", `${dir}: cannot write the compiled module (${(e as Error).message})`, dir);
  }
  if (values.json) {
    io.json({
      module: js,
      weights: bin,
      kernels: program.kernels.length,
      shaders: program.shaders.length,
      weightsBytes: weights.byteLength,
    });
  } else {
    io.out(
      `${file} → ${js} (${program.kernels.length} kernels, ${program.shaders.length} distinct shaders) + ${bin} (${
        (weights.byteLength / 2 ** 20).toFixed(1)
      } MiB)`,
    );
    io.out(
      `  use: import { load } from "./${name}.js"; const m = await load(); const out = await m.run({ ${
        program.inputs.map((i) => `"${i.name}": { data, dims: [${i.dims}] }`).join(", ")
      } });`,
    );
  }
  return 0;
}
