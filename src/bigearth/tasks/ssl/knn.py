"""The weighted kNN probe of self-supervised encoders, for multi-label reBEN classification.

- [0] Wu, Xiong, Yu, Lin, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
  CVPR 2018, https://arxiv.org/abs/1805.01978 (section 3.4: weighted kNN, k = 200, weights exp(s / 0.07))
- [1] Reference code: https://github.com/zhirongw/lemniscate.pytorch; lightly's
  ``lightly.utils.benchmarking.knn_predict`` (single-label)

Protocol: pooled features of the training split and of the evaluated split (no augmentation) are L2-normalised;
each evaluated patch finds its ``k`` most cosine-similar training patches ``j`` (all of them when the split is
smaller) and scores every class ``c`` with the similarity-weighted vote

    p_c = sum_j w_j y_jc / sum_j w_j,    w_j = exp(s_j / T),

the weighted fraction of neighbours that carry the class: [0]'s class vote, normalised so that a score is in
[0, 1] and classes are scored independently (multi-label). Macro and micro average precision of these scores
(:mod:`bigearth.evaluation.metrics`) are the probe's result; :func:`bigearth.tasks.ssl.evaluate.probe_encoder` runs
it on any :class:`~bigearth.models.encoders.FeatureEncoder`.
"""

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

#: Neighbours and vote temperature of [0].
K = 200
TEMPERATURE = 0.07


def knn_scores(
    train_features: Tensor, train_labels: Tensor, features: Tensor, *, k: int = K, temperature: float = TEMPERATURE,
    chunk: int = 1024,
) -> Tensor:  # fmt: skip
    """Return multi-label kNN scores ``(N, C)`` in [0, 1].

    Args:
        train_features: ``(M, D)`` features of the training patches.
        train_labels: ``(M, C)`` multi-hot labels.
        features: ``(N, D)`` features to score.
        k: neighbours (``min(k, M)`` are used).
        temperature: ``T`` of the vote weights ``exp(s / T)``.
        chunk: query patches per similarity block (bounds memory).

    Raises:
        ValueError: for an empty training set, mismatched shapes, or non-positive ``k`` or temperature.
    """
    if train_features.ndim != 2 or features.ndim != 2 or train_features.shape[1] != features.shape[1]:
        raise ValueError(f"features must be (M, D) and (N, D), got {tuple(train_features.shape)} and "
                         f"{tuple(features.shape)}")  # fmt: skip
    if len(train_features) == 0 or len(train_labels) != len(train_features):
        raise ValueError(f"the kNN probe needs training patches with one label row each, got {len(train_features)} "
                         f"features and {len(train_labels)} label rows")  # fmt: skip
    if k < 1 or temperature <= 0:
        raise ValueError(f"k must be at least 1 and the temperature positive, got k={k}, T={temperature}")
    bank = F.normalize(train_features.float(), dim=1)
    labels = train_labels.float()
    neighbours = min(k, len(bank))
    scores = []
    for start in range(0, len(features), chunk):
        queries = F.normalize(features[start : start + chunk].float(), dim=1)
        similarity, index = (queries @ bank.T).topk(neighbours, dim=1)  # (n, k)
        # subtracting each row's largest similarity leaves the normalised weights unchanged and avoids overflow
        weights = torch.exp((similarity - similarity[:, :1]) / temperature)
        # p[n, c] = sum_k w[n, k] y[index[n, k], c] / sum_k w[n, k]
        scores.append(torch.einsum("nk,nkc->nc", weights, labels[index]) / weights.sum(dim=1, keepdim=True))
    return torch.cat(scores) if scores else torch.empty(0, labels.shape[1])
