"""The layers point one way: the core (bot/core) and the Bitbucket client (bot/bitbucket) import no feature, not the
registry, not the composition root (bot/app) and not handlers/; and nothing in the product imports bot/app, the
composition root at the top. Read from the source (every import, also inside functions), nothing is run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BELOW_FEATURES = ("bot/core", "bot/bitbucket")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement of `source` names (`from bot import relay` names `bot.relay`)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def feature_packages() -> set[str]:
    """The packages that declare a feature (`bot/<feature>/feature.py`; bot/core/feature.py is the shape they declare)."""
    return {f"bot.{path.parent.name}" for path in (ROOT / "bot").glob("*/feature.py")} - {"bot.core"}


def forbidden_below_features() -> tuple[str, ...]:
    return (*sorted(feature_packages()), "bot.registry", "bot.app", "handlers")


def hits(name: str, forbidden) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def violations(folders, forbidden) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = module_name(path)
            for name in sorted(imported(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")):
                if hits(name, forbidden) and not hits(name, (module,)):
                    found.append(f"{module} imports {name}")
    return found


def test_the_checker_sees_every_kind_of_import():
    forbidden = ("bot.relay", "bot.registry", "handlers")
    assert hits("bot.relay", forbidden) and hits("bot.relay.router", forbidden) and not hits("bot.relayed", forbidden)
    source = "from bot import relay\ndef f():\n    from ..registry import FEATURES\n    import handlers.slack\n"
    names = imported(source, "bot.core.invocation", False)
    assert {"bot.relay", "bot.registry.FEATURES", "handlers.slack"} <= names
    assert "bot.relay" in feature_packages() and "bot.notify" in feature_packages() and "bot.core" not in feature_packages()


def test_the_core_and_the_bitbucket_client_import_no_feature_registry_or_composition_root():
    assert violations(BELOW_FEATURES, forbidden_below_features()) == []


def test_nothing_imports_the_composition_root():
    outside_app = [p for p in ("bot", "handlers")]
    found = [line for line in violations(outside_app, ("bot.app",)) if not line.startswith("bot.app")]
    assert found == []
