"""What one `cityhub bench ingest` run is asked to do."""

from __future__ import annotations

from dataclasses import dataclass

from hub.errors import InvalidInput
from ingest.workers import MAX_WORKERS


def parse_workers(text: str) -> tuple[int, ...]:
    """``--workers 1,2,4`` as (1, 2, 4): distinct counts, in the order given."""
    counts: list[int] = []
    for item in text.split(","):
        try:
            n = int(item.strip())
        except ValueError:
            raise InvalidInput(f"--workers takes comma-separated counts such as 1,2; "
                               f"{item.strip()!r} is not a number.") from None
        if n not in counts:
            counts.append(n)
    return tuple(counts)


def _counts(counts: tuple[int, ...]) -> str:
    return ", ".join(str(n) for n in counts[:-1]) + f" and {counts[-1]}" if len(counts) > 1 \
        else str(counts[0])


@dataclass(frozen=True, slots=True)
class BenchConfig:
    devices: int
    rate: float  # messages per second
    duration: float  # seconds of publishing
    batch: int  # messages per commit, for both consumers
    readings_per_message: int = 1
    gateway_batch: int = 0  # readings per gateway message; 0 means devices publish themselves
    window: int = 2000  # unacknowledged messages the publisher allows
    naive: bool = True
    mqtt_protocol: str = "5"  # ingest's CITYHUB_MQTT_PROTOCOL
    workers: tuple[int, ...] = (1,)  # one ingest trial for each count of worker processes

    @property
    def messages(self) -> int:
        return int(self.rate * self.duration)

    @property
    def readings(self) -> int:
        """Readings in each message."""
        return self.gateway_batch or self.readings_per_message

    @property
    def title(self) -> str:
        """Names the kind of load; runs of the same kind replace each other's figures."""
        if self.gateway_batch:
            kind = f"Gateway messages of {self.gateway_batch} readings"
        elif self.readings_per_message > 1:
            kind = f"Device messages of {self.readings_per_message} readings"
        else:
            kind = "Device messages of 1 reading"
        protocol = "" if self.mqtt_protocol == "5" else f", ingest on MQTT {self.mqtt_protocol}"
        workers = "" if self.workers == (1,) else f", {_counts(self.workers)} ingest workers"
        return f"{kind}, {self.rate:,.0f} msg/s offered{protocol}{workers}"

    def check(self) -> None:
        if not self.workers or any(not 1 <= n <= MAX_WORKERS for n in self.workers):
            raise InvalidInput(f"--workers takes counts between 1 and {MAX_WORKERS}, e.g. 1,2.")
        if self.messages < 1:
            raise InvalidInput("--rate times --duration must be at least one message.")
        if self.gateway_batch and self.readings_per_message > 1:
            raise InvalidInput(
                "Give --gateway-batch or --readings-per-message, not both: a gateway message "
                "carries one reading for each of the --gateway-batch devices behind it."
            )
        if self.gateway_batch and self.devices % self.gateway_batch:
            raise InvalidInput(
                f"--devices ({self.devices}) must be a multiple of --gateway-batch "
                f"({self.gateway_batch}): each gateway speaks for that many devices."
            )
