"""SQL for artifacts as the REST API shows and changes them: lists and reads, deletes, copies, and the
labels attached to them. `$n` parameters only; column and order fragments come from fixed tables here,
never from the request.

A list is two statements (the page, then the count) whatever the page size: an artifact's tags,
references, accessories, labels and size are aggregated in sub-selects of the page query, not fetched per
row. One repository's list is also offered as its order (`list_order`: every id, which the service caches)
and a page of rows by id (`artifacts_by_id`), so that a deep page costs its own rows and not the OFFSET.
"""

from __future__ import annotations

import datetime as dt
import json
from array import array
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.db import Executor
from services.common.oci import mediatypes as mt
from services.core.artifacts.models import (
    ACCESSORY_LIST,
    ACCESSORY_TYPES,
    ARTIFACT_LIST,
    HELM_CONFIG,
    IMAGE_CONFIGS,
    SUBJECT_ACCESSORY,
    AccessoryView,
    ArtifactRef,
    ArtifactView,
    ReferenceView,
    TagView,
)
from services.core.labels.models import LabelNotFound, LabelView
from services.core.listing import Page, SortKey, Term, column_map, like_pattern, order_by, where_clause

_INDEX_TYPES = ", ".join(f"'{t}'" for t in sorted(mt.INDEXES))


def top_level(repository_id: str) -> str:
    """Harbor hides index children and accessories from artifact lists and counts: they are shown under
    the index (references) and the subject (accessories).

    `repository_id` is the repository's id as the enclosing statement has it ($1, r.id; for a set of
    repositories ANY($1::bigint[])), not a.repository_id: the ids of its indexes' children (an index and
    its children share a repository; migration 0008 indexes a repository's indexes) are then one hashed
    set per repository, looked up per artifact, instead of a probe into artifact_references per artifact
    (a count over 25,000 artifacts cost 4 times as much)."""
    return (
        f"a.id NOT IN (SELECT ar.child_id FROM artifacts p JOIN artifact_references ar ON ar.parent_id = p.id"
        f" WHERE p.repository_id = {repository_id} AND p.media_type IN ({_INDEX_TYPES}))"
        " AND (a.subject_digest IS NULL OR NOT EXISTS"
        " (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))"
    )


ARTIFACT_COUNT = f"(SELECT count(*) FROM artifacts a WHERE a.repository_id = r.id AND {top_level('r.id')})"


