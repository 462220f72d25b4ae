import { createInProcessGroup } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { FlagError } from '../flags/flag-error';
import { RunLockedError } from '../run/run-lock';
import { PeerFailedError, broadcastJson, checkSameArguments, differentArgumentsError, exitStatusOf, isAgreed, together } from './agreement';

describe('together', () => {
  it('returns every rank its own value when the phase succeeds everywhere', async () => {
    const world = createInProcessGroup(3, { timeoutMs: 5000 });
    expect(await Promise.all(world.map((c) => together(c, 'testing', () => c.rank * 10)))).toEqual([0, 10, 20]);
  });

  it('stops every rank when one fails: that rank gets its error, the others its exit status', async () => {
    const world = createInProcessGroup(3, { timeoutMs: 5000 });
    const results = await Promise.allSettled(
      world.map((c) =>
        together(c, 'loading the dataset', () => {
          if (c.rank === 1) throw new FlagError('train', [{ flag: 'batch', message: 'too large' }]);
          return 'ok';
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const errors = results.map((r) => (r as PromiseRejectedResult).reason);
    expect(errors[1]).toBeInstanceOf(FlagError);
    expect(errors[0]).toBeInstanceOf(PeerFailedError);
    expect(errors[0].message).toMatch(/Another rank failed while loading the dataset/);
    expect(errors.map(exitStatusOf)).toEqual([2, 2, 2]);
    expect(errors.every(isAgreed)).toBe(true);
  });

  it('takes the highest status when ranks fail differently (a locked run folder is 4)', async () => {
    const world = createInProcessGroup(2, { timeoutMs: 5000 });
    const locked = new RunLockedError('Run folder in use.', { expected: 'no other owner', received: 'pid 1', fix: 'wait' });
    const results = await Promise.allSettled(
      world.map((c) =>
        together(c, 'opening', () => {
          throw c.rank === 0 ? locked : new Error('disk');
        }),
      ),
    );
    expect(results.map((r) => exitStatusOf((r as PromiseRejectedResult).reason))).toEqual([4, 1]);
    // Each rank keeps its own error to report; the job's status is agreed at the end (max).
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('disk');
  });
});

describe('configuration agreement', () => {
  it("broadcasts rank 0's JSON to every rank", async () => {
    const world = createInProcessGroup(4, { timeoutMs: 5000 });
    const got = await Promise.all(world.map((c) => broadcastJson(c, c.rank === 0 ? { batch: 128, records: [{ epoch: 1 }] } : null)));
    for (const g of got) expect(g).toEqual({ batch: 128, records: [{ epoch: 1 }] });
  });

  it('finds the first rank started with other arguments, and none when all agree', async () => {
    const same = createInProcessGroup(3, { timeoutMs: 5000 });
    expect(await Promise.all(same.map((c) => checkSameArguments(c, ['--epochs', '2'])))).toEqual([null, null, null]);
    const differ = createInProcessGroup(4, { timeoutMs: 5000 });
    const args = [['--epochs', '2'], ['--epochs', '2'], ['--epochs', '3'], ['--lr', '1']];
    const found = await Promise.all(differ.map((c) => checkSameArguments(c, args[c.rank])));
    for (const f of found) expect(f).toEqual({ rank: 2, rank0: ['--epochs', '2'] });
    expect(differentArgumentsError(2, ['--epochs', '2'], ['--epochs', '3']).message).toMatch(
      /the ranks were started with different arguments \(rank 0: --epochs 2; rank 2: --epochs 3\); every rank must run the same natgrad train command/,
    );
  });
});
