"""Which login names are robot accounts'.

A robot is named `<robot_name_prefix><project>+<name>` (or `<prefix><name>`) with the prefix configured
when it was created, and keeps that name: changing `robot_name_prefix` at run time must not lock out the
robots created before. So a name is a robot's when it starts with the configured prefix or with a prefix
some robot was created with (`robots.name_prefix`, read again after every configuration change, and
never forgotten by this process). Core and the token service use the same rule, through the same
authenticators (services.common.auth.live).
"""

from __future__ import annotations

from services.common.db import Database
from services.common.identity import robots_store
from services.common.identity.models import ROBOT_PREFIX


class RobotNames:
    def __init__(self, db: Database, prefix: str = ROBOT_PREFIX) -> None:
        self._db = db
        self._prefix = prefix
        self._known: frozenset[str] = frozenset({prefix})
        # Read the prefixes in use at the next question: at start, and after each configuration change.
        self._stale = True

    @property
    def prefix(self) -> str:
        """The prefix of robots created now."""
        return self._prefix

    def configure(self, prefix: str) -> None:
        self._prefix = prefix
        self._known = self._known | {prefix}
        self._stale = True

    async def is_robot(self, name: str) -> bool:
        if name.startswith(self._prefix):
            return True
        if self._stale:
            found = await robots_store.name_prefixes(self._db.pool)
            self._known = self._known | found
            self._stale = False
        return any(name.startswith(p) for p in self._known)
