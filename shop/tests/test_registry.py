"""The one registry mechanism (shop/registry.py)."""

import pytest

from shop.registry import Registry, RegistryError


def test_a_name_registered_twice_is_refused_even_with_the_same_entry():
    registry: Registry[int] = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(RegistryError, match="thing 'a' is registered twice"):
        registry.register("a", 1)
    assert registry.items() == [("a", 1)]


def test_entries_come_back_in_registration_order_and_a_missing_name_is_named():
    registry: Registry[str] = Registry("handler")
    for name in ("c", "a", "b"):
        registry.register(name, name.upper())
    assert registry.values() == ["C", "A", "B"]
    assert registry.find("z") is None
    with pytest.raises(RegistryError, match="no handler 'z' is registered"):
        registry.get("z")


def test_override_and_emptied_put_everything_back():
    registry: Registry[int] = Registry("thing")
    registry.register("a", 1)
    with registry.override("a", 2), registry.override("b", 3):
        assert registry.items() == [("a", 2), ("b", 3)]
    assert registry.items() == [("a", 1)]
    with registry.emptied():
        assert len(registry) == 0
    assert "a" in registry
