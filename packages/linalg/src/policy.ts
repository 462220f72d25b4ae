/**
 * Which method 'auto' picks, and why, in one place. The thresholds come from the benchmark in
 * bench/linalg.bench.ts (results in docs/benchmarks.md, "Linear algebra"): JS float64 on the host
 * wins while the O(n³) work is small enough that backend dispatch and transfers dominate; above that
 * the O(n³) work belongs in backend matMuls (blocked on cpu/wasm, Newton–Schulz on GPU backends where
 * matMul is nearly free but every host read stalls the pipeline), and TensorFlow's own LAPACK-style
 * kernels when the tensorflow backend is active.
 */

export type LinalgMethod = 'auto' | 'host' | 'blocked' | 'newton-schulz' | 'native';
export type ConcreteMethod = Exclude<LinalgMethod, 'auto'>;
export type LinalgOperation = 'inverse' | 'cholesky' | 'eigh' | 'solve';

/**
 * Largest n that 'auto' inverts on the host on cpu/wasm. Measured (docs/benchmarks.md): at n = 256 on
 * wasm blocked is now ~7× faster (~5 ms vs ~35 ms) but float32 (r ≈ 2e-4 vs 3e-6); the exact host
 * inverse is kept here because 35 ms per refresh is cheap. At 512 blocked is ~8× faster.
 */
export const HOST_MAX_N = 256;
/**
 * On GPU backends small matrices still go to the host: a handful of tiny matMuls cost more in dispatch
 * and awaited reads. Not measured on a hardware GPU; on CI's software GPU (lavapipe) every KFAC-sized
 * factor is faster on the host (docs/algorithms/linalg.md, "'auto' on webgpu"), which says little
 * about a real GPU, whose matMul is orders of magnitude faster than the host loops.
 */
export const GPU_HOST_MAX_N = 64;
/** Diagonal block size of the blocked method: factored on the host in float64. */
export const BLOCKED_LEAF_N = 128;

const GPU_BACKENDS: readonly string[] = ['webgl', 'webgpu'];
const NATIVE_BACKENDS: readonly string[] = ['tensorflow'];

/** Methods each operation implements (Newton–Schulz only computes inverses). */
export const SUPPORTED_METHODS: Record<LinalgOperation, readonly ConcreteMethod[]> = {
  inverse: ['host', 'blocked', 'newton-schulz', 'native'],
  cholesky: ['host', 'blocked', 'native'],
  eigh: ['host', 'native'],
  solve: ['host', 'native'],
};

export interface MethodChoice {
  method: ConcreteMethod;
  reason: string;
}

export interface ChooseOptions {
  /** The operation; default 'inverse'. */
  operation?: LinalgOperation;
  /** Whether native TensorFlow ops were detected; default: the backend name is 'tensorflow'. */
  nativeAvailable?: boolean;
}

/** The method 'auto' uses for an n×n matrix on the named backend, with the reason. Pure: no tfjs calls. */
export function chooseMethod(n: number, backendName: string, options: ChooseOptions = {}): MethodChoice {
  const operation = options.operation ?? 'inverse';
  const nativeAvailable = options.nativeAvailable ?? NATIVE_BACKENDS.includes(backendName);
  if (nativeAvailable && NATIVE_BACKENDS.includes(backendName)) {
    return { method: 'native', reason: `backend '${backendName}' executes TensorFlow's own linear-algebra kernels` };
  }
  if (operation === 'eigh' || operation === 'solve') {
    return { method: 'host', reason: `${operation} runs in float64 on the host unless native TensorFlow ops are present` };
  }
  if (GPU_BACKENDS.includes(backendName)) {
    if (n <= GPU_HOST_MAX_N) return { method: 'host', reason: `n = ${n} ≤ ${GPU_HOST_MAX_N}: too small to amortise GPU dispatch` };
    if (operation === 'inverse') {
      return { method: 'newton-schulz', reason: `GPU backend '${backendName}': matMul-only iteration stays on the device` };
    }
    return { method: 'blocked', reason: `GPU backend '${backendName}': trailing updates as device matMuls` };
  }
  if (backendName === 'cpu') {
    // Measured: the pure-JS cpu backend's matMul is slower than float64 JS loops (n = 1024: host 3.1 s, blocked 6.9 s).
    return { method: 'host', reason: "backend 'cpu': its JS matMul is slower than the float64 host loops at every size" };
  }
  if (n <= HOST_MAX_N) return { method: 'host', reason: `n = ${n} ≤ ${HOST_MAX_N}: float64 JS is as fast as device matMuls here` };
  return { method: 'blocked', reason: `n = ${n} > ${HOST_MAX_N} on '${backendName}': O(n³) work as backend matMuls, ${BLOCKED_LEAF_N}-blocks on the host` };
}

