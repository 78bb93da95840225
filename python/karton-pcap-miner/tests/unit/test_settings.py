"""The [pcap-miner] section read through karton-core's configuration."""

from __future__ import annotations

from pathlib import Path

import pcap_miner
import pytest
from karton.core.config import Config as KartonConfig

from karton_pcap_miner.settings import Settings, read_settings


def karton_config(tmp_path: Path, section: str) -> KartonConfig:
    ini = tmp_path / "karton.ini"
    ini.write_text(
        "[s3]\naddress = http://127.0.0.1:1\naccess_key = a\nsecret_key = b\nbucket = karton\n"
        "[redis]\nhost = 127.0.0.1\n" + section,
        encoding="utf-8",
    )
    return KartonConfig(path=str(ini))


def test_defaults_without_section(tmp_path: Path) -> None:
    settings = read_settings(karton_config(tmp_path, ""))

    assert settings == Settings()
    assert settings.vm_ip_range == "10.0.0.0/8"
    assert settings.max_results == 24
    assert settings.ignore_list is None
    assert settings.max_pcap_size is None


def test_section_values(tmp_path: Path) -> None:
    section = (
        "[pcap-miner]\nvm_ip_range = 192.168.56.0/24\nmax_results = -1\n"
        "ignore_list = /etc/karton/ignore.json\nmax_pcap_size = 1048576\n"
    )

    settings = read_settings(karton_config(tmp_path, section))

    assert settings == Settings("192.168.56.0/24", None, "/etc/karton/ignore.json", 1048576)


def test_empty_values_mean_unset(tmp_path: Path) -> None:
    section = "[pcap-miner]\nvm_ip_range =\nmax_results =\nignore_list =\nmax_pcap_size =\n"

    settings = read_settings(karton_config(tmp_path, section))

    assert settings.vm_ip_range == ""
    assert settings.miner_config().vm_ip_range == []
    assert settings.max_results == 24
    assert settings.ignore_list is None
    assert settings.max_pcap_size is None


def test_environment_variable_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KARTON_PCAP-MINER_MAX_RESULTS", "50")

    settings = read_settings(karton_config(tmp_path, "[pcap-miner]\nmax_results = 10\n"))

    assert settings.max_results == 50


def test_number_setting_not_a_number(tmp_path: Path) -> None:
    with pytest.raises(pcap_miner.ConfigError, match=r"\[pcap-miner\] max_pcap_size = '1 GB'"):
        read_settings(karton_config(tmp_path, "[pcap-miner]\nmax_pcap_size = 1 GB\n"))


def test_invalid_network_rejected_by_miner_config(tmp_path: Path) -> None:
    settings = read_settings(karton_config(tmp_path, "[pcap-miner]\nvm_ip_range = 10.0.0.0/8, lan\n"))

    with pytest.raises(pcap_miner.ConfigError, match='"lan"'):
        settings.miner_config()
