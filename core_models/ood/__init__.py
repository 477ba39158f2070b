"""Out-of-distribution scores: how unlike its training data a clip looks to a model.

:mod:`core_models.ood.stats` holds the scores and the statistics a checkpoint keeps;
:mod:`core_models.ood.fit` fits them for a checkpoint and measures how well each score separates;
:mod:`core_models.ood.inputs` makes the out-of-distribution clips the measurements and tests use.
"""

from core_models.ood.stats import DEFAULT_SCORE, SCORES, OODStats, Verdict, judge

__all__ = ["DEFAULT_SCORE", "SCORES", "OODStats", "Verdict", "judge"]
