/**
 * Checkpoint plumbing between the Trainer and the container format: canonical names. tfjs
 * makes variable names unique per process ("dense/kernel" becomes "dense/kernel_1" for
 * a second copy of a model), so state keyed by names cannot be restored by name alone. Before
 * writing, every variable name is replaced by its position in model.weights (@v0, @v1, ...) and
 * every layer name by its position in model.layers (@l0, ...), wherever they occur as whole tokens
 * in state keys and JSON values; on load the positions are mapped back to the new model's names
 * after its variables' shapes were checked. Files are node/checkpoint-file.ts's
 * (@natgrad/trainer/node): this module runs in browsers too.
 */
import type { JsonValue, StateDict } from '@natgrad/core';
import { NatgradError } from '@natgrad/core';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Maps model-specific variable and layer names to positional tokens and back. */
export class NameCanonicalizer {
  private readonly forward: RegExp | null;
  private readonly toToken = new Map<string, string>();
  private readonly fromToken = new Map<string, string>();

  constructor(variableNames: readonly string[], layerNames: readonly string[]) {
    variableNames.forEach((n, i) => {
      this.add(n, `@v${i}`);
    });
    layerNames.forEach((n, i) => {
      if (!this.toToken.has(n)) this.add(n, `@l${i}`);
    });
    // Longest first, so "h/kernel_1" wins over the layer name "h"; whole tokens only, so
    // "dense_1" never matches inside "dense_10".
    const names = [...this.toToken.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.forward = names.length === 0 ? null : new RegExp(`(?<![A-Za-z0-9_])(${names.join('|')})(?![A-Za-z0-9_])`, 'g');
  }

  private add(name: string, token: string): void {
    this.toToken.set(name, token);
    this.fromToken.set(token, name);
  }

  canonical(s: string): string {
    return this.forward === null ? s : s.replace(this.forward, (m) => this.toToken.get(m) ?? m);
  }

  local(s: string): string {
    return s.replace(/@[vl]\d+/g, (m) => this.fromToken.get(m) ?? m);
  }

  mapJson(value: JsonValue, f: (s: string) => string): JsonValue {
    if (typeof value === 'string') return f(value);
    if (Array.isArray(value)) return value.map((v) => this.mapJson(v, f));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, JsonValue> = {};
      for (const [k, v] of Object.entries(value)) out[f(k)] = this.mapJson(v, f);
      return out;
    }
    return value;
  }
}

/** The JSON part of a StateDict as stored in the checkpoint meta (tensors go to the body). */
export interface StoredState {
  kind: string;
  version: number;
  values: JsonValue;
  tensorKeys: string[];
}

export function storeState(
  prefix: string,
  state: StateDict,
  names: NameCanonicalizer,
  tensorsOut: Record<string, import('@tensorflow/tfjs-core').Tensor>,
): StoredState {
  const tensorKeys: string[] = [];
  for (const [k, t] of Object.entries(state.tensors)) {
    const key = names.canonical(k);
    tensorKeys.push(key);
    tensorsOut[`${prefix}/${key}`] = t;
  }
  return { kind: state.kind, version: state.version, values: names.mapJson(state.values, (s) => names.canonical(s)), tensorKeys };
}

export function loadState(
  prefix: string,
  stored: StoredState,
  names: NameCanonicalizer,
  tensors: Record<string, import('@tensorflow/tfjs-core').Tensor>,
): StateDict {
  const out: StateDict = {
    kind: stored.kind,
    version: stored.version,
    values: names.mapJson(stored.values, (s) => names.local(s)) as Record<string, JsonValue>,
    tensors: {},
  };
  for (const key of stored.tensorKeys) {
    const t = tensors[`${prefix}/${key}`];
    if (t === undefined) {
      throw new NatgradError('CHECKPOINT_CORRUPT', `Checkpoint lacks tensor "${prefix}/${key}" listed in its header.`, {
        expected: `a tensor "${prefix}/${key}"`,
        received: 'no such tensor',
        fix: 'the file is damaged; use another checkpoint',
      });
    }
    out.tensors[names.local(key)] = t;
  }
  return out;
}
