"""Names people give things that the index keys by (step names, tool ids, artifact kinds,
pipeline names): short and plain, so a key built from them always fits (docs/format.md
§6.1) and they read the same in a URL, a shell and a file name."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_RULE = "letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit"


def is_name(text: object) -> bool:
    return isinstance(text, str) and NAME_RE.match(text) is not None
