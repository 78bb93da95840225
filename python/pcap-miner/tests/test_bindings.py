"""The pcap_miner extension module over the project's captures and made-up inputs."""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pcap_miner
import pytest

from conftest import CORPUS, capture_in, config_for, corpus_dirs, dns_query_pcap, read_expected

STUB = Path(__file__).resolve().parents[1] / "pcap_miner.pyi"


def test_corpus_present() -> None:
    assert len(corpus_dirs()) >= 4, f"expected the project's captures in {CORPUS}"


def mine_corpus_capture(folder: Path, config: pcap_miner.Config) -> pcap_miner.Report:
    """Mine a corpus capture; a damaged one must raise with the text its damaged.txt names."""
    damage = folder / "damaged.txt"
    if not damage.exists():
        return pcap_miner.mine_path(capture_in(folder), config)
    with pytest.raises(pcap_miner.CaptureDamagedError, match=re.escape(damage.read_text().strip())) as raised:
        pcap_miner.mine_path(capture_in(folder), config)
    return raised.value.report


def test_corpus_capture_matches_expected(corpus_folder: Path) -> None:
    expected = read_expected(corpus_folder)
    config = config_for(corpus_folder)

    report = mine_corpus_capture(corpus_folder, config)

    assert config.keylog_warnings == []
    assert report.indicators == expected
    assert report.attributes == {key: values for key, values in expected.items() if values}
    assert report.dropped == []


def test_mine_bytes_matches_mine_path(corpus_folder: Path) -> None:
    capture = capture_in(corpus_folder)
    config = config_for(corpus_folder)

    if (corpus_folder / "damaged.txt").exists():
        with pytest.raises(pcap_miner.CaptureDamagedError) as raised:
            pcap_miner.mine_bytes(capture.read_bytes(), config)
        from_bytes = raised.value.report
    else:
        from_bytes = pcap_miner.mine_bytes(capture.read_bytes(), config)
    from_path = mine_corpus_capture(corpus_folder, config)

    assert from_bytes.indicators == from_path.indicators
    assert from_bytes.stats == from_path.stats


def test_report_get_and_frames() -> None:
    folder = CORPUS / "dns-dig"
    expected = read_expected(folder)
    report = pcap_miner.mine_path(capture_in(folder))

    assert report.get("network-dns") == expected["network-dns"]
    frames = report.frames("network-dns", "www.example.test")
    assert frames, "a mined value must name the packet it was seen in"
    assert all(isinstance(frame, int) and frame >= 1 for frame in frames)
    assert report.frames("network-dns", "not.mined.example") == []
    with pytest.raises(ValueError, match="network-foo"):
        report.get("network-foo")
    with pytest.raises(ValueError, match="network-foo"):
        report.frames("network-foo", "x")


def test_stats_count_packets_and_bytes() -> None:
    data = dns_query_pcap(["a.example", "b.example", "a.example"])

    report = pcap_miner.mine_bytes(data)

    assert report.attributes == {"network-dns": ["a.example", "b.example"]}
    assert report.stats["packets"] == 3
    assert report.stats["bytes"] == len(data)
    assert report.stats["udp_datagrams"] == 3
    assert report.stats["malformed"] == 0
    assert report.stats["skipped"] == 0
    assert isinstance(report.stats["flows"], dict)
    assert "Report(network-dns=2" in repr(report)


