"""Orchestration on Temporal: the run workflow, its activities, the worker, the client,
and the embedded dev server. Temporal orchestrates; results live in the store."""
