/**
 * Checkpoints larger than memory: weights stream from the file into the export, one tensor at
 * a time; the graph keeps none of them, and the result equals an eager build.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWeights } from '../builders/weights/index.js';
import { exportOnnxFiles } from '../builders/onnx/files.js';
import { writeFilesAtomic } from '../builders/atomic.js';
import { runOnnx } from '../builders/onnx/run.js';
import { runGraph } from '../builders/interp/index.js';
import { readConfigJson } from '../builders/model-dir.js';
import { buildNetwork } from '../dsl/network.js';
import { hostTensor } from '../dsl/host.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { llama_forward, llamaWeights } from '../models/llama/model.js';
import { GOLDEN } from './golden-root.js';

const MODEL = path.join(GOLDEN, 'models/llama_1_0');

function graphWith(lazyAbove: number) {
  const cfg = llamaConfigFromHf(readConfigJson(MODEL));
  const ws = loadWeights(MODEL, { lazyAbove });
  return buildNetwork('llm', (net) => {
    const ids = net.input('ids', 'int64', [1, 3]);
    const mask = net.input('mask', 'bool', [1, 3, 3]);
    const pos = net.input('pos', 'int64', [1, 3]);
    net.markOutput(llama_forward(cfg, llamaWeights(net, cfg, ws), { input_ids: ids, attention_mask: mask, position_ids: pos }).logits, 'logits');
  });
}

describe('streamed weights', () => {
  const inputs = {
    ids: hostTensor('int64', [1, 3], [5, 6, 7]),
    mask: hostTensor('bool', [1, 3, 3], [1, 0, 0, 1, 1, 0, 1, 1, 1]),
    pos: hostTensor('int64', [1, 3], [0, 1, 2]),
  };
  it('keep no weight in the graph and run to the same outputs', () => {
    const lazy = graphWith(0);
    const consts = lazy.layers.filter((l) => l.kind === 'constant' && l.weights.name?.startsWith('model.'));
    expect(consts.length).toBeGreaterThan(5);
    for (const l of consts) expect(l.kind === 'constant' && l.weights.lazy).toBe(true);
    const a = runGraph(lazy, inputs).logits.data as Float32Array;
    const b = runGraph(graphWith(Infinity), inputs).logits.data as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
  });
  it('export to ONNX with external data, streaming each weight into the side file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-lazy-'));
    writeFilesAtomic(dir, exportOnnxFiles(graphWith(0), 'model.onnx', undefined, { externalDataThreshold: 1 }));
    expect(fs.readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.data']);
    const eager = runGraph(graphWith(Infinity), inputs).logits.data as Float32Array;
    const got = (await runOnnx(path.join(dir, 'model.onnx'), inputs)).logits.data as Float32Array;
    got.forEach((v, i) => expect(Math.abs(v - eager[i])).toBeLessThan(1e-4));
  });
});
