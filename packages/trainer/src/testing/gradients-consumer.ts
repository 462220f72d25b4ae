// Consumer run by gradients.test.ts, under Node as it is and bundled with the `module` builds of
// tfjs (as browser bundlers resolve them). It loads tfjs-core and tfjs-backend-cpu, and then:
//   trainer          tfjs-layers and @natgrad/trainer (the trainer's peer dependencies); two FOP steps
//   core             nothing else; tf.variableGrads, as a custom loop over @natgrad/curvature would
//   core-umbrella    '@tensorflow/tfjs' first (the Node fix), then the same
//   core-registered  '@tensorflow/tfjs-core/dist/register_all_gradients' first (the bundle fix)
// and prints one JSON line with the outcome.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

async function trainer(): Promise<unknown> {
  const tfl = await import('@tensorflow/tfjs-layers');
  const { Trainer, fop } = await import('@natgrad/trainer');
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }), tfl.layers.dense({ units: 3, activation: 'softmax' })],
  });
  const x = tf.randomUniform([16, 6], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([16], 0, 3, 'int32', 2), 3);
  const t = new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.01 }) });
  const steps = [];
  for (let i = 0; i < 2; i++) {
    const r = await t.step(x, y);
    steps.push({ loss: r.loss, skipped: r.skipped });
  }
  t.dispose();
  return steps;
}

async function core(): Promise<unknown> {
  const w = tf.variable(tf.ones([3, 2]), true, 'w');
  const x = tf.ones([4, 3]);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.matMul(x, w))) as tf.Scalar);
  return { loss: (await value.data())[0], grad: Array.from(await grads.w.data()) };
}

async function main(mode: string | undefined): Promise<void> {
  if (mode === 'core-umbrella') await import('@tensorflow/tfjs');
  else if (mode === 'core-registered') await import('@tensorflow/tfjs-core/dist/register_all_gradients');
  else if (mode !== 'trainer' && mode !== 'core') throw new Error(`unknown mode ${mode}`);
  await tf.setBackend('cpu');
  try {
    const result = mode === 'trainer' ? await trainer() : await core();
    console.log(JSON.stringify({ ok: true, result }));
  } catch (e) {
    const err = e as { name?: string; message?: string };
    console.log(JSON.stringify({ ok: false, name: err.name, message: err.message }));
  }
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
