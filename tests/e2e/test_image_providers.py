"""Image providers in SEE's configuration shape, against the real image store and libvirt."""

from __future__ import annotations

import pytest

from aasee.images.providers import (
    DummyProvider,
    LibvirtPoolProvider,
    provider_from_config,
    register_pool,
)
from aasee.images.store import GuestImage, ImageError


@pytest.mark.vm  # builds the guest image
def test_dummy_provider_by_name_and_by_path(guest_image: GuestImage) -> None:
    by_name = DummyProvider(guest_image.name, {}).image
    by_json = DummyProvider(str(guest_image.disk.with_suffix(".json")), {}).image
    by_disk = DummyProvider(str(guest_image.disk), {}).image
    assert by_name.disk == by_json.disk == by_disk.disk == guest_image.disk


@pytest.mark.vm  # builds the guest image, starts libvirtd
def test_libvirt_pool_provider_finds_the_volume(guest_image: GuestImage) -> None:
    pool = register_pool()
    provider = provider_from_config(
        {
            "name": guest_image.name,
            "provider": "aasee.images.providers.LibvirtPoolProvider",
            "provider_configuration": {"pool": pool},
        }
    )
    assert isinstance(provider, LibvirtPoolProvider)
    assert provider.image.disk == guest_image.disk
    with pytest.raises(ImageError, match="not found in libvirt pool"):
        LibvirtPoolProvider("no-such-image", {"pool": pool}).image  # noqa: B018


@pytest.mark.parametrize(
    "config",
    [
        {"name": "x", "provider": "aasee.images.nowhere.Provider"},
        {"name": "x", "provider": "aasee.images.store.GuestImage"},
        {"name": "x", "provider_configuration": {}, "unexpected": 1},
    ],
    ids=["missing-module", "not-a-provider", "extra-key"],
)
def test_bad_provider_configuration(config: dict[str, object]) -> None:
    with pytest.raises((ImageError, ValueError)):
        provider_from_config(config).image  # noqa: B018
