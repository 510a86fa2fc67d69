"""Where the files mstore ships beside its code are: the built-in tools (``workers/``)
and the sample hooks (``hooks/``).

The repository keeps both at top level (the design's layout); a wheel carries them inside
the package as ``mstore/_shipped/<name>`` (see setup.py). An installed copy wins, so an
installed mstore never picks up an unrelated top-level ``workers`` folder beside
site-packages; a source checkout (an editable install) has no such copy and uses its own.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder of shipped files ``name`` (``workers`` or ``hooks``)."""
    installed = _PACKAGE / "_shipped" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
