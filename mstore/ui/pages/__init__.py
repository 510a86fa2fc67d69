"""The UI's own pages, one module per group (assets, artifacts, runs, collections), each
with its ``ROUTES``; ``tools`` makes the routes of tools' pages and actions."""
