"""The ``mstore find`` query language: parse a query, evaluate it over the catalog table."""