/**
 * What each float32 method guarantees for the relative residual ‖(A+λI)X − I‖_F/√n (u = 2⁻²⁴):
 * ≤ factor·κ·u for κ(A+λI) ≤ maxKappa, asserted in inverse.test.ts for n ≤ 128 (random SPD and
 * KFAC-like factors). Since factor·κ·u < 1e-4 needs κ ≤ 1e3 for factor ≤ 1.6, the tests also assert
 * < 1e-4 up to κ = 1e3. Beyond maxKappa a float32 method either still meets the bound or throws
 * CONVERGENCE_FAILED / NOT_POSITIVE_DEFINITE; blocked results are also checked a posteriori at every κ
 * (blockedResidualThreshold). The host method (float64, rounded once) is ≤ κ·u always.
 */
export const FLOAT32_GUARANTEE = {
  blocked: { factor: 32, maxKappa: 1e5 },
  'newton-schulz': { factor: 32, maxKappa: 1e4 },
} as const;

/** Backends whose matMul sums its products in float64 and rounds once (tfjs-backend-cpu's JS loops). */
const FLOAT64_ACCUMULATING_BACKENDS: readonly string[] = ['cpu'];

/**
 * Whether the named backend's matMul accumulates its n products in float32 (wasm's XNNPACK, WebGPU
 * and WebGL shaders; everything but the cpu backend). Such a product P̂ of M and X has
 * |P̂ − MX| ≤ γ_n |M||X| with γ_n = n·u/(1 − n·u) (Higham, "Accuracy and Stability of Numerical
 * Algorithms" 2nd ed., §3.5, eq. (3.13)) instead of the cpu backend's u·|MX|, so the float32
 * methods' residuals gain a term of that size; see FLOAT32_ACCUMULATION_GUARANTEE.
 */
export function accumulatesInFloat32(backendName: string): boolean {
  return !FLOAT64_ACCUMULATING_BACKENDS.includes(backendName);
}

/** γ_n = n·u/(1 − n·u), u = 2⁻²⁴: the relative error bound of an n-term float32 sum of products (Higham eq. (3.13)). */
export function accumulationErrorBound(n: number): number {
  const nu = n * 2 ** -24;
  return nu / (1 - nu);
}

/**
 * FLOAT32_GUARANTEE where matMul accumulates in float32 (accumulatesInFloat32): r ≤ factor·κ·u + γ_n·κ
 * for κ ≤ maxKappa. The extra γ_n·κ is the float32 accumulation error of the products that form the
 * residual I − (A+λI)X and the blocked Schur complements, |δ| ≤ γ_n |M||X|, taken normwise as
 * ‖|M||X|‖_F/√n ≈ ‖M‖₂‖X‖₂ = κ (an estimate: the worst case is √n times larger). Newton–Schulz's range is
 * shorter here because symmetrising each iterate turns a residual error E into M·Eᵀ·X, up to κ·‖E‖
 * (measured 149·κu at n = 2, κ = 1e4 on wasm and webgpu). Beyond maxKappa Newton–Schulz may return a poor
 * inverse, but its reported `residual` is then within γ_{n+1}·κ + u of the true one (it is computed with
 * the same float32 products), so a caller can tell; blocked returns a result only if its estimated
 * residual meets min(bound, BLOCKED_MAX_RESIDUAL) (blockedResidualThreshold), else the host inverse.
 */
export const FLOAT32_ACCUMULATION_GUARANTEE = {
  blocked: { factor: 32, maxKappa: 1e5 },
  'newton-schulz': { factor: 32, maxKappa: 1e3 },
} as const;

/**
 * The largest residual r = ‖(A+λI)X − I‖_F/√n the blocked method returns, whatever κ: X = 0 already
 * has r = 1, so a result near the κ-scaled bound at κ ≳ 1e5 (≈ 1 where matMul sums in float32) would
 * be an inverse in name only. Above it the float64 host inverse is returned instead (inverse.ts).
 */
export const BLOCKED_MAX_RESIDUAL = 0.1;

/**
 * The threshold the blocked inverse's estimated residual must meet (residual-check.ts), for a lower
 * bound κ̂ ≤ κ₂(A+λI): half of min(factor·κ̂·u (+ γ_n·κ̂ on float32-summing backends), BLOCKED_MAX_RESIDUAL).
 * κ̂ ≤ κ makes it no looser than the documented bound; the factor ½ covers the estimate's sampling
 * error (8 Gaussian probes: P(estimate < r/2) ≤ P(χ²₈ < 2) ≈ 2% even when one direction carries R).
 */
export function blockedResidualThreshold(n: number, conditionLowerBound: number, backendName: string): number {
  const f32 = accumulatesInFloat32(backendName);
  const guarantee = (f32 ? FLOAT32_ACCUMULATION_GUARANTEE : FLOAT32_GUARANTEE).blocked;
  const bound = guarantee.factor * conditionLowerBound * 2 ** -24 + (f32 ? accumulationErrorBound(n) * conditionLowerBound : 0);
  return 0.5 * Math.min(bound, BLOCKED_MAX_RESIDUAL);
}
