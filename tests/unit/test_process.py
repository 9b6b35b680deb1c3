"""A crlm process's settings (crlm.process)."""
from crlm import process


def test_huge_pages_setting_is_switched_and_reported():
    before = process.huge_pages_for_arrays(False)
    try:
        assert before is not None, "this NumPy offers the setting"
        assert process.huge_pages_for_arrays(True) is False
        assert process.huge_pages_for_arrays(True) is True
    finally:
        process.huge_pages_for_arrays(before)


def test_tune_process_asks_for_ordinary_pages_once(monkeypatch):
    calls = []
    monkeypatch.setattr(process, "_DONE", [])
    monkeypatch.setattr(process, "huge_pages_for_arrays", lambda enabled: calls.append(enabled))
    process.tune_process()
    process.tune_process()
    assert calls == [False]
