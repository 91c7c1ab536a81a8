/**
 * Sharded weight loading: a rank reads its slices of the checkpoint and nothing else (one read
 * per contiguous run; the sharded projections are never read whole), streamed when the
 * checkpoint streams, and the slices hold the right values (axis 0 and axis 1).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadWeights, SafetensorsFile, writeSafetensors } from '../builders/weights/index.js';
import { readConfigJson } from '../builders/model-dir.js';
import { buildNetwork } from '../dsl/network.js';
import type { ConstantLayer } from '../dsl/ir.js';
import { llamaConfigFromHf } from '../models/llama/config.js';
import { llamaShardWeights } from '../models/llama/tp-weights.js';
import { rankShards } from '../models/llama/tp.js';
import { GOLDEN } from './golden-root.js';

const MODEL = path.join(GOLDEN, 'models/llama_1_2');

afterEach(() => vi.restoreAllMocks());

describe('shard reads', () => {
  it('readSlice and Checkpoint.slice cut dim 0 and dim 1 and check the whole shape', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redraft-tpw-'));
    const file = path.join(dir, 'model.safetensors');
    const a = Float32Array.from({ length: 4 * 6 }, (_, i) => i);
    writeSafetensors(file, [{ name: 'a', dtype: 'float32', shape: [4, 6], data: a }]);
    const ck = loadWeights(file);
    expect(Array.from(ck.slice('a', [4, 6], 0, 1, 2).read() as Float32Array)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    const cols = ck.slice('a', [4, 6], 1, 2, 3);
    expect(cols.shape).toEqual([4, 3]);
    expect(Array.from(cols.read() as Float32Array)).toEqual([2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22]);
    expect(() => ck.slice('a', [4, 7], 1, 0, 2)).toThrow(/has shape \[4, 6\], expected \[4, 7\]/);
    ck.close();
  });

  it('a rank reads its slices only, streamed from a lazy checkpoint, one read per contiguous run', () => {
    const cfg = llamaConfigFromHf(readConfigJson(MODEL));
    const tp = { rank: 1, size: 2 };
    const sh = rankShards(cfg, tp);
    const whole = vi.spyOn(SafetensorsFile.prototype, 'read');
    const sliced = vi.spyOn(SafetensorsFile.prototype, 'readSlice');
    const ws = loadWeights(MODEL, { lazyAbove: 0 });
    let constants: ConstantLayer[] = [];
    buildNetwork('rank1', (net) => {
      net.rank = 1;
      llamaShardWeights(net, cfg, ws, 'float32', tp);
      constants = net.layers.filter((l): l is ConstantLayer => l.kind === 'constant');
      net.markOutput(net.tensor(constants[0].outputs[0]), 'x');
    });
    // Nothing read yet: the graph holds readers.
    expect(sliced).not.toHaveBeenCalled();
    expect(constants.filter((c) => c.weights.name?.includes('rank shard')).every((c) => c.weights.lazy)).toBe(true);
    let bytes = 0;
    for (const c of constants.filter((c) => c.weights.name?.includes('rank shard'))) bytes += c.weights.data.byteLength;
    // Sharded projections are never read whole.
    for (const call of whole.mock.calls) expect(String(call[0])).not.toMatch(/_proj|lm_head/);
    const H = cfg.hiddenSize;
    const hd = cfg.headDim;
    const q = (sh.heads[1] - sh.heads[0]) * hd;
    const kv = (sh.kvHeads[1] - sh.kvHeads[0]) * hd;
    const I = sh.inter[1] - sh.inter[0];
    const perLayer = (q * H + 2 * kv * H + H * q + 3 * I * H) * 4;
    expect(bytes).toBe(cfg.numLayers * perLayer + sh.vocab.padded * H * 4);
    // One slice read per sharded weight (o/down: a run per row of H inside it).
    const reads = sliced.mock.results.length;
    expect(reads).toBe(cfg.numLayers * 7 + 1);
    expect(sh).toMatchObject({ heads: [3, 6], kvHeads: [1, 3], inter: [20, 40], vocab: { start: 20, size: 20, padded: 20 } });
    ws.close();
  });
});
