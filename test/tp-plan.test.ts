/**
 * The rank plans of a tensor-parallel step graph through the TensorRT double (10.16 and 11.1
 * headers): each rank's plan passes the validator, the double records it call for call with its
 * addDistCollective layers (2 all_reduce per layer and the vocabulary all_gather, over ranks
 * [0, 1]), and the recorded networks of both ranks, replayed together, give the simulator's
 * outputs, which equal tp=1's.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runGraph } from '../builders/interp/index.js';
import { compareTensor } from '../builders/conformance/compare.js';
import { nativePlan } from '../builders/trt/build.js';
import { executeRankPlans } from '../builders/trt/plan-exec.js';
import { lowerToPlan, type TrtPlan } from '../builders/trt/plan.js';
import { validateTrt } from '../builders/trt/validate.js';
import { sliceAxis } from '../builders/tp/host-slices.js';
import { runTp } from '../builders/tp/runner.js';
import { runRanks } from '../builders/tp/sim.js';
import type { HostTensor } from '../dsl/host.js';
import { tinyDrafter, tinyLlama } from '../models/builtin/tiny.js';
import type { BuildOptions } from '../models/definition.js';
import { redrafterModel } from '../models/redrafter/engine.js';
import { TRT_RULES } from '../ops/trt.js';
import { addonOf, buildDouble, buildWith, close, expectRecordMatchesPlan, recordToPlan, stepInputs, type DoubleBuild, type Tag } from './trt-double-util.js';

const TAGS_TP = ['v10.16', 'v11.1'] as const;
const builds = new Map<Tag, DoubleBuild>();
beforeAll(() => {
  for (const t of TAGS_TP) builds.set(t, buildDouble(t));
}, 900_000);

describe('tensor-parallel rank plans on the TensorRT double', () => {
  const def = redrafterModel(tinyLlama(), tinyDrafter(), { name: 'tiny' });
  const opts: BuildOptions = { dtype: 'float32', beamWidth: 2, beamLength: 3, maxBatch: 2, maxSeq: 64 };
  const N = 2;
  const one = def.build(opts);
  const graphs = Array.from({ length: N }, (_, rank) => def.build({ ...opts, tp: { size: N, rank } }));
  const layout = def.tensorParallel!(N);
  const inputs = stepInputs(one);
  const rankInputs = graphs.map((g, r) => {
    const ins: Record<string, HostTensor> = {};
    for (const b of g.inputs) {
      const s = layout.ranks[r].io[b.name];
      ins[b.name] = s ? sliceAxis(inputs[b.name], s.axis, s.start, s.end) : inputs[b.name];
    }
    return ins;
  });

  it('the simulated ranks equal tp=1 on a context row and a generation row', () => {
    const want = runGraph(one, inputs);
    const got = runTp({ graphs, layout }, inputs).outputs;
    for (const [k, t] of Object.entries(want)) expect(compareTensor(k, t, got[k], { atol: 1e-5, rtol: 1e-5 }) ?? 'ok', k).toBe('ok');
  });

  for (const tag of TAGS_TP)
    it(`${tag}: every rank's plan validates, the double records its collectives, and the recorded ranks replay to the simulator's outputs`, async () => {
      const b = builds.get(tag)!;
      const v = { major: b.major, minor: b.minor };
      const replayed: TrtPlan[] = [];
      for (const [r, g] of graphs.entries()) {
        expect(validateTrt(g, TRT_RULES, { trtVersion: v })).toEqual([]);
        const plan = nativePlan(g, lowerToPlan(g, { trtVersion: v }));
        const { record } = await buildWith(addonOf(b), plan);
        expectRecordMatchesPlan(record, plan, { ...v, workspaceBytes: 2 ** 26, optimizationLevel: 2 });
        const coll = record.layers.filter((l) => l.method === 'addDistCollective').map((l) => l.params);
        // kALL_REDUCE/kSUM after o_proj and down_proj of each of the 2 layers, then kALL_GATHER/kNONE of the logits.
        expect(coll, `rank ${r}`).toEqual([...Array(4).fill({ op: 0, reduceOp: 0, root: -1, groups: [0, 1] }), { op: 1, reduceOp: 5, root: -1, groups: [0, 1] }]);
        replayed.push(recordToPlan(record, plan.inputs));
      }
      const want = runRanks(graphs.map((graph, r) => ({ graph, inputs: rankInputs[r] }))).outputs;
      const got = executeRankPlans(replayed.map((plan, r) => ({ plan, source: graphs[r], inputs: rankInputs[r] })));
      // Native attention pre-scales q: floats within a relative 1e-5.
      got.forEach((o, r) => close(want[r], o, `${tag} rank ${r}`, 1e-5));
    }, 300_000);
});
