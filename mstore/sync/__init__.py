"""Moving a store between machines: remotes, inventories, and the transfer of the write-once
files one side lacks (docs/sync.md). A remote is another copy of the store, reached as a
local path or over ssh with ``mstore sync-serve`` on the other side, like git's transport."""
