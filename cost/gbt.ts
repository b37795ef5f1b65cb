/**
 * Gradient-boosted regression trees: least-squares boosting of depth-limited trees, small and
 * deterministic, serialized to plain JSON. The learned cost model fits them on log latency.
 *
 * Why our own: the npm packages that boost trees are either unmaintained (`ml-xgboost`, last
 * release 2019, a WebAssembly build of XGBoost 0.x), or bindings to native libraries (LightGBM,
 * XGBoost) that Deno would have to load as native add-ons, or random forests rather than boosting
 * (`ml-random-forest`). What a cost model needs — a few thousand rows, a few dozen features,
 * exact splits — is a hundred and fifty lines.
 *
 * The algorithm (Friedman's gradient boosting with squared loss, XGBoost's L2-regularized leaves):
 * - start from the mean of `y`; each round fits a tree to the residuals of a seeded subsample of
 *   rows and adds `learningRate ×` its prediction;
 * - trees grow level by level to `depth`; a split is the feature and threshold (midway between two
 *   distinct values) with the largest gain `G_L²/(n_L+λ) + G_R²/(n_R+λ) − G²/(n+λ)` (G = residual
 *   sum), refused below `minLeaf` rows a side; a leaf holds `G/(n+λ)`;
 * - a row goes left when `x[feature] < threshold`.
 *
 * An offset column (XGBoost's base margin) makes the trees learn a correction to a known
 * baseline: given `offset`, the trees fit `y − x[offset]` and `predictGbt` adds `row[offset]` back,
 * so beyond the range of the training rows the prediction follows the baseline column instead of
 * staying at the last leaf (trees alone cannot extrapolate).
 *
 * Invariants: the same rows, targets, parameters and seed give the same model, bit for bit (the
 * only randomness is the seeded subsample; ties between splits keep the first found, in feature
 * order); `fromJson(toJson(m))` predicts exactly what `m` predicts.
 *
 * @example
 * ```ts
 * import { fitGbt, predictGbt } from "./gbt.ts";
 * const x = Array.from({ length: 200 }, (_, i) => [i / 200]);
 * const y = x.map(([v]) => (v < 0.5 ? 1 : 3));
 * const m = fitGbt(x, y, { trees: 50, depth: 2 });
 * if (Math.abs(predictGbt(m, [0.2]) - 1) > 0.05 || Math.abs(predictGbt(m, [0.9]) - 3) > 0.05) throw new Error("a step");
 * ```
 * @module
 */
import { rng } from "../verify/inputs.ts";

/** Boosting parameters. */
export interface GbtParams {
  /** Boosting rounds (200). */
  trees?: number;
  /** Depth of each tree (5). */
  depth?: number;
  /** Shrinkage of each tree's prediction (0.1). */
  learningRate?: number;
  /** Fewest rows on either side of a split (3). */
  minLeaf?: number;
  /** Fraction of rows each tree sees (0.8; 1 = all, no randomness). */
  subsample?: number;
  /** L2 regularization of leaf values (1). */
  lambda?: number;
  /** Seed of the subsample (1). */
  seed?: number;
}

/**
 * One tree as flat arrays; node 0 is the root. `feature[i] < 0` marks a leaf whose value is
 * `value[i]`; otherwise rows with `x[feature[i]] < threshold[i]` go to `left[i]`, others to `right[i]`.
 */
export interface GbtTree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

/** A fitted model, JSON as it is. */
export interface GbtModel {
  /** Format version (1). */
  version: 1;
  /** Number of features a row must have. */
  features: number;
  /** The starting prediction (mean of the targets, less the offset column where there is one). */
  base: number;
  /** A feature column added to every prediction (the trees fit the target minus it); absent: none. */
  offset?: number;
  /** Shrinkage applied to every tree. */
  learningRate: number;
  /** The trees, in boosting order. */
  trees: GbtTree[];
}

