"""Apps import downwards only (DESIGN.md, "Layout"): the shared kernel at the bottom, then tenants,
then sites, then the apps built on them; `aipress` (settings, URLconfs, ASGI, Celery) is the wiring
on top, which no app imports. An app learns about the ones above through signals, never imports.
Tests may cross layers (an isolation suite drives every app); migrations are generated."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

LAYERS = {
    "kernel": 0, "aipress_cli": 0, "tenants": 1, "sites": 2, "dns": 3, "billing": 3,
    "chat": 4, "definitions": 4, "mcpserver": 5, "aipress": 9,
}  # fmt: skip
ROOT = Path(settings.BASE_DIR)


def _modules(app: str) -> list[Path]:
    return [path for path in (ROOT / app).rglob("*.py") if "tests" not in path.parts and "migrations" not in path.parts]


def _imported_apps(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS:
                found.add((top, getattr(node, "lineno", 0)))
    return found


@pytest.mark.parametrize("app", [app for app in LAYERS if app != "aipress" and (ROOT / app).is_dir()])
def test_an_app_imports_only_from_its_own_layer_or_below(app):
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {other}"
        for path in _modules(app)
        for other, line in _imported_apps(path)
        if other != app and LAYERS[other] >= LAYERS[app]
    ]
    assert upward == [], "apps import downwards only; send a signal instead"
