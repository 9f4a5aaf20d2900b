/* gradguard explorer — matrix mode: W instead of w, in float64.
 *
 * h_t = W h_{t−1} and L = 1ᵀ h_T (gradguard.experiments.measure_flow's loss), so
 * δ_T = 1 and δ_{t−1} = Wᵀ δ_t. The per-step factor is flow's geometric mean
 * (‖δ_1‖/‖δ_T‖)^(1/(T−1)). Eigenvalues, singular values and QR come from the
 * vendored ml-matrix (vendor/ml-matrix, MIT). The inits are the ones
 * `gradguard flow` knows (gradguard.experiments.init_recurrent_), drawn from a
 * seeded generator of the page's own (no torch parity for random draws).
 */
(function (root) {
  "use strict";
  const GG = root.GG || (root.GG = {});
  const ML = () => root.mlMatrix;

  /** A seeded generator: mulberry32 for uniforms, Box–Muller for normals. */
  function rng(seed) {
    let a = seed >>> 0;
    const uniform = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const normal = () => {
      let u = 0;
      while (u === 0) u = uniform();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
    };
    return { uniform, normal };
  }
  const fill = (n, f) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => f(i, j)));
  /** An orthogonal Q: QR of a Gaussian matrix, columns signed by R's diagonal (Haar). */
  function orthogonal(n, r) {
    const A = new (ML().Matrix)(fill(n, () => r.normal()));
    const qr = new (ML().QrDecomposition)(A);
    const Q = qr.orthogonalMatrix.to2DArray(), R = qr.upperTriangularMatrix;
    for (let j = 0; j < n; j++) if (R.get(j, j) < 0) for (let i = 0; i < n; i++) Q[i][j] = -Q[i][j];
    return Q;
  }
  const INITS = ["scaled-orthogonal", "orthogonal", "identity", "xavier-normal", "xavier-uniform", "he", "default"];
  /** W (rows) for an init of `gradguard flow`, n × n, from `seed` (ρ for scaled-orthogonal). */
  function makeW(init, n, rho, seed) {
    const r = rng(seed);
    switch (init) {
      case "scaled-orthogonal": return orthogonal(n, r).map((row) => row.map((x) => rho * x));
      case "orthogonal": return orthogonal(n, r);
      case "identity": return fill(n, (i, j) => (i === j ? 1 : 0));
      case "xavier-normal": return fill(n, () => r.normal() * Math.sqrt(2 / (n + n)));
      case "xavier-uniform": { const b = Math.sqrt(6 / (n + n)); return fill(n, () => (2 * r.uniform() - 1) * b); }
      case "he": return fill(n, () => r.normal() * Math.sqrt(2 / n));
      case "default": { const b = 1 / Math.sqrt(n); return fill(n, () => (2 * r.uniform() - 1) * b); }
      default: throw new Error(`no init ${init}`);
    }
  }
  /** Rows from text: lines (or ';') of entries split by spaces or commas; each entry exact text. */
  function parseMatrix(text) {
    const rows = text.split(/[\n;]/).map((l) => l.trim()).filter((l) => l).map((l) => l.split(/[\s,]+/));
    const n = rows.length;
    if (n < 1 || n > 64 || rows.some((r) => r.length !== n)) return null;
    try {
      const W = rows.map((r) => r.map((x) => GG.toDouble(GG.toExact(x, "W"))));
      return W.every((r) => r.every(Number.isFinite)) ? W : null;
    } catch (e) {
      return null;
    }
  }
  /** ρ(W), σ_max(W) and the eigenvalues [re, im]. */
  function spectrum(W) {
    const M = new (ML().Matrix)(W);
    const eig = new (ML().EigenvalueDecomposition)(M);
    const re = eig.realEigenvalues, im = eig.imaginaryEigenvalues;
    const values = re.map((x, i) => [x, im[i]]);
    const rho = Math.max(...values.map(([a, b]) => Math.hypot(a, b)));
    const svd = new (ML().SingularValueDecomposition)(M, {
      computeLeftSingularVectors: false, computeRightSingularVectors: false, autoTranspose: true,
    });
    const sigma = Math.max(...svd.diagonal);
    return { rho, sigma, values };
  }
  /**
   * log10 ‖δ_t‖ for t = 1 … T (δ_T = 1, δ_{t−1} = Wᵀ δ_t), kept in log space so that
   * no norm overflows, and flow's per-step factor.
   */
  function backward(W, T) {
    const n = W.length;
    let d = new Float64Array(n).fill(1);
    const logs = new Float64Array(T);
    let acc = 0; // log10 of the scale taken out of d so far
    const norm = (v) => { let q = 0; for (let i = 0; i < v.length; i++) q += v[i] * v[i]; return Math.sqrt(q); };
    logs[T - 1] = Math.log10(norm(d));
    for (let t = T - 1; t >= 1; t--) {
      const next = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const Wi = W[i], di = d[i];
        if (di !== 0) for (let j = 0; j < n; j++) next[j] += Wi[j] * di; // (Wᵀ d)_j = Σ_i W_ij d_i
      }
      const s = norm(next);
      logs[t - 1] = s > 0 ? acc + Math.log10(s) : -Infinity;
      if (s > 0) { for (let j = 0; j < n; j++) next[j] /= s; acc += Math.log10(s); }
      d = next;
      if (s === 0) { for (let k = t - 2; k >= 0; k--) logs[k] = -Infinity; break; }
    }
    const factor = T > 1 && Number.isFinite(logs[0]) ? 10 ** ((logs[0] - logs[T - 1]) / (T - 1)) : T > 1 ? 0 : NaN;
    return { logs: Array.from(logs), factor };
  }
  /** log10 ‖M_1 ⋯ M_k‖_F for k = 1 … K, entries of each M_i drawn from N(0, s²/n). */
  function product(n, s, K, seed) {
    return Array.from(productSteps(n, s, K, seed));
  }
  /** The same, one k at a time (a generator: the page draws it over several frames). */
  function* productSteps(n, s, K, seed) {
    const r = rng(seed + 7919);
    const sd = s / Math.sqrt(n);
    let P = new Float64Array(n * n);
    for (let i = 0; i < n; i++) P[i * n + i] = 1;
    let acc = 0;
    const G = new Float64Array(n * n);
    for (let k = 1; k <= K; k++) {
      for (let i = 0; i < n * n; i++) G[i] = r.normal() * sd;
      const Q = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let l = 0; l < n; l++) {
          const p = P[i * n + l];
          if (p === 0) continue;
          const off = l * n, row = i * n;
          for (let j = 0; j < n; j++) Q[row + j] += p * G[off + j];
        }
      }
      let f = 0;
      for (let i = 0; i < n * n; i++) f += Q[i] * Q[i];
      f = Math.sqrt(f);
      if (f > 0) for (let i = 0; i < n * n; i++) Q[i] /= f;
      acc += f > 0 ? Math.log10(f) : -Infinity;
      yield acc;
      P = Q;
    }
  }
  GG.matrix = { rng, makeW, parseMatrix, spectrum, backward, product, productSteps, INITS };
})(typeof globalThis !== "undefined" ? globalThis : this);
