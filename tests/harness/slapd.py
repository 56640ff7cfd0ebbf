"""A real OpenLDAP `slapd` for tests: its own slapd.conf, mdb database and port, nothing system-wide.

The suffix is dc=berth,dc=test with people under ou=people and groups (groupOfNames) under ou=groups.
`cn=reader` is a search account that can read everything but passwords; the rootdn seeds and edits.
With `memberof=True` the memberof overlay keeps each user's `memberOf` in step with the groups.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import ldap3

from tests.harness.plugin import free_port

SLAPD = "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=berth,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


def available() -> bool:
    return Path(SLAPD).is_file() and (SCHEMA_DIR / "inetorgperson.schema").is_file()


def user_dn(uid: str) -> str:
    return f"uid={ldap3.utils.dn.escape_rdn(uid)},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={ldap3.utils.dn.escape_rdn(cn)},{GROUPS}"


class SlapdServer:
    def __init__(self, workdir: Path, *, memberof: bool = False, port: int | None = None) -> None:
        self.workdir = workdir
        self.memberof = memberof
        self.port = port or free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.log_path = workdir / "slapd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        overlay = (
            "overlay memberof\n"
            "memberof-group-oc groupOfNames\n"
            "memberof-member-ad member\n"
            "memberof-memberof-ad memberOf\n"
            "memberof-refint TRUE\n"
        )
        config = f"""
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
pidfile {self.workdir}/slapd.pid
argsfile {self.workdir}/slapd.args
modulepath {MODULE_DIR}
moduleload back_mdb
{"moduleload memberof" if self.memberof else ""}
database mdb
maxsize 67108864
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {data}
{overlay if self.memberof else ""}
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""
        (self.workdir / "slapd.conf").write_text(config)

    def start(self) -> None:
        if not available():
            raise RuntimeError(f"{SLAPD} is missing: apt-get install slapd ldap-utils")
        with self.log_path.open("ab") as log:
            # -d 0: stay in the foreground (so stop() can end it) without debug output.
            self._proc = subprocess.Popen(
                [SLAPD, "-d", "0", "-f", str(self.workdir / "slapd.conf"), "-h", f"{self.url}/"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"slapd exited with {self._proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not listen on {self.port}: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir / "data", ignore_errors=True)

    def settings(self, **overrides: object) -> dict[str, object]:
        """The `ldap` section of berth.yml that points at this server."""
        return {
            "url": self.url,
            "search_dn": READER_DN,
            "search_password": READER_PASSWORD,
            "base_dn": PEOPLE,
            "filter": "(objectClass=inetOrgPerson)",
            "uid": "uid",
            "group_base_dn": GROUPS,
            "group_filter": "(objectClass=groupOfNames)",
            "timeout": 2.0,
            **overrides,
        }

    # --- content, written as the rootdn ----------------------------------------------------------------

    def _admin(self) -> ldap3.Connection:
        conn = ldap3.Connection(
            ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE),
            user=ROOT_DN,
            password=ROOT_PASSWORD,
            auto_bind=True,
            raise_exceptions=False,
        )
        return conn

    def seed(self, users: Mapping[str, str], groups: Mapping[str, Iterable[str]]) -> None:
        """The tree, the reader account, `users` (uid → password) and `groups` (cn → member uids)."""
        conn = self._admin()
        try:
            if not conn.search(SUFFIX, "(objectClass=*)", search_scope=ldap3.BASE):
                _ok(conn, conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "berth", "o": "Berth tests"}))
                _ok(conn, conn.add(PEOPLE, ["organizationalUnit"], {"ou": "people"}))
                _ok(conn, conn.add(GROUPS, ["organizationalUnit"], {"ou": "groups"}))
                attributes = {"cn": "reader", "userPassword": READER_PASSWORD}
                _ok(conn, conn.add(READER_DN, ["organizationalRole", "simpleSecurityObject"], attributes))
            for uid, password in users.items():
                self._add_user(conn, uid, password)
            for cn, members in groups.items():
                self._add_group(conn, cn, members)
        finally:
            conn.unbind()

    def add_user(self, uid: str, password: str, *, mail: str | None = None) -> None:
        conn = self._admin()
        try:
            self._add_user(conn, uid, password, mail=mail)
        finally:
            conn.unbind()

    @staticmethod
    def _add_user(conn: ldap3.Connection, uid: str, password: str, *, mail: str | None = None) -> None:
        attributes: dict[str, object] = {
            "uid": uid,
            "cn": f"{uid} Example",
            "sn": "Example",
            "displayName": f"{uid} Example",
            "mail": mail or f"{uid}@berth.test",
        }
        if password:
            attributes["userPassword"] = password
        _ok(conn, conn.add(user_dn(uid), ["inetOrgPerson"], attributes))

    @staticmethod
    def _add_group(conn: ldap3.Connection, cn: str, members: Iterable[str]) -> None:
        # groupOfNames needs one member at least; the group's own DN stands in for "nobody".
        dns = [user_dn(m) for m in members] or [group_dn(cn)]
        _ok(conn, conn.add(group_dn(cn), ["groupOfNames"], {"cn": cn, "member": dns}))

    def add_group(self, cn: str, members: Iterable[str]) -> None:
        conn = self._admin()
        try:
            self._add_group(conn, cn, members)
        finally:
            conn.unbind()

    def add_to_group(self, cn: str, uid: str) -> None:
        self._modify(cn, {"member": [(ldap3.MODIFY_ADD, [user_dn(uid)])]})

    def remove_from_group(self, cn: str, uid: str) -> None:
        self._modify(cn, {"member": [(ldap3.MODIFY_DELETE, [user_dn(uid)])]})

    def _modify(self, cn: str, changes: dict[str, list[tuple[str, list[str]]]]) -> None:
        conn = self._admin()
        try:
            _ok(conn, conn.modify(group_dn(cn), changes))
        finally:
            conn.unbind()


def _ok(conn: ldap3.Connection, done: bool) -> None:
    if not done:
        raise RuntimeError(f"slapd refused a change: {conn.result}")
