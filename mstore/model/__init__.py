"""Record types: the immutable facts mstore writes into record segments."""