_IMAGE_MANIFEST_TYPES = ", ".join(f"'{t}'" for t in sorted(mt.IMAGE_MANIFESTS))
_IMAGE_CONFIG_TYPES = ", ".join(f"'{t}'" for t in sorted(IMAGE_CONFIGS))
# Harbor's `type` in SQL (for q type=...), the same rule as models.artifact_kind.
_KIND = (
    f"CASE WHEN a.artifact_type IS NULL OR a.artifact_type IN ({_IMAGE_CONFIG_TYPES}) THEN 'IMAGE'"
    f" WHEN a.artifact_type = '{HELM_CONFIG}' THEN 'CHART' ELSE a.artifact_type END"
)
_BLOBS_SIZE = (
    "(SELECT sum(b.size) FROM artifact_blobs ab JOIN blobs b ON b.digest = ab.digest WHERE ab.artifact_id = {0}.id)"
)
# The manifest, its blobs, and for an index its children with theirs (Harbor's artifact size).
_SIZE = (
    f"a.size + COALESCE({_BLOBS_SIZE.format('a')}, 0) + COALESCE((SELECT sum(c.size + COALESCE("
    f"{_BLOBS_SIZE.format('c')}, 0)) FROM artifact_references cr JOIN artifacts c ON c.id = cr.child_id"
    " WHERE cr.parent_id = a.id), 0)"
)
_TAGS = (
    "(SELECT json_agg(json_build_object('id', t.id, 'name', t.name, 'repository_id', t.repository_id,"
    " 'artifact_id', t.artifact_id, 'push_time', t.updated_at) ORDER BY t.name) FROM tags t WHERE t.artifact_id = a.id)"
)
_REFERENCES = (
    "(SELECT json_agg(json_build_object('child_id', c.id, 'child_digest', c.digest, 'platform', cr.platform)"
    " ORDER BY c.digest) FROM artifact_references cr JOIN artifacts c ON c.id = cr.child_id WHERE cr.parent_id = a.id)"
)
_ACCESSORIES = (
    "(SELECT json_agg(json_build_object('id', s.id, 'digest', s.digest, 'artifact_type', s.artifact_type,"
    " 'size', s.size, 'created_at', s.created_at) ORDER BY s.created_at, s.id) FROM artifacts s"
    " WHERE s.repository_id = a.repository_id AND s.subject_digest = a.digest)"
)
# The attached labels, the same columns as services.core.labels.store reads.
_LABELS = (
    "(SELECT json_agg(json_build_object('id', l.id, 'name', l.name, 'description', l.description,"
    " 'color', l.color, 'scope', l.scope, 'project_id', l.project_id, 'created_at', l.created_at,"
    " 'updated_at', l.updated_at) ORDER BY l.name, l.id) FROM artifact_labels al JOIN labels l ON l.id = al.label_id"
    " WHERE al.artifact_id = a.id)"
)
_ARTIFACT_SELECT = (
    "SELECT a.id, a.repository_id, r.name AS repository, a.digest, a.media_type, a.artifact_type, a.created_at,"
    " a.pull_time, a.pull_count, a.annotations::text AS annotations, a.config::text AS config, a.icon,"
    # Only an image manifest's own bytes are read (small), for its config's media type.
    f" CASE WHEN a.media_type IN ({_IMAGE_MANIFEST_TYPES}) THEN a.content END AS content,"
    f" {_SIZE} AS total_size, {_TAGS} AS tags, {_REFERENCES} AS refs, {_ACCESSORIES} AS accessories,"
    f" {_LABELS} AS labels FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
)
ARTIFACT_FILTERS = column_map(
    ARTIFACT_LIST.filters,
    {
        "digest": "a.digest",
        # Harbor's media_type is the config's for an image; here both q keys match the manifest's media type.
        "media_type": "a.media_type",
        "manifest_media_type": "a.media_type",
        "artifact_type": "a.artifact_type",
        "type": _KIND,
        "push_time": "a.created_at",
        "pull_time": "a.pull_time",
    },
    # q tags= and labels= are clauses of their own (_tag_clause, _label_clause), not columns.
    own=("tags", "labels"),
)
ARTIFACT_SORTS = column_map(
    ARTIFACT_LIST.sorts,
    {
        "push_time": "a.created_at",
        "creation_time": "a.created_at",
        "pull_time": "a.pull_time",
        "id": "a.id",
        "digest": "a.digest",
    },
)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _config_media_type(content: bytes | None) -> str | None:
    if content is None:
        return None
    try:
        doc = json.loads(content)
        value = doc["config"]["mediaType"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _artifact(row: asyncpg.Record, project_id: int) -> ArtifactView:
    pulled_at = row["pull_time"]
    tags = tuple(
        TagView(
            id=t["id"],
            name=t["name"],
            repository_id=t["repository_id"],
            artifact_id=t["artifact_id"],
            pushed_at=_time(t["push_time"]),
            pulled_at=pulled_at,
        )
        for t in json.loads(row["tags"] or "[]")
    )
    references = tuple(
        ReferenceView(
            parent_id=row["id"], child_id=c["child_id"], child_digest=c["child_digest"], platform=c["platform"]
        )
        for c in json.loads(row["refs"] or "[]")
    )
    accessories = tuple(
        AccessoryView(
            id=s["id"],
            digest=s["digest"],
            artifact_type=s["artifact_type"],
            size=s["size"],
            created_at=_time(s["created_at"]),
        )
        for s in json.loads(row["accessories"] or "[]")
    )
    labels = tuple(
        LabelView(
            id=x["id"],
            name=x["name"],
            description=x["description"],
            color=x["color"],
            scope="g" if x["scope"] == "g" else "p",
            project_id=x["project_id"],
            created_at=_time(x["created_at"]),
            updated_at=_time(x["updated_at"]),
        )
        for x in json.loads(row["labels"] or "[]")
    )
    return ArtifactView(
        id=row["id"],
        project_id=project_id,
        repository_id=row["repository_id"],
        repository=row["repository"],
        digest=row["digest"],
        manifest_media_type=row["media_type"],
        artifact_type=row["artifact_type"],
        config_media_type=_config_media_type(row["content"]),
        size=int(row["total_size"]),
        pushed_at=row["created_at"],
        pulled_at=pulled_at,
        pull_count=row["pull_count"],
        icon=row["icon"],
        annotations=None if row["annotations"] is None else json.loads(row["annotations"]),
        config=None if row["config"] is None else json.loads(row["config"]),
        tags=tags,
        references=references,
        accessories=accessories,
        labels=labels,
    )


def _tag_clause(term: Term, args: list[Any]) -> str:
    """Harbor's q tags=...: `*` any tag, `nil` none, else a tag name (exact, or =~ substring)."""
    value = str(term.value)
    if term.op == "eq" and value == "*":
        return "EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)"
    if term.op == "eq" and value == "nil":
        return "NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)"
    if term.op == "like":
        args.append(like_pattern(value))
        return f"EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id AND t.name LIKE ${len(args)} ESCAPE '\\')"
    args.append(value)
    return f"EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id AND t.name = ${len(args)})"


def _label_clause(term: Term, args: list[Any]) -> str:
    """Harbor's q labels=(id1 id2 ...): artifacts carrying every one of the labels (an intersection)."""
    assert isinstance(term.value, tuple)
    clauses = []
    for label_id in term.value:
        args.append(label_id)
        clauses.append(
            f"EXISTS (SELECT 1 FROM artifact_labels al WHERE al.artifact_id = a.id AND al.label_id = ${len(args)})"
        )
    return " AND ".join(clauses) or "TRUE"


def _list_where(repository: str, terms: Sequence[Term], args: list[Any]) -> str:
    """` WHERE ...` of a list: the top-level artifacts of `repository` ($1 or ANY($1)) matching `terms`."""
    base = [f"a.repository_id = {repository}", top_level(repository)]
    base += [_tag_clause(t, args) for t in terms if t.key == "tags"]
    base += [_label_clause(t, args) for t in terms if t.key == "labels"]
    filters = [t for t in terms if t.key not in ("tags", "labels")]
    return where_clause(" AND ".join(base), filters, ARTIFACT_FILTERS, args)


def _select(with_tag: bool, with_label: bool) -> str:
    select = _ARTIFACT_SELECT if with_tag else _ARTIFACT_SELECT.replace(_TAGS, "NULL")
    return select if with_label else select.replace(_LABELS, "NULL")


def _order(sort: Sequence[SortKey]) -> str:
    return order_by(sort, ARTIFACT_SORTS, ["a.created_at DESC"], "a.id DESC")


async def list_artifacts(
    ex: Executor,
    project_id: int,
    repositories: int | Sequence[int],
    terms: Sequence[Term],
    sort: Sequence[SortKey],
    page: Page,
    *,
    with_tag: bool = True,
    with_label: bool = True,
    latest: bool = False,
) -> tuple[list[ArtifactView], int]:
    """The top-level artifacts of one repository (an id) or of a set of them (a project's: their ids, all
    of the project); with `latest`, only the newest matching artifact of each repository (Harbor's
    latest_in_repository), counted the same way."""
    # One repository keeps `= $1` (the plans the list was tuned with); a set is one array parameter.
    args: list[Any]
    if isinstance(repositories, int):
        args, repository = [repositories], "$1"
    else:
        args, repository = [list(repositories)], "ANY($1::bigint[])"
    where = _list_where(repository, terms, args)
    if latest:
        newest = (
            f"SELECT DISTINCT ON (a.repository_id) a.id FROM artifacts a{where}"
            " ORDER BY a.repository_id, a.created_at DESC, a.id DESC"
        )
        where = f" WHERE a.id IN ({newest})"
    order = _order(sort)
    n = len(args)
    select = _select(with_tag, with_label)
    # The page's ids first, then the sub-selects for those rows only: with them in the same SELECT as the
    # OFFSET, PostgreSQL computes them for every row it skips too (a deep page cost seconds).
    page_ids = f"SELECT a.id FROM artifacts a{where} ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}"
    rows = await ex.fetch(f"{select} WHERE a.id IN ({page_ids}) ORDER BY {order}", *args, page.size, page.offset)
    total = await ex.fetchval(f"SELECT count(*) FROM artifacts a{where}", *args)
    return [_artifact(r, project_id) for r in rows], int(total)


async def list_order(ex: Executor, repository_id: int, terms: Sequence[Term], sort: Sequence[SortKey]) -> array[int]:
    """The ids of every top-level artifact of the repository matching `terms`, in the list's order: what a
    page is a slice of, and whose length is the total. One statement (for the default order an index-only
    scan of artifacts_repository_list), 8 bytes per artifact."""
    args: list[Any] = [repository_id]
    where = _list_where("$1", terms, args)
    rows = await ex.fetch(f"SELECT a.id FROM artifacts a{where} ORDER BY {_order(sort)}", *args)
    return array("q", [r[0] for r in rows])


async def artifacts_by_id(
    ex: Executor, project_id: int, ids: Sequence[int], *, with_tag: bool, with_label: bool
) -> list[ArtifactView]:
    """The artifacts with these ids that still exist, in the order of `ids`: a page of a cached
    list_order, whatever its offset, at the cost of its own rows."""
    rows = await ex.fetch(f"{_select(with_tag, with_label)} WHERE a.id = ANY($1::bigint[])", list(ids))
    position = {artifact_id: i for i, artifact_id in enumerate(ids)}
    rows.sort(key=lambda r: position[r["id"]])
    return [_artifact(r, project_id) for r in rows]


async def artifact(ex: Executor, project_id: int, repository: str, ref: ArtifactRef) -> ArtifactView | None:
    if ref.tag is not None:
        row = await ex.fetchrow(
            f"{_ARTIFACT_SELECT} WHERE r.name = $1 AND a.id = (SELECT t.artifact_id FROM tags t"
            " WHERE t.repository_id = r.id AND t.name = $2)",
            repository,
            ref.tag,
        )
    else:
        row = await ex.fetchrow(f"{_ARTIFACT_SELECT} WHERE r.name = $1 AND a.digest = $2", repository, ref.digest)
    return None if row is None else _artifact(row, project_id)


async def additions(ex: Executor, artifact_id: int) -> dict[str, Any] | None:
    """A chart's README.md, values.yaml and dependencies as the registry kept them at push (migration 0014)."""
    text = await ex.fetchval("SELECT additions::text FROM artifacts WHERE id = $1", artifact_id)
    return None if text is None else dict(json.loads(text))


async def lock_artifact(ex: Executor, repository: str, ref: ArtifactRef) -> tuple[int, int, str] | None:
    """(artifact id, repository id, digest), row-locked until the transaction ends."""
    if ref.tag is not None:
        row = await ex.fetchrow(
            "SELECT a.id, a.repository_id, a.digest FROM tags t JOIN repositories r ON r.id = t.repository_id"
            " JOIN artifacts a ON a.id = t.artifact_id WHERE r.name = $1 AND t.name = $2 FOR UPDATE OF a",
            repository,
            ref.tag,
        )
    else:
        row = await ex.fetchrow(
            "SELECT a.id, a.repository_id, a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
            " WHERE r.name = $1 AND a.digest = $2 FOR UPDATE OF a",
            repository,
            ref.digest,
        )
    return None if row is None else (row["id"], row["repository_id"], row["digest"])


# Accessories: the artifacts of the subject's repository whose subject it is (what `_ACCESSORIES` shows).
# Harbor's accessory type in SQL (for q type= and sort=type), the same rule as AccessoryView.kind.
_ACCESSORY_KIND = (
    "CASE"
    + "".join(f" WHEN s.artifact_type = '{t}' THEN '{kind}'" for t, kind in sorted(ACCESSORY_TYPES.items()))
    + f" ELSE '{SUBJECT_ACCESSORY}' END"
)
ACCESSORY_FILTERS = column_map(
    ACCESSORY_LIST.filters,
    {"type": _ACCESSORY_KIND, "digest": "s.digest", "artifact_id": "s.id", "creation_time": "s.created_at"},
)
ACCESSORY_SORTS = column_map(
    ACCESSORY_LIST.sorts,
    {"creation_time": "s.created_at", "id": "s.id", "digest": "s.digest", "size": "s.size", "type": _ACCESSORY_KIND},
)


async def list_accessories(
    ex: Executor, subject_id: int, terms: Sequence[Term], sort: Sequence[SortKey], page: Page
) -> tuple[list[AccessoryView], int]:
    """A page of the artifact's accessories (oldest first unless sorted otherwise, as its `accessories`),
    and how many match."""
    args: list[Any] = [subject_id]
    source = (
        " FROM artifacts s JOIN artifacts a ON a.id = $1"
        " AND s.repository_id = a.repository_id AND s.subject_digest = a.digest"
    )
    where = where_clause("s.subject_digest IS NOT NULL", terms, ACCESSORY_FILTERS, args)
    order = order_by(sort, ACCESSORY_SORTS, ["s.created_at ASC"], "s.id ASC")
    n = len(args)
    rows = await ex.fetch(
        f"SELECT s.id, s.digest, s.artifact_type, s.size, s.created_at{source}{where}"
        f" ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        page.size,
        page.offset,
    )
    total = await ex.fetchval(f"SELECT count(*){source}{where}", *args)
    accessories = [
        AccessoryView(
            id=r["id"], digest=r["digest"], artifact_type=r["artifact_type"], size=r["size"], created_at=r["created_at"]
        )
        for r in rows
    ]
    return accessories, int(total)


# Copies.
# The source artifact ($1) and, for an index, every manifest below it.
_TREE = (
    "WITH RECURSIVE tree(id) AS (SELECT $1::bigint UNION"
    " SELECT ar.child_id FROM artifact_references ar JOIN tree ON ar.parent_id = tree.id)"
)


async def copy_artifact(ex: Executor, source_id: int, dest_repository_id: int) -> int:
    """Copy the artifact (and an index's children) into the destination repository: rows only. The blobs
    are linked to the destination (mounted), never copied. Returns the destination artifact's id."""
    await ex.execute(
        f"{_TREE} INSERT INTO artifacts (repository_id, digest, media_type, artifact_type, size, subject_digest,"
        " annotations, content, config, additions, icon)"
        " SELECT $2, a.digest, a.media_type, a.artifact_type, a.size, a.subject_digest, a.annotations, a.content,"
        " a.config, a.additions, a.icon FROM artifacts a WHERE a.id IN (SELECT id FROM tree)"
        " ON CONFLICT (repository_id, digest) DO NOTHING",
        source_id,
        dest_repository_id,
    )
    await ex.execute(
        f"{_TREE} INSERT INTO repository_blobs (repository_id, digest)"
        " SELECT DISTINCT $2::bigint, ab.digest FROM artifact_blobs ab WHERE ab.artifact_id IN (SELECT id FROM tree)"
        " ON CONFLICT DO NOTHING",
        source_id,
        dest_repository_id,
    )
    await ex.execute(
        f"{_TREE} INSERT INTO artifact_blobs (artifact_id, digest)"
        " SELECT d.id, ab.digest FROM tree JOIN artifacts s ON s.id = tree.id"
        " JOIN artifact_blobs ab ON ab.artifact_id = s.id"
        " JOIN artifacts d ON d.repository_id = $2 AND d.digest = s.digest ON CONFLICT DO NOTHING",
        source_id,
        dest_repository_id,
    )
    await ex.execute(
        f"{_TREE} INSERT INTO artifact_references (parent_id, child_id, platform)"
        " SELECT dp.id, dc.id, ar.platform FROM tree JOIN artifact_references ar ON ar.parent_id = tree.id"
        " JOIN artifacts sp ON sp.id = ar.parent_id JOIN artifacts sc ON sc.id = ar.child_id"
        " JOIN artifacts dp ON dp.repository_id = $2 AND dp.digest = sp.digest"
        " JOIN artifacts dc ON dc.repository_id = $2 AND dc.digest = sc.digest ON CONFLICT DO NOTHING",
        source_id,
        dest_repository_id,
    )
    dest_id: int = await ex.fetchval(
        "SELECT d.id FROM artifacts d JOIN artifacts s ON s.digest = d.digest WHERE s.id = $1 AND d.repository_id = $2",
        source_id,
        dest_repository_id,
    )
    return dest_id


async def missing_accessories(ex: Executor, source_id: int, dest_repository_id: int) -> list[tuple[int, str]]:
    """(id, digest) of the accessories to copy with the source artifact, row-locked: those whose subject is
    the artifact or a manifest of its tree (an index's children), and recursively theirs (Harbor's copy
    takes accessories along), all in the source's repository; those whose digest the destination already
    holds are left out (left as they are), as is the artifact itself. Subjects before their accessories."""
    rows = await ex.fetch(
        f"{_TREE}, subjects(digest) AS (SELECT a.digest FROM artifacts a WHERE a.id IN (SELECT id FROM tree)),"
        " acc(id, digest, depth) AS (SELECT a.id, a.digest, 1 FROM artifacts a JOIN artifacts s ON s.id = $1"
        " WHERE a.repository_id = s.repository_id AND a.subject_digest IN (SELECT digest FROM subjects)"
        " UNION SELECT a.id, a.digest, acc.depth + 1 FROM acc JOIN artifacts p ON p.id = acc.id"
        " JOIN artifacts a ON a.repository_id = p.repository_id AND a.subject_digest = acc.digest"
        " WHERE acc.depth < 16)"
        " SELECT a.id, a.digest, min(acc.depth) AS depth FROM artifacts a JOIN acc ON acc.id = a.id"
        " WHERE a.id <> $1"
        " AND NOT EXISTS (SELECT 1 FROM artifacts d WHERE d.repository_id = $2 AND d.digest = a.digest)"
        " GROUP BY a.id, a.digest ORDER BY depth, a.id",
        source_id,
        dest_repository_id,
    )
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    locked = await ex.fetch("SELECT id FROM artifacts WHERE id = ANY($1::bigint[]) FOR UPDATE", ids)
    present = {r["id"] for r in locked}
    return [(r["id"], r["digest"]) for r in rows if r["id"] in present]


async def artifact_id(ex: Executor, repository: str, ref: ArtifactRef) -> int | None:
    """The id of the artifact `ref` names in the repository (full name)."""
    value: int | None
    if ref.tag is not None:
        value = await ex.fetchval(
            "SELECT t.artifact_id FROM tags t JOIN repositories r ON r.id = t.repository_id"
            " WHERE r.name = $1 AND t.name = $2",
            repository,
            ref.tag,
        )
    else:
        value = await ex.fetchval(
            "SELECT a.id FROM artifacts a JOIN repositories r ON r.id = a.repository_id"
            " WHERE r.name = $1 AND a.digest = $2",
            repository,
            ref.digest,
        )
    return value


# Labels on artifacts.


async def attach_label(ex: Executor, artifact_id: int, label_id: int) -> bool:
    """False when the label is already attached. One statement: its foreign keys make a label (or an
    artifact) deleted meanwhile a 404 rather than a dangling row."""
    try:
        value = await ex.fetchval(
            "INSERT INTO artifact_labels (artifact_id, label_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            " RETURNING label_id",
            artifact_id,
            label_id,
        )
    except asyncpg.ForeignKeyViolationError:
        raise LabelNotFound("the label or the artifact was deleted meanwhile") from None
    return value is not None


async def detach_label(ex: Executor, artifact_id: int, label_id: int) -> bool:
    value = await ex.fetchval(
        "DELETE FROM artifact_labels WHERE artifact_id = $1 AND label_id = $2 RETURNING label_id",
        artifact_id,
        label_id,
    )
    return value is not None