/**
 * Fit boosted trees to rows `x` and targets `y`.
 * @param x rows, all of one length, finite numbers
 * @param y one target per row
 * @param params boosting parameters
 * @param offset a column whose value is the baseline of each row's target (see the module doc)
 * @returns the model
 */
export function fitGbt(
  x: readonly (readonly number[])[],
  y: readonly number[],
  params: GbtParams = {},
  offset?: number,
): GbtModel {
  const n = x.length;
  if (n === 0 || y.length !== n) throw new RangeError(`fitGbt: ${n} rows and ${y.length} targets`);
  const nf = x[0].length;
  if (offset !== undefined && !(Number.isInteger(offset) && offset >= 0 && offset < nf)) {
    throw new RangeError(`fitGbt: offset column ${offset} of ${nf}`);
  }
  if (offset !== undefined) y = y.map((v, i) => v - x[i][offset]);
  const p = {
    trees: params.trees ?? 200,
    depth: params.depth ?? 5,
    learningRate: params.learningRate ?? 0.1,
    minLeaf: Math.max(1, params.minLeaf ?? 3),
    subsample: params.subsample ?? 0.8,
    lambda: params.lambda ?? 1,
  };
  const random = rng(params.seed ?? 1);
  // every feature's row order, sorted once (stable: ties in row order)
  const order: Int32Array[] = [];
  for (let f = 0; f < nf; f++) {
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => x[a][f] - x[b][f] || a - b);
    order.push(idx);
  }
  const base = y.reduce((s, v) => s + v, 0) / n;
  const pred = new Float64Array(n).fill(base);
  const residual = new Float64Array(n);
  const node = new Int32Array(n);
  const trees: GbtTree[] = [];
  for (let t = 0; t < p.trees; t++) {
    for (let i = 0; i < n; i++) residual[i] = y[i] - pred[i];
    // in-bag rows belong to node 0, the others to none (-1)
    for (let i = 0; i < n; i++) node[i] = p.subsample >= 1 || random() < p.subsample ? 0 : -1;
    const tree = growTree(x, residual, node, order, p.depth, p.minLeaf, p.lambda);
    trees.push(tree);
    for (let i = 0; i < n; i++) pred[i] += p.learningRate * treeValue(tree, x[i]);
  }
  const m: GbtModel = { version: 1, features: nf, base, learningRate: p.learningRate, trees };
  if (offset !== undefined) m.offset = offset;
  return m;
}

