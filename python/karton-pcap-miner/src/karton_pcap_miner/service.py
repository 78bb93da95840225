"""The ``karton.pcap-miner`` Karton service.

It consumes the analysis tasks that DRAKVUF Sandbox (drakrun) sends, mines
the network capture ``dump.pcap`` with pcap-miner, and sends the indicators
as ``attributes`` of the analysed sample, which karton-mwdb-reporter stores
in MWDB. Several replicas may run at once: Karton gives each task to one.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

import pcap_miner
from karton.core import Karton, Task
from karton.core.config import Config as KartonConfig
from karton.core.backend import KartonBackend
from karton.core.resource import RemoteResource

from . import __version__, tlsmon
from .settings import Settings, read_settings

#: Skipped tlsmon.log lines logged one by one per task. Later ones are only counted.
MAX_TLSMON_WARNINGS = 10


class KartonPcapMiner(Karton):
    """Mine network indicators (HTTP, TCP, TLS SNI, DNS) from drakrun captures."""

    identity = "karton.pcap-miner"
    filters = [{"type": "analysis", "kind": "drakrun"}]
    version = __version__

    def __init__(
        self,
        config: Optional[KartonConfig] = None,
        identity: Optional[str] = None,
        backend: Optional[KartonBackend] = None,
    ) -> None:
        super().__init__(config=config, identity=identity, backend=backend)
        self.settings: Settings = read_settings(self.config)
        # Checked now so that an invalid setting stops the service at start, not every task.
        self.miner_config = self.settings.miner_config()
        self.log.info("pcap_miner %s, %r", pcap_miner.__version__, self.miner_config)

    def process(self, task: Task) -> None:
        if not task.has_payload("dump.pcap"):
            self.log.info("Task %s has no dump.pcap resource: nothing to mine", task.uid)
            return

        sample = self._resource(task, "sample")
        capture = self._resource(task, "dump.pcap")
        if self._too_large(task, capture):
            return

        with tempfile.TemporaryDirectory(prefix="karton-pcap-miner-") as workdir:
            capture_path = os.path.join(workdir, "dump.pcap")
            capture.download_to_file(capture_path)
            keylog_path = self._write_keylog(task, workdir)
            attributes = self._mine(task, capture_path, keylog_path)

        total = sum(len(values) for values in attributes.values())
        self.log.info(
            "Task %s (root %s): %d values mined from dump.pcap (%s)",
            task.uid,
            task.root_uid,
            total,
            ", ".join(f"{key} {len(values)}" for key, values in attributes.items()) or "none",
        )
        if not attributes:
            return

        self.send_task(
            Task(
                headers={"type": "sample", "stage": "analyzed"},
                payload={"sample": sample, "attributes": attributes},
            )
        )

    @staticmethod
    def _resource(task: Task, name: str) -> RemoteResource:
        resource = task.get_payload(name)
        if not isinstance(resource, RemoteResource):
            raise ValueError(f"task {task.uid}: payload {name!r} is missing or not a resource")
        return resource

    def _too_large(self, task: Task, capture: RemoteResource) -> bool:
        """Check the resource's recorded size so that a capture over the limit is never downloaded."""
        limit = self.settings.max_pcap_size
        if limit is None or capture.size is None or capture.size <= limit:
            return False
        self.log.warning(
            "Task %s: dump.pcap is %d bytes, more than max_pcap_size (%d bytes), so it is not mined",
            task.uid,
            capture.size,
            limit,
        )
        return True

    def _write_keylog(self, task: Task, workdir: str) -> Optional[str]:
        """Convert the task's tlsmon.log into an NSS key log in ``workdir`` and return its path."""
        if not task.has_payload("tlsmon.log"):
            return None

        tlsmon_path = os.path.join(workdir, "tlsmon.log")
        keylog_path = os.path.join(workdir, "keylog.txt")
        self._resource(task, "tlsmon.log").download_to_file(tlsmon_path)
        conversion = tlsmon.convert_file(tlsmon_path, keylog_path)

        for skipped in conversion.skipped[:MAX_TLSMON_WARNINGS]:
            self.log.warning("Task %s: tlsmon.log %s, line skipped", task.uid, skipped)
        if len(conversion.skipped) > MAX_TLSMON_WARNINGS:
            self.log.warning(
                "Task %s: tlsmon.log had %d more lines skipped",
                task.uid,
                len(conversion.skipped) - MAX_TLSMON_WARNINGS,
            )
        self.log.info("Task %s: tlsmon.log gave %d TLS keys", task.uid, conversion.written)
        return keylog_path if conversion.written else None

    def _mine(self, task: Task, capture_path: str, keylog_path: Optional[str]) -> dict[str, list[str]]:
        """Mine the capture. A damaged one still gives what was mined before the damage."""
        config = self.miner_config
        if keylog_path is not None:
            config = self.settings.miner_config(keylog=keylog_path)

        try:
            report = pcap_miner.mine_path(capture_path, config)
        except pcap_miner.CaptureDamagedError as error:
            self.log.error(
                "Task %s: dump.pcap is damaged, reporting what was mined before the damage: %s",
                task.uid,
                error,
            )
            report = error.report
        except pcap_miner.CaptureTooLargeError as error:
            self.log.warning("Task %s: %s", task.uid, error)
            return {}

        for dropped in report.dropped:
            self.log.warning(
                "Task %s: %s dropped: more than max_results (%d) values",
                task.uid,
                dropped["kind"],
                dropped["max_results"],
            )
        return report.attributes


def main() -> None:
    """Run the service: ``karton-pcap-miner [--config-file FILE] [--identity ...]``."""
    KartonPcapMiner.main()
