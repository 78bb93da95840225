"""The project's captures in corpus/ as drakrun would send them: capture, expected values, tlsmon.log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

CORPUS = Path(__file__).resolve().parents[3] / "corpus"

#: NSS key log labels that DRAKVUF's tlsmon plugin writes as `label` and `secret` fields.
TLSMON_LABELS = {
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
}


def corpus_folders() -> list[Path]:
    """Return every corpus folder with a capture and its expected.json."""
    folders = sorted(path.parent for path in CORPUS.glob("*/expected.json"))
    assert len(folders) >= 4, f"expected the project's captures in {CORPUS}"
    return folders


def capture_bytes(folder: Path) -> bytes:
    (capture,) = folder.glob("capture.*")
    return capture.read_bytes()


def expected_attributes(folder: Path, max_results: int = 24) -> dict[str, list[str]]:
    """Return expected.json as the service sends it with its default settings.

    Empty kinds are left out, and so are kinds with more than `max_results` values.
    """
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return {key: values for key, values in expected.items() if values and len(values) <= max_results}


def tlsmon_log_for(folder: Path) -> Optional[bytes]:
    """Return the folder's TLS secrets as tlsmon.log lines, or None when it has none.

    A folder contains either a tlsmon.log, used as it is, or an NSS keylog.txt,
    whose CLIENT_RANDOM and TLS 1.3 secret lines are rewritten as tlsmon
    events. Other NSS lines (RSA, exporter secrets) have no tlsmon form and
    are left out.
    """
    if (folder / "tlsmon.log").is_file():
        return (folder / "tlsmon.log").read_bytes()
    if not (folder / "keylog.txt").is_file():
        return None

    events = []
    for line in (folder / "keylog.txt").read_text(encoding="ascii").splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue
        label, client_random, secret = fields
        if label == "CLIENT_RANDOM":
            events.append({"Plugin": "tlsmon", "client_random": client_random, "master_key": secret})
        elif label in TLSMON_LABELS:
            events.append({"Plugin": "tlsmon", "label": label, "client_random": client_random, "secret": secret})
    return "".join(json.dumps(event) + "\n" for event in events).encode()
