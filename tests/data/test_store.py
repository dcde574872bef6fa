"""store.py: write -> read round trips, atomic writes, resume, and validate() rejecting broken stores."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from factories import make_sequence
from kspbench.core import skeleton
from kspbench.data.store import PoseStore, StoreError, StoreWriter, partial_path, summary, validate


def _write(path, seqs, **kw):
    with StoreWriter(path, dataset="unit-test", source="tests/test_store.py", **kw) as w:
        for s in seqs:
            w.add_sequence(s)


@pytest.fixture()
def seqs():
    rng = np.random.default_rng(0)
    return [
        make_sequence(rng, images=(8, 8)),
        make_sequence(rng, subject="S11", sequence="Eating 2", n=7, cameras=("55011271",)),
        make_sequence(rng, subject="S1", sequence="Directions 1", role="h36m-train"),
    ]


def test_write_then_read_back_equal(tmp_path, seqs):
    path = tmp_path / "s.h5"
    _write(path, seqs)
    assert validate(path) == []
    with PoseStore(path) as store:
        assert store.attrs["joint_names"] == list(skeleton.JOINT_NAMES)
        assert store.attrs["dataset"] == "unit-test"
        assert [(i.subject, i.sequence) for i in store.sequences()] == [
            ("S1", "Directions 1"),
            ("S11", "Eating 2"),
            ("S9", "Walking 1"),
        ]
        for want in seqs:
            got = store.load_sequence(want.subject, want.sequence, images=True)
            assert (got.action, got.role, got.fps, got.n_frames) == (want.action, want.role, want.fps, want.n_frames)
            np.testing.assert_array_equal(got.world_3d, want.world_3d.astype(np.float32))
            for cam_id, cw in want.cameras.items():
                cg = got.cameras[cam_id]
                np.testing.assert_array_equal(cg.camera_3d, cw.camera_3d.astype(np.float32))
                np.testing.assert_array_equal(cg.pose_2d, cw.pose_2d.astype(np.float32))
                np.testing.assert_array_equal(cg.rotation, cw.rotation)
                np.testing.assert_array_equal(cg.translation, cw.translation)
                np.testing.assert_array_equal(cg.intrinsics.focal, cw.intrinsics.focal)
                assert (cg.intrinsics.width, cg.intrinsics.height) == (cw.intrinsics.width, cw.intrinsics.height)
                np.testing.assert_array_equal(cg.extras["activity"], cw.extras["activity"])
                if cw.images is not None:
                    np.testing.assert_array_equal(cg.images, cw.images)


def test_lazy_frame_ranges_and_selection(tmp_path, seqs):
    path = tmp_path / "s.h5"
    _write(path, seqs)
    with PoseStore(path) as store:
        part = store.read("S9", "Walking 1", "camera_3d", camera="54138969", frames=slice(3, 6))
        np.testing.assert_array_equal(part, seqs[0].cameras["54138969"].camera_3d[3:6].astype(np.float32))
        assert [i.subject for i in store.sequences(role="h36m-test")] == ["S11", "S9"]
        assert [i.sequence for i in store.sequences(subject=["S1"])] == ["Directions 1"]
        assert store.roles() == {"h36m-test": 2, "h36m-train": 1}
        with pytest.raises(StoreError, match="no camera"):
            store.read("S9", "Walking 1", "camera_3d", camera="nope")
    assert summary(path)["roles"]["h36m-test"]["frames"] == 12 + 7


def test_crash_leaves_nothing_under_the_final_name(tmp_path, seqs):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with StoreWriter(path, dataset="d", source="s") as w:
            w.add_sequence(seqs[0])
            raise RuntimeError("simulated crash")
    assert not path.exists() and not partial_path(path).exists()


def test_resume_keeps_complete_sequences(tmp_path, seqs):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with StoreWriter(path, dataset="d", source="s", resume=True) as w:
            w.add_sequence(seqs[0])
            raise RuntimeError("interrupted")
    assert partial_path(path).exists() and not path.exists()
    with StoreWriter(path, dataset="d", source="s", resume=True) as w:
        assert w.has_sequence("S9", "Walking 1") and not w.has_sequence("S1", "Directions 1")
        for s in seqs[1:]:
            w.add_sequence(s)
    assert validate(path) == [] and not partial_path(path).exists()
    with PoseStore(path) as store:
        assert len(store.sequences()) == 3


def test_incomplete_sequence_is_dropped_on_resume(tmp_path, seqs):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with StoreWriter(path, dataset="d", source="s", resume=True) as w:
            w.add_sequence(seqs[0])
            raise RuntimeError("interrupted")
    with h5py.File(partial_path(path), "a") as h5:  # a sequence cut off mid-write
        h5["sequences/S9/Walking 1"].attrs["complete"] = False
    with StoreWriter(path, dataset="d", source="s", resume=True) as w:
        assert not w.has_sequence("S9", "Walking 1")
        w.add_sequence(seqs[0])
    assert validate(path) == []


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h5: h5["sequences/S9/Walking 1/cameras/54138969"].__delitem__("pose_2d"), "missing array 'pose_2d'"),
        (lambda h5: h5.attrs.__delitem__("joint_names"), "missing store attribute 'joint_names'"),
        (
            lambda h5: _replace(h5, "sequences/S9/Walking 1/cameras/54138969/camera_3d", np.zeros((12, 16, 3))),
            "camera_3d has shape (12, 16, 3), expected (12, 17, 3)",
        ),
        (
            lambda h5: _replace(h5, "sequences/S9/Walking 1/world_3d", np.full((12, 17, 3), np.nan)),
            "world_3d has non-finite values in 12 valid frame(s)",
        ),
        (
            lambda h5: _replace(h5, "sequences/S9/Walking 1/cameras/54138969/rotation", np.eye(3) * 2),
            "rotation is not orthonormal",
        ),
        (lambda h5: h5.attrs.__setitem__("layout_version", 99), "layout_version is 99"),
    ],
)
def test_validate_rejects_broken_stores(tmp_path, seqs, mutate, message):
    path = tmp_path / "s.h5"
    _write(path, seqs[:1])
    with h5py.File(path, "a") as h5:
        mutate(h5)
    problems = validate(path)
    assert any(message in p for p in problems), problems


def _replace(h5, key, data):
    del h5[key]
    h5[key] = data


def test_validate_rejects_non_stores(tmp_path):
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)
    assert "not a readable HDF5 file" in validate(bad)[0]
    assert "no such file" in validate(tmp_path / "missing.h5")[0]
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["x"] = 1
    assert "expected 'kspbench-pose-store'" in validate(other)[0]
    with pytest.raises(StoreError, match="not a kspbench pose store"):
        PoseStore(other)


def test_writer_rejects_bad_records(tmp_path, seqs):
    seq = seqs[0]
    seq.cameras["54138969"].pose_2d = seq.cameras["54138969"].pose_2d[:, :16]
    with pytest.raises(StoreError, match=r"pose_2d must have shape \(12, 17, 2\), got \(12, 16, 2\)"):
        _write(tmp_path / "s.h5", [seq])
    assert not (tmp_path / "s.h5").exists()
    seq = make_sequence(np.random.default_rng(1))
    seq.cameras["54138969"].camera_3d[4, 2, 0] = np.nan
    with pytest.raises(StoreError, match="non-finite values in 1 valid frame"):
        _write(tmp_path / "s.h5", [seq])
    seq.cameras["54138969"].valid[4] = False  # NaN is allowed where the frame is marked invalid
    seq.world_3d[4] = 0.0
    _write(tmp_path / "s.h5", [seq])
    assert validate(tmp_path / "s.h5") == []
    with pytest.raises(StoreError, match="contain no '/'"):
        _write(tmp_path / "t.h5", [make_sequence(np.random.default_rng(2), sequence="a/b")])


def test_set_attr_and_array_info(tmp_path, seqs):
    path = tmp_path / "s.h5"
    with StoreWriter(path, dataset="d", source="s") as w:
        w.add_sequence(seqs[0])
        w.set_attr("manifest", '{"seed": 3}')
        with pytest.raises(StoreError, match="set by the writer"):
            w.set_attr("layout_version", 2)
    with PoseStore(path) as store:
        assert store.attrs["manifest"] == '{"seed": 3}'
        shape, attrs = store.array_info("S9", "Walking 1", "images", camera="54138969")
        assert shape == (12, 8, 8, 3) and attrs["kind"] == "crop"
        assert store.array_info("S9", "Walking 1", "backgrounds", camera="54138969") is None


def test_deep_validate_finds_a_bit_rotted_image_chunk(tmp_path):
    from kspbench.data.store import check_store, validate

    path = tmp_path / "s.h5"
    with StoreWriter(path, dataset="unit", source="tests") as w:
        w.add_sequence(make_sequence(np.random.default_rng(0), n=4, images=(16, 16)))
    with h5py.File(path) as h5:
        ds = h5["sequences/S9/Walking 1/cameras/54138969/images"]
        offset, size = ds.id.get_chunk_info(2).byte_offset, ds.id.get_chunk_info(2).size
    raw = bytearray(path.read_bytes())
    raw[offset : offset + size] = b"\0" * size  # the gzip stream of one chunk is gone
    path.write_bytes(bytes(raw))
    assert validate(path) == [] and check_store(path) is None  # metadata and poses are intact
    problems = validate(path, deep=True)
    assert len(problems) == 1 and "images: 1 unreadable chunk(s), first at frames 2..2" in problems[0], problems


def test_a_second_writer_of_one_store_is_refused(tmp_path):
    import subprocess
    import sys

    from kspbench.infra.atomic import OutputError

    path = tmp_path / "s.h5"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)"
            ),
            str(path) + ".lock",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match="another kspbench process is writing"):
            with StoreWriter(path, dataset="unit", source="tests"):
                pass
        assert not path.exists() and not (tmp_path / "s.h5.partial").exists()
    finally:
        holder.kill()
        holder.wait()
    with StoreWriter(path, dataset="unit", source="tests") as w:  # the lock died with its holder
        w.add_sequence(make_sequence(np.random.default_rng(0), n=4))
    assert path.exists() and not (tmp_path / "s.h5.lock").exists()
