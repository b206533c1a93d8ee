"""Settings: defaults under home, the TOML file, environment and keyword precedence, and
errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.service.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("AASEE_HOME", "AASEE_DATABASE_URL", "AASEE_QUEUE_URL", "AASEE_STORAGE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AASEE_CONFIG", str(tmp_path / "absent.toml"))


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = load_settings(home=str(tmp_path))
    assert settings.database_url == f"sqlite:///{tmp_path}/service/aasee.db"
    assert settings.queue_url == f"sqlite:///{tmp_path}/service/queue.db"
    assert settings.storage_url == f"file://{tmp_path}/service/storage"
    assert settings.scratch_dir == tmp_path / "service" / "scratch"
    assert settings.task_retries == 1 and settings.zip_password == "infected"


def test_file_then_environment_then_keywords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aasee.toml"
    config.write_text(
        f'home = "{tmp_path}"\n'
        'queue_url = "redis://127.0.0.1:6379/0"\n'
        'storage_url = "s3://bucket/prefix"\n'
        "task_retries = 3\n"
    )
    settings = load_settings(config)
    assert settings.queue_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url == f"sqlite:///{tmp_path}/service/aasee.db"
    assert settings.task_retries == 3
    monkeypatch.setenv("AASEE_QUEUE_URL", f"sqlite:///{tmp_path}/q.db")
    assert load_settings(config).queue_url == f"sqlite:///{tmp_path}/q.db"
    overridden = load_settings(config, queue_url="redis://other:6379/1", storage_url=None)
    assert overridden.queue_url == "redis://other:6379/1"
    assert overridden.storage_url == "s3://bucket/prefix"


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "env.toml"
    config.write_text("max_timeout = 900\n")
    monkeypatch.setenv("AASEE_CONFIG", str(config))
    assert load_settings().max_timeout == 900


def test_missing_implicit_file_means_defaults() -> None:
    assert load_settings().home == Path("/var/lib/aasee")


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("task_retries = -1\n", "task_retries"),
        ("unknown_key = 1\n", "unknown_key"),
        ('database_url = "mysql://x/y"\n', "database_url"),
        ('queue_url = "amqp://x"\n', "queue_url"),
        ('storage_url = "ftp://x"\n', "storage_url"),
        ("default_timeout = 900\n", "max_timeout"),
        ("heartbeat_seconds = 50\n", "heartbeat_seconds"),
        ("internet_enabled = true\n", "internet_uplink"),
    ],
)
def test_invalid_file_names_file_and_field(tmp_path: Path, content: str, field: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert str(config) in str(caught.value)
    assert field in str(caught.value)


def test_malformed_toml(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("home = [unterminated\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config)


def test_settings_survive_a_json_round_trip(tmp_path: Path) -> None:
    from aasee.service.settings import Settings

    settings = load_settings(home=str(tmp_path), task_retries=2)
    assert Settings.model_validate_json(settings.model_dump_json()) == settings
