"""implicit's ALS on the QUALITY.md split of an interactions CSV, scored as `tailor evaluate`
scores: the reference tailor's user-personalization is measured against at scale.

    python implicit_als.py interactions.csv [--factors 64] [--iterations 15] [--max-users N]

Prints one JSON line: fit seconds, peak RSS, and Personalize's metric names. Never part of the
project's tests (it needs implicit from PyPI); tests/scale/run.sh runs it beside tailor.
"""

import argparse
import csv
import json
import math
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits


def load(path):
    users, items, rows = {}, {}, []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        ui, ii, ti = header.index("USER_ID"), header.index("ITEM_ID"), header.index("TIMESTAMP")
        for rec in r:
            u = users.setdefault(rec[ui], len(users))
            i = items.setdefault(rec[ii], len(items))
            rows.append((u, i, int(rec[ti])))
    return len(users), len(items), rows


def quality_split(n_users, rows):
    """Newest ceil(20%) of each user with >= 5 events held out; ties keep file order."""
    per_user = [[] for _ in range(n_users)]
    for k, (u, i, t) in enumerate(rows):
        per_user[u].append((t, k, i))
    train, truth = [], []
    for u, h in enumerate(per_user):
        h.sort()
        if len(h) >= 5:
            n = max(1, math.ceil(0.2 * len(h)))
            truth.append((u, [i for _, _, i in h[-n:]]))
            h = h[:-n]
        train.extend((u, i) for _, _, i in h)
    return train, truth


def ndcg_at_10(top, truth):
    distinct = set(truth)
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top[:10]) if i in distinct)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(distinct), 10)))
    return dcg / idcg if idcg else 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--regularization", type=float, default=0.01)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--max-users", type=int, default=0)
    a = p.parse_args()

    from implicit.cpu.als import AlternatingLeastSquares

    n_users, n_items, rows = load(a.csv)
    train, truth = quality_split(n_users, rows)
    del rows
    u = np.fromiter((x for x, _ in train), dtype=np.int32, count=len(train))
    i = np.fromiter((y for _, y in train), dtype=np.int32, count=len(train))
    m = sp.csr_matrix((np.ones(len(train), dtype=np.float32), (u, i)), shape=(n_users, n_items))
    m.sum_duplicates()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=a.factors,
            iterations=a.iterations,
            regularization=a.regularization,
            alpha=a.alpha,
            random_state=42,
        )
        started = time.time()
        model.fit(m, show_progress=False)
        fit = time.time() - started
    if a.max_users:
        step = max(1, -(-len(truth) // a.max_users))
        truth = truth[::step]
    users = np.array([x for x, _ in truth], dtype=np.int32)
    ids, _ = model.recommend(users, m[users], N=10, filter_already_liked_items=True)
    ndcg = [ndcg_at_10(list(ids[k]), truth[k][1]) for k in range(len(truth))]
    recall = [
        len(set(ids[k][:10]) & set(truth[k][1])) / min(len(set(truth[k][1])), 10)
        for k in range(len(truth))
    ]
    covered = len(set(ids.ravel().tolist())) / n_items
    print(
        json.dumps(
            {
                "system": f"implicit ALS {a.factors} factors, {a.iterations} iterations",
                "fitSeconds": round(fit, 2),
                "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "usersEvaluated": len(truth),
                "normalized_discounted_cumulative_gain_at_10": round(float(np.mean(ndcg)), 4),
                "recall_at_10": round(float(np.mean(recall)), 4),
                "coverage": round(covered, 4),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
