"""Shared helpers: the project's capture corpus and small captures made by the tests."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pcap_miner
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS = REPO_ROOT / "corpus"


def corpus_dirs() -> list[Path]:
    """Return every corpus folder that contains a capture and its expected.json."""
    return sorted(path.parent for path in CORPUS.glob("*/expected.json"))


def capture_in(folder: Path) -> Path:
    """Return the capture file of a corpus folder."""
    (capture,) = [path for path in folder.iterdir() if path.name.startswith("capture.")]
    return capture


def read_expected(folder: Path) -> dict[str, list[str]]:
    with open(folder / "expected.json", encoding="utf-8") as file:
        return json.load(file)


def config_for(folder: Path) -> pcap_miner.Config:
    """Return the configuration expected.json was written for: no value limit, and the
    folder's key log (keylog.txt or tlsmon.log), if any."""
    for name in ("keylog.txt", "tlsmon.log"):
        if (folder / name).is_file():
            return pcap_miner.Config(max_results=-1, keylog=folder / name)
    return pcap_miner.Config(max_results=-1)


def dns_query_pcap(names: list[str]) -> bytes:
    """Build a pcap (raw IPv4 link type) with one UDP DNS query per name, 10.0.0.2 to 10.0.0.1:53."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    packets = []
    for number, name in enumerate(names):
        question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
        dns = struct.pack(">HHHHHH", number & 0xFFFF, 0x0100, 1, 0, 0, 0) + question + b"\x00\x00\x01\x00\x01"
        udp = struct.pack(">HHHH", 40000, 53, 8 + len(dns), 0) + dns
        ip = (
            struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(udp), number & 0xFFFF, 0, 64, 17, 0)
            + bytes([10, 0, 0, 2, 10, 0, 0, 1])
            + udp
        )
        record = struct.pack("<IIII", 1_700_000_000 + number, 0, len(ip), len(ip)) + ip
        packets.append(record)
    return header + b"".join(packets)


@pytest.fixture(params=corpus_dirs(), ids=lambda folder: folder.name)
def corpus_folder(request: pytest.FixtureRequest) -> Path:
    return request.param
