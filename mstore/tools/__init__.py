"""Tools: the manifest, the small Python tool API, the exec protocol and the registry.

Tools never touch the store: they get inputs (read-only original files, upstream
artifact payloads) and a directory to write outputs into; mstore records the
artifacts and their lineage. Built-in tools (``workers/``) register exactly like
third-party ones (``<store>/tools/`` or ``$MSTORE_TOOLS_PATH``).
"""
