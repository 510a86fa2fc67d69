"""Catalog: walk the archive, hash and probe files, record what was found."""