def test_damaged_capture_carries_partial_report() -> None:
    folder = CORPUS / "http-curl"
    capture = capture_in(folder).read_bytes()
    full = read_expected(folder)

    with pytest.raises(pcap_miner.CaptureDamagedError) as raised:
        pcap_miner.mine_bytes(capture[: len(capture) // 2], name="half.pcap")

    error = raised.value
    message = str(error)
    assert message.startswith("half.pcap: packet ")
    assert "byte offset" in message
    assert isinstance(error, pcap_miner.PcapMinerError)
    assert error.attributes, "the first half of the capture holds requests"
    for key, values in error.attributes.items():
        assert set(values) <= set(full[key]), key
    assert error.report.attributes == error.attributes
    assert error.stats["packets"] > 0
    assert error.stats == error.report.stats
    assert error.dropped == []


def test_empty_input_is_damaged_with_nothing_mined() -> None:
    with pytest.raises(pcap_miner.CaptureDamagedError) as raised:
        pcap_miner.mine_bytes(b"", name="empty.pcap")

    assert str(raised.value).startswith("empty.pcap: ")
    assert raised.value.attributes == {}


def test_not_a_capture_is_damaged() -> None:
    with pytest.raises(pcap_miner.CaptureDamagedError, match="notes.txt"):
        pcap_miner.mine_bytes(b"these are not the packets you are looking for\n" * 4, name="notes.txt")


def test_capture_over_max_pcap_size_not_mined(tmp_path: Path) -> None:
    capture = capture_in(CORPUS / "mixed")
    size = capture.stat().st_size
    config = pcap_miner.Config(max_pcap_size=size - 1)

    with pytest.raises(pcap_miner.CaptureTooLargeError) as from_path:
        pcap_miner.mine_path(capture, config)
    with pytest.raises(pcap_miner.CaptureTooLargeError) as from_bytes:
        pcap_miner.mine_bytes(capture.read_bytes(), config)

    assert from_path.value.size == size
    assert from_path.value.limit == size - 1
    assert "max_pcap_size" in str(from_path.value)
    assert from_bytes.value.limit == size - 1
    assert pcap_miner.mine_path(capture, pcap_miner.Config(max_pcap_size=size)).attributes


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pcap"

    with pytest.raises(FileNotFoundError) as raised:
        pcap_miner.mine_path(missing)

    assert str(missing) in str(raised.value)


def test_config_defaults() -> None:
    config = pcap_miner.Config()

    assert config.vm_ip_range == [pcap_miner.DEFAULT_VM_IP_RANGE] == ["10.0.0.0/8"]
    assert config.max_results == pcap_miner.DEFAULT_MAX_RESULTS == 24
    assert config.max_pcap_size is None
    assert config.keylog is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.168.0.0/16, 10.0.0.0/8", ["192.168.0.0/16", "10.0.0.0/8"]),
        (["172.16.0.0/12", "fd00::/8"], ["172.16.0.0/12", "fd00::/8"]),
        ("", []),
        (None, []),
    ],
)
def test_config_vm_ip_range_forms(value: object, expected: list[str]) -> None:
    assert pcap_miner.Config(vm_ip_range=value).vm_ip_range == expected


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"vm_ip_range": "10.0.0.0/33"}, '"10.0.0.0/33"'),
        ({"vm_ip_range": ["10.0.0.0/8", "nonsense"]}, '"nonsense"'),
        ({"max_results": -5}, '"-5"'),
        ({"ignore_list": {"network-foo": ["x"]}}, '"network-foo"'),
    ],
)
def test_config_invalid_value_rejected(settings: dict, message: str) -> None:
    with pytest.raises(pcap_miner.ConfigError) as raised:
        pcap_miner.Config(**settings)

    assert message in str(raised.value)


@pytest.mark.parametrize("value", [-1, None])
def test_config_max_results_unlimited(value: object) -> None:
    assert pcap_miner.Config(max_results=value).max_results is None


def test_max_results_drops_kind_whole() -> None:
    folder = CORPUS / "dns-dig"
    expected = read_expected(folder)

    report = pcap_miner.mine_path(capture_in(folder), pcap_miner.Config(max_results=3))

    assert "network-dns" not in report.attributes
    assert report.indicators["network-dns"] == []
    assert report.attributes["network-tcp"] == expected["network-tcp"]
    # Mining stops storing a kind's new values once it is over the limit,
    # so the count is a lower bound: max_results + 1.
    assert report.dropped == [{"kind": "network-dns", "count": 4, "max_results": 3}]
    assert len(expected["network-dns"]) > 4


def test_ignore_list_mapping_exact_and_glob() -> None:
    folder = CORPUS / "dns-dig"
    expected = read_expected(folder)
    ignore = {"network-dns": ["www.example.test", "t*.example.test"], "network-tcp": []}

    report = pcap_miner.mine_path(capture_in(folder), pcap_miner.Config(ignore_list=ignore))

    left = [name for name in expected["network-dns"] if name != "www.example.test" and not name.startswith("t")]
    assert report.get("network-dns") == left
    assert report.get("network-tcp") == expected["network-tcp"]


def test_ignore_list_file(tmp_path: Path) -> None:
    ignore = tmp_path / "ignore.json"
    ignore.write_text(json.dumps({"network-tcp": ["127.0.0.1:*"]}), encoding="utf-8")

    report = pcap_miner.mine_path(capture_in(CORPUS / "mixed"), pcap_miner.Config(ignore_list=ignore))

    assert "network-tcp" not in report.attributes
    assert report.get("network-dns") == ["mixed.example.test"]


def test_ignore_list_file_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")

    with pytest.raises(pcap_miner.ConfigError, match="broken.json"):
        pcap_miner.Config(ignore_list=broken)
    with pytest.raises(FileNotFoundError, match="absent.json"):
        pcap_miner.Config(ignore_list=tmp_path / "absent.json")


