/**
 * Memory planning: activations share buffers by liveness. A value's buffer is taken at the
 * first kernel that binds it and given back after the last kernel that reads it (or any view
 * of it); graph outputs live to the end. A free buffer is reused best-fit (the smallest that is
 * large enough, else the largest free one grown), never within the kernel that frees it, so no
 * kernel reads and writes one buffer. Kernel-private temporaries (`KernelSpec.temporaries`, e.g.
 * a split-K GEMM's partial sums) are activations like any other: live from the kernel that writes
 * them to the last that reads them.
 * @module
 */
import type { KernelPlan } from "../codegen/plan.ts";

/** Which buffer slot each activation uses, and what that costs. */
export interface MemoryPlan {
  /** slot of each activation root */
  slotOf: Map<string, number>;
  /** size of each slot in bytes */
  slotBytes: number[];
  /** bytes of all slots (what the activations take on the GPU) */
  activationBytes: number;
  /** bytes the activations would take with one buffer each (no reuse) */
  unplannedBytes: number;
  /** bytes of the feed inputs' buffers */
  inputBytes: number;
  /** bytes of the constant buffers */
  weightBytes: number;
}

/**
 * Assign activation buffers to slots by liveness: two activations share a slot only when their
 * lifetimes (first binding to last read) do not overlap. Runs on the CPU.
 * @param plan a kernel plan
 * @returns the slot of each activation and the bytes each kind of buffer takes
 * @example
 * ```ts
 * import { loadOnnx, planMemory, planModel } from "../mod.ts";
 * const plan = planModel(loadOnnx("examples/bert_tiny.onnx"));
 * const mem = planMemory(plan);
 * if (!(mem.activationBytes < mem.unplannedBytes)) throw new Error("activations reuse buffers");
 * if (mem.activationBytes !== mem.slotBytes.reduce((a, b) => a + b, 0)) throw new Error("bytes of the slots");
 * for (const [root, slot] of mem.slotOf) {
 *   if (plan.values.get(root)!.bytes > mem.slotBytes[slot]) throw new Error(`'${root}' fits its slot`);
 * }
 * ```
 */
export function planMemory(plan: KernelPlan): MemoryPlan {
  const lastUse = new Map<string, number>();
  plan.kernels.forEach((k, i) => {
    for (const b of k.bindings) lastUse.set(plan.values.get(b.value)!.root, i);
  });
  for (const o of plan.outputs) if (o.root) lastUse.set(o.root, Infinity);
  const isActivation = (root: string) => plan.values.get(root)?.kind === "activation";
  const slotOf = new Map<string, number>();
  const slotBytes: number[] = [];
  const free: number[] = [];
  let unplannedBytes = 0;
  plan.kernels.forEach((k, i) => {
    for (const b of k.bindings) {
      const root = plan.values.get(b.value)!.root;
      if (!isActivation(root) || slotOf.has(root)) continue;
      const need = plan.values.get(root)!.bytes;
      unplannedBytes += need;
      let best = -1;
      for (let j = 0; j < free.length; j++) {
        const s = slotBytes[free[j]];
        if (s >= need && (best < 0 || s < slotBytes[free[best]])) best = j;
      }
      if (best < 0 && free.length) {
        best = 0;
        for (let j = 1; j < free.length; j++) if (slotBytes[free[j]] > slotBytes[free[best]]) best = j;
      }
      let slot: number;
      if (best >= 0) {
        slot = free.splice(best, 1)[0];
        slotBytes[slot] = Math.max(slotBytes[slot], need);
      } else {
        slot = slotBytes.length;
        slotBytes.push(need);
      }
      slotOf.set(root, slot);
    }
    for (const b of k.bindings) {
      const root = plan.values.get(b.value)!.root;
      const slot = slotOf.get(root);
      if (slot !== undefined && lastUse.get(root) === i && !free.includes(slot)) free.push(slot);
    }
  });
  let inputBytes = 0;
  for (const v of plan.inputs) inputBytes += v.bytes;
  let weightBytes = 0;
  for (const w of plan.weights.values()) weightBytes += Math.max(4, w.byteLength);
  return {
    slotOf,
    slotBytes,
    activationBytes: slotBytes.reduce((a, b) => a + b, 0),
    unplannedBytes,
    inputBytes,
    weightBytes,
  };
}
