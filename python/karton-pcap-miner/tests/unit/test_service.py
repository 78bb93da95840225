"""KartonPcapMiner.process with karton-core's test harness and the real pcap_miner module.

karton-core's KartonTestCase replaces Redis and S3 with in-memory stand-ins;
tests/e2e runs the same service on a real Karton stack.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Optional

import pcap_miner
from karton.core import Resource, Task
from karton.core.test import ConfigMock, KartonTestCase

from karton_pcap_miner.service import KartonPcapMiner

from corpus_files import CORPUS, capture_bytes, corpus_folders, expected_attributes, tlsmon_log_for

LOGGER = KartonPcapMiner.identity


def capture_of(name: str) -> bytes:
    return capture_bytes(CORPUS / name)


def attributes_of(name: str) -> dict[str, list[str]]:
    return expected_attributes(CORPUS / name)


def drakrun_task(capture: Optional[bytes], tlsmon_log: Optional[bytes] = None) -> Task:
    """Build an analysis task shaped as drakrun sends it."""
    payload = {
        "sample": Resource("sample", content=b"MZ" + os.urandom(64)),
        "dumps_metadata": [],
    }
    if capture is not None:
        payload["dump.pcap"] = Resource("dump.pcap", content=capture)
    if tlsmon_log is not None:
        payload["tlsmon.log"] = Resource("tlsmon.log", content=tlsmon_log)
    return Task(
        headers={"type": "analysis", "kind": "drakrun"},
        payload=payload,
        payload_persistent={"drakrun_analysis_id": "0b5f0c1e-test"},
    )


class ServiceTestBase(KartonTestCase):
    karton_class = KartonPcapMiner

    def run_one(self, task: Task) -> Task:
        """Run ``task`` and return the one task the service sent."""
        sent = self.run_task(task)
        self.assertEqual(len(sent), 1, sent)
        return sent[0]

    def assert_sample_task(self, sent: Task, incoming: Task, attributes: dict[str, list[str]]) -> None:
        self.assertEqual(sent.headers["type"], "sample")
        self.assertEqual(sent.headers["stage"], "analyzed")
        self.assertEqual(sent.get_payload("sample").sha256, incoming.get_payload("sample").sha256)
        self.assertEqual(sent.get_payload("attributes"), attributes)


class ServiceTestCase(ServiceTestBase):
    def test_identity_and_filters(self) -> None:
        self.assertEqual(self.karton.identity, "karton.pcap-miner")
        self.assertEqual(self.karton.filters, [{"type": "analysis", "kind": "drakrun"}])

    def test_corpus_captures_send_expected_attributes(self) -> None:
        for folder in corpus_folders():
            with self.subTest(capture=folder.name):
                task = drakrun_task(capture_bytes(folder), tlsmon_log_for(folder))

                sent = self.run_one(task)

                self.assert_sample_task(sent, task, expected_attributes(folder))

    def test_task_without_capture_ignored(self) -> None:
        with self.assertLogs(LOGGER, "INFO") as logs:
            sent = self.run_task(drakrun_task(None))

        self.assertEqual(sent, [])
        self.assertIn("has no dump.pcap resource", "\n".join(logs.output))

    def test_capture_without_indicators_sends_nothing(self) -> None:
        empty_pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)

        sent = self.run_task(drakrun_task(empty_pcap))

        self.assertEqual(sent, [])

    def test_damaged_capture_reports_what_came_before(self) -> None:
        capture = capture_of("http-curl")
        cut = capture[: len(capture) // 2]
        task = drakrun_task(cut)
        with self.assertRaises(pcap_miner.CaptureDamagedError) as raised:
            pcap_miner.mine_bytes(cut)

        with self.assertLogs(LOGGER, "ERROR") as logs:
            sent = self.run_one(task)

        self.assert_sample_task(sent, task, raised.exception.attributes)
        self.assertTrue(raised.exception.attributes)
        self.assertIn("dump.pcap is damaged", logs.output[0])
        self.assertIn("byte offset", logs.output[0])

    def test_tlsmon_bad_line_skipped_with_warning(self) -> None:
        folder = CORPUS / "tls-tlsmon"
        lines = (folder / "tlsmon.log").read_bytes().splitlines(keepends=True)
        tlsmon_log = lines[0] + b'{"client_random": "ab"\n' + b"".join(lines[1:])
        task = drakrun_task(capture_bytes(folder), tlsmon_log)

        with self.assertLogs(LOGGER, "INFO") as logs:
            sent = self.run_one(task)

        self.assert_sample_task(sent, task, expected_attributes(folder))
        warnings = [line for line in logs.output if line.startswith("WARNING")]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("tlsmon.log line 2: invalid JSON", warnings[0])
        self.assertTrue(any(f"tlsmon.log gave {len(lines)} TLS keys" in line for line in logs.output))

    def test_https_requests_need_tlsmon_log(self) -> None:
        folder = CORPUS / "tls-tlsmon"
        expected = expected_attributes(folder)

        sent = self.run_one(drakrun_task(capture_bytes(folder)))

        self.assertNotIn("network-http", sent.get_payload("attributes"))
        self.assertTrue(all(uri.startswith("https://") for uri in expected["network-http"]))
        self.assertEqual(sent.get_payload("attributes")["network-sni"], expected["network-sni"])

class ConfiguredServiceTestCase(ServiceTestBase):
    def make_service(self, **section: str) -> KartonPcapMiner:
        config = ConfigMock()
        for key, value in section.items():
            config.set("pcap-miner", key, value)
        return KartonPcapMiner(config=config, backend=self.backend)

    def test_max_results_and_ignore_list(self) -> None:
        ignore = Path(self.id().replace(".", "_") + ".json")
        self.addCleanup(ignore.unlink)
        ignore.write_text(json.dumps({"network-tcp": ["127.0.0.1:80*"]}), encoding="utf-8")
        self.karton = self.make_service(max_results="5", ignore_list=str(ignore))
        task = drakrun_task(capture_of("http-curl"))

        with self.assertLogs(LOGGER, "WARNING") as logs:
            sent = self.run_one(task)

        # 9 URIs are more than max_results, and two of the three endpoints are ignored.
        self.assert_sample_task(sent, task, {"network-tcp": ["[::1]:8081"]})
        self.assertIn("network-http dropped: more than max_results (5) values", logs.output[0])

    def test_capture_over_max_pcap_size_skipped(self) -> None:
        capture = capture_of("mixed")
        self.karton = self.make_service(max_pcap_size=str(len(capture) - 1))

        with self.assertLogs(LOGGER, "WARNING") as logs:
            sent = self.run_task(drakrun_task(capture))

        self.assertEqual(sent, [])
        self.assertIn(f"dump.pcap is {len(capture)} bytes, more than max_pcap_size", logs.output[0])

    def test_vm_ip_range_unset(self) -> None:
        self.karton = self.make_service(vm_ip_range="")
        task = drakrun_task(capture_of("mixed"))

        sent = self.run_task(task)

        self.assertEqual(sent[0].get_payload("attributes"), attributes_of("mixed"))
        self.assertEqual(self.karton.miner_config.vm_ip_range, [])

    def test_invalid_setting_stops_service_at_start(self) -> None:
        with self.assertRaises(pcap_miner.ConfigError) as raised:
            self.make_service(vm_ip_range="10.0.0.0/40")

        self.assertIn('"10.0.0.0/40"', str(raised.exception))
