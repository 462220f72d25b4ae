/**
 * What every model builder takes. Initialisers are seeded from `seed`, so two runs with the same
 * flags start from the same weights (needed for fair optimizer comparisons and for the tests).
 */
export interface ModelOptions {
  /** [height, width, channels]. */
  inputShape: [number, number, number];
  numClasses: number;
  seed: number;
  /** 'softmax' when the loss expects probabilities, 'linear' when it expects logits. */
  outputActivation: 'softmax' | 'linear';
  /** Width multiplier: hidden units (mlp) or base channels (cnn, resnet). */
  width?: number;
}
