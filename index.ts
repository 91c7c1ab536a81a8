/**
 * redraft-trt's main entry point (`import { ... } from 'redraft-trt'`): every builder (run,
 * export, TensorRT, weights, conformance, generation, inspection; see builders/index.ts), plus
 * what a program needs to drive them without the CLI: the ReDrafter engine definition, the
 * built-in tiny model and the golden programs the conformance runner checks.
 * The DSL, the ops and the model pieces are 'redraft-trt/dsl', '/ops' and '/models'.
 */
export * from './builders/index.js';
export { redrafterModel, STEP_IO, type RedrafterDefinition, type EngineShape } from './models/redrafter/engine.js';
export { tinyLlama, tinyDrafter, TINY_LLAMA_CONFIG, TINY_DRAFTER_CONFIG } from './models/builtin/tiny.js';
export { goldenFns } from './models/golden.js';
export type { LoadedModel } from './models/env.js';
export type { ModelDefinition, BuildOptions } from './models/definition.js';
export { RedraftError, DslError, ModelError, UsageError, MissingBackendError, ExitCode } from './dsl/errors.js';
export type { HostTensor } from './dsl/host.js';
export type { Graph } from './dsl/ir.js';
