"""Core of AASEE: environments, contexts, hooks and the events between them.

This package owns the framework every other package plugs into; it knows
nothing about virtual machines or analysis. Import public names from here.
"""

from aasee.core.config import (
    ConfigError,
    HooksConfig,
    HookSpec,
    load_hooks_config,
    merged_configuration,
)
from aasee.core.context import (
    ACTIONS,
    CONTEXT_SOURCE,
    TRANSITIONS,
    Context,
    ContextBase,
    ContextFactory,
    ContextState,
    ContextStateError,
    NetworkAddresses,
)
from aasee.core.environment import Environment
from aasee.core.events import Event, EventBus, Handler, HandlerError
from aasee.core.hooks import Hook, HookLoadError, HookManager, HookParameters

__all__ = [
    "ACTIONS",
    "CONTEXT_SOURCE",
    "TRANSITIONS",
    "ConfigError",
    "Context",
    "ContextBase",
    "ContextFactory",
    "ContextState",
    "ContextStateError",
    "Environment",
    "Event",
    "EventBus",
    "Handler",
    "HandlerError",
    "Hook",
    "HookLoadError",
    "HookManager",
    "HookParameters",
    "HookSpec",
    "HooksConfig",
    "NetworkAddresses",
    "load_hooks_config",
    "merged_configuration",
]
