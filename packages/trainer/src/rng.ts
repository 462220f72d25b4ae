/**
 * A small seeded pseudo-random generator (splitmix32) whose whole state is one 32-bit integer, so
 * a checkpoint can store it as a plain JSON number and a resumed run draws exactly the same
 * shuffles and sampled-Fisher seeds as an uninterrupted one. Not cryptographic; chosen for its
 * tiny, exactly reproducible state rather than statistical strength beyond what shuffling needs.
 */
import { NatgradError, describeValue } from '@natgrad/core';

export class Rng {
  private state: number;

  constructor(seed = 0) {
    if (!Number.isInteger(seed)) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid RNG seed.', {
        expected: 'an integer seed',
        received: describeValue(seed),
        fix: 'pass an integer such as 42',
      });
    }
    this.state = seed >>> 0;
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A seed for tfjs random ops, in [0, 2^31 - 2] (the range the layer capture and every backend accept). */
  nextSeed(): number {
    return this.nextUint32() % 2147483647;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.nextFloat() * (i + 1));
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) {
      throw new NatgradError('STATE_MISMATCH', 'Invalid RNG state.', {
        expected: 'an unsigned 32-bit integer',
        received: describeValue(state),
        fix: 'restore the RNG from a state written by Rng.getState()',
      });
    }
    this.state = state;
  }
}
