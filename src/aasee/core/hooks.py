"""Hooks: pluggable behaviour attached to a context through its events.

This module owns the :class:`Hook` base class, the parameters hooks are
built with, and :class:`HookManager`, which imports, instantiates and
cleans up the hooks listed in a :class:`~aasee.core.config.HooksConfig`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aasee.core.config import HooksConfig, HookSpec, merged_configuration
from aasee.core.context import Context

__all__ = ["Hook", "HookLoadError", "HookManager", "HookParameters"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookParameters:
    """Everything a hook is constructed with."""

    identifier: str
    configuration: Mapping[str, Any]
    context: Context


class Hook:
    """Base class of all hooks.

    Built with :class:`HookParameters` (identifier, configuration, context),
    it offers them as ``self.identifier``, ``self.configuration`` and
    ``self.context``, plus ``self.logger``, as SEE's ``Hook`` did. Subclasses
    subscribe to the context's events in ``__init__`` and release whatever
    they acquired in :meth:`cleanup`. ``requires`` names the context
    capabilities the hook uses (``agent_channel``, ``qmp``...); a context that
    declares its ``capabilities`` and lacks one fails the hook at load time,
    with both named, instead of in the middle of a run.
    """

    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, parameters: HookParameters) -> None:
        self.identifier = parameters.identifier
        self.configuration = parameters.configuration
        self.context = parameters.context
        self.logger = logging.getLogger(f"{type(self).__module__}.{type(self).__qualname__}")

    def cleanup(self) -> None:
        """Release resources held by the hook; the default holds none."""


class HookLoadError(Exception):
    """A configured hook could not be imported or instantiated."""

    def __init__(self, hook_name: str, reason: str) -> None:
        super().__init__(f"cannot load hook {hook_name!r}: {reason}")
        self.hook_name = hook_name
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable despite the two-argument constructor.
        return (type(self), (self.hook_name, self.reason))


class HookManager:
    """Loads the configured hooks for one context and cleans them up."""

    def __init__(self, identifier: str, config: HooksConfig, context: Context) -> None:
        self._identifier = identifier
        self._config = config
        self._context = context
        self._hooks: list[Hook] = []
        self.skipped: list[tuple[str, str]] = []
        """(hook, why) for every optional hook the context could not serve."""

    @property
    def hooks(self) -> list[Hook]:
        """The loaded hooks in configuration order (a copy)."""
        return list(self._hooks)

    def load(self) -> None:
        """Import and instantiate every configured hook, in order.

        Any failure raises :class:`HookLoadError`; the hooks loaded before
        the failing one are cleaned up first, so nothing is left half loaded.
        """
        if self._hooks:
            raise RuntimeError("hooks are already loaded")
        for spec in self._config.hooks:
            try:
                if spec.optional:
                    missing = self._missing_capabilities(_import_hook_class(spec.name))
                    if missing:
                        why = f"the context lacks {', '.join(missing)}"
                        logger.info("optional hook %s skipped: %s", spec.name, why)
                        self.skipped.append((spec.name, why))
                        continue
                self._hooks.append(self._instantiate(spec))
            except BaseException:
                self.cleanup()
                raise

    def cleanup(self) -> list[Exception]:
        """Clean up the loaded hooks in reverse order and forget them.

        A failing cleanup does not stop the others: errors are logged and
        returned; NotImplementedError (a SEE hook with nothing to release)
        is not an error. An interrupt (e.g. KeyboardInterrupt) is re-raised once
        every hook has had its chance to clean up.
        """
        hooks, self._hooks = self._hooks, []
        errors: list[Exception] = []
        interrupt: BaseException | None = None
        for hook in reversed(hooks):
            try:
                hook.cleanup()
            except NotImplementedError:
                # SEE's Hook.cleanup raised it to mean "nothing to release".
                pass
            except Exception as exc:
                logger.error("cleanup of hook %s failed", _hook_name(hook), exc_info=exc)
                errors.append(exc)
            except BaseException as exc:
                if interrupt is None:
                    interrupt = exc
        if interrupt is not None:
            raise interrupt
        return errors

    def _instantiate(self, spec: HookSpec) -> Hook:
        hook_class = _import_hook_class(spec.name)
        self._check_capabilities(spec.name, hook_class)
        parameters = HookParameters(
            identifier=self._identifier,
            configuration=merged_configuration(self._config.configuration, spec.configuration),
            context=self._context,
        )
        try:
            hook = hook_class(parameters)
        except Exception as exc:
            raise HookLoadError(
                spec.name, f"constructor raised {type(exc).__name__}: {exc}"
            ) from exc
        logger.debug("loaded hook %s", spec.name)
        return hook

    def _missing_capabilities(self, hook_class: type[Hook]) -> list[str]:
        provided = getattr(self._context, "capabilities", None)
        if provided is None:
            # A context that declares nothing (e.g. one of a SEE user's own) is trusted.
            return []
        return sorted(set(hook_class.requires) - set(provided))

    def _check_capabilities(self, name: str, hook_class: type[Hook]) -> None:
        provided = getattr(self._context, "capabilities", None) or ()
        missing = self._missing_capabilities(hook_class)
        if missing:
            raise HookLoadError(
                name,
                f"it needs the context capabilities {', '.join(missing)}, which "
                f"{type(self._context).__name__} does not have "
                f"(it has: {', '.join(sorted(provided)) or 'none'})",
            )


def _import_hook_class(name: str) -> type[Hook]:
    module_name, _, class_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Tell "the configured module does not exist" apart from "it exists
        # but one of its own imports is missing".
        if exc.name is not None and (
            module_name == exc.name or module_name.startswith(exc.name + ".")
        ):
            raise HookLoadError(name, f"module {module_name!r} not found") from exc
        raise HookLoadError(
            name, f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise HookLoadError(
            name, f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        candidate = getattr(module, class_name)
    except AttributeError as exc:
        raise HookLoadError(
            name, f"module {module_name!r} has no attribute {class_name!r}"
        ) from exc
    if not (isinstance(candidate, type) and issubclass(candidate, Hook)):
        raise HookLoadError(
            name, f"{name!r} is not a subclass of {Hook.__module__}.{Hook.__qualname__}"
        )
    return candidate


def _hook_name(hook: Hook) -> str:
    return f"{type(hook).__module__}.{type(hook).__qualname__}"
