"""What people do with a store, for the command line and the web UI alike: resolve the
names they type, describe runs, artifacts and assets, start and steer runs, define
collections, mark labels, export results, collect garbage.

The CLI and the UI call these and format the results (``mstore.present``); neither
reaches into the store's tables, and nothing below this layer imports it."""
