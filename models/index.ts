/** Model programs written with the ops: ReDrafter pieces, the Llama base model, definitions. */
export { defineModel, isModelDefinition, type ModelDefinition, type BuildOptions } from './definition.js';
export type { LoadedModel, WeightSource, WeightTensor, ModelEnv } from './env.js';
export { memoryWeights } from './memory-weights.js';
export * from './redrafter/tree_attention.js';
export * from './redrafter/accept.js';
export * from './redrafter/logits.js';
export * from './redrafter/select.js';
export * from './redrafter/drafter.js';
export * from './redrafter/beam_search.js';
export { llama_forward, llamaWeights, weightConstant, F32_LOWEST, type LlamaWeights, type LlamaInputs, type LlamaOutputs } from './llama/model.js';
export { llamaConfigFromHf, type LlamaConfig } from './llama/config.js';
