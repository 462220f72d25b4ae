/**
 * The ranks of a distributed `natgrad train` in one process: createInProcessGroup stands in for the
 * MPI world (same call-order semantics), so the division of labour (rank 0 writes and prints, the
 * others write and print nothing) and the agreed exit statuses are tested in the default suite. The
 * same flows under mpirun are in train.mpi.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Communicator, createInProcessGroup } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseBackend } from '../backend';
import { memoryOutput } from '../commands/output';
import { trainOnWorld } from '../commands/train';
import { parseTrainFlags } from '../flags/train-flags';
import { main } from '../main';
import { acquireRunLock } from '../run/run-lock';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-ranks-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// The ranks share this process's tfjs: load wasm once here, not twice at the same moment.
beforeAll(async () => {
  await chooseBackend('wasm');
});

const TINY = ['--backend', 'wasm', '--train-size', '64', '--test-size', '32', '--batch', '32', '--seed', '3', '--lr-schedule', 'constant', '--statistics-worker', 'off'];

/** An abort is a rank failing alone: never expected here, so it fails the test with the error. */
const noAbort = (_world: Communicator, status: number, error: unknown): number => {
  throw new Error(`rank aborted the job with status ${status}: ${String(error)}`);
};

async function ranks(size: number, argvOf: (rank: number) => string[]) {
  const world = createInProcessGroup(size, { timeoutMs: 60_000 });
  const outs = world.map(() => memoryOutput());
  const codes = await Promise.all(world.map((c, r) => trainOnWorld(parseTrainFlags(argvOf(r)), argvOf(r), outs[r], {}, c, null, noAbort)));
  return { codes, outs: outs.map((o) => ({ stdout: o.out.join(''), stderr: o.err.join('') })) };
}

describe('natgrad train on ranks of one world', () => {
  it('trains on 2 ranks: rank 0 writes the one run folder and prints, rank 1 writes and prints nothing', async () => {
    const runs = join(tmp, 'two');
    const argv = ['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs].slice(1);
    const { codes, outs } = await ranks(2, () => argv);
    expect(codes, outs[0].stderr + outs[1].stderr).toEqual([0, 0]);
    expect(outs[1]).toEqual({ stdout: '', stderr: '' });
    const events = outs[0].stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'end']);
    expect(events[2]).toMatchObject({ ranks: 2, communication: 'in-process' });
    expect(readdirSync(runs)).toHaveLength(1);
    for (const f of ['config.json', 'metrics.jsonl', 'summary.json', 'checkpoint/trainer.ckpt', 'checkpoint/best.ckpt']) expect(existsSync(join(events[4].runDir, f)), f).toBe(true);
    expect(existsSync(join(events[4].runDir, 'run.lock'))).toBe(false);
  });

  it('a batch that does not split into equal shards: every rank exits 2, only rank 0 says why, nothing is written', async () => {
    const runs = join(tmp, 'uneven');
    const { codes, outs } = await ranks(4, () => [...TINY, '--batch', '30', '--runs-dir', runs]);
    expect(codes).toEqual([2, 2, 2, 2]);
    expect(outs[0].stderr).toMatch(/--batch: 30 does not divide into 4 equal shards \(one per rank\); pass --batch 28 or 32/);
    for (const o of outs.slice(1)) expect(o).toEqual({ stdout: '', stderr: '' });
    expect(existsSync(runs)).toBe(false);
  });

  it('a run folder in use: every rank exits 4, and rank 0 names the owner', async () => {
    const runs = join(tmp, 'locked');
    const first = memoryOutput();
    expect(await main(['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs], first)).toBe(0);
    const dir = JSON.parse(first.out.join('').trim().split('\n').at(-1) as string).runDir as string;
    const held = acquireRunLock(dir);
    try {
      const { codes, outs } = await ranks(2, () => ['--resume', dir, '--epochs', '2']);
      expect(codes).toEqual([4, 4]);
      expect(outs[0].stderr).toMatch(/in use|locked/i);
      expect(outs[1]).toEqual({ stdout: '', stderr: '' });
    } finally {
      held.release();
    }
  });

  it('ranks started with different arguments: every rank exits 2; rank 0 and the differing rank say so', async () => {
    const runs = join(tmp, 'differ');
    const { codes, outs } = await ranks(3, (r) => [...TINY, '--epochs', r === 2 ? '3' : '1', '--runs-dir', runs]);
    expect(codes).toEqual([2, 2, 2]);
    expect(outs[0].stderr).toMatch(/the ranks were started with different arguments \(rank 0: .*--epochs 1 .*; rank 2 was started with other arguments\)/);
    expect(outs[2].stderr).toMatch(/^natgrad: rank 2\/3: Invalid flags[\s\S]*; rank 2: .*--epochs 3/);
    expect(outs[1]).toEqual({ stdout: '', stderr: '' });
    expect(existsSync(runs)).toBe(false);
  });
});
