"""Rendered frames: joints on the person's pixels, occlusion flags, static backgrounds and their median."""

from __future__ import annotations

import numpy as np

from kspbench.world import build, people, render


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _owners(j: int) -> set[int]:
    return {people.PRIMITIVE_INDEX[n] + 1 for n in people.JOINT_OWNERS[j]}


def test_joints_lie_on_the_person_where_not_occluded(rendered):
    checked = 0
    for role, (_plan, data, kept) in rendered.items():
        for cam_id, fr in kept.items():
            cam = data.cameras[cam_id]
            occ = cam.extras["occluded"]
            n, H, W = fr.person.shape
            for i in range(n):
                for j in range(17):
                    u, v = np.rint(cam.pose_2d[i, j]).astype(int)
                    if not (0 <= u < W and 0 <= v < H):
                        assert occ[i, j]
                        continue
                    front = int(fr.ids[i, v, u])
                    if not occ[i, j]:
                        near = fr.person[i, max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2]
                        assert near.any(), (role, cam_id, i, j)
                        assert front == 0 or front in _owners(j), (role, cam_id, i, j, front)
                        checked += 1
                    else:
                        assert front != 0 and front not in _owners(j)
    assert checked > 500


def test_person_is_drawn_with_a_depth_buffer(rendered):
    plan, data, kept = rendered["h36m-train"]
    fr = next(iter(kept.values()))
    share = fr.person.mean(axis=(1, 2))
    assert (share > 0.005).all() and (share < 0.5).all()
    ids = np.unique(fr.ids[fr.person])
    assert len(ids) >= 10  # many body parts visible, each front-most somewhere


def test_static_clips_are_static_and_their_median_is_the_background(rendered):
    for role in ("h36m-train", "h36m-test", "3dhp-test"):
        plan, data, kept = rendered[role]
        for cam_id, fr in kept.items():
            assert fr.background.ndim == 3  # one background per static track
            free = ~fr.person.any(axis=0)
            diff = np.abs(fr.frames.astype(np.int16) - fr.background.astype(np.int16))[:, free]
            assert diff.max() <= 8  # only sensor noise where the person never is
            median = np.median(fr.frames, axis=0).round().astype(np.uint8)
            usable = fr.person.mean(axis=0) <= 0.5  # unoccluded in at least half of the frames
            assert psnr(median[usable], fr.background[usable]) >= 30.0, (role, cam_id)


def test_moving_clips_are_not_static(rendered):
    plan, data, kept = rendered["dunp"]
    fr = kept["0"]
    cam = data.cameras["0"]
    assert cam.rotation.shape == (plan.n, 3, 3) and cam.backgrounds is None
    assert not np.allclose(cam.rotation[0], cam.rotation[-1]) or not np.allclose(
        cam.translation[0], cam.translation[-1]
    )
    bg = fr.background.astype(np.int16)
    assert np.abs(bg[0] - bg[-1]).mean() > 1.0


def test_stored_crops_match_full_frames(rendered, tiny_profile):
    from kspbench.core.crops import crop_images

    plan, data, kept = rendered["h36m-train"]
    cam_id, fr = next(iter(kept.items()))
    cam = data.cameras[cam_id]
    crops = crop_images(fr.frames, cam.boxes.astype(np.float64), tiny_profile.crop_size)
    assert np.abs(crops.astype(int) - cam.images.astype(int)).max() <= 1
    assert cam.images.shape == (plan.n, tiny_profile.crop_size, tiny_profile.crop_size, 3)


def test_prior_is_plain(rendered):
    plan, data, kept = rendered["prior"]
    assert plan.flat and all(m.texture == "plain" for m in plan.person.materials.values())
    fr = kept["0"]
    # A plain backdrop: the background is one colour.
    bg = fr.background.reshape(len(fr.frames), -1, 3) if fr.background.ndim == 4 else fr.background.reshape(-1, 3)
    assert np.ptp(bg.reshape(-1, 3), axis=0).max() == 0


def test_render_person_occludes_by_depth():
    """A near ellipsoid hides a far one; the scene depth hides the person."""
    rng = np.random.default_rng(0)
    person = people.sample_person(rng, "X")
    mats = render.material_table(person)
    v = render.View(np.array([50.0, 50.0]), np.array([15.5, 15.5]), np.eye(3), np.zeros(3), 32, 32)
    k = len(people.PRIMITIVES)
    centres = np.tile([0.0, 0.0, 10000.0], (k, 1))
    centres[1] = [0.0, 0.0, 1000.0]
    rots = np.tile(np.eye(3), (k, 1, 1))
    semi = np.full((k, 3), 300.0)
    img = np.zeros((32, 32, 3))
    depth = np.full((32, 32), np.inf)
    ids = np.zeros((32, 32), np.int16)
    render.render_person(img, depth, ids, v, centres, rots, semi, mats, np.array([0, 0, -1.0]))
    assert ids[16, 16] == 2 and abs(depth[16, 16] - 700.0) < 1.0
    depth2 = np.full((32, 32), 500.0)
    ids2 = np.full((32, 32), 100, np.int16)
    render.render_person(np.zeros((32, 32, 3)), depth2, ids2, v, centres, rots, semi, mats, np.array([0, 0, -1.0]))
    assert (ids2 == 100).all()


def test_occlusion_flags_follow_the_id_buffer():
    ids = np.zeros((10, 10), np.int16)
    uv = np.tile([5.0, 5.0], (17, 1))
    ids[5, 5] = people.PRIMITIVE_INDEX["head"] + 1
    hidden, outside = build.occlusion(ids, uv, 10, 10)
    assert not hidden[10] and hidden[0] and not outside.any()
    _, outside = build.occlusion(ids, uv + 20, 10, 10)
    assert outside.all()


def test_stored_background_is_the_clean_scene_by_default_and_the_median_on_request(rendered, tiny_profile):
    import dataclasses

    from kspbench.core.crops import crop_images

    plan, data, kept = rendered["h36m-train"]
    assert tiny_profile.background == "clean"
    for cam_id, fr in kept.items():
        cam = data.cameras[cam_id]
        clean = crop_images(
            np.broadcast_to(fr.background, fr.frames.shape), cam.boxes.astype(np.float64), tiny_profile.crop_size
        )
        np.testing.assert_array_equal(cam.backgrounds, clean)
    median_profile = dataclasses.replace(tiny_profile, background="median")
    res, kept_m = build.render_sequence(plan, median_profile, keep_frames=True)
    cam_id = next(iter(kept_m))
    clean = data.cameras[cam_id].backgrounds
    med = res.data.cameras[cam_id].backgrounds
    # A Walking person moves on, so most of the crop agrees; the stored arrays differ where the person lingered.
    assert med.shape == clean.shape and not np.array_equal(med, clean)


def test_manifest_reports_the_median_leak_and_the_store_names_its_background(tiny_store):
    import h5py

    path, man = tiny_store
    leak = man["role_stats"]["h36m-train"]["median_leak"]
    assert 0.0 <= leak <= 1.0
    assert man["role_stats"]["dunp"]["median_leak"] is None  # moving cameras have no median
    with h5py.File(path, "r") as f:
        assert f.attrs[build.BACKGROUND_ATTR] == "clean"
