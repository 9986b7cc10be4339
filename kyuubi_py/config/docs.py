"""Render the configuration reference from the declared entries.

``python -m kyuubi_py.config.docs`` prints the Markdown table; ``--write`` refreshes
``docs/settings.md`` and the table between the markers in ``README.md``. A test fails when
either drifts from the declarations.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from kyuubi_py.config.entry import REGISTRY, ConfigEntry

#: Modules that declare keys. Each layer owns its keys; none of these imports a heavy dependency.
KEY_MODULES = (
    "kyuubi_py.config.keys",
    "kyuubi_py.auth.conf",
    "kyuubi_py.ha.conf",
    "kyuubi_py.engine.spark.conf",
    "kyuubi_py.server.conf",
)
BEGIN_MARKER = "<!-- BEGIN GENERATED CONFIG TABLE -->"
END_MARKER = "<!-- END GENERATED CONFIG TABLE -->"


def load_all_entries() -> list[ConfigEntry[object]]:
    for module in KEY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    unique = {id(entry): entry for entry in REGISTRY.values()}
    return sorted(unique.values(), key=lambda e: e.key)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table() -> str:
    lines = [
        "| Key | Default | Meaning | Type | Since |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in load_all_entries():
        meaning = entry.doc
        if entry.alternatives:
            meaning += f" (Also read from: {', '.join(entry.alternatives)}.)"
        lines.append(
            f"| `{entry.key}` | `{_cell(entry.default_text)}` | {_cell(meaning)} "
            f"| {_cell(entry.type_name)} | {entry.since} |"
        )
    return "\n".join(lines) + "\n"


def render_settings_page() -> str:
    return (
        "# kyuubi_py configuration reference\n\n"
        "Generated from the declarations by `make docs-conf`; do not edit by hand.\n"
        "Durations take ISO-8601 (`PT30M`) or milliseconds.\n\n" + render_table()
    )


def replace_readme_table(readme: str) -> str:
    head, begin, rest = readme.partition(BEGIN_MARKER)
    _, end, tail = rest.partition(END_MARKER)
    if not begin or not end:
        raise SystemExit(f"README.md lacks the {BEGIN_MARKER} / {END_MARKER} markers")
    return f"{head}{BEGIN_MARKER}\n{render_table()}{END_MARKER}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="refresh docs/ and README.md")
    args = parser.parse_args()
    if not args.write:
        print(render_table(), end="")
        return
    root = Path(__file__).resolve().parents[2]
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "settings.md").write_text(render_settings_page(), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(replace_readme_table(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
