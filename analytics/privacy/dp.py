"""The edge to OpenDP: differentially private counts over public categories, and sums.

Plain values in and out; OpenDP's domains, metrics and measurements stay in here.
Counts use OpenDP's chain "count by categories, then Laplace noise"::

    (vector of category labels, symmetric distance)
        >> then_count_by_categories(categories)   # one count per public category
        >> then_laplace(scale)                     # discrete Laplace on integer counts

Neighbouring inputs differ by all the rows of one person (the unit of privacy), so the
caller bounds how many rows one person contributes (``max_contributions``) before
calling; that bound is the symmetric distance ``d_in`` and, since one row moves one
count by one, the L1 sensitivity of the counts. The noise scale is the smallest whose
privacy loss OpenDP certifies at most ``epsilon`` for ``d_in`` (pure epsilon-DP). The
categories are public (zones, hours, event types), never taken from the data, so a
count's presence says nothing. Sums (:func:`laplace_sums`) are bounded and added up by
the caller, which states their L1 sensitivity; OpenDP adds Laplace noise to the vector
of sums (its floating-point Laplace, made safe by discretising). Noise is drawn by
OpenDP from the OS's secure source: there is no seed, and this module never draws
noise itself.

Errors: :class:`NoiseFailed` (a :class:`PrivacyError`) when OpenDP refuses the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import opendp.prelude as dp
from opendp.mod import OpenDPException

from analytics.privacy.errors import BadReleaseParams, PrivacyError

# OpenDP gates the mechanisms whose proofs are still under its own review behind the
# "contrib" feature (make_count_by_categories, make_laplace among them). We accept
# them: they are the library's standard counting chain, documented and tested upstream,
# and it is still better than noise of our own making.
dp.enable_features("contrib")

_ALPHA = 0.05  # accuracy reported at 95 % confidence


class NoiseFailed(PrivacyError):
    """OpenDP could not build or run a mechanism for these inputs."""


@dataclass(frozen=True, slots=True)
class NoisyCounts:
    counts: tuple[int, ...]  # one per category, in the categories' order; may be negative
    scale: float  # of the discrete Laplace noise added to each count
    epsilon: float  # the privacy loss OpenDP certifies for max_contributions (<= asked)
    sensitivity: int  # L1: how far one person can move the vector of counts
    accuracy: float  # each count's noise is within ± this with 95 % probability


def _chain(categories: Sequence[str], scale: float) -> dp.Measurement:
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    chain = (space
             >> dp.t.then_count_by_categories(categories=list(categories), null_category=False)
             >> dp.m.then_laplace(scale=scale))
    assert isinstance(chain, dp.Measurement)
    return chain


def laplace_counts(labels: Sequence[str], categories: Sequence[str], *,
                   max_contributions: int, epsilon: float) -> NoisyCounts:
    """Noisy counts of *labels* per category under epsilon-DP.

    *labels* hold one category per row after the caller has bounded each person to at
    most *max_contributions* rows; labels outside *categories* are not counted.
    """
    if not categories:
        raise BadReleaseParams("A differentially private count needs at least one category.")
    if len(set(categories)) != len(categories):
        raise BadReleaseParams("The categories of a differentially private count must be distinct.")
    if max_contributions < 1:
        raise BadReleaseParams("Each person must be allowed at least one row (max_contributions >= 1).")
    if not 0 < epsilon < float("inf"):
        raise BadReleaseParams(f"epsilon must be a positive number, not {epsilon!r}.")
    try:
        scale = float(dp.binary_search_param(
            lambda s: _chain(categories, s), d_in=max_contributions, d_out=epsilon, T=float))
        measurement = _chain(categories, scale)
        certified = float(measurement.map(max_contributions))  # type: ignore[no-untyped-call]
        released = measurement(list(labels))
        accuracy = float(dp.discrete_laplacian_scale_to_accuracy(scale, _ALPHA))
    except OpenDPException as exc:
        raise NoiseFailed(f"OpenDP refused the count: {exc.message or exc.variant}.") from exc
    except ValueError as exc:  # binary_search_param found no scale for this epsilon
        raise NoiseFailed(f"OpenDP found no noise scale for epsilon {epsilon:g}: {exc}") from exc
    if certified > epsilon:  # binary_search_param guarantees it; never publish otherwise
        raise NoiseFailed(f"OpenDP certifies epsilon {certified:g}, above the {epsilon:g} asked.")
    # At a vanishing scale the accuracy formula gives -inf: the noise is then nil.
    accuracy = accuracy if math.isfinite(accuracy) and accuracy > 0 else 0.0
    return NoisyCounts(tuple(int(c) for c in released), scale, certified, max_contributions, accuracy)


@dataclass(frozen=True, slots=True)
class NoisySums:
    sums: tuple[float, ...]  # in the order given; may be negative
    scale: float
    epsilon: float
    sensitivity: float
    accuracy: float  # each sum's noise is within ± this with 95 % probability


def laplace_sums(sums: Sequence[float], *, sensitivity: float, epsilon: float) -> NoisySums:
    """*sums* with Laplace noise under epsilon-DP, given that one person moves the vector
    of sums by at most *sensitivity* in L1 (the caller's contribution bound)."""
    if not sums:
        raise BadReleaseParams("A differentially private sum needs at least one cell.")
    if not 0 < sensitivity < float("inf"):
        raise BadReleaseParams(f"The sensitivity must be a positive number, not {sensitivity!r}.")
    if not 0 < epsilon < float("inf"):
        raise BadReleaseParams(f"epsilon must be a positive number, not {epsilon!r}.")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    try:
        scale = float(dp.binary_search_param(
            lambda s: space >> dp.m.then_laplace(scale=s), d_in=sensitivity, d_out=epsilon, T=float))
        measurement = space >> dp.m.then_laplace(scale=scale)
        certified = float(measurement.map(sensitivity))
        released = measurement([float(v) for v in sums])
        accuracy = float(dp.laplacian_scale_to_accuracy(scale, _ALPHA))
    except OpenDPException as exc:
        raise NoiseFailed(f"OpenDP refused the sums: {exc.message or exc.variant}.") from exc
    except ValueError as exc:
        raise NoiseFailed(f"OpenDP found no noise scale for epsilon {epsilon:g}: {exc}") from exc
    if certified > epsilon:
        raise NoiseFailed(f"OpenDP certifies epsilon {certified:g}, above the {epsilon:g} asked.")
    accuracy = accuracy if math.isfinite(accuracy) and accuracy > 0 else 0.0
    return NoisySums(tuple(float(v) for v in released), scale, certified, sensitivity, accuracy)
