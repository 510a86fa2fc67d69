"""mstore: a personal memory lab.

The package is layered; dependencies point one way:

    cli  ->  catalog, query  ->  store, model

``model`` holds the record types (the vocabulary of the store), ``store`` the
on-disk format (objects, record segments, the LMDB index, locks), ``catalog``
walks and probes the archive, ``query`` parses and evaluates ``mstore find``.
"""

__version__ = "0.1.0"
