"""The UI's Jinja2 environments: one over the UI's own templates, one per tool over its
folder. Autoescape is on in every one of them, whatever a template is called, and an
undefined name is an error rather than an empty string."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mstore.ui.filters import FILTERS


def environment(folder: Path | None, **globals_: Any) -> jinja2.Environment:
    """Templates from ``folder`` (None: template strings only)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)) if folder else jinja2.DictLoader({}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    env.globals.update(globals_)
    return env


def render(env: jinja2.Environment, template: str, **values: Any) -> Markup:
    """``template``: a file name in the environment's folder, or the template itself when
    it contains "{{" or "{%"."""
    if "{{" in template or "{%" in template:
        t = env.from_string(template)
    else:
        t = env.get_template(template)
    return Markup(t.render(**values))
