"""A pyquic connection as Wireshark sees it: every packet dissects, decrypts, and carries the data.

A pyquic client downloads files from a pyquic server over loopback while ``tshark -i lo``
captures the server's port.  Then tshark reads the capture with the client's key log and every
datagram must dissect as QUIC with no malformed packet and no expert info of warning severity or
above, every 1-RTT packet must decrypt into frames, and the STREAM frames must reassemble into
exactly the requests and the files served.  A control run without the key log shows that the
checks notice packets that do not decrypt.

Both pyquic processes run with GSO off (``--no-gso``): on ``lo`` a capture sees a GSO send as
one oversized datagram that was never segmented, which no dissector can split into packets.
Where capturing is impossible (no privileges for dumpcap), or with ``PYQUIC_INTEROP_PCAP=recorded``
in the environment, the capture is replaced by the datagrams both pyquic processes handed to the
kernel (``--pcap``), merged in time order.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from interop_peers import (
    Documents,
    Process,
    Processes,
    assert_no_problems,
    free_udp_port,
    run_hq_client,
    start_hq_server,
)

from pyquic.testing.certificates import PemFiles

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
MERGECAP = shutil.which("mergecap") or "/usr/bin/mergecap"
INSTALL_HINT = "run scripts/install-test-peers.sh (as root) to install tshark"
CAPTURE_READY_S = 15.0
TSHARK_TIMEOUT_S = 60.0
PATHS = ["1KiB", "5MiB", "many/f00", "many/f01", "many/f02"]
PROBLEMS = (
    '_ws.malformed || _ws.expert.severity >= "warning" || quic.decryption_failed || (udp && !quic)'
)
SUITES = {"aes128": "0x1301", "chacha20": "0x1303"}  # TLS codepoints tshark shows


@pytest.fixture(scope="module", autouse=True)
def tshark_installed() -> None:
    for program in (TSHARK, MERGECAP):
        assert Path(program).is_file(), f"{program} is missing: {INSTALL_HINT}"


def tshark(capture: Path, keylog: Path | None, *args: str) -> str:
    """tshark's output reading ``capture`` (decrypting with ``keylog``); fails on an error."""
    options = ["-o", f"tls.keylog_file:{keylog}"] if keylog is not None else []
    command = [TSHARK, "-n", "-r", str(capture), *options, *args]
    result = subprocess.run(command, capture_output=True, timeout=TSHARK_TIMEOUT_S, check=False)
    assert result.returncode == 0, f"{command} failed: {result.stderr.decode(errors='replace')}"
    return result.stdout.decode(errors="replace")


def count(capture: Path, keylog: Path | None, display_filter: str, *args: str) -> int:
    """How many frames match ``display_filter``."""
    fields = ("-T", "fields", "-e", "frame.number")
    return len(tshark(capture, keylog, *args, "-Y", display_filter, *fields).split())


def listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def nodes_with(tree: Any, key: str) -> Iterator[dict[str, Any]]:
    """Every dictionary in ``tree`` (tshark's JSON) that has ``key``."""
    if isinstance(tree, dict):
        if key in tree:
            yield tree
        for value in tree.values():
            yield from nodes_with(value, key)
    elif isinstance(tree, list):
        for value in tree:
            yield from nodes_with(value, key)


