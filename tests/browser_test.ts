/**
 * `compile`'s module in a real browser: headless Chromium loads the module and weights Saturn writes
 * for bert_tiny from a local server, runs them on Chromium's WebGPU adapter (SwiftShader, forced, so
 * the test means the same on every machine), and gives ONNX Runtime's outputs; ONNX Runtime Web's
 * WebGPU provider runs beside it in the same page on the same inputs (the path `bench/browser.ts`
 * times). Skipped, with one line saying how to install it, where Chromium is absent.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { TOL } from "./_models.ts";
import { loadOnnx } from "../onnx/load.ts";
import { randomInputs } from "../verify/inputs.ts";
import { runOrt } from "../verify/ort.ts";
import { compareTensors } from "../conformance/compare.ts";
import { CHROMIUM_HINT, findChromium, runInBrowser, type SideReport } from "../bench/browser_page.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const chromium = findChromium();
if (!chromium) console.log(`browser_test: skipped, no Chromium found (${CHROMIUM_HINT})`);

Deno.test({
  name:
    "a compiled bert_tiny runs in headless Chromium's WebGPU to ONNX Runtime's outputs, as ONNX Runtime Web does beside it",
  ignore: !chromium,
  async fn() {
    const file = path.join(root, "examples", "bert_tiny.onnx");
    const inputs = randomInputs(loadOnnx(file), { seed: 3 });
    const r = await runInBrowser(file, inputs, {
      chromium: chromium!,
      iters: 2,
      warmup: 0,
      webgpuAdapter: "swiftshader",
      timeoutMs: 50_000,
    });
    assertEquals(r.adapter.architecture, "swiftshader", `adapter ${JSON.stringify(r.adapter)}`);
    const want = await runOrt(file, inputs);
    const check = (who: string, side: SideReport) => {
      assertEquals([...side.outputs.keys()].sort(), [...want.keys()].sort(), `${who}'s outputs`);
      for (const [k, w] of want) {
        const why = compareTensors(side.outputs.get(k)!, w, TOL);
        assert(!why, `${who} in Chromium vs onnxruntime-node, output ${k}: ${why}`);
      }
      assertEquals(side.runs.length, 2, `${who}'s timed runs`);
    };
    check("Saturn's compiled module", r.saturn);
    assert(r.ortweb, `ONNX Runtime Web failed in the page: ${r.ortwebError}`);
    check("ONNX Runtime Web", r.ortweb);
  },
});
