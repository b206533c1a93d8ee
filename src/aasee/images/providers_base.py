"""The image provider interface (SEE's ``ImageProvider``): a name and a configuration in, a
complete :class:`~aasee.images.store.GuestImage` out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from aasee.images.store import GuestImage

__all__ = ["ImageProvider"]


class ImageProvider(ABC):
    """Where a guest image comes from; ``image`` returns it complete, checked and local."""

    def __init__(self, name: str, configuration: dict[str, Any]) -> None:
        self.name = name
        self.configuration = configuration

    @property
    @abstractmethod
    def image(self) -> GuestImage:
        """The guest image, checked complete."""