@dataclass
class Dissection:
    """What tshark made of a capture: datagrams, and the QUIC packets with their source ports."""

    datagrams: int
    not_quic: int  # datagrams without a QUIC packet
    packets: list[tuple[int, dict[str, Any]]]

    @classmethod
    def of(cls, capture: Path, keylog: Path | None, *args: str) -> Dissection:
        frames = json.loads(
            tshark(capture, keylog, *args, "-T", "json", "--no-duplicate-keys", "-J", "udp quic")
        )
        packets = []
        not_quic = 0
        for frame in frames:
            layers = frame["_source"]["layers"]
            port = int(listify(layers["udp"]["udp.srcport"])[0])
            quic = listify(layers.get("quic"))
            not_quic += not quic
            packets.extend((port, packet) for packet in quic)
        return cls(len(frames), not_quic, packets)

    def long_packets(self, packet_type: int) -> int:
        return sum(
            1 for _, quic in self.packets if quic.get("quic.long.packet_type") == str(packet_type)
        )

    def short_packets(self) -> tuple[int, int]:
        """(1-RTT packets, those of them tshark could not decrypt into frames)."""
        short = [quic for _, quic in self.packets if "quic.short" in quic]
        return len(short), sum(1 for quic in short if "quic.frame" not in quic)

    def server_hello_suites(self) -> list[str]:
        hellos = nodes_with([quic for _, quic in self.packets], "tls.handshake.type")
        return [h["tls.handshake.ciphersuite"] for h in hellos if h["tls.handshake.type"] == "2"]


def stream_contents(dissection: Dissection) -> dict[tuple[int, int], bytes]:
    """Every stream's bytes, reassembled from the decrypted STREAM frames, by (sender port, id).

    A retransmission must repeat the same bytes; a gap or a disagreement fails the test.
    """
    pieces: dict[tuple[int, int], list[tuple[int, bytes]]] = defaultdict(list)
    for port, quic in dissection.packets:
        for frame in listify(quic.get("quic.frame")):
            if "quic.stream.stream_id" not in frame:
                continue
            stream_id = int(frame["quic.stream.stream_id"])
            offset = int(frame.get("quic.stream.offset", "0"))
            data = bytes.fromhex(frame.get("quic.stream_data", "").replace(":", ""))
            pieces[(port, stream_id)].append((offset, data))
    contents = {}
    for key, chunks in pieces.items():
        buffer = bytearray()
        for offset, data in sorted(chunks, key=lambda chunk: chunk[0]):
            assert offset <= len(buffer), f"stream {key}: bytes {len(buffer)}..{offset} missing"
            overlap = buffer[offset : offset + len(data)]
            assert data[: len(overlap)] == overlap, f"stream {key}: data at {offset} disagrees"
            buffer += data[len(overlap) :]
        contents[key] = bytes(buffer)
    return contents


class Capture:
    """``tshark -i lo`` on the server's UDP port, or nothing without the privileges to capture.

    Marker datagrams to a second, unused port (which the capture filter also lets through) show
    when the capture is live: a marker must reach the file before the transfer starts, and again
    before the capture stops (stopping loses what the kernel still buffers; everything sent
    before a marker that reached the file is in the file).  The analysis reads a copy without
    the markers.
    """

    def __init__(self, processes: Processes, port: int, path: Path) -> None:
        self.port = port
        self.path = path
        self.marker_port = free_udp_port()
        self.process: Process | None = None
        if os.environ.get("PYQUIC_INTEROP_PCAP") == "recorded":
            return
        capture_filter = f"udp port {port} or udp port {self.marker_port}"
        # -B: a 64 MiB kernel buffer, so no packet is dropped; -a: stop after two minutes by
        # itself, should this process be killed
        options = ["-n", "-i", "lo", "-B", "64", "-a", "duration:120", "-f", capture_filter]
        process = processes.start("tshark-capture", [TSHARK, *options, "-w", str(path)])
        self.process = process
        if not self._marker_captured():
            process.kill()  # no privileges (tshark says so and exits): use the recorded datagrams
            self.process = None

    def _marker_captured(self) -> bool:
        """Send markers until one is in the capture file; False if the capture is not working."""
        assert self.process is not None
        marker = os.urandom(16).hex().encode()
        deadline = time.monotonic() + CAPTURE_READY_S
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while self.process.running() and time.monotonic() < deadline:
                sock.sendto(marker, ("127.0.0.1", self.marker_port))
                time.sleep(0.05)
                if self.path.exists() and marker in self.path.read_bytes():
                    return True
        return False

    def stop(self) -> Path | None:
        """The capture of the server's port, complete; None if there is no capture."""
        if self.process is None:
            return None
        assert self._marker_captured(), f"the capture stopped working\n{self.process.describe()}"
        assert self.process.stop(signal.SIGINT) == 0, self.process.describe()
        server_only = self.path.with_name("server-port.pcapng")
        tshark(self.path, None, "-Y", f"udp.port == {self.port}", "-w", str(server_only))
        return server_only


