import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { buildModel } from './model';
import { modelFiles } from './model-files';

describe('model download files', () => {
  it('are read back by tf.loadLayersModel over HTTP with identical weights', async () => {
    const model = buildModel({ inputShape: [4, 4, 1], classes: 3, hidden: 5, seed: 7 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const files = modelFiles(artifacts!, 'natgrad-A');
    expect(files.jsonName).toBe('natgrad-A.json');
    // A static server holding the two files, as after a download into one folder.
    const served: Record<string, BodyInit> = { 'http://host/m/natgrad-A.json': files.json, 'http://host/m/natgrad-A.weights.bin': files.weights };
    // A browser's fetch normalises the './' of the manifest path; new URL does the same here.
    const fetchFunc = async (url: RequestInfo | URL) => {
      const href = new URL(String(url)).href;
      return href in served ? new Response(served[href]) : new Response('missing', { status: 404 });
    };
    const loaded = await tfl.loadLayersModel(tf.io.http('http://host/m/natgrad-A.json', { fetchFunc }));
    const a = await Promise.all(model.getWeights().map((w) => w.data()));
    const b = await Promise.all(loaded.getWeights().map((w) => w.data()));
    expect(b.map((w) => Array.from(w))).toEqual(a.map((w) => Array.from(w)));
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    model.dispose();
    loaded.dispose();
  });
});
