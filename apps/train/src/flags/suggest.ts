/**
 * "Did you mean ...?" for mistyped commands, flags and values: the candidate with the smallest
 * optimal-string-alignment distance (Levenshtein plus adjacent transpositions, so `trian` is one
 * edit from `train`), offered only when it is close enough to be a plausible typo.
 */

/** Edits (insert, delete, substitute, swap two adjacent letters) that turn a into b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The closest candidate, or undefined when none is within a third of the word's length (at least
 * one edit, at most three): suggesting `bench` for `xyz` would only mislead. A candidate that
 * starts with the word (`--optim` for `--optimizer`) counts as close.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const distance = c.startsWith(w) && w.length >= 3 ? 0.5 : editDistance(w, c.toLowerCase());
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