@pytest.mark.parametrize("suite", list(SUITES))
def test_capture_dissects_and_decrypts(
    processes: Processes, pem: PemFiles, documents: Documents, tmp_path: Path, suite: str
) -> None:
    keylog = tmp_path / "client-keys.log"
    recorded = (tmp_path / "server.pcap", tmp_path / "client.pcap")
    options = ("--no-gso", "--cipher", suite)
    server, port = start_hq_server(
        processes, "pyquic", pem, "--root", documents.root, "--pcap", recorded[0], *options
    )
    capture = Capture(processes, port, tmp_path / "capture.pcapng")
    client = run_hq_client(
        processes,
        "pyquic",
        port,
        pem,
        "--output",
        tmp_path / "out",
        "--keylog",
        keylog,
        "--pcap",
        recorded[1],
        *options,
        *PATHS,
    )
    assert client.popen.returncode == 0, processes.describe()
    for path in PATHS:
        documents.check(path, tmp_path / "out")
    server.wait_for(r"^closed ", 15.0)  # the closing period is over: nothing more will be sent
    pcap = capture.stop()
    if pcap is None:
        if os.environ.get("PYQUIC_INTEROP_PCAP") != "recorded":
            warnings.warn("cannot capture on lo: checking the datagrams pyquic sent", stacklevel=1)
        pcap = tmp_path / "recorded.pcapng"
        subprocess.run([MERGECAP, "-w", str(pcap), *map(str, recorded)], check=True, timeout=30)
    assert server.stop() == 0, server.describe()
    assert_no_problems(server)
    assert_no_problems(client)

    problems = tshark(
        pcap,
        keylog,
        "-Y",
        PROBLEMS,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    )
    assert problems == "", f"packets with problems (frame, expert info):\n{problems[:3000]}"
    dissection = Dissection.of(pcap, keylog)
    # 5 MiB in packets of up to 1472 bytes once DPLPMTUD confirmed them (RFC 9000 §14.3)
    assert dissection.datagrams > 3500, dissection.datagrams
    assert dissection.not_quic == 0
    # every packet type of the handshake, and every 1-RTT packet decrypted into frames
    assert dissection.long_packets(0) >= 2  # Initial
    assert dissection.long_packets(2) >= 2  # Handshake
    short, undecrypted = dissection.short_packets()
    assert short > 3500 and undecrypted == 0, f"{undecrypted} of {short} 1-RTT packets"
    suites = dissection.server_hello_suites()
    assert suites and set(suites) == {SUITES[suite]}, suites

    # the STREAM frames, decrypted, are exactly the requests and the files served
    contents = stream_contents(dissection)
    requests = {key: data for key, data in contents.items() if key[0] != port}
    responses = {key[1]: data for key, data in contents.items() if key[0] == port}
    assert len(requests) == len(PATHS), sorted(requests)
    for (_, stream_id), request in requests.items():
        path = request.decode("ascii").removeprefix("GET /").removesuffix("\r\n")
        assert path in PATHS, request
        digest = hashlib.sha256(responses[stream_id]).hexdigest()
        assert digest == documents.digests[path], f"stream {stream_id} ({path}) differs"

    # the control: without the keys the 1-RTT packets do not decrypt, and the checks see it
    # (the first 300 datagrams are enough for that)
    short, undecrypted = Dissection.of(pcap, None, "-c", "300").short_packets()
    assert short > 0 and undecrypted == short
    assert count(pcap, None, PROBLEMS, "-c", "300") > 0
