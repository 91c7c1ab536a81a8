/** A WeightSource over tensors held in memory (built-in models, tests, conversions). */
import { DslError } from '../dsl/errors.js';
import { shapeToString } from '../dsl/dim.js';
import type { WeightSource, WeightTensor } from './env.js';

export function memoryWeights(path: string, tensors: ReadonlyMap<string, WeightTensor>): WeightSource {
  return {
    path,
    names: () => [...tensors.keys()].sort(),
    has: (name) => tensors.has(name),
    get(name, expectShape) {
      const t = tensors.get(name);
      if (!t) throw new DslError('weights', `weight '${name}' is missing from ${path}`, { hint: 'check the checkpoint matches the model config' });
      if (expectShape && (t.shape.length !== expectShape.length || t.shape.some((d, i) => d !== expectShape[i])))
        throw new DslError('weights', `weight '${name}' in ${path} has shape ${shapeToString(t.shape)}, expected ${shapeToString(expectShape)}`, { hint: 'check the checkpoint matches the model config' });
      return t;
    },
  };
}
