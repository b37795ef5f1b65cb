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
import { buildProgram, moduleSource } from "../webgpu/compile.ts";
import { type CliIO, parseDims } from "./io.ts";
import { loadInput, refuseOverwrite } from "./output_guard.ts";
import { releaseTemp, trackTemp } from "./temp_files.ts";

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
  const { model, files: used } = loadInput(file);
  const name = path.basename(file).replace(/\.onnx$/i, "");
  const dir = values.output;
  const js = path.join(dir, `${name}.js`), bin = path.join(dir, `${name}.weights.bin`);
  // never over the input: its model file or any of its external-data files, links resolved
  refuseOverwrite(used, file, [js, bin]);
  const { program, weights } = buildProgram(model, { dims, f16: values.f16 });
  // both files appear together or not at all
  const tmp = `.tmp-${Deno.pid}`;
  for (const f of [bin + tmp, js + tmp]) trackTemp(f);
  try {
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeFileSync(bin + tmp, weights);
    Deno.writeTextFileSync(js + tmp, moduleSource(program, `./${name}.weights.bin`, name));
    Deno.renameSync(bin + tmp, bin);
    releaseTemp(bin + tmp);
    Deno.renameSync(js + tmp, js);
    releaseTemp(js + tmp);
  } catch (e) {
    for (const f of [bin + tmp, js + tmp]) {
      try {
        Deno.removeSync(f);
      } catch { /* not written */ }
      releaseTemp(f);
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
