"""The store directory: write-once objects and record segments (the truth) plus a
rebuildable LMDB index in ``local/``. See docs/format.md for the exact format."""
