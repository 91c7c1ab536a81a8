/** Precision invariants in float32 (test/precision-suite.ts). */
import { precisionSuite } from './precision-suite.js';

precisionSuite('float32');
