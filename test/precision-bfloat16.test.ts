/** Precision invariants in bfloat16 (test/precision-suite.ts). */
import { precisionSuite } from './precision-suite.js';

precisionSuite('bfloat16');
