/**
 * @natgrad/trainer/node: the Node-only part of @natgrad/trainer, checkpoint files
 * (saveCheckpoint, loadCheckpoint: atomic writes through node:fs). The main entry keeps the
 * byte-level Trainer.toCheckpointBytes()/restoreCheckpoint(), which work anywhere.
 */
export { loadCheckpoint, saveCheckpoint } from './checkpoint-file';
export type { CheckpointableTrainer } from './checkpoint-file';
