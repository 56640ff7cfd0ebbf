"""Project quotas: what a write would add to a project's usage, whether its limit allows it, and Harbor's
words for both answers. Shared by the registry (pushes) and core (copies); the usage itself is kept by
migration 0019's triggers."""

from __future__ import annotations

from dataclasses import dataclass

UNLIMITED = -1
# Harbor's warning threshold: a write leaving the usage at this share of the limit or more is reported.
WARNING_PERCENT = 85
# The SQLSTATE of migration 0019's refusal at commit, DETAIL "<adding> <used before> <limit>".
EXCEEDED_SQLSTATE = "BQ403"


def display_size(n: int) -> str:
    """Bytes as Harbor's quota messages write them: "512 B", "2.1 MiB", "10.0 GiB"."""
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), -1
    while value >= 1024 and unit < 5:
        value /= 1024
        unit += 1
    return f"{value:.1f} {'KMGTPE'[unit]}iB"


class QuotaExceeded(Exception):
    """A write that would take a project's usage past its limit; nothing of it was written."""

    def __init__(self, adding: int, used: int, hard: int) -> None:
        self.adding, self.used, self.hard = adding, used, hard
        super().__init__(
            f"adding {display_size(adding)} of storage resource, which when updated to current usage of"
            f" {display_size(used)} will exceed the configured upper limit of {display_size(hard)}."
        )

    @staticmethod
    def from_detail(detail: str | None) -> QuotaExceeded:
        """The refusal of migration 0019's trigger, from its DETAIL."""
        try:
            adding, used, hard = (int(part) for part in (detail or "").split())
        except ValueError:
            adding, used, hard = 0, 0, 0
        return QuotaExceeded(adding, used, hard)


@dataclass(frozen=True, slots=True)
class Charge:
    """What a write would add to its project's usage, read before it writes: the limit and the usage then,
    and the bytes of the digests it names that the project does not reference yet (0 when unlimited:
    nothing to check)."""

    hard: int
    used: int
    adding: int

    def refusal(self) -> QuotaExceeded | None:
        if self.hard == UNLIMITED or self.adding == 0 or self.used + self.adding <= self.hard:
            return None
        return QuotaExceeded(self.adding, self.used, self.hard)

    def warning(self) -> str | None:
        """Harbor's QUOTA_WARNING details when the write leaves the usage at WARNING_PERCENT or more."""
        after = self.used + self.adding
        if self.hard == UNLIMITED or self.adding == 0 or after * 100 < self.hard * WARNING_PERCENT:
            return None
        return (
            f"quota usage reach {WARNING_PERCENT}%: resource storage used {display_size(after)}"
            f" of {display_size(self.hard)}"
        )
