"""Speaker clustering of window embeddings, with the caller's speaker-count hints.

Agglomerative clustering, average linkage on cosine distance (SciPy). The speaker count is

* ``num_speakers`` when given;
* otherwise the number of clusters when the dendrogram is cut at ``threshold``, not counting
  clusters too small to be a speaker (below ``min_speaker_s`` of speech: a cough, a laugh, a
  window straddling two voices), clamped into ``[min_speakers, max_speakers]``.

A distance threshold is what keeps the count right on short clips and long meetings alike: it
compares voices with each other and does not depend on how many windows there are (eigengap
and silhouette criteria drift with the number of windows and cannot say "one speaker").
Windows of a dropped small cluster join the nearest kept speaker. Long recordings are clustered
on an evenly spread sample of at most ``MAX_LINKAGE`` windows (the linkage needs memory
quadratic in its input) and every window then joins its nearest centroid, so memory stays
bounded for hour-long audio.
"""

from __future__ import annotations

import numpy as np

from schemas.options import MAX_SPEAKERS, DiarizationOptions

MAX_LINKAGE = 3000


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def centroids(vectors: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The unit mean vector of each label ``0 .. count-1``."""
    return _unit(np.stack([vectors[labels == k].mean(axis=0) for k in range(count)]))


def _cut(tree: np.ndarray, *, count: int | None = None, threshold: float = 0.0) -> np.ndarray:
    """Labels ``0..k-1`` from the dendrogram cut into ``count`` clusters or at ``threshold``."""
    from scipy.cluster.hierarchy import fcluster

    if count is not None:
        raw = fcluster(tree, t=count, criterion="maxclust")
    else:
        raw = fcluster(tree, t=threshold, criterion="distance")
    return np.unique(raw, return_inverse=True)[1]


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for value in labels:
        order.setdefault(int(value), len(order))
    return np.array([order[int(v)] for v in labels], dtype=int)


def cluster(
    vectors: np.ndarray,
    options: DiarizationOptions,
    *,
    threshold: float,
    max_speakers: int,
    weights: np.ndarray | None = None,
    min_speaker_s: float = 0.0,
) -> np.ndarray:
    """A speaker index per row of ``vectors`` (unit rows), numbered by first appearance.

    ``weights``: the seconds of speech each row stands for (default 1 each), used to judge
    ``min_speaker_s``.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    weights = np.ones(n) if weights is None else weights
    low = min(options.min_speakers or 1, n)
    high = max(low, min(options.max_speakers or max_speakers, MAX_SPEAKERS, n))
    if options.num_speakers is not None:
        wanted: int | None = min(options.num_speakers, n)
    elif n == 1:
        wanted = 1
    else:
        wanted = None
    if wanted == 1 or high == 1:
        return np.zeros(n, dtype=int)
    from scipy.cluster.hierarchy import linkage

    sample = np.unique(np.linspace(0, n - 1, min(n, MAX_LINKAGE)).round().astype(int))
    tree = linkage(vectors[sample], method="average", metric="cosine")
    if wanted is not None:
        labels = _cut(tree, count=wanted)
        keep = np.arange(int(labels.max()) + 1)
    else:
        labels = _cut(tree, threshold=threshold)
        mass = np.bincount(labels, weights=weights[sample]) * n / len(sample)
        count = min(max(low, int(np.sum(mass >= min_speaker_s))), high)
        if count > len(mass):  # min_speakers asks for more than the threshold finds
            labels = _cut(tree, count=count)
            mass = np.bincount(labels).astype(float)
        keep = np.sort(np.argsort(-mass)[:count])
    if len(keep) <= 1:
        return np.zeros(n, dtype=int)
    centres = centroids(vectors[sample], labels, int(labels.max()) + 1)[keep]
    return _by_first_appearance(np.argmax(_unit(vectors) @ centres.T, axis=1))
