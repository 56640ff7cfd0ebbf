from __future__ import annotations

from services.common.cache import LookupCache


def live_cache(max_bytes: int = 1 << 20) -> LookupCache:
    cache = LookupCache(max_bytes)
    cache.live = True
    return cache


def test_hit_after_put() -> None:
    cache = live_cache()
    cache.put("k", 1, "value", 10, cache.generation)
    assert cache.get("k") == "value"


def test_hits_and_misses_are_counted_a_bypass_as_a_miss() -> None:
    cache = live_cache()
    cache.put("k", 1, "value", 10, cache.generation)
    cache.get("k")
    cache.get("absent")
    cache.live = False
    cache.get("k")
    assert (cache.hits, cache.misses) == (1, 2)


def test_nothing_is_served_or_stored_while_not_live() -> None:
    cache = live_cache()
    cache.put("k", 1, "value", 10, cache.generation)
    cache.live = False
    assert cache.get("k") is None
    cache.put("other", 1, "value", 10, cache.generation)
    cache.live = True
    assert cache.get("other") is None


def test_invalidate_drops_only_that_repository() -> None:
    cache = live_cache()
    g = cache.generation
    cache.put("a1", 1, "A1", 10, g)
    cache.put("a2", 1, "A2", 10, g)
    cache.put("b1", 2, "B1", 10, g)
    cache.invalidate(1)
    assert cache.get("a1") is None
    assert cache.get("a2") is None
    assert cache.get("b1") == "B1"


def test_a_lookup_that_raced_a_change_is_not_stored() -> None:
    """Read started before a change's notification arrived: its (possibly old) answer must not stay."""
    cache = live_cache()
    started = cache.generation
    cache.invalidate(7)  # the notification arrives while the lookup is reading the database
    cache.put("k", 7, "old answer", 10, started)
    assert cache.get("k") is None


def test_memory_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = live_cache(max_bytes=800)
    g = cache.generation
    for i in range(8):
        cache.put(f"k{i}", i, i, 100, g)
    assert cache.get("k0") == 0  # k0 is now the most recently used
    cache.put("k8", 8, 8, 100, cache.generation)
    assert cache.get("k1") is None
    assert cache.get("k0") == 0
    assert cache.get("k8") == 8


def test_an_entry_too_large_for_its_share_is_not_cached() -> None:
    cache = live_cache(max_bytes=800)
    cache.put("big", 1, "x", 200, cache.generation)
    assert cache.get("big") is None


def test_clear_forgets_everything() -> None:
    cache = live_cache()
    cache.put("k", 1, "v", 1, cache.generation)
    cache.clear()
    assert cache.get("k") is None


def test_a_change_to_another_repository_does_not_cost_a_lookup_its_store() -> None:
    cache = live_cache()
    started = cache.generation
    cache.invalidate(8)
    cache.put("k", 7, "answer", 10, started)
    assert cache.get("k") == "answer"


def test_a_lookup_that_raced_a_clear_is_not_stored() -> None:
    cache = live_cache()
    started = cache.generation
    cache.clear()
    cache.put("k", 7, "old answer", 10, started)
    assert cache.get("k") is None


def test_forgetting_old_changes_refuses_every_lookup_in_flight() -> None:
    from services.common import cache as module

    cache = live_cache()
    started = cache.generation
    cache.invalidate(1)
    for repository_id in range(2, module.MAX_REMEMBERED_CHANGES + 2):
        cache.invalidate(repository_id)
    cache.put("k", 1, "old answer", 10, started)
    cache.put("other", 10**9, "answer", 10, started)
    assert cache.get("k") is None and cache.get("other") is None
    cache.put("later", 1, "new answer", 10, cache.generation)
    assert cache.get("later") == "new answer"
