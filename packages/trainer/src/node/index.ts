/**
 * @natgrad/trainer/node: the Node-only part of @natgrad/trainer, checkpoint files
 * (saveCheckpoint, loadCheckpoint, readCheckpointFileProgress: atomic writes through node:fs).
 * The main entry keeps the byte-level Trainer.toCheckpointBytes()/restoreCheckpoint(), which work
 * anywhere.
 */
export { loadCheckpoint, readCheckpointFileProgress, saveCheckpoint } from './checkpoint-file';
export type { CheckpointableTrainer, SaveCheckpointOptions } from './checkpoint-file';
export type { JsonValue } from '@natgrad/core';
