"""services.common.settings: berth.yml plus BERTH_* overrides, refused loudly when not understood."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.secret import Secret
from services.common.settings import (
    DatabaseSettings,
    RegistrySettings,
    Settings,
    SettingsError,
    load_settings,
    parse_endpoint,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "deploy" / "berth.yml.tmpl"

WriteConfig = Callable[[str | bytes], Path]


@pytest.fixture
def config(tmp_path: Path) -> WriteConfig:
    """Write a berth.yml with the given text and return its path."""

    def write(text: str | bytes = "") -> Path:
        path = tmp_path / "berth.yml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    return write


# --- defaults ---------------------------------------------------------------------------------------


def test_empty_file_gives_defaults(config: WriteConfig) -> None:
    path = config("")
    settings = load_settings(path, environ={})
    assert settings == Settings()
    assert settings.source == str(path)
    assert settings.http.port == 8080
    assert settings.database.port == 5432
    assert settings.database.password == Secret("")
    assert settings.database.connect_timeout == 10.0
    assert settings.registry.accel_redirect is False
    assert settings.registry.max_manifest_bytes == 4 * 1024 * 1024
    assert settings.storage.filesystem.rootdirectory == "/data/berth/registry"
    assert settings.log.format == "json"


def test_comment_only_file_gives_defaults(config: WriteConfig) -> None:
    assert load_settings(config("# nothing set here\n"), environ={}) == Settings()


def test_source_is_not_compared() -> None:
    assert Settings(source="a") == Settings(source="b")


def test_public_url_and_dsn() -> None:
    settings = Settings()
    assert settings.public_url() == "http://127.0.0.1:8080"
    assert dataclasses.replace(settings, external_url="https://berth.example/").public_url() == "https://berth.example"
    assert DatabaseSettings().dsn() == "postgresql://postgres@127.0.0.1:5432/berth"


# --- the file -----------------------------------------------------------------------------------------


def test_file_overrides_nested_keys_and_keeps_other_defaults(config: WriteConfig) -> None:
    path = config(
        """
hostname: registry.example
database:
  host: db.internal
  port: 6432
  password: s3cret
  connect_timeout: 3
registry:
  accel_redirect: true
storage:
  filesystem:
    rootdirectory: /srv/berth
