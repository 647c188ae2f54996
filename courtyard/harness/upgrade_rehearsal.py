"""Rehearse `helm upgrade` of a 0.x release on the real engine, under load.

The 0.19.17 chart is rendered with the legacy export and its pods run as containers
(`runtime.chart_pods`: the chart's pod and headless names, a named volume per claim). An
acknowledged publisher writes into an R3 file stream with a durable consumer. Then each
pod is replaced, highest ordinal first as a StatefulSet rolling update does, by the pod the
2.14.2 chart renders from the upgrade export, on the same volume; the next pod waits until
the whole cluster is ready again (health, routes, meta leader, every stream replica
current). At the end every acknowledged message must be in the stream and the consumer
must still be there with all of them to deliver.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker

from courtyard.checks.readiness import wait_ready
from courtyard.harness.publisher import AckedPublisher, LoadReport
from courtyard.helm import pods as chart_pods
from courtyard.project.loaded import Project

CONSUMER = "UPGRADE_AUDIT"


@dataclass
class RehearsalReport(LoadReport):
    """What the publisher saw during the roll, and the stream and consumer afterwards."""

    # pod, seconds its predecessor took to stop (preStop, SIGTERM), seconds until ready
    replaced: list[tuple[str, float, float]] = field(default_factory=list)
    stream_messages: int = 0
    consumer_pending: int | None = None  # None: the consumer is gone

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.problems
            and self.consumer_pending == self.stream_messages == self.acked
        )


async def rehearse(
    client: docker.DockerClient,
    project: Project,
    old_pods: list[chart_pods.ChartPod],
    new_pods: list[chart_pods.ChartPod],
    image: str,
    *,
    timeout: float = 90,
) -> RehearsalReport:
    """Replace the running 0.x pods by the upgraded ones under an acked publisher."""
    report = RehearsalReport()
    targets = project.names.monitor_targets
    async with AckedPublisher(project, kind="upgrade") as load:
        await load.js.add_consumer(load.stream, durable_name=CONSUMER, ack_policy="explicit")
        for new in sorted(new_pods, key=lambda pod: pod.index, reverse=True):
            old = next(pod for pod in old_pods if pod.index == new.index)
            started = time.monotonic()
            await asyncio.to_thread(chart_pods.stop_pod, client, old)
            stopped = time.monotonic()
            await asyncio.to_thread(chart_pods.run_pod, client, project, new, image)
            await asyncio.to_thread(wait_ready, client, project, targets, timeout)
            report.replaced.append((new.name, stopped - started, time.monotonic() - stopped))
            await load.more()
        await load.finish(report)
        info = await load.js.stream_info(load.stream)
        report.stream_messages = info.state.messages
        if info.config.num_replicas != 3:
            report.problems.append(f"stream has {info.config.num_replicas} replicas, not 3")
        try:
            consumer = await load.js.consumer_info(load.stream, CONSUMER)
        except Exception as exc:  # the consumer lost is what is being checked
            report.problems.append(f"consumer {CONSUMER} is gone: {type(exc).__name__}")
        else:
            report.consumer_pending = consumer.num_pending + consumer.num_ack_pending
    return report


def files_folder(project: Project) -> Path:
    return project.layout.run / "upgrade-rehearsal"
