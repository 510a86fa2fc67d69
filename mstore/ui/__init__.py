"""The web UI (``mstore ui``): a Starlette app over one store, pages built from panels.

Nothing outside this package imports it; ``mstore.cli.ui_cmd`` imports it only when the
``ui`` command runs, so the other commands never load starlette or jinja2.
"""
