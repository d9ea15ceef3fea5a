"""The rank job: which backbone transfers best to this data? (``transferkit rank``)

Scores candidate backbones on cached frozen features of the training split (LogME, LEEP,
NCE, H-score; see :mod:`transferkit.ranking`) and, with ``validate=True``, linear-probes
each one on the validation split and reports how well each score's ranking agrees with
the probe accuracies (Spearman's rho). The engine part lives in
:mod:`transferkit.pipeline.candidates`, which ``--strategy auto`` shares.

>>> rows = rank("digits", backbones=["efficientnet_lite0", "random:efficientnet_lite0"],
...             shots=10)  # doctest: +SKIP
>>> [(r["backbone"], round(r["scores"]["logme"], 3)) for r in rows]  # doctest: +SKIP
"""

from __future__ import annotations

from transferkit.pipeline.candidates import (
    DEFAULT_POOL,
    Ranking,
    default_pool,
    parse_candidate,
    rank,
    spearman,
)

__all__ = ["DEFAULT_POOL", "Ranking", "default_pool", "parse_candidate", "rank", "spearman"]
