"""Frames, the consortium secret, the site worker's socket and the refusals of
``crlm federated`` (no Flower process is started here)."""
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from crlm.cli import main
from crlm.federated import wire
from crlm.federated.protocol import message
from crlm.federated.worker import answer, serve

SECRET = b"s" * 40


def _msg():
    return message("newton", {"site": "A", "columns": ["age", "cea"], "x": 1.5},
                   {"beta": np.arange(12, dtype=float).reshape(3, 4),
                    "cuts": np.array([1, 0, 1], dtype=np.int8),
                    "flags": np.array([True, False])})


def test_a_frame_decodes_to_the_same_message():
    msg = _msg()
    back = wire.decode(wire.encode(msg))
    assert back["kind"] == "newton" and back["config"] == msg["config"]
    for k, v in msg["arrays"].items():
        np.testing.assert_array_equal(back["arrays"][k], v)
        assert back["arrays"][k].dtype == v.dtype


@pytest.mark.parametrize("cut", [3, 20, -5])
def test_a_truncated_frame_is_refused(cut):
    data = wire.encode(_msg())
    with pytest.raises(wire.WireError):
        wire.decode(data[:cut])


def test_a_frame_with_extra_bytes_or_an_object_array_is_refused():
    with pytest.raises(wire.WireError):
        wire.decode(wire.encode(_msg()) + b"\0")
    data = wire.encode(message("describe", {}, {"a": np.zeros(2)}))
    with pytest.raises(wire.WireError, match="dtype"):
        wire.decode(data.replace(b'"f8"', b'"O8"'))


def test_signed_messages_verify_and_a_changed_one_does_not():
    signed = wire.sign(_msg(), SECRET)
    assert wire.MAC_KEY in signed["config"]
    clean = wire.verify(wire.decode(wire.encode(signed)), SECRET)
    assert wire.MAC_KEY not in clean["config"]
    tampered = wire.decode(wire.encode(signed))
    tampered["arrays"]["beta"][0, 0] += 1e-9
    with pytest.raises(wire.WireError, match="consortium secret"):
        wire.verify(tampered, SECRET)
    with pytest.raises(wire.WireError):
        wire.verify(signed, b"t" * 40)  # another consortium's secret
    with pytest.raises(wire.WireError):
        wire.verify(_msg(), SECRET)  # unsigned
    assert wire.verify(_msg(), None)["config"] == _msg()["config"]  # loopback without secret


def test_the_secret_file_must_be_private_and_long(tmp_path):
    p = tmp_path / "secret"
    p.write_bytes(b"x" * 40)
    p.chmod(0o644)
    with pytest.raises(wire.WireError, match="chmod 600"):
        wire.read_secret(p)
    p.chmod(0o600)
    assert wire.read_secret(p) == b"x" * 40
    p.write_bytes(b"short")
    with pytest.raises(wire.WireError, match="shorter"):
        wire.read_secret(p)
    with pytest.raises(wire.WireError, match="no consortium secret"):
        wire.read_secret(tmp_path / "missing")


def test_the_worker_refuses_an_unsigned_message_without_opening_the_store(tmp_path):
    db = tmp_path / "never.duckdb"
    reply = wire.decode(answer(wire.encode(_msg()), db, "demo", "A", SECRET))
    assert reply["kind"] == "error" and "consortium secret" in reply["config"]["error"]
    assert wire.verify(reply, SECRET)["kind"] == "error"  # the refusal is signed
    assert not db.exists()


def test_the_worker_answers_over_its_private_socket(tmp_path):
    sock = Path("/tmp") / f"crlm-test-{os.getpid()}" / "site.sock"
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(tmp_path / "none.duckdb", "demo", "A", sock),
                              kwargs={"keep_going": lambda: not stop.is_set(),
                                      "log": lambda text: None}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if sock.exists():
                break
            threading.Event().wait(0.02)
        assert oct(sock.stat().st_mode & 0o777) == oct(0o600)
        assert oct(sock.parent.stat().st_mode & 0o777) == oct(0o700)
        # a message with bad run settings: an error reply from the site, no store opened
        reply = wire.ask(str(sock), message("describe", {"spec": {"run_id": "x y"}}))
        assert reply["kind"] == "error" and "run settings" in reply["config"]["error"]
        assert not (tmp_path / "none.duckdb").exists()
    finally:
        stop.set()
        thread.join(5)
    assert not sock.exists()
    with pytest.raises(OSError):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(sock))


@pytest.fixture
def store_file(tmp_path):
    p = tmp_path / "site.duckdb"
    p.write_bytes(b"")
    return p


@pytest.mark.parametrize("extra,expected", [
    (["--coordinator", "10.1.2.3:9092", "--insecure"], "only on loopback"),
    (["--coordinator", "coordinator.example.org:9092"], "--secret-file"),
    (["--coordinator", "127.0.0.1"], "HOST:PORT"),
    (["--coordinator", "127.0.0.1:9092", "--insecure", "--site", "A B"], "--site"),
])
def test_join_refuses_bad_input_with_one_line(store_file, capsys, extra, expected):
    argv = ["federated", "join", "--db", str(store_file), "--cohort", "demo", "--site", "A", *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_join_needs_the_ca_certificate_between_hospitals(store_file, tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_bytes(b"k" * 40)
    secret.chmod(0o600)
    assert main(["federated", "join", "--db", str(store_file), "--cohort", "demo", "--site", "A",
                 "--coordinator", "coord.example.org:9092", "--secret-file", str(secret)]) == 1
    assert "--root-certificates" in capsys.readouterr().err


def test_join_needs_an_existing_store(tmp_path, capsys):
    assert main(["federated", "join", "--db", str(tmp_path / "nope.duckdb"), "--cohort", "demo",
                 "--site", "A", "--coordinator", "127.0.0.1:9092", "--insecure"]) == 1
    assert "no store" in capsys.readouterr().err


@pytest.mark.parametrize("extra,expected", [
    (["--address", "0.0.0.0:9092", "--insecure"], "only on loopback"),
    (["--address", "0.0.0.0:9092"], "--certificates"),
    (["--address", "0.0.0.0:9092", "--certificates", "/nonexistent"], "missing certificate"),
])
def test_serve_refuses_insecure_or_missing_certificates(capsys, extra, expected):
    assert main(["federated", "serve", *extra]) == 1
    assert expected in capsys.readouterr().err


def test_run_refuses_insecure_off_loopback_and_unknown_families(capsys):
    assert main(["federated", "run", "--coordinator", "192.168.1.5:9092", "--insecure",
                 "--task", "response", "--family", "logistic", "--sites", "3"]) == 1
    assert "only on loopback" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["federated", "run", "--task", "response", "--family", "svm", "--sites", "3"])
