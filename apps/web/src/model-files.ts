/**
 * The two files of a model download, in the format tfjs' own browser downloads write
 * (model.save('downloads://name')): name.json with the topology and a weights manifest pointing at
 * ./name.weights.bin, and that binary. The worker has no document to click a link in, so it sends
 * the saved artifacts and the page writes these files; tf.loadLayersModel('.../name.json') or
 * tf.io.browserFiles reads them back.
 */
import type { io } from '@tensorflow/tfjs-core';

export interface ModelFiles {
  jsonName: string;
  json: string;
  weightsName: string;
  weights: ArrayBuffer;
}

function joined(data: io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const out = new Uint8Array(data.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out.buffer;
}

export function modelFiles(artifacts: io.ModelArtifacts, name: string): ModelFiles {
  const weightsName = `${name}.weights.bin`;
  const json = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${weightsName}`], weights: artifacts.weightSpecs ?? [] }],
  };
  return { jsonName: `${name}.json`, json: JSON.stringify(json), weightsName, weights: joined(artifacts.weightData) };
}
