"""The shared Registry: decorator, lazy strings, entry points, errors."""

from __future__ import annotations


import pytest

from rlfb.errors import RegistryError
from rlfb.registry import Registry, callable_check, import_string, make_instance, subclass_check


class Base:
    pass


class Good(Base):
    def __init__(self, size: int = 1) -> None:
        self.size = size


def test_decorator_and_lookup():
    reg: Registry = Registry("widget")

    @reg.register("good")
    class Local(Base):
        pass

    assert reg.get("good") is Local
    assert reg.names() == ["good"]
    assert "good" in reg and "bad" not in reg


def test_lazy_string_is_imported_on_first_get():
    reg: Registry = Registry("widget", check=subclass_check(Base))
    reg.register("good", f"{__name__}:Good")
    assert not reg.entries()[0].loaded
    assert reg.get("good") is Good
    assert reg.entries()[0].loaded


def test_unknown_name_lists_close_matches():
    reg: Registry = Registry("widget")
    reg.register("alpha", Good)
    reg.register("alpine", Good)
    with pytest.raises(RegistryError, match=r"unknown widget 'alpah'; did you mean 'alpha'"):
        reg.get("alpah")
    with pytest.raises(RegistryError, match=r"did you mean one of: alpha, alpine\?"):
        reg.get("zzz")


def test_duplicate_name_names_both_origins():
    reg: Registry = Registry("widget")
    reg.register("w", Good, origin="first.py:1")
    with pytest.raises(RegistryError, match=r"duplicate widget name 'w'.*first\.py:1.*second\.py:2"):
        reg.register("w", Base, origin="second.py:2")


def test_same_target_twice_is_not_a_duplicate():
    reg: Registry = Registry("widget")
    reg.register("w", Good)
    reg.register("w", f"{__name__}:Good")
    assert reg.get("w") is Good


def test_base_class_check_at_registration_and_at_lazy_import():
    reg: Registry = Registry("widget", check=subclass_check(Base))
    with pytest.raises(RegistryError, match="expected a subclass of"):
        reg.register("bad", int)
    reg.register("lazy_bad", "builtins:int")
    with pytest.raises(RegistryError, match="expected a subclass of"):
        reg.get("lazy_bad")


def test_callable_check():
    reg: Registry = Registry("fn", check=callable_check)
    reg.register("ok", len)
    with pytest.raises(RegistryError, match="expected a callable"):
        reg.register("no", 3)


def test_lazy_import_failure_is_a_registry_error():
    reg: Registry = Registry("widget")
    reg.register("gone", "no_such_module_xyz:Thing")
    with pytest.raises(RegistryError, match="could not be imported.*No module named"):
        reg.get("gone")


def test_import_string_errors():
    assert import_string("os.path:join")("a", "b") == "a/b"
    with pytest.raises(RegistryError, match="package.module:attribute"):
        import_string("os.path.join")


def test_entry_points_are_read_on_first_lookup(monkeypatch):
    from importlib import metadata

    ep = metadata.EntryPoint(name="good", value=f"{__name__}:Good", group="rlfb.test_group")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [ep] if group == ep.group else [])
    reg: Registry = Registry("widget", group="rlfb.test_group", check=subclass_check(Base))
    assert reg.get("good") is Good
    assert "entry point good" in reg.origin("good")


def test_entry_point_clashing_with_decorator_is_reported(monkeypatch):
    from importlib import metadata

    ep = metadata.EntryPoint(name="w", value=f"{__name__}:Good", group="rlfb.test_group2")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [ep] if group == ep.group else [])
    reg: Registry = Registry("widget", group="rlfb.test_group2")
    reg.register("w", Base, origin="plugin.py:9")
    with pytest.raises(RegistryError, match="duplicate widget name 'w'.*plugin.py:9.*entry point"):
        reg.names()


def test_make_instance_rejects_unknown_options_with_suggestion():
    reg: Registry = Registry("widget")
    reg.register("good", Good)
    assert make_instance(reg, "good", {"size": 3}).size == 3
    with pytest.raises(RegistryError, match=r"no option 'sise'; did you mean 'size'\?"):
        make_instance(reg, "good", {"sise": 3})


def test_builtin_registries_come_from_entry_points():
    from rlfb.rewards import REWARDS
    from rlfb.verifiers import VERIFIERS

    assert VERIFIERS.get("format").__name__ == "FormatVerifier"
    assert "entry point format" in VERIFIERS.origin("format")
    assert "entry point verifier" in REWARDS.origin("verifier")