function growTree(
  x: readonly (readonly number[])[],
  g: Float64Array,
  node: Int32Array,
  order: Int32Array[],
  depth: number,
  minLeaf: number,
  lambda: number,
): GbtTree {
  const tree: GbtTree = { feature: [-1], threshold: [0], left: [-1], right: [-1], value: [0] };
  const n = x.length, nf = order.length;
  let level = [0];
  for (let d = 0; d <= depth && level.length; d++) {
    // totals per node of this level
    const slot = new Int32Array(tree.feature.length).fill(-1);
    level.forEach((id, k) => slot[id] = k);
    const m = level.length;
    const sum = new Float64Array(m), cnt = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const k = node[i] >= 0 ? slot[node[i]] : -1;
      if (k >= 0) sum[k] += g[i], cnt[k]++;
    }
    for (let k = 0; k < m; k++) tree.value[level[k]] = sum[k] / (cnt[k] + lambda);
    if (d === depth) break;
    const bestGain = new Float64Array(m), bestF = new Int32Array(m).fill(-1), bestT = new Float64Array(m);
    const lSum = new Float64Array(m), lCnt = new Float64Array(m), last = new Float64Array(m);
    for (let f = 0; f < nf; f++) {
      lSum.fill(0), lCnt.fill(0), last.fill(NaN);
      const idx = order[f];
      for (let j = 0; j < n; j++) {
        const i = idx[j];
        const k = node[i] >= 0 ? slot[node[i]] : -1;
        if (k < 0) continue;
        const v = x[i][f];
        // a split between the previous distinct value and this one
        if (lCnt[k] >= minLeaf && cnt[k] - lCnt[k] >= minLeaf && v !== last[k]) {
          const rs = sum[k] - lSum[k], rc = cnt[k] - lCnt[k];
          const gain = lSum[k] * lSum[k] / (lCnt[k] + lambda) + rs * rs / (rc + lambda) -
            sum[k] * sum[k] / (cnt[k] + lambda);
          if (gain > bestGain[k] + 1e-12) bestGain[k] = gain, bestF[k] = f, bestT[k] = (last[k] + v) / 2;
        }
        lSum[k] += g[i], lCnt[k]++, last[k] = v;
      }
    }
    const next: number[] = [];
    const childOf = new Map<number, [number, number]>();
    for (let k = 0; k < m; k++) {
      if (bestF[k] < 0) continue;
      const id = level[k], l = tree.feature.length, r = l + 1;
      tree.feature[id] = bestF[k], tree.threshold[id] = bestT[k], tree.left[id] = l, tree.right[id] = r;
      for (let c = 0; c < 2; c++) {
        tree.feature.push(-1), tree.threshold.push(0), tree.left.push(-1), tree.right.push(-1), tree.value.push(0);
      }
      next.push(l, r);
      childOf.set(id, [l, r]);
    }
    for (let i = 0; i < n; i++) {
      const c = node[i] >= 0 ? childOf.get(node[i]) : undefined;
      if (c) node[i] = x[i][tree.feature[node[i]]] < tree.threshold[node[i]] ? c[0] : c[1];
      else if (node[i] >= 0) node[i] = -1; // settled in a leaf
    }
    level = next;
  }
  return tree;
}

function treeValue(t: GbtTree, row: readonly number[]): number {
  let i = 0;
  while (t.feature[i] >= 0) i = row[t.feature[i]] < t.threshold[i] ? t.left[i] : t.right[i];
  return t.value[i];
}

/**
 * The model's prediction for one row.
 * @param m the model
 * @param row the features, `m.features` of them
 * @returns the predicted target
 */
export function predictGbt(m: GbtModel, row: readonly number[]): number {
  let s = m.offset === undefined ? m.base : m.base + row[m.offset];
  for (const t of m.trees) s += m.learningRate * treeValue(t, row);
  return s;
}

/**
 * A model as JSON text (numbers round-trip exactly).
 * @param m the model
 * @returns its JSON
 */
export function gbtToJson(m: GbtModel): string {
  return JSON.stringify(m);
}

/**
 * A model from parsed JSON, checked: a malformed model (wrong version, a tree that points outside
 * itself or loops) is refused with a RangeError, never half-read.
 * @param v the parsed JSON
 * @returns the model
 */
export function gbtFromJson(v: unknown): GbtModel {
  const m = v as GbtModel;
  const bad = (why: string): never => {
    throw new RangeError(`not a boosted-tree model: ${why}`);
  };
  if (!m || typeof m !== "object" || m.version !== 1) bad("version");
  if (!Number.isInteger(m.features) || m.features < 0) bad("features");
  if (!Number.isFinite(m.base) || !Number.isFinite(m.learningRate) || !Array.isArray(m.trees)) bad("fields");
  if (m.offset !== undefined && !(Number.isInteger(m.offset) && m.offset >= 0 && m.offset < m.features)) bad("offset");
  for (const t of m.trees) {
    const len = t?.feature?.length;
    if (!len || [t.threshold, t.left, t.right, t.value].some((a) => !Array.isArray(a) || a.length !== len)) bad("tree");
    for (let i = 0; i < len; i++) {
      if (!Number.isFinite(t.value[i])) bad("leaf value");
      if (t.feature[i] < 0) continue;
      // children come after their parent: walking a tree always ends
      if (!(t.feature[i] < m.features) || !(t.left[i] > i && t.left[i] < len && t.right[i] > i && t.right[i] < len)) {
        bad("node");
      }
    }
  }
  return m;
}
