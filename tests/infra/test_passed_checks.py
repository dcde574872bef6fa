"""passed_checks.py: a pass is recorded per check version and file identity; a changed file is checked again."""

from __future__ import annotations

import os

import h5py
import numpy as np

from factories import make_sequence
from kspbench.data import store as S
from kspbench.infra.passed_checks import check_key, has_passed, record_pass


def test_a_pass_holds_for_that_file_and_check_version_only(tmp_path, monkeypatch):
    monkeypatch.setenv("KSPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "a.bin"
    f.write_bytes(b"12345")
    key = check_key("c", "v1", f)
    assert not has_passed(key)
    record_pass(key)
    assert has_passed(check_key("c", "v1", f))
    assert not has_passed(check_key("c", "v2", f)) and not has_passed(check_key("other", "v1", f))
    with f.open("r+b") as fh:  # rewritten in place, same size
        fh.write(b"54321")
    os.utime(f, ns=(os.stat(f).st_atime_ns, os.stat(tmp_path / "cache").st_mtime_ns))  # even with an old mtime
    assert not has_passed(check_key("c", "v1", f))  # the status-change time moved
    copy = tmp_path / "b.bin"
    copy.write_bytes(f.read_bytes())
    assert not has_passed(check_key("c", "v1", copy))


def test_off_or_unwritable_records_nothing(tmp_path, monkeypatch):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x")
    monkeypatch.setenv("KSPBENCH_CACHE_DIR", "off")
    assert check_key("c", "v", f) is None and not has_passed(None)
    record_pass(None)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("KSPBENCH_CACHE_DIR", str(blocker))
    key = check_key("c", "v", f)
    record_pass(key)  # no error: the check just runs again next time
    assert not has_passed(key)
    assert check_key("c", "v", tmp_path / "missing") is None


def test_check_store_skips_a_store_it_passed_and_rechecks_a_changed_one(tmp_path, monkeypatch):
    monkeypatch.setenv("KSPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "s.h5"
    with S.StoreWriter(path, dataset="unit-test", source="tests") as w:
        w.add_sequence(make_sequence(np.random.default_rng(0)))
    S.check_store(path)
    calls = []
    real = S._sequence_structure
    monkeypatch.setattr(S, "_sequence_structure", lambda *a: calls.append(a) or real(*a))
    S.check_store(path)
    assert calls == []  # passed before: not walked again
    with h5py.File(path, "a") as h5:
        del h5["sequences/S9/Walking 1/cameras/54138969/pose_2d"]
    try:
        S.check_store(path)
    except S.StoreError as err:
        assert "missing array 'pose_2d'" in str(err)
    else:
        raise AssertionError("a store changed after its pass was not checked again")
    assert calls


def test_a_large_files_digest_is_remembered_for_that_version_of_the_file_only(tmp_path, monkeypatch):
    import hashlib

    from kspbench.infra import provenance as P

    monkeypatch.setenv("KSPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(P, "_REMEMBER_BYTES", 16)
    f = tmp_path / "big.bin"
    f.write_bytes(b"a" * 64)
    truth = hashlib.sha256(b"a" * 64).hexdigest()
    assert P.file_sha256(f) == truth
    key = check_key("sha256", "1", f)
    assert key.read_text() == truth
    key.write_text("0" * 64)  # what the record says is what comes back: the file is not read again
    assert P.file_sha256(f) == "0" * 64
    key.write_text("not a digest")  # a damaged record is ignored and rewritten
    assert P.file_sha256(f) == truth and key.read_text() == truth
    f.write_bytes(b"b" * 64)  # a new version of the file is hashed again
    assert P.file_sha256(f) == hashlib.sha256(b"b" * 64).hexdigest()
    small = tmp_path / "small.bin"
    small.write_bytes(b"c" * 8)
    assert P.file_sha256(small) == hashlib.sha256(b"c" * 8).hexdigest()
    assert not has_passed(check_key("sha256", "1", small))  # below the size: never recorded
