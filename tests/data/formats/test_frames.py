"""Image folders: listing, oracle boxes, crops, median backgrounds, unlabelled clips (kspbench.data.formats.frames)."""

from __future__ import annotations

import numpy as np
import pytest

from formats_fixtures import run_cli, write_frames
from kspbench.core import crops
from kspbench.data.formats import FormatError, frames
from kspbench.data.store import PoseStore, validate


def test_list_images_numeric_order_and_errors(tmp_path):
    write_frames(tmp_path / "a", np.zeros((11, 4, 4, 3), np.uint8), pattern="img_{}.png")  # img_1 .. img_11
    names = [p.name for p in frames.list_images(tmp_path / "a")]
    assert names[:3] == ["img_1.png", "img_2.png", "img_3.png"] and names[-1] == "img_11.png"
    (tmp_path / "a" / "img_5.png").unlink()
    with pytest.raises(FormatError, match="frame numbers jump from 4 to 6"):
        frames.list_images(tmp_path / "a")
    write_frames(tmp_path / "b", np.zeros((2, 4, 4, 3), np.uint8), pattern="{:06d}.png")
    write_frames(tmp_path / "b", np.zeros((1, 4, 4, 3), np.uint8), pattern="x{:03d}.jpg")
    with pytest.raises(FormatError, match="two images carry frame number 1"):
        frames.list_images(tmp_path / "b")
    write_frames(tmp_path / "c", np.zeros((2, 4, 4, 3), np.uint8), pattern="{}_frame.png")
    assert [p.name for p in frames.list_images(tmp_path / "c")] == ["1_frame.png", "2_frame.png"]  # by name
    (tmp_path / "d").mkdir()
    with pytest.raises(FormatError, match="no .jpg/.jpeg/.png images"):
        frames.list_images(tmp_path / "d")
    with pytest.raises(FormatError, match="no such folder"):
        frames.list_images(tmp_path / "e")


def test_boxes_follow_the_shared_rule_with_nan_fallback():
    p = np.zeros((3, 17, 2))
    p[:, :, 0] = np.linspace(100, 140, 17)  # 40 px wide
    p[:, :, 1] = np.linspace(200, 300, 17)  # 100 px tall
    p[1] = np.nan
    boxes = frames.boxes_from_2d(p, (640, 480), margin=0.2)
    np.testing.assert_allclose(boxes[0], [120 - 60, 250 - 60, 120 + 60, 250 + 60])
    np.testing.assert_allclose(boxes[[0, 2]], crops.box_from_joints(p[[0, 2]], 0.2))
    np.testing.assert_allclose(boxes[1], boxes[0])  # copied from the nearest frame with joints
    none = frames.boxes_from_2d(np.full((2, 17, 2), np.nan), (640, 480))
    np.testing.assert_allclose(none, [[79.5, -0.5, 559.5, 479.5]] * 2)  # the largest centred square


def test_crops_follow_the_shared_rule_and_outside_is_black(tmp_path):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (60, 80, 3), np.uint8)
    paths = write_frames(tmp_path / "f", np.repeat(img[None], 3, 0), pattern="{:06d}.png")
    boxes = np.array([[10.2, 5.7, 40.2, 35.7], [-20.0, -20.0, 20.0, 20.0], [-100.0, -100.0, -50.0, -50.0]], np.float32)
    got, _ = frames.cut_crops(paths, boxes, 16, background=False)  # boxes < 32 px: no pre-shrink
    np.testing.assert_array_equal(got, crops.crop_images(np.repeat(img[None], 3, 0), boxes, 16))
    assert (got[2] == 0).all() and (got[1, :7, :7] == 0).all()


def test_pre_shrink_keeps_the_geometry(tmp_path):
    # A smooth image: a crop cut after an 8x block-average shrink equals the direct cut of the shared rule.
    yy, xx = np.mgrid[0:400, 0:600]
    img = np.stack([xx * 0.4, yy * 0.5, 100 + 0 * xx], -1).astype(np.uint8)
    png = write_frames(tmp_path / "p", img[None], pattern="{:06d}.png")
    jpg = write_frames(tmp_path / "j", img[None], pattern="{:06d}.jpg")
    box = np.array([[37.3, 21.9, 387.3, 371.9]], np.float32)
    assert frames.shrink_factor(box[0], 16) == 10
    direct = crops.crop_images(img[None], box, 16)[0].astype(int)
    for paths in (png, jpg):  # PNG: Pillow reduce; JPEG: DCT scaling 1/8 then reduce
        got, _ = frames.cut_crops(paths, box, 16, background=False)
        assert np.abs(got[0].astype(int) - direct).max() <= 4
    np.testing.assert_array_equal(
        frames.crop_frame(img, box[0], 16), frames.cut_crops(png, box, 16, background=False)[0][0]
    )
    # Geometry: a blob's centroid lands where kspbench.core.crops.to_crop puts its centre, after either shrink path.
    cx, cy = 301.3, 188.7
    blob = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 30.0**2))
    img = np.repeat(blob[..., None], 3, -1).astype(np.uint8)
    want = crops.to_crop(np.array([[[cx, cy]]]), box, 16)[0, 0]
    for paths in (
        write_frames(tmp_path / "bp", img[None], pattern="{:06d}.png"),
        write_frames(tmp_path / "bj", img[None], pattern="{:06d}.jpg"),
    ):
        got = frames.cut_crops(paths, box, 16, background=False)[0][0, :, :, 0].astype(float)
        gy, gx = np.mgrid[0:16, 0:16]
        centroid = np.array([(got * gx).sum(), (got * gy).sum()]) / got.sum()
        np.testing.assert_allclose(centroid, want, atol=0.1)


