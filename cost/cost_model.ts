/**
 * The interface every cost model implements (the analytical one now, the learned one later):
 * the cost of one e-node given the e-graph's analysis of its children and result.
 * @module
 */
import type { EGraph } from "../egraph/egraph.ts";
import type { ENode } from "../egraph/enode.ts";

/** Cost of executing one e-node once (arbitrary units; lower is better; Infinity forbids it). */
export interface CostModel {
  /** Names the model in reports, e.g. `"analytical"`. */
  readonly name: string;
  /**
   * Cost of `node` (living in class `classId`), read from the analysis of its children and
   * result. Extractors assume it depends on nothing else, and that leaves (`$in`, `$const`,
   * `$none`, `$out`) cost 0.
   */
  nodeCost(eg: EGraph, node: ENode, classId: number): number;
}
