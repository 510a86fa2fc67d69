"""Runs: pipelines, planning (selection, sampling, params, versions), execution of units
with reuse and lineage, and the reading side (progress, coverage). Orchestration on
Temporal lives in ``mstore.orchestration``; nothing here imports temporalio."""
