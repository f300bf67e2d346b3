"""Definitions kept as files: one tenant per file, a file or a folder of them (the CLI's -f PATH)."""

from pathlib import Path

from definitions.parsing import DefinitionInvalid, Problem, parse_definition
from definitions.spec import TenantSpec

SUFFIXES = (".yaml", ".yml", ".json")


def definition_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    raise DefinitionInvalid([Problem(str(path), None, "", "no such file or folder")])


def load_definitions(path: Path) -> list[TenantSpec]:
    """Every definition under `path`, all checked: DefinitionInvalid lists the problems of every file."""
    files = definition_files(path)
    if not files:
        raise DefinitionInvalid([Problem(str(path), None, "", "no definition files (*.yaml, *.yml, *.json) here")])
    specs: list[TenantSpec] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(file), None, "", f"cannot be read: {exc}"))
            continue
        try:
            spec = parse_definition(text, source=str(file))
        except DefinitionInvalid as exc:
            problems.extend(exc.problems)
            continue
        if spec.name in seen:
            line = spec.line_of(("metadata", "name"))
            problems.append(
                Problem(str(file), line, "metadata.name", f"“{spec.name}” is also defined in {seen[spec.name]}")
            )
            continue
        seen[spec.name] = str(file)
        specs.append(spec)
    if problems:
        raise DefinitionInvalid(problems)
    return specs
