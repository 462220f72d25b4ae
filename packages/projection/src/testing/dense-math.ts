/**
 * Test-only float64 host linear algebra: the independent reference the projection tests compare
 * against (explicit matrices, Gauss-Jordan inverse, Kronecker products, a seeded generator).
 * Deliberately naive and small: correctness over speed.
 */

export type Matrix = number[][];

/** Deterministic uniform [0, 1) generator (mulberry32) so test data never changes between runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-1, 1). */
export function randomVector(n: number, rand: () => number): number[] {
  return Array.from({ length: n }, () => 2 * rand() - 1);
}

/** A random symmetric positive definite n x n matrix: B B^T / n + shift I. */
export function randomSpd(n: number, rand: () => number, shift = 0.1): Matrix {
  const b = Array.from({ length: n }, () => randomVector(n, rand));
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[i][k] * b[j][k];
      return s / n + (i === j ? shift : 0);
    }),
  );
}

export function identityMatrix(n: number): Matrix {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

export function addScaledIdentity(m: Matrix, lambda: number): Matrix {
  return m.map((row, i) => row.map((v, j) => (i === j ? v + lambda : v)));
}

export function matVec(m: Matrix, v: readonly number[]): number[] {
  return m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
}

export function dot(u: readonly number[], v: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i] * v[i];
  return s;
}

export function axpy(alpha: number, x: readonly number[], y: readonly number[]): number[] {
  return y.map((v, i) => v + alpha * x[i]);
}

export function scale(alpha: number, x: readonly number[]): number[] {
  return x.map((v) => alpha * v);
}

/** Inverse by Gauss-Jordan elimination with partial pivoting. */
export function inverse(m: Matrix): Matrix {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...identityMatrix(n)[i]]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    if (Math.abs(a[pivot][c]) < 1e-300) throw new Error('singular matrix in test helper');
    [a[c], a[pivot]] = [a[pivot], a[c]];
    const p = a[c][c];
    for (let j = 0; j < 2 * n; j++) a[c][j] /= p;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c];
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row) => row.slice(n));
}

/** Kronecker product A (x) G, matching row-major vec of an [a, g] matrix W: (A (x) G) vec(W) = vec(A W G^T). */
export function kron(a: Matrix, g: Matrix): Matrix {
  const na = a.length;
  const ng = g.length;
  const out: Matrix = Array.from({ length: na * ng }, () => new Array<number>(na * ng).fill(0));
  for (let i = 0; i < na; i++)
    for (let k = 0; k < na; k++)
      for (let j = 0; j < ng; j++) for (let l = 0; l < ng; l++) out[i * ng + j][k * ng + l] = a[i][k] * g[j][l];
  return out;
}
