"""Convert DRAKVUF's ``tlsmon.log`` into an NSS key log.

drakrun writes one JSON object per line for every TLS session that the
tlsmon plugin saw in the guest, with ``client_random`` (32 bytes as 64 hex
digits) and ``master_key`` (the 48-byte TLS 1.0-1.2 master secret as 96 hex
digits). Some DRAKVUF builds write ``label`` and ``secret`` instead of
``master_key``, with the NSS labels of TLS 1.3 secrets. The NSS key log format
that Wireshark and pcap-miner read has one ``LABEL <client random> <secret>``
line per secret.

A line that cannot be converted is skipped and reported with its line number,
so one bad line costs one session's keys, not the whole task.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Optional

CLIENT_RANDOM_HEX_DIGITS = 64
MASTER_KEY_HEX_DIGITS = 96

#: NSS key log labels a ``label``/``secret`` line may carry.
NSS_LABELS = frozenset(
    {
        "CLIENT_RANDOM",
        "CLIENT_EARLY_TRAFFIC_SECRET",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    }
)

#: Lengths in hex digits of the secrets a ``label``/``secret`` line may carry:
#: 48-byte master secrets and TLS 1.3 secrets of SHA-256 and SHA-384 suites.
SECRET_HEX_DIGITS = frozenset({64, 96})

_HEX_DIGITS = frozenset(string.hexdigits)


@dataclass
class SkippedLine:
    """A tlsmon.log line that was not converted."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class Conversion:
    """Outcome of one conversion: key log lines written and lines skipped."""

    written: int = 0
    skipped: list[SkippedLine] = field(default_factory=list)


def convert(lines: Iterable[bytes], output: IO[str]) -> Conversion:
    """Write the NSS key log lines for ``lines`` (raw tlsmon.log lines) to ``output``.

    Blank lines are ignored. Every other line that is not a usable tlsmon
    event is recorded in the returned ``skipped`` list.
    """
    result = Conversion()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue

        key_line, reason = _key_line(raw)
        if key_line is None:
            result.skipped.append(SkippedLine(number, reason))
            continue

        output.write(key_line + "\n")
        result.written += 1
    return result


def convert_file(tlsmon_path: str, keylog_path: str) -> Conversion:
    """Convert the tlsmon.log at ``tlsmon_path`` into a new NSS key log at ``keylog_path``.

    The input is read one line at a time, so its size does not matter.
    """
    with open(tlsmon_path, "rb") as source, open(keylog_path, "w", encoding="ascii") as output:
        return convert(source, output)


def _key_line(raw: bytes) -> tuple[Optional[str], str]:
    """Return the NSS line for one tlsmon.log line, or None and the reason it has none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        # Without its line break, an error's column is counted within the line.
        event = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as error:
        return None, f"invalid JSON ({error.msg} at column {error.colno})"
    if not isinstance(event, dict):
        return None, "not a JSON object"

    client_random = _hex_field(event, "client_random", {CLIENT_RANDOM_HEX_DIGITS})
    if client_random is None:
        return None, f"client_random is missing or not {CLIENT_RANDOM_HEX_DIGITS} hex digits"

    if "master_key" in event:
        master_key = _hex_field(event, "master_key", {MASTER_KEY_HEX_DIGITS})
        if master_key is None:
            return None, f"master_key is not {MASTER_KEY_HEX_DIGITS} hex digits"
        return f"CLIENT_RANDOM {client_random} {master_key}", ""

    label = event.get("label")
    if label is None:
        return None, "has neither master_key nor label and secret"
    if label not in NSS_LABELS:
        return None, f"unknown label {label!r}"
    secret = _hex_field(event, "secret", SECRET_HEX_DIGITS)
    if secret is None:
        return None, "secret is missing or not 64 or 96 hex digits"
    return f"{label} {client_random} {secret}", ""


def _hex_field(event: dict[str, Any], name: str, lengths: frozenset[int] | set[int]) -> Optional[str]:
    """Return ``event[name]`` in lower case when it is a hex string of an allowed length."""
    value = event.get(name)
    if not isinstance(value, str) or len(value) not in lengths:
        return None
    if not _HEX_DIGITS.issuperset(value):
        return None
    return value.lower()
