/** Precision invariants in float16 (test/precision-suite.ts). */
import { precisionSuite } from './precision-suite.js';

precisionSuite('float16');
