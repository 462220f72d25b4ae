/**
 * Float64 dense linear algebra on the host (plain JS over row-major Float64Array): the safe path
 * every other method is checked against. Cholesky (A + λI = L Lᵀ, Golub & Van Loan, "Matrix
 * Computations" 4th ed., Alg. 4.2.1), SPD inverse as L⁻ᵀ L⁻¹, Cholesky solves, and the symmetric
 * eigendecomposition by Householder tridiagonalisation + implicit QL (the EISPACK tred2/tql2 pair as
 * published in JAMA) or cyclic Jacobi for small n (Golub & Van Loan Alg. 8.5.3). Loops are written so
 * the innermost index walks contiguous memory; that is what makes JS float64 competitive at small n.
 */
import { NatgradError } from '@natgrad/core';

/** Below this size the eigendecomposition uses cyclic Jacobi (simpler, fully accurate, fast enough). */
export const JACOBI_MAX_N = 12;

function checkSquare(a: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: the array does not hold an n×n matrix.`, {
      expected: `a Float64Array of length n*n with n a positive integer`,
      received: `length ${a.length} with n = ${n}`,
      fix: 'pass the row-major entries of a square matrix and its size n',
    });
  }
}

function checkDamping(damping: number, what: string): void {
  if (!Number.isFinite(damping) || damping < 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: damping must be a finite number ≥ 0.`, {
      expected: 'a finite damping ≥ 0',
      received: String(damping),
      fix: 'pass the damping λ that is added to the diagonal (0 for none)',
    });
  }
}

/** Throws NON_FINITE_INPUT when any entry is NaN or ±Infinity. */
export function assertFiniteHost(a: Float64Array | Float32Array, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) {
      throw new NatgradError('NON_FINITE_INPUT', `${what}: the matrix has a non-finite entry.`, {
        expected: 'finite entries',
        received: `${a[i]} at flat index ${i}`,
        fix: 'check the statistics that produced the matrix (e.g. a diverged loss) before inverting',
      });
    }
  }
}

/** (A + Aᵀ)/2 + λI as a new array. Symmetrising first makes the result independent of rounding asymmetry. */
export function hostSymmetrize(a: Float64Array | Float32Array, n: number, damping = 0): Float64Array {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    s[i * n + i] = a[i * n + i] + damping;
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (a[i * n + j] + a[j * n + i]);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return s;
}

function notPositiveDefinite(what: string, pivot: number, index: number, damping: number): NatgradError {
  return new NatgradError('NOT_POSITIVE_DEFINITE', `${what}: A + λI is not positive definite.`, {
    expected: 'a symmetric positive definite A + λI (every Cholesky pivot > 0)',
    received: `pivot ${pivot.toExponential(3)} at row ${index} with damping λ = ${damping}`,
    fix: 'increase the damping, or check that A is a covariance (Xᵀ X / n) and not an arbitrary matrix',
  });
}

/**
 * Lower Cholesky factor L of (A + λI), A read from its lower triangle (pass a symmetrised matrix).
 * Throws NOT_POSITIVE_DEFINITE on a pivot ≤ 0 (or NaN), which is the cheapest exact SPD test there is.
 */
export function hostCholesky(a: Float64Array, n: number, damping = 0): Float64Array {
  checkSquare(a, n, 'hostCholesky');
  checkDamping(damping, 'hostCholesky');
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j];
      if (i === j) s += damping;
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      if (i === j) {
        // `!(s > 0)` also catches NaN, which would otherwise propagate silently.
        if (!(s > 0)) throw notPositiveDefinite('hostCholesky', s, i, damping);
        l[ri + i] = Math.sqrt(s);
      } else {
        l[ri + j] = s / l[rj + j];
      }
    }
  }
  return l;
}

/**
 * U = L⁻ᵀ (upper triangular, row-major) for a lower-triangular L. Row j of U is column j of L⁻¹,
 * so both operands of the inner product are contiguous.
 */
export function hostLowerInverseTransposed(l: Float64Array, n: number): Float64Array {
  checkSquare(l, n, 'hostLowerInverseTransposed');
  const u = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    u[rj + j] = 1 / l[rj + j];
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = 0;
      for (let k = j; k < i; k++) s += l[ri + k] * u[rj + k];
      u[rj + i] = -s / l[ri + i];
    }
  }
  return u;
}

