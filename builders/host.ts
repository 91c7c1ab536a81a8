/** Concrete tensors on the host (defined in dsl/host.ts so models can name the type too). */
export * from '../dsl/host.js';
