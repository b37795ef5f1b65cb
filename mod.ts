/**
 * Saturn: a verified, rule-based optimizer and WebGPU compiler for ONNX models.
 *
 * This module is the library: each stage of the pipeline is a function. So far:
 * load and save models (`loadOnnx`, `saveOnnx`), type every value (`inferModel`), run a model
 * on the reference interpreter (`runModel`) or on ONNX Runtime (`runOrt`), run the ONNX
 * conformance suite (`runConformance`), and optimize by equality saturation (`optimizeModel`
 * with rules from `loadRulePacks`). Errors a user can cause are `SaturnError`s with a code.
 *
 * @example
 * ```ts ignore
 * import { AnalyticalCost, attrDefaults, loadOnnx, loadRulePacks, optimizeModel, ruleLibrary, saveOnnx } from "./mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const rules = await loadRulePacks({ files: ["my.rules"] });
 * const { model: out, report } = await optimizeModel(model, {
 *   rules, library: ruleLibrary, defaults: attrDefaults, cost: new AnalyticalCost(),
 * });
 * saveOnnx(out, "bert_tiny.opt.onnx");
 * ```
 * @module
 */
export { OpError, SaturnError, type SaturnErrorCode } from "./errors.ts";
export { type LoadBytesOptions, loadOnnx, loadOnnxBytes, saveOnnx, type SaveOptions } from "./onnx/load.ts";
export { decodeModel, MAX_IR_VERSION, MAX_OPSETS } from "./onnx/decode.ts";
export type { ExternalReader } from "./onnx/tensor_proto.ts";
export type { ExternalReader } from "./onnx/tensor_proto.ts";
export type { ExternalReader } from "./onnx/tensor_proto.ts";
export { type EncodedModel, encodeModel, type ExternalDataOptions } from "./onnx/encode.ts";
export { DataType, dtypeFromName, dtypeName } from "./ir/dtype.ts";
export { float32Tensor, fromNumbers, int64Tensor, sizeOf, Tensor, type TensorData, toNumbers } from "./ir/tensor.ts";
export type {
  Dim,
  MapType,
  OpaqueType,
  OptionalType,
  SequenceType,
  SparseTensorType,
  TensorType,
  ValueType,
} from "./ir/types.ts";
export { MapValue, OptionalValue, SequenceValue, type Value } from "./ir/values.ts";
export type {
  Attribute,
  AttrType,
  AttrValueOf,
  FunctionDef,
  Graph,
  InitializerMeta,
  Metadata,
  Model,
  Node,
  OpsetImport,
  SparseTensor,
  TensorAnnotation,
  TrainingInfo,
  ValueInfo,
} from "./ir/graph.ts";
export { validateGraph } from "./ir/validate.ts";
export { inferModel, type InferResult } from "./ir/infer.ts";
export { findUnsupported, runModel } from "./ir/interpreter.ts";
export { findOp, type OpDef, registeredOps, registerOps } from "./ir/ops/registry.ts";
export type { NodeContext } from "./ir/ops/node_context.ts";
export type { RunContext, SubgraphRunner } from "./ir/ops/run_context.ts";
export type { InferContext, SubgraphTyper } from "./ir/ops/infer_context.ts";
export type { NodeContext } from "./ir/ops/node_context.ts";
export type { RunContext, SubgraphRunner } from "./ir/ops/run_context.ts";
export type { InferContext, SubgraphTyper } from "./ir/ops/infer_context.ts";
export type { NodeContext } from "./ir/ops/node_context.ts";
export type { RunContext, SubgraphRunner } from "./ir/ops/run_context.ts";
export type { InferContext, SubgraphTyper } from "./ir/ops/infer_context.ts";
export type { NodeContext } from "./ir/ops/node_context.ts";
export type { RunContext, SubgraphRunner } from "./ir/ops/run_context.ts";
export type { InferContext, SubgraphTyper } from "./ir/ops/infer_context.ts";
export { type ModelStats, modelStats } from "./ir/stats.ts";
export { inputsFromJson, type RandomInputOptions, randomInputs } from "./verify/inputs.ts";
export { type OrtOptions, runOrt } from "./verify/ort.ts";
export {
  type ConformanceOptions,
  type ConformanceReport,
  runConformance,
  type TestResult,
} from "./conformance/runner.ts";
export { compareTensors, compareValues, type Tolerance } from "./conformance/compare.ts";
export {
  DEFAULT_LIMITS,
  type Extractor,
  optimizeModel,
  type OptimizeOptions,
  type OptimizeReport,
} from "./optimize/optimize.ts";
export { type LoadOptions, loadRuleFile, loadRulePacks, SHIPPED_PACKS } from "./rules/load.ts";
export { parseRules } from "./rules/parser.ts";
export { defineRules, type Rule, type RuleStatus } from "./rules/rule.ts";
export type { GuardArg, GuardCall } from "./rules/guards.ts";
export { attrDefaults, ruleLibrary } from "./rules/library.ts";
export type { CostModel } from "./cost/cost_model.ts";
export { AnalyticalCost, NodeCountCost } from "./cost/analytical.ts";
export { type ClassData, type EClass, EGraph } from "./egraph/egraph.ts";
export type { ClassId, ENode } from "./egraph/enode.ts";
export type {
  AttrDefaults,
  AttrFn,
  AttrPattern,
  AttrTerm,
  Builder,
  Library,
  MatchEnv,
  Pattern,
  Subst,
} from "./egraph/pattern.ts";
export { type Extraction, extractGreedy } from "./egraph/extract_greedy.ts";
export { extractIlp, type IlpExtraction, type IlpOptions } from "./egraph/extract_ilp.ts";
export {
  type IterationStats,
  type RuleStats,
  type RunnerOptions,
  type RunReport,
  runRules,
  type StopReason,
} from "./egraph/runner.ts";
export { checkEquivalent } from "./verify/check.ts";
export {
  type Counterexample,
  type Verdict,
  type VerdictStatus,
  type VerifyOptions,
  verifyRule,
} from "./verify/verify_rule.ts";
export { type RuleInstance, ruleInstances } from "./verify/instances.ts";
export { type GateReport, gateRules } from "./verify/gate.ts";
export { acquireDevice, type GpuContext, NO_GPU } from "./webgpu/device.ts";
export { createSession, type KernelTime, type Session, type SessionOptions } from "./webgpu/session.ts";
export {
  type KernelPlan,
  planModel,
  type PlanOptions,
  type UnsupportedNode,
  unsupportedNodes,
} from "./codegen/plan.ts";
export { loweredOps } from "./codegen/lower.ts";
export { type MemoryPlan, planMemory } from "./webgpu/memory.ts";
export { runConformanceGpu } from "./webgpu/conformance.ts";
export { buildProgram, moduleSource, type Program } from "./webgpu/compile.ts";
