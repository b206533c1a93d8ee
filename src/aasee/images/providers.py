"""Image providers in SEE's configuration shape: where an analysis gets its guest from.

    {"name": "debian-bookworm-amd64",
     "provider": "aasee.images.providers.LibvirtPoolProvider",
     "provider_configuration": {"uri": "qemu:///system", "pool": "aasee"}}

``DummyProvider`` takes ``name`` as a path (to ``NAME.json`` or ``NAME.qcow2``, or a bare
image name in the local image directory). ``LibvirtPoolProvider`` finds the volume
``NAME.qcow2`` in a libvirt storage pool and reads the metadata stored beside it.
``GlanceProvider`` (OpenStack Glance v2), ``S3Provider`` and ``HttpProvider`` download an
image archive (see ``providers_remote``) into a verified local cache. SEE's ``uri`` key is
accepted for ``name``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import libvirt
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from aasee.contexts.libvirt_connection import DEFAULT_URI, connect
from aasee.images.providers_base import ImageProvider
from aasee.images.providers_glance import GlanceProvider
from aasee.images.providers_http import HttpProvider
from aasee.images.providers_remote import (
    RemoteImageProvider,
    pack_image,
    wait_for_downloads,
)
from aasee.images.providers_s3 import S3Provider
from aasee.images.store import GuestImage, ImageError, image_dir, load_image_metadata

__all__ = [
    "POOL_NAME",
    "DummyProvider",
    "GlanceProvider",
    "HttpProvider",
    "ImageProvider",
    "LibvirtPoolProvider",
    "ProviderConfig",
    "RemoteImageProvider",
    "S3Provider",
    "pack_image",
    "provider_from_config",
    "register_pool",
    "wait_for_downloads",
]

POOL_NAME = "aasee"


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(validation_alias=AliasChoices("name", "uri"))
    """The image: a name or path for the local providers, a name or id remotely (SEE: uri)."""
    provider: str = "aasee.images.providers.DummyProvider"
    provider_configuration: dict[str, Any] = Field(default_factory=dict)


def _metadata_for(path: Path) -> Path:
    return path if path.suffix == ".json" else path.with_suffix(".json")


class DummyProvider(ImageProvider):
    @property
    def image(self) -> GuestImage:
        candidate = Path(self.name)
        if candidate.suffix not in (".json", ".qcow2") and "/" not in self.name:
            candidate = image_dir() / f"{self.name}.json"
        meta = _metadata_for(candidate)
        if not meta.is_file():
            raise ImageError(
                f"guest image '{self.name}' not found ({meta} is missing); build it with "
                "`aasee image build`, or list what exists with `aasee image list`"
            )
        image = load_image_metadata(meta)
        image.check()
        return image


class LibvirtPoolProvider(ImageProvider):
    @property
    def image(self) -> GuestImage:
        uri = str(self.configuration.get("uri", DEFAULT_URI))
        pool_name = str(self.configuration.get("pool", POOL_NAME))
        conn = connect(uri)
        try:
            try:
                pool = conn.storagePoolLookupByName(pool_name)
                pool.refresh(0)
                volume = pool.storageVolLookupByName(f"{self.name}.qcow2")
            except libvirt.libvirtError as exc:
                raise ImageError(
                    f"guest image '{self.name}' not found in libvirt pool '{pool_name}': "
                    f"{exc.get_error_message()}; build it with `aasee image build`"
                ) from exc
            disk = Path(volume.path())
        finally:
            conn.close()
        image = load_image_metadata(_metadata_for(disk))
        image.check()
        return image


def register_pool(directory: Path | None = None, uri: str = DEFAULT_URI) -> str:
    """Make the image directory a started, autostarting libvirt ``dir`` pool."""
    directory = directory or image_dir()
    conn = connect(uri)
    try:
        try:
            pool = conn.storagePoolLookupByName(POOL_NAME)
        except libvirt.libvirtError:
            xml = (
                f"<pool type='dir'><name>{POOL_NAME}</name>"
                f"<target><path>{directory}</path></target></pool>"
            )
            pool = conn.storagePoolDefineXML(xml, 0)
        if not pool.isActive():
            pool.create(0)
        pool.setAutostart(1)
        pool.refresh(0)
        return POOL_NAME
    finally:
        conn.close()


def provider_from_config(config: dict[str, Any] | ProviderConfig) -> ImageProvider:
    spec = config if isinstance(config, ProviderConfig) else ProviderConfig.model_validate(config)
    module_name, _, class_name = spec.provider.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImageError(f"cannot load image provider '{spec.provider}': {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, ImageProvider)):
        raise ImageError(f"'{spec.provider}' is not an image provider")
    provider: ImageProvider = cls(spec.name, spec.provider_configuration)
    return provider
