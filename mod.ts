/**
 * Saturn: a verified, rule-based optimizer and WebGPU compiler for ONNX models.
 *
 * This module is the library: each stage of the pipeline is a function. Load and save models
 * (`loadOnnx`, `saveOnnx`), type every value (`inferModel`), run a model on the reference
 * interpreter (`runModel`) or on ONNX Runtime (`runOrt`), optimize it with verified rules by
 * equality saturation (`optimize`: the same gate and defaults as `saturn optimize`; a refuted
 * rule is never applied), verify rules (`verifyRule`), run it on WebGPU (`createSession`) or
 * compile it to a standalone module (`buildProgram`, `moduleSource`), and run the ONNX
 * conformance suite (`runConformance`). Errors a user can cause are `SaturnError`s with a code.
 *
 * @example
 * ```ts
 * import { loadOnnx, optimize, saveOnnx } from "./mod.ts";
 * const model = loadOnnx("examples/bert_tiny.onnx");
 * const { model: out, report, verification } = await optimize(model);
 * if (verification.skipped.length !== 0) throw new Error("a shipped rule was refused");
 * const count = (h: Record<string, number>) => Object.values(h).reduce((a, b) => a + b, 0);
 * if (!(count(report.nodesAfter) < count(report.nodesBefore))) throw new Error("not smaller");
 * const file = await Deno.makeTempFile({ suffix: ".onnx" });
 * saveOnnx(out, file);
 * ```
 * @module
 */
export { OpError, SaturnError, type SaturnErrorCode } from "./errors.ts";
export { type LoadBytesOptions, loadOnnx, loadOnnxBytes, saveOnnx, type SaveOptions } from "./onnx/load.ts";
export { decodeModel, MAX_IR_VERSION, MAX_OPSETS } from "./onnx/decode.ts";
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
export { type ModelStats, modelStats } from "./ir/stats.ts";
export {
  checkDimNames,
  defaultedDims,
  defaultInputs,
  type DimSizes,
  explainFailure,
  type InputRole,
  inputRoles,
  inputsFromJson,
  inputShape,
  type JsonInputOptions,
  parseDimSizes,
  type RandomInputOptions,
  randomInputs,
  type StructuralUse,
} from "./verify/inputs.ts";
export { type OrtOptions, OrtRunError, runOrt } from "./verify/ort.ts";
export {
  type ConformanceOptions,
  type ConformanceReport,
  runConformance,
  type TestResult,
} from "./conformance/runner.ts";
export {
  compareTensors,
  compareValues,
  DEFAULT_TOLERANCE,
  type ErrorStats,
  errorStats,
  type Tolerance,
  toleranceFor,
} from "./conformance/compare.ts";
export type { OptimizeReport } from "./optimize/optimize.ts";
export type { BodyStats } from "./optimize/subgraphs.ts";
export type { CostTarget } from "./rules/targets.ts";
export type { CostName } from "./optimize/target_cost.ts";
export type { GuardAction, GuardReport, ModelMeasurer, PairTiming } from "./optimize/guard.ts";
export type { QuantLayer, QuantOptions, QuantReport } from "./optimize/quantize.ts";
export type { OutputError } from "./optimize/quant_error.ts";
export {
  type ExtractionMethod,
  optimize,
  OPTIMIZE_DEFAULTS,
  type OptimizeOptions,
  type OptimizeProgress,
  type OptimizeResult,
} from "./optimize/verified.ts";
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
export { extractGreedy, type Extraction } from "./egraph/extract_greedy.ts";
export { extractIlp, type IlpExtraction, type IlpOptions } from "./egraph/extract_ilp.ts";
export {
  type IterationStats,
  type RuleStats,
  type RunnerOptions,
  type RunReport,
  runRules,
  type StopReason,
} from "./egraph/runner.ts";
export { checkEquivalent, type CheckOptions, type CheckResult, type Mismatch } from "./verify/check.ts";
export {
  type Counterexample,
  type DecidedBy,
  type Exercised,
  type ProofResult,
  type Prover,
  type Verdict,
  type VerdictStatus,
  type VerifyOptions,
  verifyRule,
} from "./verify/verify_rule.ts";
export { type InstanceOptions, type RuleInstance, ruleInstances } from "./verify/instances.ts";
export { type GateOptions, type GateReport, gateRules } from "./verify/gate.ts";
export type { StoredVerdict } from "./verify/cache.ts";
export { acquireDevice, type GpuContext, NO_GPU } from "./webgpu/device.ts";
export { createSession, type KernelTime, type Session, type SessionOptions } from "./webgpu/session.ts";
export {
  type KernelPlan,
  type OutputPlan,
  planModel,
  type PlanOptions,
  type UnsupportedNode,
  unsupportedNodes,
  type ValuePlan,
} from "./codegen/plan.ts";
export type { Binding, ElemType, KernelSpec, StoredType, Target } from "./codegen/kernel.ts";
export type { TensorInfo } from "./codegen/lowering.ts";
export type { HalfMode } from "./codegen/f16.ts";
export { loweredOps } from "./codegen/lower.ts";
export { type MemoryPlan, planMemory } from "./webgpu/memory.ts";
export { runConformanceGpu } from "./webgpu/conformance.ts";
export { buildProgram, moduleSource, type Program } from "./webgpu/compile.ts";
export type { BufferStore } from "./webgpu/runtime.ts";
