"""tlsmon.log to NSS key log conversion."""

from __future__ import annotations

import io
import json
from pathlib import Path

from karton_pcap_miner import tlsmon

CLIENT_RANDOM = "a1" * 32
MASTER_KEY = "B2" * 48


def event(**fields: object) -> bytes:
    """Return one tlsmon.log line as drakrun writes it."""
    base = {
        "Plugin": "tlsmon",
        "TimeStamp": "1700000000.123456",
        "PID": 636,
        "ProcessName": "C:\\Windows\\system32\\lsass.exe",
        "Method": "SslGenerateSessionKeys",
    }
    base.update(fields)
    return (json.dumps(base) + "\n").encode()


def convert(lines: list[bytes]) -> tuple[str, tlsmon.Conversion]:
    output = io.StringIO()
    result = tlsmon.convert(lines, output)
    return output.getvalue(), result


def test_master_key_line_converted() -> None:
    text, result = convert([event(client_random=CLIENT_RANDOM, master_key=MASTER_KEY)])

    assert text == f"CLIENT_RANDOM {CLIENT_RANDOM} {MASTER_KEY.lower()}\n"
    assert result.written == 1
    assert result.skipped == []


def test_label_and_secret_line_converted() -> None:
    secret = "c3" * 32

    text, _ = convert([event(label="CLIENT_TRAFFIC_SECRET_0", client_random=CLIENT_RANDOM, secret=secret)])

    assert text == f"CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM} {secret}\n"


def test_bad_lines_skipped_with_line_numbers() -> None:
    good = event(client_random=CLIENT_RANDOM, master_key=MASTER_KEY)
    lines = [
        good,
        b'{"client_random": "' + CLIENT_RANDOM.encode() + b'", "master_key": \n',  # cut short
        b"\n",
        event(master_key=MASTER_KEY),
        event(client_random=CLIENT_RANDOM[:-2], master_key=MASTER_KEY),
        event(client_random=CLIENT_RANDOM, master_key="zz" * 48),
        event(client_random=CLIENT_RANDOM),
        event(client_random=CLIENT_RANDOM, label="NOT_A_LABEL", secret="00" * 32),
        event(client_random=CLIENT_RANDOM, label="EXPORTER_SECRET", secret="00" * 31),
        b"[1, 2, 3]\n",
        b"\xff\xfe not utf-8\n",
        good,
    ]

    text, result = convert(lines)

    assert result.written == 2
    assert text.count("CLIENT_RANDOM ") == 2
    skipped = {item.line: item.reason for item in result.skipped}
    assert sorted(skipped) == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert skipped[2].startswith("invalid JSON")
    assert "client_random" in skipped[4]
    assert "client_random" in skipped[5]
    assert "master_key" in skipped[6]
    assert "neither master_key nor label" in skipped[7]
    assert "NOT_A_LABEL" in skipped[8]
    assert "secret" in skipped[9]
    assert skipped[10] == "not a JSON object"
    assert skipped[11] == "not UTF-8 text"
    assert str(result.skipped[0]) == f"line 2: {skipped[2]}"


def test_convert_file_streams_lines(tmp_path: Path) -> None:
    source = tmp_path / "tlsmon.log"
    lines = [event(client_random=f"{index:064x}", master_key=MASTER_KEY) for index in range(1000)]
    source.write_bytes(b"".join(lines))
    keylog = tmp_path / "keylog.txt"

    result = tlsmon.convert_file(str(source), str(keylog))

    written = keylog.read_text(encoding="ascii").splitlines()
    assert result.written == 1000
    assert len(written) == 1000
    assert written[7] == f"CLIENT_RANDOM {7:064x} {MASTER_KEY.lower()}"
