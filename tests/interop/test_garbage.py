"""A pyquic server keeps serving while another process throws garbage at its port.

``drivers/garbage_sender.py`` sends a few thousand datagrams a second to the server: random bytes,
empty datagrams, short headers for unknown connection IDs, v1 long headers over junk, and real
client Initials (built by pyquic's own client and packet protection) truncated, with payload or
header bytes flipped, with the Length, CID length or version rewritten, or with junk coalesced
after them; a few intact Initials open connections that never complete.  Meanwhile a pyquic
client downloads files, byte-identical; afterwards an aioquic client is served too, and the
server's endpoint counters show the garbage arrived and was dropped without any connection
failing on it.
"""

from __future__ import annotations

from pathlib import Path

from interop_peers import (
    SERVER_READY_S,
    Documents,
    Processes,
    assert_no_problems,
    driver,
    run_hq_client,
    start_hq_server,
    status_lines,
)

from pyquic.testing.certificates import PemFiles

DURING = ["5MiB", "1KiB", *(f"many/f{index:02d}" for index in range(20))]
AFTER = ["1KiB", "many/f99"]
MIN_GARBAGE = 1000  # datagrams sent while the first client ran, at the least


def test_server_survives_garbage_and_damaged_initials(
    processes: Processes, pem: PemFiles, documents: Documents, tmp_path: Path
) -> None:
    server, port = start_hq_server(processes, "pyquic", pem, "--root", documents.root)
    garbage = processes.start(
        "garbage-sender", driver("garbage_sender", "--port", port, "--rate", "4000")
    )
    garbage.wait_for(r"^sending ", SERVER_READY_S)

    during = run_hq_client(processes, "pyquic", port, pem, "--output", tmp_path / "during", *DURING)
    assert garbage.running(), garbage.describe()  # the garbage lasted the whole transfer
    assert garbage.stop() == 0, garbage.describe()
    assert during.popen.returncode == 0, f"the transfer failed\n{processes.describe()}"
    for path in DURING:
        documents.check(path, tmp_path / "during")
    (sent,) = status_lines(garbage.stdout, "sent")
    assert int(sent["total"]) >= MIN_GARBAGE, sent

    assert server.running(), server.describe()
    after = run_hq_client(processes, "aioquic", port, pem, "--output", tmp_path / "after", *AFTER)
    assert after.popen.returncode == 0, f"the server no longer serves\n{processes.describe()}"
    for path in AFTER:
        documents.check(path, tmp_path / "after")

    assert server.stop() == 0, server.describe()
    assert_no_problems(server)
    assert_no_problems(during)
    (stats,) = status_lines(server.stdout, "stats")
    assert stats["connection_errors"] == "0", stats  # no connection raised on what it received
    # the garbage reached the server and was dropped, for the reasons expected of it
    assert int(stats["dropped"]) >= MIN_GARBAGE // 2, (stats, sent)
    drops = dict(item.split(":") for item in stats["drops"].split(","))
    for reason in ("unparsable", "cid_too_long", "initial_not_authenticated"):
        assert int(drops.get(reason, "0")) > 0, (reason, stats)
    # both real clients completed their handshakes (plus the intact Initials, never completed)
    assert len(status_lines(server.stdout, "handshake")) == 2, server.describe()
