"""The command line: porcelain commands built on the catalog, query and store layers."""
