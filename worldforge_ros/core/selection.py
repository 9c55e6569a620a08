"""Selection: WorldForge's policy+score rule plus the checks it lacks.

WorldForge selects ``candidates[best_index]`` after checking only the score count and the index range; it never
reads ``lower_is_better``. Here a score result must also be finite and its ``best_index`` must be a best score in
the declared direction (else ``SCORE_DIRECTION_MISMATCH``); infeasible candidates are never selected (the best
*feasible* candidate wins, ties go to the lowest index); candidates from several policies are pooled with their
provenance. Without a scorer (policy-only mode) the first feasible candidate is selected.

``max_steps`` truncation happens in the translator (``translate(..., max_steps=)``) after the contract check, so
a truncated trajectory still ends at zero velocity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ErrorCode, ProviderError, TranslatorError
from .translators import TranslatedCandidate

MODE_POLICY_SCORE = "policy+score"
MODE_POLICY_ONLY = "policy_only"


@dataclass(frozen=True)
class PooledCandidate:
    """A translated candidate with its position in the pooled list and where it came from."""

    index: int
    policy_provider: str
    policy_candidate_index: int
    candidate: TranslatedCandidate

    @property
    def feasible(self) -> bool:
        return self.candidate.feasible


def pool_candidates(groups: Sequence[tuple[str, Sequence[TranslatedCandidate]]]) -> list[PooledCandidate]:
    """Concatenate each policy's translated candidates in request order, keeping provenance."""
    pooled: list[PooledCandidate] = []
    for provider, candidates in groups:
        for i, cand in enumerate(candidates):
            pooled.append(PooledCandidate(len(pooled), str(provider), i, cand))
    return pooled


def check_scores(scores: Sequence[float] | np.ndarray, best_index: int, lower_is_better: bool,
                 candidate_count: int, provider: str = "") -> np.ndarray:
    """Validate a score result against the candidates; returns the scores flattened to float64 ``(N,)``.

    ``PROVIDER_CONTRACT_VIOLATION`` for a wrong count, non-finite scores or an out-of-range ``best_index``;
    ``SCORE_DIRECTION_MISMATCH`` when ``best_index`` is not a best score for ``lower_is_better`` (any index tied
    for best is accepted).
    """
    who = provider or "score provider"
    try:
        arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ProviderError(f"{who} returned non-numeric scores", ErrorCode.PROVIDER_CONTRACT_VIOLATION) from None
    if arr.size != candidate_count:
        raise ProviderError(f"{who} returned {arr.size} scores for {candidate_count} candidates",
                            ErrorCode.PROVIDER_CONTRACT_VIOLATION, expected=candidate_count, got=int(arr.size))
    if not np.all(np.isfinite(arr)):
        raise ProviderError(f"{who} returned non-finite scores", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    if isinstance(best_index, bool) or not isinstance(best_index, (int, np.integer)) \
            or not 0 <= int(best_index) < arr.size:
        raise ProviderError(f"{who} best_index {best_index!r} out of range for {arr.size} scores",
                            ErrorCode.PROVIDER_CONTRACT_VIOLATION, best_index=repr(best_index))
    best_value = arr.min() if lower_is_better else arr.max()
    if arr[int(best_index)] != best_value:
        direction = "lower" if lower_is_better else "higher"
        expected = int(np.argmin(arr) if lower_is_better else np.argmax(arr))
        raise ProviderError(f"{who} says {direction} is better but best_index {int(best_index)} (score "
                            f"{arr[int(best_index)]!r}) is not the best; index {expected} (score {best_value!r}) is",
                            ErrorCode.SCORE_DIRECTION_MISMATCH, best_index=int(best_index), expected_index=expected)
    return arr


@dataclass(frozen=True)
class Selection:
    """The decision: ``selected_index`` into the pooled candidates and why."""

    selected_index: int
    mode: str
    lower_is_better: bool
    scores: tuple[float, ...] | None
    provider_best_index: int | None
    reason: str

    @property
    def selected_score(self) -> float | None:
        return None if self.scores is None else self.scores[self.selected_index]

    def to_dict(self) -> dict:
        return {"selected_index": self.selected_index, "mode": self.mode, "lower_is_better": self.lower_is_better,
                "scores": list(self.scores) if self.scores is not None else None,
                "provider_best_index": self.provider_best_index, "reason": self.reason}


def select_candidate(feasible: Sequence[bool], scores: Sequence[float] | np.ndarray | None = None,
                     best_index: int | None = None, lower_is_better: bool = True,
                     score_provider: str = "") -> Selection:
    """Pick the candidate to propose.

    With scores: checks them (:func:`check_scores`), then selects the best feasible candidate in the declared
    direction, lowest index among ties. Without scores (policy-only mode): the first feasible candidate.
    No candidate, or none feasible: ``TranslatorError(NO_FEASIBLE_CANDIDATE)``.
    """
    mask = np.asarray([bool(f) for f in feasible], dtype=bool)
    if mask.size == 0:
        raise TranslatorError("no candidates to select from", ErrorCode.NO_FEASIBLE_CANDIDATE)
    if scores is None:
        if not mask.any():
            raise TranslatorError(f"none of {mask.size} candidates is feasible", ErrorCode.NO_FEASIBLE_CANDIDATE)
        chosen = int(np.argmax(mask))
        return Selection(chosen, MODE_POLICY_ONLY, lower_is_better, None, None,
                         "policy-only mode: first feasible candidate (no score provider)")
    if best_index is None:
        raise ProviderError("score result lacks best_index", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
    arr = check_scores(scores, best_index, lower_is_better, mask.size, score_provider)
    if not mask.any():
        raise TranslatorError(f"none of {mask.size} candidates is feasible", ErrorCode.NO_FEASIBLE_CANDIDATE)
    masked = np.where(mask, arr, np.inf if lower_is_better else -np.inf)
    chosen = int(np.argmin(masked) if lower_is_better else np.argmax(masked))  # first occurrence = lowest index
    if chosen == int(best_index):
        reason = "provider's best candidate (feasible)"
    elif not mask[int(best_index)]:
        reason = f"provider's best candidate {int(best_index)} is infeasible; best feasible selected"
    else:
        reason = f"tie with provider's best_index {int(best_index)}; lowest index selected"
    return Selection(chosen, MODE_POLICY_SCORE, bool(lower_is_better), tuple(float(s) for s in arr),
                     int(best_index), reason)
