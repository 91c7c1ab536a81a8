/** The redraft language: tensors, dims, networks, the IR, errors. */
export * from './dtype.js';
export * from './dim.js';
export * from './errors.js';
export * from './ir.js';
export { inferLayer, broadcastShapes, reshapeDims, paramDims } from './infer.js';
export { Tensor, Network, defaultNet, withNetwork, buildNetwork } from './network.js';
export type { LayerSpec, InputSpec } from './network.js';
export * from './host.js';
export { serializeGraph, deserializeGraph, GRAPH_FORMAT_VERSION } from './serialize.js';
export { mulberry32 } from './random.js';
