"""What a delivery attempt's result means for the outbox row. Pure.

2xx: delivered. 4xx other than 408 (timeout) and 429 (too many requests): the
receiver refuses this message, so sending it again will not help: failed. Anything
else (5xx, timeouts, refused connections, no URL configured yet): try again after
an exponentially growing delay, until the attempts run out.
"""

from __future__ import annotations

from dataclasses import dataclass

_RETRYABLE_4XX = frozenset({408, 429})
ERROR_MAX = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    first_delay_s: float = 2.0
    max_delay_s: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the *attempts*-th failed attempt (1-based)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # 'delivered', 'pending' (retry later) or 'failed'
    retry_in_s: float | None
    error: str | None


def judge(policy: RetryPolicy, attempts: int, status: int | None, error: str | None) -> Outcome:
    """The row's next state after attempt number *attempts* got *status* or *error*."""
    if status is not None and 200 <= status < 300:
        return Outcome("delivered", None, None)
    reason = error if error is not None else f"HTTP {status}"
    reason = reason[:ERROR_MAX]
    permanent = status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX
    if permanent or attempts >= policy.max_attempts:
        if not permanent:
            reason = f"{reason} (gave up after {attempts} attempts)"
        return Outcome("failed", None, reason)
    return Outcome("pending", policy.delay(attempts), reason)
