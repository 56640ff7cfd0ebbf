"""Starting the token service: key pair, first-start bootstrap, restarts, concurrent starts, settings."""

from __future__ import annotations

import json
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from services.common.auth.tokens import TokenVerifier, generate_key_and_certificate
from tests.harness.plugin import TestDatabase
from tests.harness.token import TokenServiceProcess, add_user, query, set_password
from tests.integration.token.helpers import ADMIN, ISSUER, SERVICE, ask, assert_error, claims, granted

pytestmark = pytest.mark.integration

PRINTED = re.compile(r"^berth: admin password: (\S+)$", re.MULTILINE)


def events(proc: TokenServiceProcess, name: str) -> list[dict[str, Any]]:
    found = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                found.append(entry)
    return found


def identity_rows(db: TestDatabase) -> tuple[int, int, int]:
    (row,) = query(
        db,
        "SELECT (SELECT count(*) FROM users) AS users,"
        " (SELECT count(*) FROM projects WHERE name = 'library' AND public AND owner_id = 1) AS library,"
        " (SELECT count(*) FROM project_members WHERE entity_type = 'u' AND entity_id = 1 AND role = 1) AS members",
    )
    return row["users"], row["library"], row["members"]


@pytest.fixture
def service(pg_database: TestDatabase, tmp_path: Path) -> Any:
    started: list[TokenServiceProcess] = []

    def make(name: str = "token", **kwargs: Any) -> TokenServiceProcess:
        proc = TokenServiceProcess(tmp_path / name, pg_database, **kwargs)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


# --- key pair ------------------------------------------------------------------------------------------


def test_the_key_pair_is_generated_at_first_start_and_reused_after(service: Any) -> None:
    proc: TokenServiceProcess = service()
    assert not proc.private_key_path.exists()
    proc.start()
    key, cert = proc.private_key_path.read_bytes(), proc.certificate_path.read_bytes()
    assert stat.S_IMODE(proc.private_key_path.stat().st_mode) == 0o600
    first = ask(proc, "repository:library/a:pull", auth=ADMIN).json()["token"]
    verifier = TokenVerifier(cert, issuer=ISSUER, audience=SERVICE)
    verifier.verify(first)

    proc.restart()
    assert proc.private_key_path.read_bytes() == key and proc.certificate_path.read_bytes() == cert
    second = ask(proc, "repository:library/a:pull", auth=ADMIN).json()["token"]
    assert jwt.get_unverified_header(second)["kid"] == jwt.get_unverified_header(first)["kid"] == verifier.kid
    verifier.verify(second)
    assert [e["kid"] for e in events(proc, "token_key_loaded")] == [verifier.kid, verifier.kid]


def test_a_configured_key_pair_is_used_as_it_is(service: Any, tmp_path: Path) -> None:
    key, cert = generate_key_and_certificate("operator-made")
    (tmp_path / "mine").mkdir()
    key_path, cert_path = tmp_path / "mine" / "key.pem", tmp_path / "mine" / "cert.pem"
    key_path.write_bytes(key)
    cert_path.write_bytes(cert)
    proc: TokenServiceProcess = service(private_key=key_path, certificate=cert_path)
    proc.start()
    token = ask(proc, auth=ADMIN).json()["token"]
    TokenVerifier(cert, issuer=ISSUER, audience=SERVICE).verify(token)
    assert key_path.read_bytes() == key and cert_path.read_bytes() == cert


def test_half_a_key_pair_stops_the_start_with_a_clear_message(service: Any, tmp_path: Path) -> None:
    proc: TokenServiceProcess = service()
    proc.private_key_path.parent.mkdir(parents=True)
    proc.private_key_path.write_bytes(generate_key_and_certificate("x")[0])
    with pytest.raises(RuntimeError) as exc:
        proc.start()
    message = str(exc.value)
    assert str(proc.certificate_path) in message and "token.certificate" in message
    assert "Traceback" not in message


def test_the_expiry_is_configurable(service: Any) -> None:
    proc: TokenServiceProcess = service(expiration_minutes=5)
    proc.start()
    r = ask(proc, auth=ADMIN)
    assert r.json()["expires_in"] == 300
    payload = claims(r)
    assert payload["exp"] - payload["iat"] == 300


def test_the_service_and_issuer_are_configurable(service: Any) -> None:
    proc: TokenServiceProcess = service(service="my-registry", issuer="my-issuer")
    proc.start()
    assert_error(ask(proc, auth=ADMIN), 400, "INVALID_REQUEST")
    r = ask(proc, auth=ADMIN, params=[("service", "my-registry"), ("scope", "repository:library/a:pull")])
    verified = TokenVerifier(proc.certificate_path.read_bytes(), issuer="my-issuer", audience="my-registry").verify(
        r.json()["token"]
    )
    assert verified.audience == "my-registry" and verified.issuer == "my-issuer"


# --- bootstrap -----------------------------------------------------------------------------------------


