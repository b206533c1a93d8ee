"""Recipes: one per architecture profile, keyed by everything that shapes the image."""

from __future__ import annotations

import dataclasses

import pytest

from aasee.arch import get_profile, profiles
from aasee.images.builder import RECIPES, GuestRecipe, ImageBuilder, recipe_for


def test_every_profile_has_a_recipe_named_after_its_default_image() -> None:
    assert sorted(RECIPES) == sorted(p.default_image for p in profiles())
    for profile in profiles():
        recipe = recipe_for(profile)
        assert recipe.name == profile.default_image
        assert recipe.arch == profile.name
        assert recipe.profile is profile
        assert RECIPES[recipe.name] == recipe


def test_debian_and_device_recipes() -> None:
    server = recipe_for(get_profile("x86_64"))
    assert server.name == "debian-bookworm-amd64"
    assert "python3" in server.packages
    for name in ("aarch64", "armhf", "mipsel", "mips"):
        device = recipe_for(get_profile(name))
        assert device.packages == ()
        assert device.hostname == "router"
        assert device.name == f"iot-{name}"


def test_keys_are_stable_and_differ_per_architecture() -> None:
    keys = {recipe.key() for recipe in RECIPES.values()}
    assert len(keys) == len(RECIPES)
    for recipe in RECIPES.values():
        assert recipe.key() == dataclasses.replace(recipe).key()


@pytest.mark.parametrize(
    "change",
    [
        {"mirror": "http://mirror.example/debian"},
        {"security_mirror": "http://mirror.example/debian-security"},
        {"suite": "trixie"},
        {"disk_size": "4G"},
        {"hostname": "cam"},
        {"packages": ("python3",)},
    ],
)
def test_every_recipe_field_is_in_the_key(change: dict[str, object]) -> None:
    recipe = RECIPES["iot-mipsel"]
    assert dataclasses.replace(recipe, **change).key() != recipe.key()  # type: ignore[arg-type]


def test_the_mirror_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AASEE_DEBIAN_MIRROR", "http://local.mirror/debian")
    recipe = GuestRecipe()
    assert recipe.sources.mirror == "http://local.mirror/debian"
    assert recipe.sources.lines()[0] == "deb http://local.mirror/debian bookworm main"


@pytest.mark.parametrize("profile", profiles(), ids=lambda p: p.name)
def test_command_line_names_the_console_and_root_and_nothing_else(profile: object) -> None:
    builder = ImageBuilder(recipe_for(profile))  # type: ignore[arg-type]
    cmdline = builder.cmdline()
    assert f"console={builder.profile.emulation.console}" in cmdline.split()
    assert "root=/dev/vda" in cmdline.split()
    assert "aasee" not in cmdline and "agent" not in cmdline
