/**
 * `MeasuredCost`: the cost of an e-node is its measured latency on the target, where the cache
 * holds one for its signature (`cost/signature.ts`) under this machine's fingerprint, else the
 * prior's (the learned model, or the analytical roofline).
 *
 * A node's measured latency alone misses what the runtime does with its neighbours. ONNX Runtime
 * (graphOptimizationLevel "all", CPU) fuses an activation into the Conv before it
 * (ConvActivationFusion: Relu, Sigmoid, Tanh, LeakyRelu, Clip, HardSigmoid) and a
 * BatchNormalization into the Conv's weights (ConvBNFusion), so for target `ort` such a node
 * whose input class holds a float Conv is priced `FUSED_BY_RUNTIME_US` (about free), as the
 * runtime will run it: the extraction then has no reason to prefer Saturn's explicit
 * `FusedConv` over leaving the pair to ONNX Runtime, and none to duplicate a Conv to fuse one.
 *
 * Units: measured costs are µs on the target; the prior's are its own (the analytical model's
 * are µs of a generic GPU), so a partly measured graph mixes scales. `optimize --measure`
 * measures every candidate first, and the extraction is then exact for this machine.
 * @module
 */
import type { CostModel } from "./cost_model.ts";
import type { EGraph } from "../egraph/egraph.ts";
import type { ClassId, ENode } from "../egraph/enode.ts";
import { DataType } from "../ir/dtype.ts";
import type { CostTarget } from "../rules/targets.ts";
import type { Measurement } from "./cost_cache.ts";
import { type NodeSignature, plainTwin, signatureKey, signatureOf } from "./signature.ts";

/** What ONNX Runtime's own fusions leave of a node they fold into the Conv before it, µs. */
export const FUSED_BY_RUNTIME_US = 0.01;

/** A measured cost is never below this (µs): every op costs something, so fewer ops win ties. */
export const MIN_MEASURED_US = 0.05;

/** Ops ONNX Runtime (CPU, level "all") folds into a preceding Conv with a single consumer. */
export const ORT_CONV_FOLDED: ReadonlySet<string> = new Set([
  "Relu",
  "Sigmoid",
  "Tanh",
  "LeakyRelu",
  "Clip",
  "HardSigmoid",
  "BatchNormalization",
]);

const LEAVES = new Set(["$in", "$const", "$none", "$out"]);

/** Where `MeasuredCost` reads measurements: a `CostCache` or a plain map, under one target and fingerprint. */
export interface MeasurementSource {
  get(target: string, fingerprint: string, key: string): Measurement | undefined;
}

/** Options of `MeasuredCost`. */
export interface MeasuredCostOptions {
  /** The target measured on. */
  target: CostTarget;
  /** `machineFingerprint`'s id of this machine. */
  fingerprint: string;
  /** The measurements. */
  cache: MeasurementSource;
  /** The cost of nodes nothing measured (the learned model, or the analytical roofline). */
  prior: CostModel;
  /** Sizes of symbolic dims by name (as the signatures were measured). */
  dims?: Readonly<Record<string, number>>;
  /** The name in reports (`"measured"`). */
  name?: string;
}

/**
 * Measured latency per e-node where known, the prior's cost elsewhere (see the module doc).
 * @example
 * ```ts
 * import { MeasuredCost } from "./measured.ts";
 * import { AnalyticalCost } from "./analytical.ts";
 * import { EGraph } from "../egraph/egraph.ts";
 * import { makeENode } from "../egraph/enode.ts";
 * import { signatureKey, signatureOf } from "./signature.ts";
 * const eg = new EGraph([{ domain: "", version: 17 }]);
 * const x = eg.add(makeENode("$in", [], [
 *   { name: "name", type: "string", value: "x" },
 *   { name: "type", type: "type_proto", value: { kind: "tensor", dtype: 1, shape: [8, 8] } },
 * ]));
 * const relu = makeENode("Relu", [x]), c = eg.add(relu);
 * const key = signatureKey(signatureOf(eg, relu, c)!);
 * const cache = new Map([[key, { medianUs: 7, noiseUs: 0.1, samples: 9, date: "" }]]);
 * const cost = new MeasuredCost({ target: "ort", fingerprint: "fp", cache: { get: (_t, _f, k) => cache.get(k) }, prior: new AnalyticalCost() });
 * if (cost.nodeCost(eg, relu, c) !== 7) throw new Error("the measurement, where there is one");
 * ```
 */
export class MeasuredCost implements CostModel {
  /** `"measured"`, or the name given. */
  readonly name: string;
  /** Nodes priced by a measurement, by the runtime's own fusion, and by the prior (counted per call). */
  readonly counts: { measured: number; fused: number; prior: number } = { measured: 0, fused: 0, prior: 0 };
  readonly #opts: MeasuredCostOptions;
  /** Signature keys of nodes priced by the prior: what `--measure` would measure. */
  readonly unmeasured: Map<string, NodeSignature> = new Map();

  /**
   * Price with measurements, falling back to `prior`.
   * @param opts target, fingerprint, measurements, prior, symbolic dim sizes
   */
  constructor(opts: MeasuredCostOptions) {
    this.#opts = opts;
    this.name = opts.name ?? "measured";
  }

  /**
   * Cost of one e-node: 0 for leaves, `FUSED_BY_RUNTIME_US` for what the runtime folds into its
   * producer, the measured median where there is one, else the prior's cost.
   * @param eg the e-graph
   * @param node the e-node
   * @param classId its class
   * @returns the cost
   */
  nodeCost(eg: EGraph, node: ENode, classId: ClassId): number {
    if (LEAVES.has(node.op)) return 0;
    const { target, fingerprint, cache, prior, dims } = this.#opts;
    if (target === "ort" && foldedIntoConv(eg, node)) {
      this.counts.fused++;
      return FUSED_BY_RUNTIME_US;
    }
    const sig = signatureOf(eg, node, classId, dims);
    if (sig) {
      const key = signatureKey(sig);
      const m = cache.get(target, fingerprint, key) ?? cache.get(target, fingerprint, signatureKey(plainTwin(eg, sig) ?? sig));
      if (m) {
        this.counts.measured++;
        return Math.max(m.medianUs, MIN_MEASURED_US);
      }
      this.unmeasured.set(key, sig);
    }
    this.counts.prior++;
    return prior.nodeCost(eg, node, classId);
  }
}

/** ONNX Runtime folds `node` into the float Conv its first input class holds (ConvActivationFusion, ConvBNFusion). */
export function foldedIntoConv(eg: EGraph, node: ENode): boolean {
  if (node.domain !== "" || !ORT_CONV_FOLDED.has(node.op) || !node.children.length) return false;
  const producer = eg.find(node.children[0]);
  const t = eg.typeOf(producer);
  if (t?.kind !== "tensor" || t.dtype !== DataType.FLOAT) return false;
  // BatchNormalization folds only with constant statistics, Clip only with constant bounds
  const rest = node.children.slice(1);
  if (!rest.every((c) => eg.valueOf(c) || eg.eclass(c).nodes.every((n) => n.op === "$none"))) return false;
  return eg.eclass(producer).nodes.some((n) => n.op === "Conv" && n.domain === "");
}