def test_first_start_creates_the_admin_and_the_public_library_once(service: Any, pg_database: TestDatabase) -> None:
    proc: TokenServiceProcess = service()
    proc.start()
    assert identity_rows(pg_database) == (1, 1, 1)
    (admin,) = query(pg_database, "SELECT id, username, sysadmin, password_hash FROM users")
    assert (admin["id"], admin["username"], admin["sysadmin"]) == (1, "admin", True)
    assert admin["password_hash"].startswith("$argon2id$")
    assert len(events(proc, "admin_created")) == 1

    proc.restart()
    proc.restart()
    assert identity_rows(pg_database) == (1, 1, 1)
    (again,) = query(pg_database, "SELECT password_hash FROM users")
    assert again["password_hash"] == admin["password_hash"]
    assert len(events(proc, "admin_created")) == 1
    # The next user and project number after the admin's and library's.
    assert add_user(pg_database, "second", "Secret-123").id == 2


def test_a_deleted_library_is_not_recreated_at_restart(service: Any, pg_database: TestDatabase) -> None:
    proc: TokenServiceProcess = service()
    proc.start()
    query(pg_database, "DELETE FROM projects WHERE name = 'library'")
    proc.restart()
    assert query(pg_database, "SELECT name FROM projects") == []
    assert granted(ask(proc, "repository:library/a:pull", auth=ADMIN)) == {"library/a": []}


def test_concurrent_first_starts_create_everything_once_and_share_one_key(
    service: Any, pg_database: TestDatabase, tmp_path: Path
) -> None:
    key, cert = tmp_path / "shared" / "key.pem", tmp_path / "shared" / "cert.pem"
    procs: list[TokenServiceProcess] = [
        service(f"t{i}", admin_password="", private_key=key, certificate=cert) for i in range(3)
    ]
    with ThreadPoolExecutor(len(procs)) as pool:
        list(pool.map(lambda p: p.start(), procs))
    assert identity_rows(pg_database) == (1, 1, 1)
    printed = [m for p in procs for m in PRINTED.findall(p.logs())]
    assert len(printed) == 1, "the random admin password is printed once, by the start that created it"
    verifier = TokenVerifier(cert.read_bytes(), issuer=ISSUER, audience=SERVICE)
    for p in procs:
        r = ask(p, "repository:library/a:pull,push", auth=("admin", printed[0]))
        # `library` is project 1, as in Harbor.
        assert verifier.verify(r.json()["token"]).allows("repository", "library/a", "push", project_id=1)


def test_the_default_admin_password_is_warned_about_at_every_start_until_changed(
    service: Any, pg_database: TestDatabase
) -> None:
    proc: TokenServiceProcess = service()
    proc.start()
    assert ask(proc, auth=ADMIN).status_code == 200
    assert len(events(proc, "admin_default_password")) == 1
    assert events(proc, "admin_default_password")[0]["level"] == "warning"
    proc.restart()
    assert len(events(proc, "admin_default_password")) == 2

    set_password(pg_database, "admin", "Changed-Admin-1")
    proc.restart()
    assert len(events(proc, "admin_default_password")) == 2
    assert_error(ask(proc, auth=ADMIN), 401, "UNAUTHORIZED")
    assert ask(proc, auth=("admin", "Changed-Admin-1")).status_code == 200


def test_a_configured_admin_password_is_used_and_not_warned_about(service: Any) -> None:
    proc: TokenServiceProcess = service(admin_password="Configured-1")
    proc.start()
    assert ask(proc, auth=("admin", "Configured-1")).status_code == 200
    assert_error(ask(proc, auth=ADMIN), 401, "UNAUTHORIZED")
    assert events(proc, "admin_default_password") == []
    assert PRINTED.findall(proc.logs()) == []
    assert "Configured-1" not in proc.logs()


def test_without_a_configured_password_a_random_one_is_printed_once(service: Any) -> None:
    proc: TokenServiceProcess = service(admin_password="")
    proc.start()
    (password,) = PRINTED.findall(proc.logs())
    assert len(password) >= 20 and password != "Harbor12345"
    assert ask(proc, "registry:catalog:*", auth=("admin", password)).status_code == 200
    assert_error(ask(proc, auth=ADMIN), 401, "UNAUTHORIZED")
    assert events(proc, "admin_default_password") == []
    proc.restart()
    assert PRINTED.findall(proc.logs()) == [password]


def test_the_admin_password_setting_applies_at_first_start_only(service: Any) -> None:
    first: TokenServiceProcess = service("a")
    first.start()
    first.stop()
    later: TokenServiceProcess = service("b", admin_password="Another-1")
    later.start()
    assert ask(later, auth=ADMIN).status_code == 200
    assert_error(ask(later, auth=("admin", "Another-1")), 401, "UNAUTHORIZED")


def test_with_ldap_auth_only_the_admin_authenticates_from_the_database(service: Any, pg_database: TestDatabase) -> None:
    proc: TokenServiceProcess = service(settings={"auth_mode": "ldap_auth"})
    proc.start()
    add_user(pg_database, "local", "Secret-123")
    assert ask(proc, "registry:catalog:*", auth=ADMIN).status_code == 200
    assert_error(ask(proc, auth=("local", "Secret-123")), 401, "UNAUTHORIZED")
    assert ask(proc, "repository:library/a:pull").status_code == 200  # anonymous still works
