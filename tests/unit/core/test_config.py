"""Tests of hooks configuration validation, loading and merging."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from aasee.core import (
    ConfigError,
    HooksConfig,
    HookSpec,
    load_hooks_config,
    merged_configuration,
)

VALID: dict[str, Any] = {
    "configuration": {"results_folder": "/tmp/results", "network": {"enabled": True}},
    "hooks": [
        {"name": "aasee.hooks.screenshot.ScreenshotHook", "configuration": {"delay": 5}},
        {"name": "aasee.hooks.memory.MemoryHook"},
    ],
}


def write(tmp_path: Path, content: str, name: str = "hooks.json") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


class TestLoading:
    def test_none_gives_empty_configuration(self) -> None:
        config = load_hooks_config(None)
        assert config.configuration == {}
        assert config.hooks == []

    def test_existing_config_is_returned_as_is(self) -> None:
        config = HooksConfig(hooks=[HookSpec(name="a.B")])
        assert load_hooks_config(config) is config

    def test_mapping(self) -> None:
        config = load_hooks_config(VALID)
        assert config.configuration["results_folder"] == "/tmp/results"
        assert [hook.name for hook in config.hooks] == [
            "aasee.hooks.screenshot.ScreenshotHook",
            "aasee.hooks.memory.MemoryHook",
        ]
        assert config.hooks[0].configuration == {"delay": 5}
        assert config.hooks[1].configuration == {}

    @pytest.mark.parametrize("as_str", [True, False])
    def test_file(self, tmp_path: Path, as_str: bool) -> None:
        path = write(tmp_path, json.dumps(VALID))
        config = load_hooks_config(str(path) if as_str else path)
        assert config == load_hooks_config(VALID)

    def test_defaults_are_not_shared(self) -> None:
        first, second = HooksConfig(), HooksConfig()
        first.configuration["x"] = 1
        first.hooks.append(HookSpec(name="a.B"))
        assert second.configuration == {}
        assert second.hooks == []


class TestInvalidShapes:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ({"hooks": {"name": "a.B"}}, "hooks: "),
            ({"hooks": [{"configuration": {}}]}, "hooks[0].name: Field required"),
            ({"hooks": [{"name": "a.B", "config": {}}]}, "hooks[0].config: Extra inputs"),
            ({"hook": []}, "hook: Extra inputs"),
            ({"configuration": [1, 2]}, "configuration: "),
            ({"hooks": [{"name": "a.B", "configuration": "x"}]}, "hooks[0].configuration: "),
            ({"hooks": [{"name": 3}]}, "hooks[0].name: "),
            ({"hooks": ["a.B"]}, "hooks[0]: "),
        ],
    )
    def test_mapping_errors_name_the_key(self, data: dict[str, Any], expected: str) -> None:
        with pytest.raises(ConfigError) as raised:
            load_hooks_config(data)
        assert expected in str(raised.value)
        assert str(raised.value).startswith("invalid hooks configuration: ")
        assert raised.value.source is None

    @pytest.mark.parametrize("name", ["NoModule", "", ".Class", "module.", "a..B", "a.1B", "a.B-c"])
    def test_hook_name_must_be_a_dotted_path(self, name: str) -> None:
        with pytest.raises(ConfigError) as raised:
            load_hooks_config({"hooks": [{"name": "ok.Hook"}, {"name": name}]})
        message = str(raised.value)
        assert "hooks[1].name" in message
        assert "dotted import path" in message
        assert repr(name) in message
        assert "Value error" not in message

    def test_top_level_must_be_an_object(self, tmp_path: Path) -> None:
        path = write(tmp_path, "[]")
        with pytest.raises(ConfigError) as raised:
            load_hooks_config(path)
        assert str(path) in str(raised.value)
        assert "<top level>" in str(raised.value)

    def test_file_errors_include_the_path(self, tmp_path: Path) -> None:
        path = write(tmp_path, json.dumps({"hooks": [{"configuration": {}}]}))
        with pytest.raises(ConfigError) as raised:
            load_hooks_config(path)
        assert str(path) in str(raised.value)
        assert "hooks[0].name" in str(raised.value)
        assert raised.value.source == str(path)

    def test_invalid_json(self, tmp_path: Path) -> None:
        path = write(tmp_path, '{"hooks": [\n  {"name": "a.B",}\n]}')
        with pytest.raises(ConfigError) as raised:
            load_hooks_config(path)
        message = str(raised.value)
        assert str(path) in message
        assert "not valid JSON" in message
        assert "line 2" in message
        assert isinstance(raised.value.__cause__, json.JSONDecodeError)

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "absent.json"
        with pytest.raises(ConfigError) as raised:
            load_hooks_config(path)
        assert str(path) in str(raised.value)
        assert "cannot read" in str(raised.value)

    def test_non_utf8_file(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.json"
        path.write_bytes(b'{"configuration": {"x": "\xe9"}}')
        with pytest.raises(ConfigError, match="not UTF-8"):
            load_hooks_config(path)

    def test_config_error_pickles(self) -> None:
        error = ConfigError("bad", "/x.json")
        clone = pickle.loads(pickle.dumps(error))
        assert (str(clone), clone.source) == ("bad", "/x.json")


class TestMerge:
    def test_specific_overrides_generic_recursively(self) -> None:
        generic = {
            "timeout": 60,
            "network": {"enabled": True, "dns": {"server": "10.0.0.1", "port": 53}},
            "tags": ["a"],
        }
        specific = {
            "timeout": 120,
            "network": {"dns": {"server": "8.8.8.8"}, "pcap": True},
            "extra": 1,
        }
        assert merged_configuration(generic, specific) == {
            "timeout": 120,
            "network": {"enabled": True, "dns": {"server": "8.8.8.8", "port": 53}, "pcap": True},
            "tags": ["a"],
            "extra": 1,
        }

    def test_non_mapping_replaces_mapping_and_vice_versa(self) -> None:
        assert merged_configuration({"a": {"x": 1}}, {"a": None}) == {"a": None}
        assert merged_configuration({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}

    def test_inputs_are_not_mutated_nor_aliased(self) -> None:
        generic = {"network": {"dns": {"port": 53}}, "only_generic": {"k": 1}}
        specific = {"network": {"dns": {"server": "x"}}, "only_specific": {"k": 2}}
        before = copy.deepcopy((generic, specific))

        merged = merged_configuration(generic, specific)
        merged["network"]["dns"]["port"] = 0
        merged["only_generic"]["k"] = 0
        merged["only_specific"]["k"] = 0

        assert (generic, specific) == before

    def test_objects_are_passed_through(self) -> None:
        shared = object()
        assert merged_configuration({"a": shared}, {})["a"] is shared
