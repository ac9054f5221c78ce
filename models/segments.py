"""Explainable customer segments: impute, transform, scale, k-means; named by their profile.

Pipeline (scikit-learn): the propensity design's numeric block (log1p counts, rates, missing
indicators; :class:`~bayescope.data.propensity_features.PropensityDesign`) restricted to the
behavioural and transactional columns marketing acts on, standardised, then k-means.

* **How many segments**: k from 3 to 8 by the silhouette score on a seeded sample (the
  criterion is stated in the fit and the report), preferring fewer segments when scores tie
  within 0.01.
* **Stability**: k-means refitted on bootstrap resamples with other seeds must assign the
  customers the same way: adjusted Rand index against the reference fit, reported.
* **Names and descriptions**: each segment is described by the features that set it apart most
  (largest standardised difference of its mean from everyone's), turned into plain words
  ("many sessions", "long since last order"), plus a depth-2 decision tree's rule for it.

Segments describe who customers are; the propensity model ranks who buys next. The report puts
them together: propensity by segment, ranking within segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.tree import DecisionTreeClassifier, _tree

K_RANGE = tuple(range(3, 9))
SILHOUETTE_SAMPLE = 10_000
TIE = 0.01
WORDS = {
    "log1p_sessions_30d": ("many web sessions", "few web sessions"),
    "log1p_days_since_last_session": ("long since last visit", "visited recently"),
    "log1p_orders_12m": ("many orders", "few orders"),
    "log1p_days_since_last_order": ("long since last order", "ordered recently"),
    "log1p_total_spend_12m": ("high spend", "low spend"),
    "log1p_avg_order_value": ("large baskets", "small baskets"),
    "log1p_cart_adds_30d": ("adds to cart often", "rarely adds to cart"),
    "log1p_email_clicks_90d": ("clicks e-mails", "ignores e-mails"),
    "log1p_app_sessions_30d": ("app user", "rarely uses the app"),
    "discount_usage_rate": ("discount hunter", "pays full price"),
    "log1p_tenure_days": ("long-standing", "new"),
    "refund_rate": ("often refunded", "rarely refunded"),
}


@dataclass
class SegmentModel:
    """A fitted segmentation: centres, names, descriptions and the selection evidence."""

    columns: list[int]
    names: list[str]
    centres: np.ndarray
    labels_: np.ndarray
    segment_names: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    stability_ari: list[float] = field(default_factory=list)

    @property
    def k(self) -> int:
        """Number of segments."""
        return int(self.centres.shape[0])

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Nearest-centre segment of each row of a design matrix (standardised block)."""
        z = x[:, self.columns]
        distances = ((z[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
        return distances.argmin(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the artifact."""
        return {"columns": self.columns, "names": self.names,
                "centres": self.centres.tolist(), "segment_names": self.segment_names,
                "descriptions": self.descriptions,
                "silhouette_by_k": {str(k): v for k, v in self.silhouette_by_k.items()},
                "stability_ari": self.stability_ari}


def segment_columns(names: list[str]) -> list[int]:
    """Indices of the design columns used for segmentation (the ones with plain words)."""
    return [i for i, name in enumerate(names) if name in WORDS]


def fit_segments(x: np.ndarray, names: list[str], rng: np.random.Generator,
                 resamples: int = 3) -> SegmentModel:
    """Choose k by silhouette, fit k-means, check stability, name the segments."""
    columns = segment_columns(names)
    z = x[:, columns]
    sample = z[rng.choice(len(z), min(SILHOUETTE_SAMPLE, len(z)), replace=False)]
    seed = int(rng.integers(0, 2**31 - 1))
    scores = {}
    for k in K_RANGE:
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(sample)
        scores[k] = float(silhouette_score(sample, labels))
    best = max(scores.values())
    k = min(k for k, score in scores.items() if score >= best - TIE)
    reference = KMeans(k, n_init=8, random_state=seed).fit(z)
    labels = reference.labels_
    ari = []
    for _ in range(resamples):
        boot = rng.choice(len(z), len(z), replace=True)
        other = KMeans(k, n_init=8, random_state=int(rng.integers(0, 2**31 - 1))).fit(z[boot])
        ari.append(float(adjusted_rand_score(labels, other.predict(z))))
    model = SegmentModel(columns, [names[i] for i in columns], reference.cluster_centers_,
                         labels, silhouette_by_k=scores, stability_ari=ari)
    model.segment_names, model.descriptions = _describe(z, labels, model.names, k, rng)
    return model


def _describe(z: np.ndarray, labels: np.ndarray, names: list[str], k: int,
              rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """A short name from the two most distinctive features and a tree rule per segment."""
    overall, spread = z.mean(axis=0), z.std(axis=0) + 1e-9
    sample = rng.choice(len(z), min(50_000, len(z)), replace=False)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(z[sample], labels[sample])
    rules = _leaf_rules(tree, names)
    segment_names, descriptions = [], []
    for segment in range(k):
        gap = (z[labels == segment].mean(axis=0) - overall) / spread
        top = np.argsort(-np.abs(gap))[:2]
        words = [WORDS[names[j]][0 if gap[j] > 0 else 1] for j in top]
        segment_names.append(f"{words[0]}, {words[1]}")
        share = float(np.mean(labels == segment))
        details = "; ".join(f"{WORDS[names[j]][0 if gap[j] > 0 else 1]} "
                            f"({gap[j]:+.1f} sd)" for j in np.argsort(-np.abs(gap))[:4])
        rule = rules.get(segment, "no single tree leaf")
        descriptions.append(f"{share:.0%} of customers: {details}. "
                            f"Rule of thumb (depth-2 tree): {rule}.")
    return segment_names, descriptions


def _leaf_rules(tree: DecisionTreeClassifier, names: list[str]) -> dict[int, str]:
    """The conditions of the purest leaf for each predicted segment."""
    inner = tree.tree_
    best: dict[int, tuple[float, str]] = {}

    def walk(node: int, conditions: list[str]) -> None:
        if inner.feature[node] == _tree.TREE_UNDEFINED:
            counts = inner.value[node][0]
            segment = int(tree.classes_[int(np.argmax(counts))])
            purity = float(counts.max() / counts.sum())
            if purity > best.get(segment, (-1.0, ""))[0]:
                best[segment] = (purity, " and ".join(conditions) or "everyone")
            return
        name = names[inner.feature[node]].replace("log1p_", "log(1+") + (
            ")" if names[inner.feature[node]].startswith("log1p_") else "")
        threshold = inner.threshold[node]
        walk(inner.children_left[node], [*conditions, f"{name} <= {threshold:.2f} sd"])
        walk(inner.children_right[node], [*conditions, f"{name} > {threshold:.2f} sd"])

    walk(0, [])
    return {segment: rule for segment, (_, rule) in best.items()}