"""
    )
    settings = load_settings(path, environ={})
    assert settings.hostname == "registry.example"
    assert settings.database.host == "db.internal"
    assert settings.database.port == 6432
    assert settings.database.password.reveal() == "s3cret"
    assert settings.database.connect_timeout == 3.0
    assert isinstance(settings.database.connect_timeout, float)
    assert settings.registry.accel_redirect is True
    assert settings.storage.filesystem.rootdirectory == "/srv/berth"
    # untouched keys in touched sections keep their defaults
    assert settings.database.name == "berth"
    assert settings.registry.port == 5000
    assert settings.log == Settings().log


def test_null_section_means_defaults(config: WriteConfig) -> None:
    settings = load_settings(config("database:\nregistry:\n"), environ={})
    assert settings.database == DatabaseSettings()
    assert settings.registry == RegistrySettings()


# --- environment overrides ----------------------------------------------------------------------------


def test_env_overrides_are_yaml_scalars(config: WriteConfig) -> None:
    settings = load_settings(
        config(""),
        environ={
            "BERTH_DATABASE__PORT": "6543",
            "BERTH_REGISTRY__ACCEL_REDIRECT": "true",
            "BERTH_DATABASE__MAX_OPEN_CONNS": "40",
            "BERTH_HOSTNAME": "berth.example",
            "BERTH_DATABASE__PASSWORD": "hunter2",
        },
    )
    assert settings.database.port == 6543
    assert type(settings.database.port) is int
    assert settings.registry.accel_redirect is True
    assert settings.database.max_open_conns == 40
    assert settings.hostname == "berth.example"
    assert settings.database.password.reveal() == "hunter2"


def test_env_three_levels_deep(config: WriteConfig) -> None:
    settings = load_settings(config(""), environ={"BERTH_STORAGE__FILESYSTEM__ROOTDIRECTORY": "/mnt/blobs"})
    assert settings.storage.filesystem.rootdirectory == "/mnt/blobs"


def test_env_name_is_case_insensitive_after_prefix(config: WriteConfig) -> None:
    settings = load_settings(config(""), environ={"BERTH_database__Port": "7000"})
    assert settings.database.port == 7000


def test_env_wins_over_file(config: WriteConfig) -> None:
    path = config("database:\n  port: 1111\n  host: from-file\nregistry:\n  accel_redirect: false\n")
    settings = load_settings(path, environ={"BERTH_DATABASE__PORT": "2222", "BERTH_REGISTRY__ACCEL_REDIRECT": "true"})
    assert settings.database.port == 2222
    assert settings.database.host == "from-file"
    assert settings.registry.accel_redirect is True


def test_env_ignores_other_variables_and_berth_config(config: WriteConfig) -> None:
    settings = load_settings(
        config(""), environ={"PATH": "/bin", "HOME": "/root", "BERTH_CONFIG": "/does/not/exist.yml"}
    )
    assert settings == Settings()


def test_berth_config_names_the_file(config: WriteConfig) -> None:
    path = config("hostname: via-env\n")
    settings = load_settings(environ={"BERTH_CONFIG": str(path)})
    assert settings.hostname == "via-env"
    assert settings.source == str(path)


def test_empty_env_value_is_empty_string(config: WriteConfig) -> None:
    settings = load_settings(config("external_url: https://x.example\n"), environ={"BERTH_EXTERNAL_URL": ""})
    assert settings.external_url == ""


def test_env_override_into_empty_section_of_file(config: WriteConfig) -> None:
    # `database:` with every key commented out is null in YAML; an override into it must still work,
    # just as the null section alone means "all defaults".
    path = config("database:\n  # port: 5432\n")
    settings = load_settings(path, environ={"BERTH_DATABASE__PORT": "6543"})
    assert settings.database.port == 6543


def _password(s: Settings) -> str:
    return s.database.password.reveal()


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        pytest.param("BERTH_DATABASE__PASSWORD", "0123", _password, id="octal"),  # YAML 1.1: becomes 83
        pytest.param("BERTH_DATABASE__PASSWORD", "12:30", _password, id="sexagesimal"),  # YAML 1.1: 750
        pytest.param("BERTH_DATABASE__NAME", "1_000", lambda s: s.database.name, id="underscore"),  # YAML 1.1: 1000
        pytest.param("BERTH_HOSTNAME", "10.10", lambda s: s.hostname, id="float"),  # becomes 10.1
    ],
)
def test_env_string_values_keep_their_text(
    config: WriteConfig, variable: str, value: str, read: Callable[[Settings], str]
) -> None:
    # An operator cannot quote an environment variable for YAML: a numeric-looking password, name or
    # host must reach a string setting exactly as typed.
    settings = load_settings(config(""), environ={variable: value})
    assert read(settings) == value


# --- refusals -----------------------------------------------------------------------------------------


def test_unknown_top_level_key(config: WriteConfig) -> None:
    path = config("hostnme: typo\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "'hostnme'" in message
    assert str(path) in message


def test_unknown_nested_key_names_the_dotted_path(config: WriteConfig) -> None:
    path = config("database:\n  prot: 5432\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "'database.prot'" in message
    assert str(path) in message
    assert "port" in message  # the known keys are listed


def test_unknown_deeply_nested_key(config: WriteConfig) -> None:
    path = config("storage:\n  filesystem:\n    root: /x\n")
    with pytest.raises(SettingsError, match=r"'storage\.filesystem\.root'"):
        load_settings(path, environ={})


def test_source_is_not_a_key(config: WriteConfig) -> None:
    with pytest.raises(SettingsError, match="'source'"):
        load_settings(config("source: elsewhere\n"), environ={})


def test_unknown_key_from_env_names_the_variable(config: WriteConfig) -> None:
    path = config("")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={"BERTH_DATABASE__PROT": "5432"})
    message = str(info.value)
    assert "'database.prot'" in message
    assert "BERTH_DATABASE__PROT" in message


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('database:\n  port: "abc"\n', "database.port", "integer"),
        ('database:\n  port: "5432"\n', "database.port", "integer"),
        ("database:\n  port: true\n", "database.port", "integer"),
        ("database:\n  port: 1.5\n", "database.port", "integer"),
        ("registry:\n  accel_redirect: maybe\n", "registry.accel_redirect", "true or false"),
        ("registry:\n  accel_redirect: 1\n", "registry.accel_redirect", "true or false"),
        ("database:\n  connect_timeout: soon\n", "database.connect_timeout", "number"),
        ("hostname: [a, b]\n", "hostname", "string"),
        ("log:\n  level: true\n", "log.level", "string"),
        ("database:\n  password: [x]\n", "database.password", "string"),
    ],
)
def test_wrong_type_names_key_and_file(config: WriteConfig, text: str, key: str, expected: str) -> None:
    path = config(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert f"'{key}'" in message
    assert str(path) in message
    assert expected in message


def test_section_that_is_not_a_mapping(config: WriteConfig) -> None:
    path = config("database: 5\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    assert "database" in str(info.value)
    assert str(path) in str(info.value)


def test_env_wrong_type_names_the_variable(config: WriteConfig) -> None:
    path = config("")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={"BERTH_DATABASE__PORT": "abc"})
    message = str(info.value)
    assert "BERTH_DATABASE__PORT" in message
    assert "'database.port'" in message


def test_env_wrong_bool_names_the_variable(config: WriteConfig) -> None:
    with pytest.raises(SettingsError, match="BERTH_REGISTRY__ACCEL_REDIRECT"):
        load_settings(config(""), environ={"BERTH_REGISTRY__ACCEL_REDIRECT": "maybe"})


def test_env_into_a_scalar_is_refused(config: WriteConfig) -> None:
    with pytest.raises(SettingsError, match="BERTH_HOSTNAME__X"):
        load_settings(config("hostname: h\n"), environ={"BERTH_HOSTNAME__X": "1"})


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=re.escape(str(tmp_path))):
        load_settings(tmp_path, environ={})


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(config: WriteConfig) -> None:
    path = config("hostname: x\n")
    path.chmod(0)
    try:
        with pytest.raises(SettingsError, match=re.escape(str(path))):
            load_settings(path, environ={})
    finally:
        path.chmod(0o644)


def test_file_not_utf8(config: WriteConfig) -> None:
    path = config(b"# caf\xe9 (latin-1)\nhostname: x\n")
    with pytest.raises(SettingsError, match=re.escape(str(path))):
        load_settings(path, environ={})


@pytest.mark.parametrize("text", ["database: [\n", "a: b: c\n", "key: 'unterminated\n", "\tport: 1\n"])
def test_invalid_yaml(config: WriteConfig, text: str) -> None:
    path = config(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)
    assert "YAML" in str(info.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_not_a_mapping(config: WriteConfig, text: str) -> None:
    path = config(text)
    with pytest.raises(SettingsError, match="mapping") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


# --- secrets ------------------------------------------------------------------------------------------


def test_secret_is_masked_in_repr(config: WriteConfig) -> None:
    settings = load_settings(config("database:\n  password: topsecret-value\n"), environ={})
    assert settings.database.password.reveal() == "topsecret-value"
    for text in (repr(settings), str(settings), repr(settings.database), str(settings.database.password)):
        assert "topsecret-value" not in text
    assert "********" in repr(settings)


def test_secret_from_env_is_masked(config: WriteConfig) -> None:
    settings = load_settings(config(""), environ={"BERTH_DATABASE__PASSWORD": "env-secret"})
    assert "env-secret" not in repr(settings)
    assert settings.database.password.reveal() == "env-secret"


def test_numeric_secret_in_file_becomes_string(config: WriteConfig) -> None:
    settings = load_settings(config("database:\n  password: 12345\n"), environ={})
    assert settings.database.password.reveal() == "12345"


# --- the shipped template -----------------------------------------------------------------------------


def _keys_of(cls: type, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            keys |= _keys_of(type(default), f"{prefix}{f.name}.")
        else:
            keys.add(f"{prefix}{f.name}")
    return keys


def _keys_in(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict):
            keys |= _keys_in(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_template_lists_every_key_with_its_default() -> None:
    if not TEMPLATE.is_file():
        pytest.skip(f"{TEMPLATE} not written yet")
    settings = load_settings(TEMPLATE, environ={})
    assert settings == Settings()
    assert settings.source == str(TEMPLATE)
    # equal values are not enough: a key left out of the template would also take its default
    assert _keys_in(yaml.safe_load(TEMPLATE.read_text())) == _keys_of(Settings)


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("registry: {port: 0}", "registry.port"),
        ("http: {port: 70000}", "http.port"),
        ("token: {expiration_minutes: 0}", "token.expiration_minutes"),
        ("database: {max_open_conns: -1}", "database.max_open_conns"),
        ("log: {collector: {max_message_bytes: 10}}", "log.collector.max_message_bytes"),
    ],
)
def test_values_out_of_range_name_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    path = tmp_path / "berth.yml"
    path.write_text(yaml_text)
    with pytest.raises(SettingsError, match=re.escape(f"'{key}'")) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("value", "host", "port"),
    [
        ("syslog.example.com:514", "syslog.example.com", 514),
        ("10.0.0.5:1514", "10.0.0.5", 1514),
        ("[2001:db8::5]:65535", "2001:db8::5", 65535),
        ("harbor-log:10514", "harbor-log", 10514),
    ],
)
def test_audit_log_forward_endpoint_is_host_and_port(config: WriteConfig, value: str, host: str, port: int) -> None:
    settings = load_settings(config(f'audit_log_forward_endpoint: "{value}"\n'), environ={})
    assert settings.audit_log_forward_endpoint == value
    assert parse_endpoint(value) == (host, port)


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("syslog.example.com", "has no port"),
        ("syslog.example.com:0", "from 1 to 65535"),
        ("syslog.example.com:65536", "from 1 to 65535"),
        ("syslog.example.com:syslog", "from 1 to 65535"),
        ("syslog.example.com:", "from 1 to 65535"),
        (":514", "has no host"),
        ("tcp://syslog.example.com:514", "no scheme"),
        ("syslog.example.com:514/x", "no scheme"),
        ("syslog example.com:514", "is not host:port"),
        ("2001:db8::5:514", "IPv6 address in brackets"),
        ("[2001:db8::5]", "is not host:port"),
    ],
)
def test_a_bad_audit_log_forward_endpoint_is_one_line_naming_key_file_and_form(
    config: WriteConfig, value: str, hint: str
) -> None:
    path = config(f'audit_log_forward_endpoint: "{value}"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: key 'audit_log_forward_endpoint': ")
    assert hint in message


def test_a_bad_audit_log_forward_endpoint_from_env_names_the_variable(config: WriteConfig) -> None:
    with pytest.raises(SettingsError, match=r"environment BERTH_AUDIT_LOG_FORWARD_ENDPOINT: .*has no port"):
        load_settings(config(""), environ={"BERTH_AUDIT_LOG_FORWARD_ENDPOINT": "syslog.example.com"})


def test_skip_audit_log_database_needs_the_endpoint(config: WriteConfig) -> None:
    path = config("skip_audit_log_database: true\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: key 'skip_audit_log_database' is true but 'audit_log_forward_endpoint' is")
    with pytest.raises(SettingsError, match=r"^environment BERTH_SKIP_AUDIT_LOG_DATABASE: "):
        load_settings(config(""), environ={"BERTH_SKIP_AUDIT_LOG_DATABASE": "true"})


def test_skip_audit_log_database_with_the_endpoint(config: WriteConfig) -> None:
    settings = load_settings(
        config("skip_audit_log_database: true\naudit_log_forward_endpoint: log.example.com:514\n"), environ={}
    )
    assert settings.skip_audit_log_database is True
    settings = load_settings(
        config(""),
        environ={"BERTH_SKIP_AUDIT_LOG_DATABASE": "yes", "BERTH_AUDIT_LOG_FORWARD_ENDPOINT": "log.example.com:514"},
    )
    assert (settings.audit_log_forward_endpoint, settings.skip_audit_log_database) == ("log.example.com:514", True)


def test_s3_encryption_keys(config: WriteConfig) -> None:
    s3 = load_settings(config(""), environ={}).storage.s3
    assert (s3.encrypt, s3.keyid) == (False, "")
    s3 = load_settings(config("storage:\n  s3:\n    bucket: b\n    encrypt: true\n"), environ={}).storage.s3
    assert (s3.encrypt, s3.keyid) == (True, "")
    s3 = load_settings(
        config(""), environ={"BERTH_STORAGE__S3__ENCRYPT": "true", "BERTH_STORAGE__S3__KEYID": "alias/berth"}
    ).storage.s3
    assert (s3.encrypt, s3.keyid) == (True, "alias/berth")


def test_s3_keyid_needs_encrypt(config: WriteConfig) -> None:
    path = config("storage:\n  s3:\n    bucket: b\n    keyid: arn:aws:kms:eu-west-1:111122223333:key/1234\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: key 'storage.s3.keyid' is set but 'storage.s3.encrypt' is not true")
    path = config("storage:\n  s3:\n    keyid: k\n    encrypt: false\n")
    with pytest.raises(SettingsError, match=r"key 'storage.s3.keyid' is set"):
        load_settings(path, environ={})
    with pytest.raises(SettingsError, match=r"^environment BERTH_STORAGE__S3__KEYID: key 'storage.s3.keyid'"):
        load_settings(config(""), environ={"BERTH_STORAGE__S3__KEYID": "k"})
    with pytest.raises(SettingsError, match=r"^environment BERTH_STORAGE__S3__KEYID: "):
        load_settings(config("storage:\n  s3: null\n"), environ={"BERTH_STORAGE__S3__KEYID": "k"})
    with pytest.raises(SettingsError, match=r"key 'storage.s3.encrypt' must be true or false"):
        load_settings(config("storage:\n  s3:\n    keyid: k\n    encrypt: 'yes please'\n"), environ={})
