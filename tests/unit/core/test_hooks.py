"""Tests of Hook, HookLoadError and HookManager."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from aasee.core import Hook, HookLoadError, HookManager, HookParameters, load_hooks_config

from .sample_hooks import (
    FailingCleanupHook,
    InterruptingHook,
    NotAHook,
    RaisingHook,
    RecordingContext,
    RecordingHook,
    hook_path,
    sibling_module,
)


def manager_for(
    *hooks: dict[str, Any], generic: dict[str, Any] | None = None
) -> tuple[HookManager, RecordingContext]:
    config = load_hooks_config({"configuration": generic or {}, "hooks": list(hooks)})
    context = RecordingContext("env-1")
    return HookManager("env-1", config, context), context


def test_hook_base_stores_parameters() -> None:
    context = RecordingContext("env-1")
    hook = Hook(HookParameters("env-1", {"a": 1}, context))
    assert hook.identifier == "env-1"
    assert hook.configuration == {"a": 1}
    assert hook.context is context
    assert hook.logger.name == f"{Hook.__module__}.Hook"
    hook.cleanup()


def test_hook_logger_is_named_after_the_subclass() -> None:
    hook = RecordingHook(HookParameters("env-1", {}, RecordingContext("env-1")))
    assert hook.logger.name == f"{RecordingHook.__module__}.RecordingHook"


class TestLoad:
    def test_hooks_load_in_order_with_merged_configuration(self) -> None:
        manager, context = manager_for(
            {
                "name": hook_path(RecordingHook),
                "configuration": {"label": "one", "net": {"dns": "8.8.8.8"}, "level": 2},
            },
            {"name": hook_path(RecordingHook), "configuration": {"label": "two"}},
            generic={"level": 1, "net": {"dns": "10.0.0.1", "pcap": True}, "label": "generic"},
        )
        manager.load()

        first, second = manager.hooks
        assert isinstance(first, RecordingHook)
        assert first.identifier == "env-1"
        assert first.context is context
        assert first.configuration == {
            "label": "one",
            "level": 2,
            "net": {"dns": "8.8.8.8", "pcap": True},
        }
        assert second.configuration == {
            "label": "two",
            "level": 1,
            "net": {"dns": "10.0.0.1", "pcap": True},
        }
        # Each hook gets its own copy of the generic section.
        assert first.configuration["net"] is not second.configuration["net"]
        assert context.journal == ["one:init", "two:init"]

    def test_loaded_hooks_receive_events(self) -> None:
        manager, context = manager_for(
            {"name": hook_path(RecordingHook), "configuration": {"label": "h"}}
        )
        manager.load()
        context.trigger("ping")
        assert context.journal == ["h:init", "h:ping"]

    def test_no_hooks(self) -> None:
        manager, context = manager_for()
        manager.load()
        assert manager.hooks == []
        assert manager.cleanup() == []

    def test_loading_twice_is_refused(self) -> None:
        manager, context = manager_for({"name": hook_path(RecordingHook)})
        manager.load()
        with pytest.raises(RuntimeError):
            manager.load()
        assert len(manager.hooks) == 1


class TestLoadErrors:
    @pytest.mark.parametrize(
        ("name", "reason"),
        [
            (
                "aasee_no_such_package.module.Hook",
                "module 'aasee_no_such_package.module' not found",
            ),
            (
                f"{sibling_module('sample_nonexistent')}.Hook",
                "sample_nonexistent' not found",
            ),
            (hook_path("NoSuchClass"), "has no attribute 'NoSuchClass'"),
            (hook_path(NotAHook), "is not a subclass of aasee.core.hooks.Hook"),
            (hook_path("NOT_A_CLASS"), "is not a subclass of aasee.core.hooks.Hook"),
            (hook_path(RaisingHook), "constructor raised ValueError: bad hook setting"),
            (
                f"{sibling_module('sample_broken')}.Hook",
                "failed: RuntimeError: broken on import",
            ),
            (
                f"{sibling_module('sample_missing_dependency')}.Hook",
                "failed: ModuleNotFoundError: No module named 'aasee_no_such_dependency'",
            ),
        ],
    )
    def test_failure_names_the_hook_and_reason(self, name: str, reason: str) -> None:
        manager, context = manager_for({"name": name})
        with pytest.raises(HookLoadError) as raised:
            manager.load()
        error = raised.value
        assert error.hook_name == name
        assert reason in error.reason
        assert str(error) == f"cannot load hook {name!r}: {error.reason}"
        assert manager.hooks == []

    def test_constructor_error_is_chained(self) -> None:
        manager, context = manager_for({"name": hook_path(RaisingHook)})
        with pytest.raises(HookLoadError) as raised:
            manager.load()
        assert isinstance(raised.value.__cause__, ValueError)

    def test_earlier_hooks_are_cleaned_up_in_reverse_order(self) -> None:
        manager, context = manager_for(
            {"name": hook_path(RecordingHook), "configuration": {"label": "a"}},
            {"name": hook_path(RecordingHook), "configuration": {"label": "b"}},
            {"name": hook_path(NotAHook)},
            {"name": hook_path(RecordingHook), "configuration": {"label": "never"}},
        )
        with pytest.raises(HookLoadError, match="NotAHook"):
            manager.load()
        assert context.journal == ["a:init", "b:init", "b:cleanup", "a:cleanup"]
        assert manager.hooks == []

    def test_failing_cleanup_of_earlier_hook_keeps_the_load_error(self) -> None:
        manager, context = manager_for(
            {"name": hook_path(FailingCleanupHook), "configuration": {"label": "a"}},
            {"name": hook_path(RaisingHook)},
        )
        with pytest.raises(HookLoadError, match="RaisingHook"):
            manager.load()
        assert context.journal == ["a:init", "a:cleanup"]

    def test_hook_load_error_pickles(self) -> None:
        clone = pickle.loads(pickle.dumps(HookLoadError("a.B", "why")))
        assert (clone.hook_name, clone.reason, str(clone)) == (
            "a.B",
            "why",
            "cannot load hook 'a.B': why",
        )


class TestCleanup:
    def test_reverse_order_and_errors_collected(self, caplog: pytest.LogCaptureFixture) -> None:
        manager, context = manager_for(
            {"name": hook_path(RecordingHook), "configuration": {"label": "a"}},
            {"name": hook_path(FailingCleanupHook), "configuration": {"label": "b"}},
            {"name": hook_path(FailingCleanupHook), "configuration": {"label": "c"}},
        )
        manager.load()
        with caplog.at_level(logging.ERROR, logger="aasee.core.hooks"):
            errors = manager.cleanup()

        assert context.journal == [
            "a:init",
            "b:init",
            "c:init",
            "c:cleanup",
            "b:cleanup",
            "a:cleanup",
        ]
        assert [str(error) for error in errors] == ["c cleanup failed", "b cleanup failed"]
        assert all(isinstance(error, OSError) for error in errors)
        assert len([r for r in caplog.records if r.exc_info]) == 2
        assert manager.hooks == []

    def test_cleanup_twice_cleans_once(self) -> None:
        manager, context = manager_for(
            {"name": hook_path(RecordingHook), "configuration": {"label": "a"}}
        )
        manager.load()
        manager.cleanup()
        manager.cleanup()
        assert context.journal == ["a:init", "a:cleanup"]

    def test_interrupt_in_cleanup_is_reraised_after_all_hooks(self) -> None:
        manager, context = manager_for(
            {"name": hook_path(RecordingHook), "configuration": {"label": "a"}},
            {"name": hook_path(InterruptingHook), "configuration": {"label": "i"}},
        )
        manager.load()
        with pytest.raises(KeyboardInterrupt):
            manager.cleanup()
        assert context.journal == ["a:init", "i:init", "i:cleanup", "a:cleanup"]
        assert manager.hooks == []


# --- capabilities -----------------------------------------------------------------------------


class _NeedsQmp(Hook):
    requires = frozenset({"qmp"})


class _CapableContext(RecordingContext):
    capabilities = frozenset({"qmp", "agent_channel"})


class _IncapableContext(RecordingContext):
    capabilities = frozenset({"agent_channel"})


def test_a_hook_needing_a_missing_capability_fails_at_load_naming_both() -> None:
    spec = load_hooks_config({"hooks": [{"name": f"{__name__}._NeedsQmp"}]})
    with pytest.raises(HookLoadError) as caught:
        HookManager("id", spec, _IncapableContext("id")).load()
    assert "qmp" in str(caught.value) and "_IncapableContext" in str(caught.value)
    manager = HookManager("id", spec, _CapableContext("id"))
    manager.load()
    assert len(manager.hooks) == 1
    # A context that declares nothing is trusted (a SEE user's own context).
    HookManager("id", spec, RecordingContext("id")).load()


def test_an_optional_hook_the_context_cannot_serve_is_skipped_and_listed() -> None:
    spec = load_hooks_config(
        {
            "hooks": [
                {"name": f"{__name__}._NeedsQmp", "optional": True},
                {"name": f"{__name__}._NeedsQmp"},
            ]
        }
    )
    manager = HookManager("id", spec, _CapableContext("id"))
    manager.load()
    assert len(manager.hooks) == 2 and manager.skipped == []
    # The optional one is skipped with the reason; the required one still fails the load.
    with pytest.raises(HookLoadError):
        HookManager("id", spec, _IncapableContext("id")).load()
    only_optional = load_hooks_config(
        {"hooks": [{"name": f"{__name__}._NeedsQmp", "optional": True}]}
    )
    manager = HookManager("id", only_optional, _IncapableContext("id"))
    manager.load()
    assert manager.hooks == []
    assert manager.skipped == [(f"{__name__}._NeedsQmp", "the context lacks qmp")]
