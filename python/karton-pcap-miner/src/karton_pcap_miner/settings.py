"""The ``[pcap-miner]`` configuration section, read from karton-core's configuration.

karton-core merges ``karton.ini`` files and ``KARTON_<SECTION>_<KEY>``
environment variables, so ``KARTON_PCAP-MINER_MAX_RESULTS=50`` sets
``max_results`` in this section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pcap_miner
from karton.core.config import Config as KartonConfig

SECTION = "pcap-miner"


@dataclass(frozen=True)
class Settings:
    """Values of the ``[pcap-miner]`` section, with the original service's defaults."""

    vm_ip_range: str = pcap_miner.DEFAULT_VM_IP_RANGE
    #: None means no limit (``max_results = -1``).
    max_results: Optional[int] = pcap_miner.DEFAULT_MAX_RESULTS
    #: Path of a JSON ignore list, relative to the service's working folder.
    ignore_list: Optional[str] = None
    #: Captures larger than this many bytes are not mined. None is no limit.
    max_pcap_size: Optional[int] = None

    def miner_config(self, keylog: Optional[str] = None) -> pcap_miner.Config:
        """Build the pcap_miner configuration, raising pcap_miner.ConfigError for an invalid value."""
        return pcap_miner.Config(
            vm_ip_range=self.vm_ip_range,
            max_results=self.max_results,
            ignore_list=self.ignore_list,
            max_pcap_size=self.max_pcap_size,
            keylog=keylog,
        )


def read_settings(config: KartonConfig) -> Settings:
    """Read the ``[pcap-miner]`` section, raising pcap_miner.ConfigError for a number setting that is not a number."""
    max_results = _integer(config, "max_results")
    return Settings(
        vm_ip_range=str(config.get(SECTION, "vm_ip_range", pcap_miner.DEFAULT_VM_IP_RANGE)),
        max_results=pcap_miner.DEFAULT_MAX_RESULTS if max_results is None else _limit(max_results),
        ignore_list=config.get(SECTION, "ignore_list") or None,
        max_pcap_size=_integer(config, "max_pcap_size"),
    )


def _integer(config: KartonConfig, key: str) -> Optional[int]:
    """Return an integer setting, or None when it is absent or empty."""
    value = config.get(SECTION, key)
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise pcap_miner.ConfigError(f"[{SECTION}] {key} = {value!r}: expected a whole number") from None


def _limit(max_results: int) -> Optional[int]:
    """Map ``max_results = -1`` to no limit. pcap_miner rejects other negative values."""
    return None if max_results == -1 else max_results
