"""SQL of the run-time configuration: the keys set over berth.yml's defaults. Writing notifies
'berth_config' at commit (migration 0013's trigger)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.common.db import Executor

CHANNEL = "berth_config"


async def overrides(ex: Executor) -> dict[str, Any]:
    rows = await ex.fetch("SELECT key, value::text AS value FROM configurations")
    return {r["key"]: json.loads(r["value"]) for r in rows}


async def put(ex: Executor, values: Mapping[str, Any]) -> None:
    await ex.execute(
        "INSERT INTO configurations (key, value) SELECT k, v::jsonb FROM unnest($1::text[], $2::text[]) AS t(k, v)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        list(values),
        [json.dumps(v) for v in values.values()],
    )
