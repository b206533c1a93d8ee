"""The Environment: one context plus the hooks configured around it.

This module owns the allocation lifecycle: creating the context through the
caller's factory, loading the hooks, and tearing both down again, even when
the code using the environment fails or is interrupted.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from aasee.core.config import HooksConfig, load_hooks_config
from aasee.core.context import Context, ContextBase, ContextFactory
from aasee.core.events import EventBus, HandlerError
from aasee.core.hooks import Hook, HookManager

__all__ = ["Environment"]

logger = logging.getLogger(__name__)


class Environment:
    """Allocates a context and its hooks, and guarantees their release.

    Use it as a context manager::

        with Environment(factory, "hooks.json") as environment:
            environment.context.poweron()

    ``join_timeout`` bounds how long deallocation waits for asynchronous
    event handlers; None waits for as long as they take. ``logger`` is
    accepted as SEE's Environment took it.
    """

    def __init__(
        self,
        context_factory: ContextFactory,
        configuration: HooksConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        identifier: str | None = None,
        logger: logging.Logger | None = None,
        *,
        join_timeout: float | None = None,
    ) -> None:
        # Validate now so that a bad configuration fails before any
        # (possibly expensive) context is created.
        self._configuration = load_hooks_config(configuration)
        self._identifier = str(uuid.uuid4()) if identifier is None else identifier
        self._factory = context_factory
        self._join_timeout = join_timeout
        self._context: Context | None = None
        self._manager: HookManager | None = None
        # Kept past deallocation so handler errors stay inspectable after
        # the `with` block has exited.
        self._bus: EventBus | None = None
        self._cleanup_errors: list[BaseException] = []
        self.logger = logger or logging.getLogger(f"{__name__}.{type(self).__qualname__}")

    @property
    def identifier(self) -> str:
        return self._identifier

    @property
    def configuration(self) -> HooksConfig:
        return self._configuration

    @property
    def allocated(self) -> bool:
        return self._context is not None

    @property
    def context(self) -> Context:
        """The allocated context; RuntimeError if not allocated."""
        if self._context is None:
            raise RuntimeError(f"environment {self._identifier} is not allocated")
        return self._context

    @property
    def hooks(self) -> list[Hook]:
        """The loaded hooks; empty when not allocated."""
        return [] if self._manager is None else self._manager.hooks

    @property
    def skipped_hooks(self) -> list[tuple[str, str]]:
        """(hook, why) for each optional hook the context could not serve."""
        return [] if self._manager is None else list(self._manager.skipped)

    @property
    def errors(self) -> list[HandlerError | BaseException]:
        """Handler errors from the context's bus, then errors from cleanup."""
        handler_errors: list[HandlerError | BaseException] = (
            [] if self._bus is None else list(self._bus.errors)
        )
        return handler_errors + list(self._cleanup_errors)

    def allocate(self) -> None:
        """Create the context and load the hooks.

        If a hook fails to load, the context is released again and the
        :class:`~aasee.core.hooks.HookLoadError` propagates.
        """
        if self._context is not None:
            raise RuntimeError(f"environment {self._identifier} is already allocated")
        context = self._factory(self._identifier)
        if not isinstance(context, Context):
            raise TypeError(f"context factory returned {context!r}, which is not a Context")
        self._bus = context.bus if isinstance(context, ContextBase) else None
        self._cleanup_errors = []
        manager = HookManager(self._identifier, self._configuration, context)
        try:
            manager.load()
        except BaseException:
            # The load error is what the caller needs to see; release
            # failures are only logged and recorded.
            errors: list[BaseException] = []
            self._release(context, errors)
            self._cleanup_errors = errors
            raise
        self._context = context
        self._manager = manager

    def deallocate(self) -> None:
        """Clean up the hooks and the context; does nothing if not allocated.

        Every step runs even if an earlier one fails. The first error is then
        raised (an interrupt such as KeyboardInterrupt takes precedence), with
        the others attached as notes and kept in :attr:`errors`.
        """
        context, manager = self._context, self._manager
        if context is None or manager is None:
            return
        # Forget them first so that a failure below cannot cause a second
        # teardown of the same resources.
        self._context = None
        self._manager = None
        errors: list[BaseException] = []
        # Async handlers may still use their hooks, so let them finish before
        # the hooks are cleaned up; _release joins again for handlers that
        # hook cleanup itself started.
        joined = self._step(errors, "waiting for event handlers", self._join)
        self._step(errors, "hook cleanup", lambda: errors.extend(manager.cleanup()))
        self._release(context, errors, wait=joined)
        self._cleanup_errors = errors
        if errors:
            raise _primary(errors)

    def __enter__(self) -> Environment:
        self.allocate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.deallocate()
            return
        try:
            self.deallocate()
        except Exception:
            # Keep the exception from the `with` body: it is the root cause.
            # The teardown errors are already logged and kept in `errors`.
            self.logger.warning(
                "environment %s: deallocation failed while handling %s",
                self._identifier,
                exc_type.__name__,
            )

    def _join(self) -> None:
        if self._bus is not None and not self._bus.join(self._join_timeout):
            raise TimeoutError(
                f"asynchronous event handlers still running after {self._join_timeout} s"
            )

    def _release(self, context: Context, errors: list[BaseException], wait: bool = True) -> None:
        """Wait for handlers, clean up the context and close a bus it owns.

        ``wait`` is False when handlers already overran the join timeout, so
        that the timeout is neither waited nor reported twice.
        """
        joined = wait and self._step(errors, "waiting for event handlers", self._join)
        self._step(errors, "context cleanup", lambda: _cleanup_context(context))
        # Closing waits for handlers without a limit, so skip it if they
        # already overran the timeout; the idle pool threads exit with it.
        if joined and isinstance(context, ContextBase) and context.owns_bus:
            self._step(errors, "closing the event bus", context.bus.close)

    def _step(
        self, errors: list[BaseException], description: str, action: Callable[[], object]
    ) -> bool:
        try:
            action()
        except BaseException as exc:
            self.logger.error(
                "environment %s: %s failed", self._identifier, description, exc_info=exc
            )
            errors.append(exc)
            return False
        return True


def _cleanup_context(context: Context) -> None:
    try:
        context.cleanup()
    except NotImplementedError:
        # SEE's Context.cleanup raised it to mean "nothing to release".
        pass


def _primary(errors: list[BaseException]) -> BaseException:
    """Pick the error to raise and note the others on it."""
    interrupts = [error for error in errors if not isinstance(error, Exception)]
    primary = interrupts[0] if interrupts else errors[0]
    for other in errors:
        if other is not primary:
            primary.add_note(f"also failed during deallocation: {type(other).__name__}: {other}")
    return primary