/** (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹ from a Cholesky factor; exactly symmetric by construction. */
export function hostInverseFromCholesky(l: Float64Array, n: number): Float64Array {
  const u = hostLowerInverseTransposed(l, n);
  const x = new Float64Array(n * n);
  // X[i][j] = Σ_{k ≥ max(i,j)} M[k][i] M[k][j] with M = L⁻¹ = Uᵀ, i.e. a dot of rows i and j of U.
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = 0;
      for (let k = i; k < n; k++) s += u[ri + k] * u[rj + k];
      x[ri + j] = s;
      x[rj + i] = s;
    }
  }
  return x;
}

/** (sym(A) + λI)⁻¹ in float64. Throws NON_FINITE_INPUT or NOT_POSITIVE_DEFINITE. */
export function hostSpdInverse(a: Float64Array, n: number, damping = 0): Float64Array {
  checkSquare(a, n, 'hostSpdInverse');
  checkDamping(damping, 'hostSpdInverse');
  assertFiniteHost(a, 'hostSpdInverse');
  return hostInverseFromCholesky(hostCholesky(hostSymmetrize(a, n), n, damping), n);
}

/** (L Lᵀ)⁻¹ B for a lower-triangular L (n×n) and B (n×m), both row-major; rows of B are updated whole. */
export function hostCholeskySolve(l: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  checkSquare(l, n, 'hostCholeskySolve');
  if (!Number.isInteger(m) || m < 1 || b.length !== n * m) {
    throw new NatgradError('SHAPE_MISMATCH', 'hostCholeskySolve: B does not have n rows.', {
      expected: `a Float64Array of length ${n}*m`,
      received: `length ${b.length} with m = ${m}`,
      fix: 'pass the right-hand sides as an n×m row-major matrix',
    });
  }
  const y = Float64Array.from(b);
  // Forward: L Y = B.
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const yi = i * m;
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k];
      if (lik === 0) continue;
      const yk = k * m;
      for (let c = 0; c < m; c++) y[yi + c] -= lik * y[yk + c];
    }
    const d = l[ri + i];
    for (let c = 0; c < m; c++) y[yi + c] /= d;
  }
  // Backward: Lᵀ X = Y.
  for (let i = n - 1; i >= 0; i--) {
    const yi = i * m;
    for (let k = i + 1; k < n; k++) {
      const lki = l[k * n + i];
      if (lki === 0) continue;
      const yk = k * m;
      for (let c = 0; c < m; c++) y[yi + c] -= lki * y[yk + c];
    }
    const d = l[i * n + i];
    for (let c = 0; c < m; c++) y[yi + c] /= d;
  }
  return y;
}

export interface HostEighResult {
  /** Ascending eigenvalues (not clipped: the host routine reports what it computed). */
  values: Float64Array;
  /** Orthonormal eigenvectors as COLUMNS, row-major n×n: A ≈ V diag(values) Vᵀ. */
  vectors: Float64Array;
}

/**
 * Symmetric eigendecomposition of sym(A) in float64. Jacobi for n ≤ JACOBI_MAX_N, otherwise
 * Householder tridiagonalisation + implicit QL with Wilkinson-type shifts.
 */
export function hostEigh(a: Float64Array, n: number, method: 'auto' | 'jacobi' | 'tridiagonal-ql' = 'auto'): HostEighResult {
  checkSquare(a, n, 'hostEigh');
  assertFiniteHost(a, 'hostEigh');
  const s = hostSymmetrize(a, n);
  const useJacobi = method === 'jacobi' || (method === 'auto' && n <= JACOBI_MAX_N);
  return useJacobi ? jacobiEigh(s, n) : tridiagonalQlEigh(s, n);
}

function eighNotConverged(what: string, index: number, iterations: number): NatgradError {
  return new NatgradError('CONVERGENCE_FAILED', `${what}: the symmetric eigen-iteration did not converge.`, {
    expected: 'convergence within the iteration cap (always reached for finite symmetric input)',
    received: `no convergence for eigenvalue ${index} after ${iterations} iterations`,
    fix: 'check the matrix for extreme scaling (entries near the float64 range) and rescale it',
  });
}

