"""Parameters of a simulation: client styles, sensor MACs and `SimulatorConfig`.

Pure Python, no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit

Style = Literal["tasmota", "pi", "pi-batch"]
STYLES: Final[tuple[Style, ...]] = ("tasmota", "pi", "pi-batch")
DEFAULT_CLIENT_ID_PREFIX: Final = "5C:CF:7F:00"
"""First four MAC octets of simulated sensors; the sensor index gives the last two."""
TASMOTA_TOKEN_RETRY_S: Final = 30.0


def client_id_for(prefix: str, index: int) -> str:
    """The MAC of sensor `index`: `prefix` (four octets) plus the index as two octets.

    >>> client_id_for("5C:CF:7F:00", 1)
    '5C:CF:7F:00:00:01'
    """
    octets = prefix.upper().split(":")
    if len(octets) != 4 or not all(
        len(octet) == 2 and all(c in "0123456789ABCDEF" for c in octet) for octet in octets
    ):
        raise ValueError(f"client id prefix must be four hex octets like 5C:CF:7F:00: {prefix!r}")
    if not 0 <= index <= 0xFFFF:
        raise ValueError(f"sensor index must be 0..65535, got {index}")
    return f"{':'.join(octets)}:{index >> 8:02X}:{index & 0xFF:02X}"


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Parameters of a simulation (times in seconds of the simulation clock).

    `token_retry_s` defaults to 30 s, cut to twice the interval for short intervals.
    `startup_spread_s` spreads the clients' first actions (deterministically per seed) so that
    hundreds of sensors do not start in the same instant; it defaults to min(interval, 10 s).
    `live_timestamps` makes every reading carry its time (real clients send live readings
    without one); use it for an exact comparison with the database.
    """

    base_url: str = "http://127.0.0.1:8000"
    style: Style = "tasmota"
    count: int = 1
    interval_s: float = 15.0
    duration_s: float | None = None
    client_id_prefix: str = DEFAULT_CLIENT_ID_PREFIX
    first_index: int = 1
    seed: int = 0
    resync_interval_s: float = 3600.0
    live_timestamps: bool = False
    first_boot_need_script: bool = True
    buffer_limit: int = 1_000_000
    batch_size: int = 10_000
    timeout_s: float = 30.0
    token_retry_s: float | None = None
    startup_spread_s: float | None = None
    start_registers: Mapping[str, float] = field(default_factory=dict)
    """Register (kWh) each client_id starts from, e.g. its last stored reading (`--register`):
    the simulated meter then continues where the stored history ends instead of jumping."""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        for name in ("interval_s", "resync_interval_s", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError("duration must be positive")
        if self.buffer_limit < 1 or self.batch_size < 1:
            raise ValueError("buffer_limit and batch_size must be at least 1")
        client_id_for(self.client_id_prefix, self.first_index)
        client_id_for(self.client_id_prefix, self.first_index + self.count - 1)
        urlsplit_ok = urlsplit(self.base_url)
        if urlsplit_ok.scheme not in ("http", "https") or not urlsplit_ok.hostname:
            raise ValueError(f"expected an http(s) URL, got {self.base_url!r}")

    @property
    def token_retry(self) -> float:
        """Seconds between token attempts of an inactive Tasmota client."""
        if self.token_retry_s is not None:
            return self.token_retry_s
        return min(TASMOTA_TOKEN_RETRY_S, 2 * self.interval_s)

    @property
    def startup_spread(self) -> float:
        """Largest delay of a client's first action."""
        if self.startup_spread_s is not None:
            return self.startup_spread_s
        return min(self.interval_s, 10.0)

    def sensors(self) -> list[tuple[int, str]]:
        """(index, client_id) of every simulated sensor."""
        return [
            (index, client_id_for(self.client_id_prefix, index))
            for index in range(self.first_index, self.first_index + self.count)
        ]
