from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime import redacted_url
from bot.settings import (
    PROJECT_ROOT,
    SettingsError,
    load_env_settings,
    load_file_config,
    require_token_off_loopback,
)
from bot.tools import demo_leftovers


def test_defaults_load_without_a_config_file(tmp_path: Path) -> None:
    config, used = load_file_config(None, cwd=tmp_path)
    assert used is None
    assert config.knowledge.paths == [PROJECT_ROOT / "knowledge"]
    assert "talk_to_human" in config.intents
    assert config.intents["talk_to_human"].escalate


def test_a_local_file_is_merged_over_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "switchboard.yaml").write_text("retrieval:\n  top_k: 7\nknowledge:\n  paths: [docs]\n")
    config, used = load_file_config(None, cwd=tmp_path)
    assert used == tmp_path / "switchboard.yaml"
    assert config.retrieval.top_k == 7
    assert config.retrieval.embedder == "minilm", "unset keys keep their defaults"
    assert config.knowledge.paths == [tmp_path / "docs"], "relative paths are relative to the file"


def test_the_committed_example_is_valid() -> None:
    config, _ = load_file_config(PROJECT_ROOT / "switchboard.yaml")
    assert config.company.name


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("retrieval:\n  top_k: 0\n", "retrieval.top_k: Input should be greater than or equal to 1"),
        ("retrieval:\n  topk: 3\n", "retrieval.topk: Extra inputs are not permitted"),
        ("knowledge:\n  max_words: 50\n  overlap: 60\n", "knowledge: Value error, overlap must be smaller"),
        ("server:\n  port: http\n", "server.port: Input should be a valid integer"),
        ("company:\n  reply_language: klingon\n", "company.reply_language: Value error, must be auto or one of en, es"),
        (
            "intents:\n  greeting:\n    examples: [hi]\n    response: {en: Hello, xx: Qapla}\n",
            "intents.greeting.response: Value error, response languages ['xx'] are not among en, es",
        ),
        (
            "intents:\n  greeting:\n    examples: [hi]\n    courtesy: goodbye\n",
            "intents.greeting.courtesy: Input should be '', 'greeting', 'thanks' or 'acknowledgement'",
        ),
        (
            "intents:\n  chit_chat:\n    response: Hello\n",
            "intents.chit_chat: Value error, needs at least one example (an intent with none is named only by",
        ),
        (
            "orders:\n  base_url: http://localhost:9999\n",
            "orders: Value error, base_url: localhost is a loopback or private address; set orders.allow_private",
        ),
        ("orders:\n  base_url: https://10.0.0.7/api\n", "base_url: 10.0.0.7 is a loopback or private address"),
        ("retrieval: [1, 2\n", "not valid YAML at line 2"),
        ("- just a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_settings_are_one_line_naming_the_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SettingsError) as raised:
        load_file_config(path)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert str(path) in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SWITCHBOARD_CONFIG: no such file"):
        load_file_config(tmp_path / "absent.yaml")


def test_environment_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DEVICE", "tpu")
    with pytest.raises(SettingsError, match=r"^SWITCHBOARD_DEVICE: Input should be 'auto', 'cpu' or 'cuda'$"):
        load_env_settings()
    monkeypatch.delenv("SWITCHBOARD_DEVICE")
    monkeypatch.setenv("REDIS_URL", "http://localhost")
    with pytest.raises(SettingsError, match=r"^REDIS_URL: .*redis://"):
        load_env_settings()


def test_environment_values_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_MODEL", "smollm2-135m")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_env_settings()
    assert settings.home == tmp_path
    assert settings.model_cache == tmp_path / "models"
    assert settings.model == "smollm2-135m"
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"


def test_a_password_in_redis_url_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://agent:s3cret-pass@127.0.0.1:6379/0")
    settings = load_env_settings()
    assert "s3cret-pass" not in repr(settings)
    assert "s3cret-pass" not in str(settings.model_dump())
    assert redacted_url("redis://agent:s3cret-pass@db.example:6380/1") == "redis://agent:***@db.example:6380/1"
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redacted_url("redis://h:6379/0?password=hunter2&db=2") == "redis://h:6379/0?password=***&db=2"
    assert redacted_url("rediss://:p%40ss@[::1]:6380/0") == "rediss://:***@[::1]:6380/0"


def test_api_tokens_must_be_long_and_are_required_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_TOKEN", "short")
    with pytest.raises(SettingsError, match=r"^SWITCHBOARD_API_TOKEN: Value error, must be at least 16"):
        load_env_settings()
    monkeypatch.delenv("SWITCHBOARD_API_TOKEN")
    settings = load_env_settings()
    for host in ("127.0.0.1", "::1", "localhost"):
        require_token_off_loopback(settings, host)
    with pytest.raises(SettingsError, match=r"^SWITCHBOARD_API_TOKEN: required to serve on 0\.0\.0\.0"):
        require_token_off_loopback(settings, "0.0.0.0")  # noqa: S104 - the address being refused
    monkeypatch.setenv("SWITCHBOARD_API_TOKEN", "x" * 16)
    token_settings = load_env_settings()
    require_token_off_loopback(token_settings, "0.0.0.0")  # noqa: S104
    assert "x" * 16 not in repr(token_settings), "the token never appears in logs or reprs"


def test_a_deployment_of_its_own_is_told_what_it_still_takes_from_the_demo(tmp_path: Path) -> None:
    demo, _ = load_file_config(None, cwd=tmp_path)
    assert demo_leftovers(demo) == []  # the demo itself: nothing to warn of
    (tmp_path / "kb").mkdir()
    cases = {
        "company:\n  name: Acme\nknowledge:\n  paths: [kb]\n": ["orders.base_url is 'demo'"],
        "knowledge:\n  paths: [kb]\n": ["orders.base_url is 'demo'"],
        "company:\n  name: Acme\n": ["orders.base_url is 'demo'", "knowledge.paths is the bundled demo help centre"],
        "company:\n  name: Acme\nknowledge:\n  paths: [kb]\norders:\n  base_url: null\n": [],
    }
    for text, expected in cases.items():
        path = tmp_path / "own.yaml"
        path.write_text(text)
        config, _ = load_file_config(path)
        found = demo_leftovers(config)
        assert [line[: len(start)] for line, start in zip(found, expected, strict=True)] == expected, text
