"""drakrun-shaped tasks through karton-system, karton-pcap-miner and karton-mwdb-reporter into MWDB."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import Counter
from typing import Optional

import pcap_miner
import pytest
from karton.core import Resource, Task

from conftest import Stack, wait_until
from corpus_files import CORPUS, capture_bytes, corpus_folders, expected_attributes, tlsmon_log_for


def send_analysis(stack: Stack, capture: bytes, tlsmon_log: Optional[bytes] = None) -> tuple[Task, str]:
    """Send an analysis task as drakrun does and return it with the sha256 of its new random sample."""
    sample = b"MZ" + os.urandom(256)
    payload = {
        "sample": Resource("sample", content=sample),
        "dump.pcap": Resource("dump.pcap", content=capture),
        "dumps_metadata": [],
    }
    if tlsmon_log is not None:
        payload["tlsmon.log"] = Resource("tlsmon.log", content=tlsmon_log)
    task = Task(
        headers={"type": "analysis", "kind": "drakrun"},
        payload=payload,
        payload_persistent={"drakrun_analysis_id": str(uuid.uuid4()), "drakrun_token": os.urandom(16).hex()},
    )
    stack.producer.send_task(task)
    return task, hashlib.sha256(sample).hexdigest()


def wait_for_sample(stack: Stack, sha256: str, seconds: float = 60) -> dict[str, list[str]]:
    """Wait until karton-mwdb-reporter uploaded the sample and return its attributes.

    The reporter uploads a new sample together with all its attributes in one
    request, so the attributes are complete once the sample exists.
    """
    found: dict[str, dict[str, list[str]]] = {}

    def present() -> bool:
        attributes = stack.mwdb_attributes(sha256)
        if attributes is not None:
            found["attributes"] = attributes
        return attributes is not None

    wait_until(f"sample {sha256} in MWDB", present, seconds)
    return found["attributes"]


def replica_logs(stack: Stack) -> str:
    return "\n".join(replica.log_text() for replica in stack.replicas)


def test_one_task_gives_expected_attributes_in_mwdb(stack: Stack) -> None:
    folder = CORPUS / "tls-tlsmon"
    tlsmon_lines = (folder / "tlsmon.log").read_bytes().splitlines(keepends=True)
    # A line cut short, as a crashed writer would leave it, must cost only that line.
    tlsmon_log = tlsmon_lines[0] + b'{"client_random": \n' + b"".join(tlsmon_lines[1:])
    expected = expected_attributes(folder)

    task, sha256 = send_analysis(stack, capture_bytes(folder), tlsmon_log)
    attributes = wait_for_sample(stack, sha256)

    assert attributes == expected
    assert any(uri.startswith("https://") for uri in attributes["network-http"])
    logs = replica_logs(stack)
    assert "tlsmon.log line 2: invalid JSON" in logs
    total = sum(len(values) for values in expected.values())
    assert f"(root {task.root_uid}): {total} values mined" in logs


def test_damaged_capture_partial_attributes_in_mwdb(stack: Stack) -> None:
    capture = capture_bytes(CORPUS / "http-curl")
    cut = capture[: len(capture) // 2]
    with pytest.raises(pcap_miner.CaptureDamagedError) as raised:
        pcap_miner.mine_bytes(cut)
    partial = raised.value.attributes
    assert partial, "the first half of the capture holds requests"

    _, sha256 = send_analysis(stack, cut)
    attributes = wait_for_sample(stack, sha256)

    assert attributes == partial
    assert "dump.pcap is damaged, reporting what was mined before the damage" in replica_logs(stack)


def test_two_replicas_share_twenty_tasks(stack: Stack) -> None:
    folders = corpus_folders()
    sent = []
    for index in range(20):
        folder = folders[index % len(folders)]
        task, sha256 = send_analysis(stack, capture_bytes(folder), tlsmon_log_for(folder))
        sent.append((task.root_uid, sha256, folder))

    for _, sha256, folder in sent:
        assert wait_for_sample(stack, sha256, seconds=120) == expected_attributes(folder), folder.name

    roots = {root for root, _, _ in sent}
    processed = [(replica, root) for replica, root in stack.processed_roots() if root in roots]
    counts = Counter(root for _, root in processed)
    assert set(counts) == roots, f"tasks never mined: {roots - set(counts)}"
    assert [root for root, count in counts.items() if count > 1] == [], "tasks mined more than once"
    per_replica = Counter(replica for replica, _ in processed)
    assert sorted(per_replica) == list(range(len(stack.replicas))), f"tasks per replica: {dict(per_replica)}"
