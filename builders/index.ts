/**
 * redraft-trt's programmatic API for finished graphs (`import ... from 'redraft-trt'` or
 * 'redraft-trt/builders'): run (interpreter, ONNX Runtime), export (ONNX), TensorRT (plan,
 * engine, doctor), weights (safetensors), model directories, conformance, the generation loop
 * and inspection. Builders read the IR from redraft-trt/dsl and never import ops or models.
 */
// Run
export { runGraph, checkInputs, InterpError } from './interp/index.js';
export { OnnxSession, runOnnx, toOrtTensor, fromOrtTensor, type OnnxSessionOptions } from './onnx/run.js';
export { sessionForGraph, runGraphOnnx, onnxEnv } from './onnx/env.js';
export { interpEnv, backendEnv, withGenerate, loadAnyModel } from './conformance/env.js';
export { readTensors, writeTensors } from './tensor-io.js';
// Export
export {
  exportOnnx, DEFAULT_OPSET, MIN_OPSET, MAX_OPSET, DEFAULT_EXTERNAL_THRESHOLD,
  type ExportOptions, type OnnxExport, type ExternalData, type ExternalTensor,
} from './onnx/export.js';
export { exportOnnxFiles } from './onnx/files.js';
export { writeOnnx, onnxFiles, writeExternalData, type FileContent } from './onnx/write.js';
// TensorRT
export { lowerToPlan, planToJson, type TrtPlan, type PlanLayer, type PlanInput } from './trt/plan.js';
export { executePlan, planToGraph } from './trt/plan-exec.js';
export { buildTrtEngine, assertTensorRtUsable } from './trt/build.js';
export { doctor, type DoctorReport } from './trt/doctor.js';
// Weights and model directories
export { loadWeights, LAZY_WEIGHTS_BYTES, type Checkpoint, type LoadedTensor } from './weights/index.js';
export { writeSafetensors, SafetensorsFile, type TensorToWrite, type TensorEntry } from './weights/safetensors.js';
export { loadModelDir, readConfigJson, type LoadedModelDir } from './model-dir.js';
export { validateConfig, checkPair, type ModelKind } from './config.js';
// Build configuration
export { resolveBuildConfig, readBuildConfigFile, DEFAULT_BUILD_CONFIG, contentHash, canonicalJson, type BuildConfig, type BuildTarget, type BuildDtype } from './build-config.js';
// Conformance
export { runConformance, runCase, formatResults, type ConformanceOptions } from './conformance/runner.js';
export type { GoldenCase, CaseEnv, GoldenFn, CaseResult, ConformanceReport } from './conformance/types.js';
// Generation
export { redrafterGenerate, autoregressiveGenerate, finishedRows, type GenerationShape, type GenerationResult, type Runner } from './generate/loop.js';
// Inspection
export { summarize, formatSummary, toDot, type GraphSummary } from './inspect.js';
export { engineIoTable, type IoEntry } from './engine-io.js';
