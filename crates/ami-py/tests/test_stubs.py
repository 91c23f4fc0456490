"""``_core.pyi`` names what ``ami._core`` has, no more and no less."""

from __future__ import annotations

import ast
from pathlib import Path

import ami._core as core



def stub_classes() -> dict:
    path = Path(__file__).resolve().parents[1] / "python" / "ami" / "_core.pyi"
    tree = ast.parse(path.read_text())
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__")
            }
    return classes


def runtime_members(cls: type) -> set:
    own = set(vars(cls))
    for base in cls.__mro__[1:]:
        if base.__module__ == "ami._core":
            own |= set(vars(base))
    return {name for name in own if not name.startswith("_")}


def test_every_class_and_member_is_in_the_stubs_and_back():
    stubs = stub_classes()
    runtime = {name for name, value in vars(core).items() if isinstance(value, type)}
    assert set(stubs) == runtime
    for name, members in stubs.items():
        cls = getattr(core, name)
        inherited = set()
        for base in cls.__mro__[1:]:
            inherited |= stubs.get(base.__name__, set())
        assert members | inherited == runtime_members(cls), name
