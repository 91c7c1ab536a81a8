/**
 * A finite literal or constant that meets a half tensor must stay finite there: float32's
 * lowest (-3.4e38) is -inf in float16 and bfloat16, and a -inf mask turns a fully masked
 * softmax into NaN. Both the constant itself and a cast of a constant are refused at the line
 * that wrote them, with lowestFinite(dtype) as the fix.
 */
import { describe, expect, it } from 'vitest';
import { lowestFinite } from '../dsl/dtype.js';
import { DslError } from '../dsl/errors.js';
import { buildNetwork } from '../dsl/network.js';
import { cast, constant, where, gt } from '../ops/index.js';

const build = (fn: () => void) => buildNetwork('t', (net) => {
  net.markOutput(constant(0), 'z');
  fn();
});

describe('half-precision literals', () => {
  it("refuses float32's lowest as a float16/bfloat16 constant, at the user's line", () => {
    for (const d of ['float16', 'bfloat16'] as const) {
      let err: unknown;
      try {
        build(() => constant(-3.4028234663852886e38, d));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DslError);
      expect((err as Error).message).toMatch(new RegExp(`constant: value -3.4028234663852886e\\+38 is outside the finite range of ${d}`));
      expect((err as Error).message).toMatch(/half-literals\.test\.ts:\d+/);
      expect((err as Error).message).toMatch(/lowestFinite/);
    }
  });

  it('refuses a cast of an overflowing constant, keeps the dtype limits exact', () => {
    expect(() => build(() => cast(constant(-3.4028234663852886e38, 'float32'), 'bfloat16'))).toThrow(/cast: argument 'input' is a constant holding -3.4028234663852886e\+38, outside the finite range of bfloat16/);
    expect(() => build(() => cast(constant([0, 70000], 'float32'), 'float16'))).toThrow(/outside the finite range of float16/);
    // 65519 rounds to 65504 (finite); 65520 rounds to inf.
    expect(() => build(() => cast(constant(65519, 'float32'), 'float16'))).not.toThrow();
    expect(() => build(() => cast(constant(65520, 'float32'), 'float16'))).toThrow(/outside the finite range of float16/);
    expect(() => build(() => constant(65520, 'float16'))).toThrow(/outside the finite range of float16/);
    // Non-finite values stay what they are (an explicit -inf is the user's choice).
    expect(() => build(() => cast(constant(-Infinity, 'float32'), 'float16'))).not.toThrow();
    // The dtype's own lowest finite value is the fix, and it is finite in its dtype.
    for (const d of ['float32', 'float16', 'bfloat16'] as const) {
      expect(() => build(() => {
        const x = constant([1, 2], d);
        where(gt(x, 1.5), x, lowestFinite(d));
      })).not.toThrow();
    }
  });
});