function sortAscending(d: Float64Array, vT: Float64Array, n: number): HostEighResult {
  const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => d[p] - d[q]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c];
    values[c] = d[src];
    // vT holds eigenvectors as rows; output them as columns.
    for (let r = 0; r < n; r++) vectors[r * n + c] = vT[src * n + r];
  }
  return { values, vectors };
}

/** Cyclic Jacobi on a symmetric copy (Golub & Van Loan Alg. 8.5.3), rotations from Rutishauser's formulas. */
function jacobiEigh(s: Float64Array, n: number): HostEighResult {
  const a = Float64Array.from(s);
  const vT = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vT[i * n + i] = 1;
  const maxSweeps = 100;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = a[i * n + j] * a[i * n + j];
        total += v;
        if (i !== j) off += v;
      }
    }
    if (off <= 1e-30 * total || off === 0) {
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = a[i * n + i];
      return sortAscending(d, vT, n);
    }
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        // A ← Jᵀ A J on rows/columns p, q.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - sn * akq;
          a[k * n + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - sn * aqk;
          a[q * n + k] = sn * apk + c * aqk;
        }
        // V ← V J; V is stored transposed so this touches two contiguous rows.
        for (let k = 0; k < n; k++) {
          const vp = vT[p * n + k];
          const vq = vT[q * n + k];
          vT[p * n + k] = c * vp - sn * vq;
          vT[q * n + k] = sn * vp + c * vq;
        }
      }
    }
  }
  throw eighNotConverged('hostEigh (Jacobi)', 0, maxSweeps);
}

/**
 * tred2 + tql2 (Bowdler, Martin, Reinsch & Wilkinson, Handbook for Automatic Computation II, as in
 * JAMA). V is kept transposed (w[c*n + r] = V[r][c]) so every inner loop over V's rows is contiguous.
 */
function tridiagonalQlEigh(s: Float64Array, n: number): HostEighResult {
  const w = Float64Array.from(s); // Vᵀ; s is symmetric so V = s initially.
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const V = (r: number, c: number) => w[c * n + r];
  const setV = (r: number, c: number, v: number) => {
    w[c * n + r] = v;
  };

  // tred2: Householder reduction to tridiagonal form, accumulating the transformations.
  for (let j = 0; j < n; j++) d[j] = V(n - 1, j);
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V(i - 1, j);
        setV(i, j, 0);
        setV(j, i, 0);
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        setV(j, i, f);
        g = e[j] + V(j, j) * f;
        const cj = j * n;
        for (let k = j + 1; k <= i - 1; k++) {
          const vkj = w[cj + k];
          g += vkj * d[k];
          e[k] += vkj * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const cj = j * n;
        for (let k = j; k <= i - 1; k++) w[cj + k] -= f * e[k] + g * d[k];
        d[j] = V(i - 1, j);
        setV(i, j, 0);
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    setV(n - 1, i, V(i, i));
    setV(i, i, 1);
    const h = d[i + 1];
    const ci1 = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = w[ci1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const cj = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += w[ci1 + k] * w[cj + k];
        for (let k = 0; k <= i; k++) w[cj + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) w[ci1 + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V(n - 1, j);
    setV(n - 1, j, 0);
  }
  setV(n - 1, n - 1, 1);
  e[0] = 0;

  // tql2: implicit QL on the tridiagonal matrix (d, e), rotating the columns of V.
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  const maxIterations = 60;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        iter++;
        if (iter > maxIterations) throw eighNotConverged('hostEigh (QL)', l, maxIterations);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let sn = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = sn;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = sn * r;
          sn = e[i] / r;
          c = p / r;
          p = c * d[i] - sn * g;
          d[i + 1] = h + sn * (c * g + sn * d[i]);
          const ci = i * n;
          const ci1 = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = w[ci1 + k];
            w[ci1 + k] = sn * w[ci + k] + c * hk;
            w[ci + k] = c * w[ci + k] - sn * hk;
          }
        }
        p = (-sn * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = sn * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  return sortAscending(d, w, n);
}
