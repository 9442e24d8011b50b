"""Jinja2 rendering of everything generated (templates/ holds every template)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=None)
def _environment():
    """Made (and Jinja2 imported) on the first render: a build with nothing to render, such as a
    no-op `scons apps`, does not pay for importing Jinja2. Compiled templates are kept in Jinja2's
    bytecode cache (a folder of the user's in the temporary directory, keyed by each template's
    name and source checksum): compiling a template costs 10-20 ms, in every build that renders it."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context) -> str:
    return _environment().get_template(template).render(**context)


def prepare(*templates: str) -> None:
    """Load these templates (from the bytecode cache, or compiled) ahead of their first render."""
    for template in templates:
        _environment().get_template(template)


def template_path(template: str) -> Path:
    return TEMPLATES / template
