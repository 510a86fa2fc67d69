"""Who polls a task queue now: the identities of the workers Temporal has seen polling it.

A task queue is split into partitions (four by default) and a new poller lands on one
of them. The default ``DescribeTaskQueue`` reports the root partition's pollers, which
include another partition's only once that partition forwards a poll to the root; the
enhanced mode asks every partition, but its answer may be a few seconds old. A worker
that has just started polling can be missing from either, so this asks both and takes
every identity either names (a server without the enhanced mode: the root's alone).
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


async def _root(client: Client, task_queue: str) -> list[str]:
    r = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=ACTIVITY))
    return [p.identity for p in r.pollers]


async def _every_partition(client: Client, task_queue: str) -> list[str]:
    try:
        r = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
            task_queue_types=[ACTIVITY], report_pollers=True))
    except RPCError:  # a server without the enhanced mode
        return []
    return [p.identity for v in r.versions_info.values()
            for t in v.types_info.values() for p in t.pollers]


async def activity_pollers(client: Client, task_queue: str) -> list[str]:
    """The identities polling ``task_queue`` for activities (each once)."""
    root, every = await asyncio.gather(_root(client, task_queue),
                                       _every_partition(client, task_queue))
    return list(dict.fromkeys(root + every))