def test_config_from_ini(tmp_path: Path) -> None:
    (tmp_path / "ignore.json").write_text(json.dumps({"network-dns": ["*.example.test"]}), encoding="utf-8")
    ini = tmp_path / "karton.ini"
    ini.write_text(
        "[redis]\nhost = 127.0.0.1\n\n"
        "[pcap-miner]\nvm_ip_range = 192.168.0.0/16\nmax_results = -1\n"
        "max_pcap_size = 1000000\nignore_list = ignore.json\n",
        encoding="utf-8",
    )

    config = pcap_miner.Config.from_ini(ini)
    report = pcap_miner.mine_path(capture_in(CORPUS / "dns-dig"), config)

    assert config.vm_ip_range == ["192.168.0.0/16"]
    assert config.max_results is None
    assert config.max_pcap_size == 1_000_000
    assert report.get("network-dns") == ["MiXeD.Example.TEST"]


def test_config_from_ini_errors(tmp_path: Path) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text("[pcap-miner]\nmax_results = many\n", encoding="utf-8")

    with pytest.raises(pcap_miner.ConfigError, match='"many"'):
        pcap_miner.Config.from_ini(ini)
    with pytest.raises(FileNotFoundError, match="absent.ini"):
        pcap_miner.Config.from_ini(tmp_path / "absent.ini")


def test_keylog_read_with_warnings(tmp_path: Path) -> None:
    keylog = tmp_path / "tlsmon.log"
    good = json.dumps({"Plugin": "tlsmon", "client_random": "00" * 32, "master_key": "11" * 48})
    keylog.write_text(f"{good}\n{{\"client_random\": \"zz\"}}\n{good}\n", encoding="ascii")

    config = pcap_miner.Config(keylog=keylog)

    assert config.keylog == str(keylog)
    assert len(config.keylog_warnings) == 1
    assert config.keylog_warnings[0].startswith("line 2: ")
    assert "keylog=" in repr(config)
    assert pcap_miner.mine_path(capture_in(CORPUS / "tls-sni"), config).indicators == read_expected(
        CORPUS / "tls-sni"
    )


def test_keylog_decrypts_https_requests() -> None:
    for name, keylog in (("tls12-keylog", "keylog.txt"), ("tls13-keylog", "keylog.txt"), ("tls-tlsmon", "tlsmon.log")):
        folder = CORPUS / name
        expected = read_expected(folder)

        without = pcap_miner.mine_path(capture_in(folder))
        with_keylog = pcap_miner.mine_path(capture_in(folder), pcap_miner.Config(keylog=folder / keylog))

        assert expected["network-http"], name
        assert all(uri.startswith("https://") for uri in expected["network-http"]), name
        assert without.get("network-http") == [], name
        assert with_keylog.get("network-http") == expected["network-http"], name


def test_keylog_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.log"):
        pcap_miner.Config(keylog=tmp_path / "absent.log")


def test_gil_released_while_mining() -> None:
    """A Python thread keeps running while another thread mines a large capture."""
    names = [f"host{index}.example" for index in range(20_000)]
    data = dns_query_pcap(names)
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        while True:
            start = time.perf_counter()
            report = pcap_miner.mine_bytes(data, pcap_miner.Config(max_results=None))
            end = time.perf_counter()
            if end - start >= 0.2 or len(data) > 200_000_000:
                break
            # Too fast to measure on this machine: mine a longer capture.
            names = names * 2
            data = dns_query_pcap(names)
    finally:
        stop.set()
        ticker.join()

    assert report.stats["packets"] == len(names)
    during = [moment for moment in ticks if start < moment < end]
    # Holding the GIL for the whole call would leave no tick inside it.
    assert len(during) >= 10, f"{len(during)} ticks in {end - start:.3f} s of mining"


def test_parallel_threads_give_same_reports() -> None:
    # Damaged captures raise; their reports are checked in test_corpus_capture_matches_expected.
    folders = [folder for folder in corpus_dirs() if not (folder / "damaged.txt").exists()] * 4

    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda folder: pcap_miner.mine_path(capture_in(folder), config_for(folder)), folders))

    for folder, report in zip(folders, reports):
        assert report.indicators == read_expected(folder), folder.name


def test_module_constants_and_exceptions() -> None:
    assert pcap_miner.KINDS == ("network-dns", "network-http", "network-sni", "network-tcp")
    assert isinstance(pcap_miner.__version__, str)
    for error in (pcap_miner.ConfigError, pcap_miner.CaptureDamagedError, pcap_miner.CaptureTooLargeError):
        assert issubclass(error, pcap_miner.PcapMinerError)
        assert error.__module__ == "pcap_miner"


def test_stub_names_match_module() -> None:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    stub_names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stub_names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stub_names.add(node.target.id)
    stub_names = {name for name in stub_names if not name.startswith("_") or name == "__version__"}
    module_names = {name for name in dir(pcap_miner) if not name.startswith("_") or name == "__version__"}
    module_names -= {"pcap_miner"}  # the extension inside the package

    assert stub_names == module_names
