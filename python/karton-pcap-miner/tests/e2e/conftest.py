"""Fixtures for the end-to-end tests on a running Karton stack and MWDB.

scripts/test.d/60-karton-e2e.sh starts Redis, S3, karton-system
(scripts/karton-up.sh) and MWDB (scripts/mwdb-up.sh) on 127.0.0.1 and passes
their env files in PCAP_MINER_KARTON_ENV and PCAP_MINER_MWDB_ENV. The fixtures
here start two replicas of karton-pcap-miner and one karton-mwdb-reporter,
and stop them at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import requests
from karton.core import Producer
from karton.core.config import Config as KartonConfig

BIN = Path(sys.executable).parent
REPLICAS = 2


def read_env_file(variable: str) -> dict[str, str]:
    """Read the KEY=VALUE file named by environment variable ``variable``."""
    path = os.environ.get(variable)
    if not path or not os.path.isfile(path):
        pytest.fail(
            f"{variable} must name the env file of a running stack, but {path!r} is not a file. "
            "Run these tests with scripts/test.d/60-karton-e2e.sh"
        )
    values = {}
    with open(path, encoding="utf-8") as file:
        for line in file:
            key, separator, value = line.strip().partition("=")
            if separator:
                values[key] = value
    return values


def wait_until(description: str, check: Callable[[], bool], seconds: float) -> None:
    """Poll ``check`` every 0.25 s and fail the test when it is still false after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {description}")
        time.sleep(0.25)


@dataclass
class Service:
    """One service process whose standard error goes to a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path
    #: File with the process id, for the step script to stop a service left running.
    pid_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                # A consumer notices SIGTERM when its 5 s Redis read returns.
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pid_path.unlink(missing_ok=True)


@dataclass
class Stack:
    karton_env: dict[str, str]
    mwdb_url: str
    mwdb_key: str
    replicas: list[Service]
    reporter: Service
    producer: Producer

    def mwdb_get(self, path: str) -> Optional[dict]:
        """GET an MWDB API path and return the JSON body, or None for 404."""
        response = requests.get(
            self.mwdb_url + path,
            headers={"Authorization": f"Bearer {self.mwdb_key}"},
            timeout=30,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def mwdb_attributes(self, sha256: str) -> Optional[dict[str, list[str]]]:
        """Return the attributes of a sample in MWDB as key to sorted values, or None while it is absent."""
        if self.mwdb_get(f"file/{sha256}") is None:
            return None
        body = self.mwdb_get(f"file/{sha256}/attribute") or {"attributes": []}
        attributes: dict[str, list[str]] = {}
        for attribute in body["attributes"]:
            attributes.setdefault(attribute["key"], []).append(attribute["value"])
        return {key: sorted(values) for key, values in attributes.items()}

    def processed_roots(self) -> list[tuple[int, str]]:
        """Return (replica index, root task uid) for every task a replica logged as mined."""
        pattern = re.compile(r"\(root ([0-9a-f-]+)\): \d+ values mined")
        return [
            (index, match.group(1))
            for index, replica in enumerate(self.replicas)
            for match in pattern.finditer(replica.log_text())
        ]


def start_service(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    pid_path = log_dir / f"{name}.pid"
    pid_path.write_text(str(process.pid), encoding="ascii")
    return Service(name, process, log_path, pid_path)


def redis_binds(karton_env: dict[str, str]) -> set[str]:
    from redis import Redis

    client = Redis(host=karton_env["KARTON_REDIS_HOST"], port=int(karton_env["KARTON_REDIS_PORT"]))
    return {key.decode() for key in client.hkeys("karton.binds")}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    karton_env = read_env_file("PCAP_MINER_KARTON_ENV")
    mwdb_env = read_env_file("PCAP_MINER_MWDB_ENV")
    env = dict(os.environ)
    env.update(karton_env)
    env["KARTON_MWDB_API_URL"] = mwdb_env["MWDB_API_URL"]
    env["KARTON_MWDB_API_KEY"] = mwdb_env["MWDB_API_KEY"]
    log_dir = Path(os.environ.get("PCAP_MINER_E2E_LOGS") or tmp_path_factory.mktemp("logs"))

    replicas = [
        start_service(f"karton-pcap-miner-{index}", [str(BIN / "karton-pcap-miner")], env, log_dir)
        for index in range(REPLICAS)
    ]
    reporter = start_service("karton-mwdb-reporter", [str(BIN / "karton-mwdb-reporter")], env, log_dir)
    services = [*replicas, reporter]
    try:
        for service in services:
            wait_until(
                f"{service.name} to bind (log {service.log_path})",
                lambda service=service: "Binding on" in service.log_text() or service.process.poll() is not None,
                60,
            )
            assert service.process.poll() is None, f"{service.name} exited:\n{service.log_text()}"
        binds = redis_binds(karton_env)
        assert {"karton.pcap-miner", "karton.mwdb-reporter"} <= binds, binds

        producer = Producer(config=KartonConfig(path=karton_env["KARTON_CONFIG_FILE"]), identity="drakvuf-sandbox")
        yield Stack(karton_env, mwdb_env["MWDB_API_URL"], mwdb_env["MWDB_API_KEY"], replicas, reporter, producer)
    finally:
        for service in services:
            service.stop()
        print(f"service logs: {log_dir}")