def test_median_background_removes_a_moving_object(tmp_path):
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 200, (40, 60, 3), np.uint8)
    seq = np.repeat(bg[None], 7, 0)
    for i in range(7):
        seq[i, 10:20, 8 * i : 8 * i + 8] = 255  # a white block moving right
    paths = write_frames(tmp_path / "m", seq)
    np.testing.assert_array_equal(frames.median_background(paths), bg)
    assert frames.median_background(paths, max_frames=3).shape == (40, 60, 3)


def test_unreadable_and_mismatched_images(tmp_path):
    paths = write_frames(tmp_path / "x", np.zeros((3, 20, 30, 3), np.uint8), pattern="{:06d}.jpg")
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 3])
    with pytest.raises(FormatError, match=r"000002.jpg: not a readable image"):
        frames.cut_crops(paths, np.zeros((3, 4), np.float32) + [0, 0, 10, 10], 4, background=False)
    paths[1].write_bytes(b"garbage")
    with pytest.raises(FormatError, match=r"000002.jpg: not a readable image"):
        frames.read_image(paths[1])
    ok = write_frames(tmp_path / "y", np.zeros((2, 20, 30, 3), np.uint8))
    with pytest.raises(FormatError, match=r"000001.png: frame is 30x20 px but the camera image is 1000x1002; "):
        frames.cut_crops(ok, np.zeros((2, 4), np.float32), 4, expected_wh=(1000, 1002))


def test_import_frames_cli(tmp_path, capsys):
    rng = np.random.default_rng(1)
    root = tmp_path / "clips"
    wide = rng.integers(0, 255, (3, 30, 50, 3), np.uint8)
    wide[:, :, :10] = 0  # the centred square (x 10..40) excludes these columns
    write_frames(root / "clipA", wide, pattern="frame_{:04d}.png")
    write_frames(root / "clipB", rng.integers(0, 255, (2, 40, 20, 3), np.uint8), pattern="{:03d}.jpg")
    out = tmp_path / "clips.h5"
    assert (
        run_cli(
            [
                "data",
                "import",
                "frames",
                "--root",
                str(root),
                "--out",
                str(out),
                "--size",
                "10",
                "--role",
                "dunp",
                "--quiet",
            ]
        )
        == 0
    )
    assert validate(out) == []
    with PoseStore(out) as store:
        assert [(i.subject, i.sequence, i.role, i.n_frames) for i in store.sequences()] == [
            ("clipA", "clipA", "dunp", 3),
            ("clipB", "clipB", "dunp", 2),
        ]
        s = store.load_sequence("clipA", "clipA", images=True)
        c = s.cameras["0"]
        assert c.images.shape == (3, 10, 10, 3) and c.images_kind == "full"
        assert not c.valid.any() and np.isnan(c.camera_3d).all() and np.isnan(c.pose_2d).all()
        assert np.isnan(c.intrinsics.focal).all() and (c.intrinsics.width, c.intrinsics.height) == (50, 30)
        np.testing.assert_allclose(c.boxes[0], [9.5, -0.5, 39.5, 29.5])
        assert c.images[:, :, 0].max() > 0  # the black columns were cut away
        assert s.world_3d is None and s.fps == 25.0


def test_import_frames_cli_errors(tmp_path, capsys):
    assert (
        run_cli(
            ["data", "import", "frames", "--root", str(tmp_path / "none"), "--out", str(tmp_path / "o.h5"), "--quiet"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none: no such folder" in err
    paths = write_frames(tmp_path / "clips" / "c1", np.zeros((2, 8, 8, 3), np.uint8), pattern="{:02d}.png")
    paths[0].write_bytes(b"\x89PNG broken")
    assert (
        run_cli(
            ["data", "import", "frames", "--root", str(tmp_path / "clips"), "--out", str(tmp_path / "o.h5"), "--quiet"]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "01.png: not a readable image" in err
    assert not (tmp_path / "o.h5").exists()
