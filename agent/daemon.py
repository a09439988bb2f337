"""`dossier agent run`: APScheduler jobs for each collector and for shipping."""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.config import Schedule
from agent.runtime import OFFLINE, AgentRuntime
from agent.spool import SpoolFull

log = logging.getLogger("dossier.agent.daemon")


def trigger_for(schedule: Schedule) -> IntervalTrigger | CronTrigger:
    jitter = int(schedule.jitter.total_seconds()) or None
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, jitter=jitter)
    assert schedule.interval is not None
    return IntervalTrigger(seconds=schedule.interval.total_seconds(), jitter=jitter)


def run_forever(runtime: AgentRuntime) -> None:
    scheduler = BlockingScheduler(
        executors={
            # Collectors share `collector_workers` threads, as in `run --once` (APScheduler
            # would otherwise run ten at once); shipping has its own thread, so a slow
            # collector never holds up delivery.
            "default": ThreadPoolExecutor(runtime.config.collector_workers),
            "ship": ThreadPoolExecutor(1),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )

    def collect(name: str) -> None:
        try:
            runtime.collect([name])
        except SpoolFull:
            pass  # already logged loudly by the spool; the next run tries again
        except Exception:
            log.exception("collection of %s failed", name)

    def ship() -> None:
        try:
            report = runtime.ship()
        except Exception:
            log.exception("shipping failed")
            return
        if report.delivered or report.rejected:
            log.info(
                "shipped delivered=%d rejected=%d remaining=%d",
                report.delivered,
                len(report.rejected),
                report.remaining,
            )

    now = datetime.now().astimezone()
    schedules = runtime.schedules()
    for name, schedule in schedules.items():
        # Collect once at start, then on schedule, so a restarted agent is never blind.
        scheduler.add_job(
            collect, trigger_for(schedule), args=[name], id=f"collect:{name}", next_run_time=now
        )
    if runtime.server_url is not None:
        scheduler.add_job(
            ship,
            IntervalTrigger(seconds=runtime.config.ship.interval.total_seconds()),
            id="ship",
            executor="ship",
            next_run_time=now,
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after running jobs finish", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "agent %s running: %d collector job(s), %s",
        runtime.enrollment.agent_id,
        len(schedules),
        f"shipping every {runtime.config.ship.interval.total_seconds():g}s to {runtime.server_url}"
        if runtime.server_url is not None
        else f"{OFFLINE}: bundles stay spooled for `dossier agent export`",
    )
    scheduler.start()
