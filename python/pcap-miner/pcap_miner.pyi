"""Mine network indicators from pcap and pcapng captures.

The four kinds are named by their MWDB attribute keys: ``network-http`` (full
URIs of HTTP requests), ``network-tcp`` (contacted TCP endpoints),
``network-sni`` (TLS server name and server port) and ``network-dns`` (DNS
query names). Mining releases the GIL.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union, final

__version__: str
#: The attribute keys, ``("network-dns", "network-http", "network-sni", "network-tcp")``.
KINDS: tuple[str, ...]
DEFAULT_VM_IP_RANGE: str
DEFAULT_MAX_RESULTS: int

_Path = Union[str, "os.PathLike[str]"]

class PcapMinerError(Exception):
    """Base class of the errors raised by pcap_miner."""

class ConfigError(PcapMinerError):
    """A setting, INI file or ignore list is invalid."""

class CaptureTooLargeError(PcapMinerError):
    """The capture is larger than max_pcap_size and was not mined."""

    size: int
    limit: int

class CaptureDamagedError(PcapMinerError):
    """The capture is damaged or cut short.

    The message names the file, the packet number and the byte offset. The
    attributes hold what was mined before the damage.
    """

    report: Report
    attributes: dict[str, list[str]]
    stats: dict[str, Any]
    dropped: list[dict[str, Any]]

@final
class Config:
    """Settings of the ``[pcap-miner]`` section, immutable once made."""

    def __init__(
        self,
        *,
        vm_ip_range: Union[str, Sequence[str], None] = "10.0.0.0/8",
        max_results: Optional[int] = 24,
        ignore_list: Union[_Path, Mapping[str, Sequence[str]], None] = None,
        max_pcap_size: Optional[int] = None,
        keylog: Optional[_Path] = None,
    ) -> None:
        """Build the settings.

        ``vm_ip_range`` is a comma-separated string or a list of networks, and
        an empty value or None leaves it unset. ``max_results`` of -1 or None
        means no limit. ``ignore_list`` is a JSON file or a mapping of
        attribute key to values and globs. ``max_pcap_size`` is in bytes.
        ``keylog`` is an NSS key log (``SSLKEYLOGFILE``) or a DRAKVUF
        tlsmon.log. TLS sessions it has secrets for are decrypted, and their
        requests reported as ``https://`` URIs. Invalid values raise
        ConfigError, and a file that cannot be read raises OSError.
        """

    @staticmethod
    def from_ini(path: _Path) -> Config:
        """Read the ``[pcap-miner]`` section of an INI file, raising ConfigError or OSError."""

    @property
    def vm_ip_range(self) -> list[str]: ...
    @property
    def max_results(self) -> Optional[int]: ...
    @property
    def max_pcap_size(self) -> Optional[int]: ...
    @property
    def keylog(self) -> Optional[str]: ...
    @property
    def keylog_warnings(self) -> list[str]:
        """Key log lines skipped as unusable, written ``line N: reason`` (the first 100 only)."""

@final
class Report:
    """Indicator values after the ignore list and max_results, with counters."""

    @property
    def attributes(self) -> dict[str, list[str]]:
        """Kinds with values, as sorted lists: the Karton/MWDB attributes payload."""

    @property
    def indicators(self) -> dict[str, list[str]]:
        """All four kinds, each a sorted list that may be empty."""

    @property
    def stats(self) -> dict[str, Any]:
        """Counters of the run, such as ``packets`` and ``bytes``, plus ``malformed`` and ``skipped``."""

    @property
    def dropped(self) -> list[dict[str, Any]]:
        """Kinds left out for having more values than max_results: ``kind``, ``count``, ``max_results``."""

    def get(self, kind: str) -> list[str]:
        """Return the sorted values of one kind, raising ValueError for an unknown kind."""

    def frames(self, kind: str, value: str) -> list[int]:
        """Return the numbers of the first packets (at most 8) that ``value`` was seen in."""

def mine_path(path: _Path, config: Optional[Config] = None) -> Report:
    """Mine a capture file.

    Raises CaptureDamagedError (with the partial report), CaptureTooLargeError,
    or OSError when the file cannot be opened.
    """

def mine_bytes(data: bytes, config: Optional[Config] = None, name: str = "<bytes>") -> Report:
    """Mine a capture held in memory. ``name`` is the file name that error messages show."""
