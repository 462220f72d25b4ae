/**
 * Evaluation in inference mode, as tfjs-layers' model.evaluate: the mean loss (and accuracy with
 * metrics: ['accuracy']) over tensors in batches, over a batched tf.data.Dataset, and the
 * validation data of fit(), whose logs get the `val_` prefix. Sums stay on the device and are read
 * once per call (per dataset batch), never per example; the reads are awaited (WebGPU cannot read
 * synchronously).
 */
import * as tf from './tf';
import { type LossFunction, NatgradError, describeValue } from '@natgrad/core';
import type { ModelCapture } from './capture/index';
import { checkXY, disposeElement, elementXY } from './dataset';
import type { FitDatasetOptions, Logs } from './fit-loop';
import { correctCount } from './step';
import { positiveInteger } from './trainer-config';

/** What evaluation needs of a trainer. */
export interface Evaluated {
  capture: ModelCapture;
  loss: LossFunction;
  accuracy: boolean;
}

export async function evaluateTensors(m: Evaluated, x: tf.Tensor, y: tf.Tensor, batchSizeOption: number | undefined): Promise<Logs> {
  checkXY(x, y, 'Trainer.evaluate');
  const batchSize = positiveInteger(batchSizeOption ?? 256, 'batchSize');
  const n = x.shape[0];
  if (n === 0) {
    throw new NatgradError('DATASET_INVALID', 'Trainer.evaluate got no examples.', {
      expected: 'at least one example',
      received: 'x with batch dimension 0',
      fix: 'pass a non-empty evaluation set',
    });
  }
  const totals = tf.tidy(() => {
    let lossSum: tf.Tensor = tf.scalar(0);
    let correct: tf.Tensor = tf.scalar(0);
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const xb = tf.slice(x, start, size);
      const yb = tf.slice(y, start, size);
      const pred = m.capture.predict(xb, { training: false });
      lossSum = tf.add(lossSum, tf.mul(m.loss.compute(yb, pred), tf.scalar(size)));
      if (m.accuracy) correct = tf.add(correct, correctCount(yb, pred));
    }
    return tf.stack([lossSum, correct]);
  });
  let lossSum: number;
  let correct: number;
  try {
    [lossSum, correct] = await totals.data();
  } finally {
    totals.dispose();
  }
  const logs: Logs = { loss: lossSum / n };
  if (m.accuracy) logs.acc = correct / n;
  return logs;
}

export async function evaluateDataset(m: Evaluated, dataset: tf.data.Dataset<tf.TensorContainer>): Promise<Logs> {
  const it = await dataset.iterator();
  let n = 0;
  let lossSum = 0;
  let correct = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    try {
      const { x, y } = elementXY(r.value);
      const logs = await evaluateTensors(m, x, y, Math.max(1, x.shape[0]));
      n += x.shape[0];
      lossSum += logs.loss * x.shape[0];
      correct += (logs.acc ?? 0) * x.shape[0];
    } finally {
      disposeElement(r.value);
    }
  }
  if (n === 0) {
    throw new NatgradError('DATASET_INVALID', 'The evaluation dataset is empty.', {
      expected: 'at least one batch',
      received: 'a dataset that yielded nothing',
      fix: 'check the dataset pipeline (take/skip/filter)',
    });
  }
  const logs: Logs = { loss: lossSum / n };
  if (m.accuracy) logs.acc = correct / n;
  return logs;
}

/** The validation logs of one epoch (`val_loss`, `val_acc`), or none without validation data. */
export async function evaluateValidation(m: Evaluated, data: FitDatasetOptions['validationData']): Promise<Logs> {
  if (data === undefined) return {};
  let logs: Logs;
  if (Array.isArray(data)) logs = await evaluateTensors(m, data[0], data[1], undefined);
  else if (data instanceof tf.data.Dataset) logs = await evaluateDataset(m, data);
  else if (data !== null && typeof data === 'object' && 'x' in data) logs = await evaluateTensors(m, data.x, data.y, undefined);
  else {
    throw new NatgradError('DATASET_INVALID', 'Invalid validationData.', {
      expected: '[x, y], {x, y} or a tf.data.Dataset',
      received: describeValue(data),
      fix: 'pass validation tensors as [xVal, yVal]',
    });
  }
  const out: Logs = {};
  for (const [key, v] of Object.entries(logs)) out[`val_${key}`] = v;
  return out;
}
