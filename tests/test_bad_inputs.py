"""The bad-input corpus: every case must give exit 2, exactly one line on stderr (no traceback), leave every input
byte-identical and leave nothing under the output's name.

Cases are (command, what is wrong) built from one tiny store, predictions and result made once per session; each
case copies what it needs into its own folder, and runs ``kspbench.cli.main`` in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

import factories
from factories import EVAL, make_sequence
from kspbench.cli import main
from kspbench.data.predictions import write_predictions
from kspbench.data.store import StoreWriter
from kspbench.evaluation.evaluate import integrity_digest

CAMS = ("54138969", "60457274")


@pytest.fixture(scope="session")
def good(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus-good")
    rng = np.random.default_rng(0)
    store = root / "store.h5"
    with StoreWriter(store, dataset="unit-h36m", source="tests") as w:
        w.add_sequence(make_sequence(rng, subject="S9", sequence="Walking 1", n=12, cameras=CAMS, images=(8, 8)))
        w.add_sequence(
            make_sequence(rng, subject="S1", sequence="Eating 1", n=6, cameras=CAMS, role="h36m-train", images=(8, 8))
        )
    preds = root / "preds.h5"
    p = factories.truth_predictions(store, attrs={"card": "oracle", "seed": 0})
    p.poses_3d[:, 1:] += 4.0
    write_predictions(preds, p)
    results = root / "results"
    assert (
        main(
            [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(preds),
                "--store",
                str(store),
                "--out",
                str(results / "r.json"),
            ]
        )
        == 0
    )
    (root / "ckpt.pt").write_bytes(b"not a checkpoint")
    return {
        "root": root,
        "store": store,
        "preds": preds,
        "results": results,
        "result": results / "r.json",
        "ckpt": root / "ckpt.pt",
    }


# --- store corruptions ---------------------------------------------------------------------------------------------


def _seq(h5):
    return h5["sequences/S9/Walking 1"]


def _cam(h5):
    return _seq(h5)["cameras/54138969"]


def _replace(grp, key, data):
    del grp[key]
    grp[key] = data


STORE_MUTATIONS: dict[str, Callable[[h5py.File], None]] = {
    "layout-v2": lambda h5: h5.attrs.__setitem__("layout_version", 2),
    "layout-string": lambda h5: h5.attrs.__setitem__("layout_version", "1"),
    "format": lambda h5: h5.attrs.__setitem__("format", "something-else"),
    "joints-renamed": lambda h5: h5.attrs.__setitem__("joint_names", np.array(["J"] * 17, dtype=h5py.string_dtype())),
    "joints-16": lambda h5: h5.attrs.__setitem__("joint_names", np.array(["J"] * 16, dtype=h5py.string_dtype())),
    "joints-missing": lambda h5: h5.attrs.__delitem__("joint_names"),
    "dataset-missing": lambda h5: h5.attrs.__delitem__("dataset"),
    "no-sequences": lambda h5: h5.__delitem__("sequences"),
    "n_frames-string": lambda h5: _seq(h5).attrs.__setitem__("n_frames", "12"),
    "n_frames-wrong": lambda h5: _seq(h5).attrs.__setitem__("n_frames", 13),
    "n_frames-negative": lambda h5: _seq(h5).attrs.__setitem__("n_frames", -1),
    "role-missing": lambda h5: _seq(h5).attrs.__delitem__("role"),
    "role-number": lambda h5: _seq(h5).attrs.__setitem__("role", 3),
    "fps-zero": lambda h5: _seq(h5).attrs.__setitem__("fps", 0.0),
    "incomplete": lambda h5: _seq(h5).attrs.__setitem__("complete", False),
    "camera_3d-missing": lambda h5: _cam(h5).__delitem__("camera_3d"),
    "camera_3d-16-joints": lambda h5: _replace(_cam(h5), "camera_3d", np.zeros((12, 16, 3), np.float32)),
    "camera_3d-strings": lambda h5: _replace(
        _cam(h5), "camera_3d", np.array([["x"] * 3] * 17 * 12, dtype="S3").reshape(12, 17, 3)
    ),
    "valid-strings": lambda h5: _replace(_cam(h5), "valid", np.array(["yes"] * 12, dtype="S3")),
    "valid-short": lambda h5: _replace(_cam(h5), "valid", np.ones(5, bool)),
    "pose_2d-wrong": lambda h5: _replace(_cam(h5), "pose_2d", np.zeros((12, 17, 3), np.float32)),
    "rotation-scaled": lambda h5: _replace(_cam(h5), "rotation", 2 * np.eye(3)),
    "rotation-reflection": lambda h5: _replace(_cam(h5), "rotation", np.diag([1.0, 1.0, -1.0])),
    "rotation-nan": lambda h5: _replace(_cam(h5), "rotation", np.full((3, 3), np.nan)),
    "rotation-shape": lambda h5: _replace(_cam(h5), "rotation", np.eye(4)),
    "focal-shape": lambda h5: _replace(_cam(h5), "focal", np.ones(3)),
    "translation-strings": lambda h5: _replace(_cam(h5), "translation", np.array([b"a", b"b", b"c"])),
    "world_3d-shape": lambda h5: _replace(_seq(h5), "world_3d", np.zeros((12, 17, 2), np.float32)),
    "images-float": lambda h5: _replace(_cam(h5), "images", np.zeros((12, 8, 8, 3), np.float32)),
    "extras-short": lambda h5: _replace(_cam(h5)["extras"], "activity", np.ones(3)),
    "no-cameras": lambda h5: [_seq(h5)["cameras"].__delitem__(c) for c in CAMS],
    "camera-is-array": lambda h5: (
        _seq(h5)["cameras"].__delitem__("54138969"),
        _seq(h5)["cameras"].create_dataset("54138969", data=np.zeros(3)),
    ),
    "sequence-is-array": lambda h5: (
        h5["sequences/S9"].__delitem__("Walking 1"),
        h5["sequences/S9"].create_dataset("Walking 1", data=np.zeros(3)),
    ),
    "subject-is-array": lambda h5: (
        h5["sequences"].__delitem__("S9"),
        h5["sequences"].create_dataset("S9", data=np.zeros(3)),
    ),
}
FILE_MUTATIONS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]),
    "empty": lambda p: p.write_bytes(b""),
    "text": lambda p: p.write_text("hello\n"),
    "random": lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)),
}


def _bad_store(good, folder: Path, kind: str) -> Path:
    path = folder / "store.h5"
    shutil.copy(good["store"], path)
    if kind in FILE_MUTATIONS:
        FILE_MUTATIONS[kind](path)
    else:
        with h5py.File(path, "a") as h5:
            STORE_MUTATIONS[kind](h5)
    return path


def _store_cmd(cmd: str, store: Path, folder: Path, good) -> tuple[list[str], Path | None]:
    out = folder / "out.h5"
    if cmd == "eval":
        preds = folder / "preds.h5"
        shutil.copy(good["preds"], preds)
        return [
            *EVAL,
            "--protocol",
            "h36m-p2",
            "--predictions",
            str(preds),
            "--store",
            str(store),
            "--out",
            str(folder / "r.json"),
        ], folder / "r.json"
    if cmd == "predict":
        ckpt = folder / "ckpt.pt"
        shutil.copy(good["ckpt"], ckpt)
        return ["predict", "--checkpoint", str(ckpt), "--store", str(store), "--out", str(out)], out
    if cmd == "train":
        return [
            "train",
            "--card",
            "unsup",
            "--store",
            str(store),
            "--out",
            str(folder / "run"),
            "--quiet",
        ], folder / "run"
    if cmd == "baseline":
        return ["world", "baseline", "--kind", "mean", "--store", str(store), "--out", str(out)], out
    if cmd == "validate":
        return ["data", "validate", str(store)], None
    if cmd == "info":
        return ["data", "info", str(store)], None
    if cmd == "describe":
        return ["world", "describe", "--store", str(store)], None
    raise AssertionError(cmd)


STORE_CMDS = ("eval", "predict", "train", "baseline", "validate", "info", "describe")
CASES: list[tuple[str, str, Callable]] = []
for _kind in [*STORE_MUTATIONS, *FILE_MUTATIONS]:
    for _cmd in STORE_CMDS:
        if _cmd in ("describe",) and _kind not in (
            "layout-v2",
            "joints-renamed",
            "truncated",
            "no-sequences",
            "camera_3d-strings",
            "sequence-is-array",
            "random",
        ):
            continue
        CASES.append(
            (
                _cmd,
                f"store-{_kind}",
                lambda folder, good, k=_kind, c=_cmd: _store_cmd(c, _bad_store(good, folder, k), folder, good),
            )
        )


# --- bad predictions ---------------------------------------------------------------------------------------------


def _arrays(good) -> tuple[dict[str, np.ndarray], dict]:
    with h5py.File(good["preds"]) as h5:
        return {k: h5[k][()] for k in h5}, dict(h5.attrs)


def _write_h5(path: Path, arrays: dict, attrs: dict) -> None:
    with h5py.File(path, "w") as h5:
        for k, v in arrays.items():
            h5[k] = v
        for k, v in attrs.items():
            h5.attrs[k] = v


def _mut_preds(change: Callable[[dict, dict], None], suffix: str = ".h5") -> Callable[[Path, dict], Path]:
    def make(folder: Path, good) -> Path:
        arrays, attrs = _arrays(good)
        change(arrays, attrs)
        path = folder / f"preds{suffix}"
        if suffix == ".h5":
            _write_h5(path, arrays, attrs)
        else:
            np.savez(path, **{k: (v.astype(str) if v.dtype.kind in "OS" else v) for k, v in arrays.items()})
        return path

    return make


def _set(key, fn):
    return lambda a, t: a.__setitem__(key, fn(a[key]))


def _raw(content: bytes, suffix=".h5"):
    def make(folder: Path, good) -> Path:
        path = folder / f"preds{suffix}"
        path.write_bytes(content)
        return path

    return make


def _poses_row(value):
    def change(a, t):
        p = a["poses_3d"].astype(np.float64)
        p[3, 5, 1] = value
        a["poses_3d"] = p

    return change


PRED_MUTATIONS: dict[str, Callable[[Path, dict], Path]] = {
    "missing-poses": _mut_preds(lambda a, t: a.pop("poses_3d")),
    "missing-subject": _mut_preds(lambda a, t: a.pop("subject")),
    "missing-frame": _mut_preds(lambda a, t: a.pop("frame")),
    "missing-camera": _mut_preds(lambda a, t: a.pop("camera")),
    "16-joints": _mut_preds(_set("poses_3d", lambda p: p[:, :16])),
    "2d-poses": _mut_preds(_set("poses_3d", lambda p: p[..., :2])),
    "flat-poses": _mut_preds(_set("poses_3d", lambda p: p.reshape(len(p), -1))),
    "string-poses": _mut_preds(_set("poses_3d", lambda p: p.astype("S8"))),
    "nan": _mut_preds(_poses_row(np.nan)),
    "inf": _mut_preds(_poses_row(np.inf)),
    "1e300-one-row": _mut_preds(_poses_row(1e300)),
    "x1e30": _mut_preds(_set("poses_3d", lambda p: p.astype(np.float64) * 1e30)),
    "1e6-offset": _mut_preds(_set("poses_3d", lambda p: p.astype(np.float64) + 1e6)),
    "metres": _mut_preds(_set("poses_3d", lambda p: p / 1000)),
    "duplicate-rows": _mut_preds(lambda a, t: [a.__setitem__(k, np.concatenate([v, v[:2]])) for k, v in a.items()]),
    "negative-frame": _mut_preds(_set("frame", lambda f: f - 5)),
    "float-frame": _mut_preds(_set("frame", lambda f: f + 0.5)),
    "short-subject": _mut_preds(_set("subject", lambda s: s[:-1])),
    "frames-beyond-store": _mut_preds(_set("frame", lambda f: f + 1000)),
    "unknown-subject": _mut_preds(_set("subject", lambda s: np.array([b"S99"] * len(s)))),
    "missing-frames": _mut_preds(lambda a, t: [a.__setitem__(k, v[:5]) for k, v in a.items()]),
    "empty": _mut_preds(lambda a, t: [a.__setitem__(k, v[:0]) for k, v in a.items()]),
    "attr-non-utf8": _mut_preds(lambda a, t: t.__setitem__("card", np.bytes_(b"\xff\xfe"))),
    "attr-complex": _mut_preds(lambda a, t: t.__setitem__("card", 1 + 2j)),
    "attr-list": _mut_preds(lambda a, t: t.__setitem__("card", np.arange(3))),
    "attr-nan": _mut_preds(lambda a, t: t.__setitem__("seed", np.nan)),
    "attr-inf": _mut_preds(lambda a, t: t.__setitem__("seed", -np.inf)),
    "npz-missing-key": _mut_preds(lambda a, t: a.pop("camera"), ".npz"),
    "npz-nan": _mut_preds(_poses_row(np.nan), ".npz"),
    "npz-attrs-not-json": _mut_preds(lambda a, t: a.__setitem__("attrs", np.array("{not json")), ".npz"),
    "npz-attrs-list": _mut_preds(lambda a, t: a.__setitem__("attrs", np.array("[1, 2]")), ".npz"),
    "npz-attrs-nan": _mut_preds(lambda a, t: a.__setitem__("attrs", np.array('{"seed": NaN}')), ".npz"),
    "npz-attrs-nested": _mut_preds(lambda a, t: a.__setitem__("attrs", np.array('{"x": {"y": 1}}')), ".npz"),
    "npz-attrs-array": _mut_preds(lambda a, t: a.__setitem__("attrs", np.arange(3)), ".npz"),
    "empty-file": _raw(b""),
    "text-file": _raw(b"poses\n"),
    "truncated-npz": _raw(b"PK\x03\x04truncated", ".npz"),
    "txt-suffix": _raw(b"whatever", ".txt"),
}


def _pred_cmd(cmd: str, make_preds):
    def build(folder: Path, good):
        preds = make_preds(folder, good)
        store = folder / "store.h5"
        shutil.copy(good["store"], store)
        if cmd == "eval":
            out = folder / "r.json"
            return [
                *EVAL,
                "--protocol",
                "h36m-p2",
                "--predictions",
                str(preds),
                "--store",
                str(store),
                "--out",
                str(out),
            ], out
        out = folder / "vp3d.npz"
        return ["data", "export", "videopose3d", "--predictions", str(preds), "--out", str(out)], out

    return build


_EXPORT_SKIP = {"frames-beyond-store", "unknown-subject", "missing-frames"}  # legal for export: no store involved
for _kind, _make in PRED_MUTATIONS.items():
    CASES.append(("eval", f"preds-{_kind}", _pred_cmd("eval", _make)))
    if _kind not in _EXPORT_SKIP:
        CASES.append(("data export", f"preds-{_kind}", _pred_cmd("export", _make)))


# --- bad result files --------------------------------------------------------------------------------------------


def _results_copy(
    folder: Path,
    good,
    change: Callable[[dict, Path], None] | None = None,
    *,
    redigest: bool = True,
    raw: bytes | None = None,
) -> Path:
    results = folder / "results"
    shutil.copytree(good["results"], results)
    path = results / "r.json"
    if raw is not None:
        path.write_bytes(raw)
        return results
    data = json.loads(path.read_text())
    if change is not None:
        change(data, results)
    if redigest and isinstance(data, dict):
        data["integrity"] = integrity_digest(data)
    path.write_text(json.dumps(data))
    return results


def _frames_of(results: Path) -> Path:
    return results / json.loads((results / "r.json").read_text())["per_frame_file"]


RESULT_MUTATIONS: dict[str, Callable[[Path, dict], Path]] = {
    "not-json": lambda f, g: _results_copy(f, g, raw=b"{not json"),
    "top-level-list": lambda f, g: _results_copy(f, g, raw=b"[1, 2]"),
    "binary": lambda f, g: _results_copy(f, g, raw=b"\xff\xfe\x00"),
    "missing-metrics": lambda f, g: _results_copy(f, g, lambda d, r: d.pop("metrics")),
    "edited-no-digest": lambda f, g: _results_copy(
        f, g, lambda d, r: d["metrics"].__setitem__("p_mpjpe_mm", 1.0), redigest=False
    ),
    "metric-string": lambda f, g: _results_copy(f, g, lambda d, r: d["metrics"].__setitem__("p_mpjpe_mm", "1")),
    "metric-null": lambda f, g: _results_copy(f, g, lambda d, r: d["metrics"].__setitem__("p_mpjpe_mm", None)),
    "metrics-list": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("metrics", [1, 2])),
    "ci95-scalar": lambda f, g: _results_copy(f, g, lambda d, r: d["ci95"].__setitem__("p_mpjpe_mm", 3)),
    "protocol-string": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("protocol", "h36m-p2")),
    "protocol-metrics-list": lambda f, g: _results_copy(f, g, lambda d, r: d["protocol"].__setitem__("metrics", [])),
    "primary-unknown": lambda f, g: _results_copy(f, g, lambda d, r: d["protocol"].__setitem__("primary", "x")),
    "per-group-string": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("per_group", "x")),
    "per-joint-text": lambda f, g: _results_copy(
        f, g, lambda d, r: d.__setitem__("per_joint", {"mpjpe_mm": {"Pelvis": "1"}})
    ),
    "n-frames-string": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("n_frames", "12")),
    "model-list": lambda f, g: _results_copy(f, g, lambda d, r: d["predictions"].__setitem__("model", [1])),
    "seed-string": lambda f, g: _results_copy(f, g, lambda d, r: d["predictions"]["model"].__setitem__("seed", "x")),
    "schema-2": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("schema_version", 2)),
    "frames-traversal": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("per_frame_file", "../../x")),
    "frames-absolute": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("per_frame_file", "/etc/passwd")),
    "frames-number": lambda f, g: _results_copy(f, g, lambda d, r: d.__setitem__("per_frame_file", 3)),
    "frames-missing": lambda f, g: (lambda r: (_frames_of(r).unlink(), r)[1])(_results_copy(f, g)),
    "frames-changed": lambda f, g: (lambda r: (_frames_of(r).write_bytes(b"x"), r)[1])(_results_copy(f, g)),
}


def _result_cmd(cmd: str, make):
    def build(folder: Path, good):
        results = make(folder, good)
        if cmd == "table":
            out = folder / "tables.md"
            return ["table", "--results", str(results), "--out", str(out)], out
        if cmd == "leaderboard":
            out = folder / "lb.md"
            return ["leaderboard", "--results", str(results), "--out", str(out)], out
        if cmd == "compare":
            return ["compare", str(results / "r.json"), str(results / "r.json")], None
        if cmd == "figures":
            out = folder / "figs"
            return [
                "figures",
                "--results",
                str(results),
                "--runs",
                str(folder / "runs"),
                "--store",
                str(folder / "none.h5"),
                "--out",
                str(out),
                "--plots",
                str(folder / "plots"),
            ], out
        raise AssertionError(cmd)

    return build


for _kind, _make in RESULT_MUTATIONS.items():
    for _cmd in ("table", "leaderboard", "compare"):
        CASES.append((_cmd, f"result-{_kind}", _result_cmd(_cmd, _make)))
    if _kind in ("not-json", "edited-no-digest", "frames-traversal", "metric-string", "frames-changed"):
        CASES.append(("figures", f"result-{_kind}", _result_cmd("figures", _make)))


# --- outputs that are inputs, or cannot be written -------------------------------------------------------------------


def _copy(folder: Path, good, *names: str) -> dict[str, Path]:
    out = {}
    for n in names:
        if good[n].is_dir():
            shutil.copytree(good[n], folder / good[n].name)
        else:
            shutil.copy(good[n], folder / good[n].name)
        out[n] = folder / good[n].name
    return out


def _eval_argv(f: dict[str, Path], out) -> list[str]:
    return [
        *EVAL,
        "--protocol",
        "h36m-p2",
        "--predictions",
        str(f["preds"]),
        "--store",
        str(f["store"]),
        "--out",
        str(out),
    ]


def _out_case(kind: str):
    def build(folder: Path, good):
        f = _copy(folder, good, "store", "preds", "ckpt", "results")
        res = f["results"] / "r.json"
        afile = folder / "afile"
        afile.write_text("x")
        ro = folder / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        table = {
            "eval-out-is-preds": (_eval_argv(f, f["preds"]), None),
            "eval-out-is-store": (_eval_argv(f, f["store"]), None),
            "eval-out-symlink-to-preds": (_eval_argv(f, _link(folder, f["preds"])), None),
            "eval-out-dotdot-preds": (_eval_argv(f, folder / "x" / ".." / "preds.h5"), None),
            "eval-out-hardlink-preds": (_eval_argv(f, _hardlink(folder, f["preds"])), None),
            "eval-out-dir": (_eval_argv(f, folder), None),
            "eval-out-under-file": (_eval_argv(f, afile / "r.json"), afile / "r.json"),
            "eval-out-unwritable": (_eval_argv(f, ro / "r.json"), ro / "r.json"),
            "baseline-out-is-store": (
                ["world", "baseline", "--kind", "mean", "--store", str(f["store"]), "--out", str(f["store"])],
                None,
            ),
            "baseline-out-dir": (
                ["world", "baseline", "--kind", "mean", "--store", str(f["store"]), "--out", str(folder)],
                None,
            ),
            "baseline-out-under-file": (
                ["world", "baseline", "--kind", "mean", "--store", str(f["store"]), "--out", str(afile / "b.h5")],
                afile / "b.h5",
            ),
            "predict-out-is-store": (
                ["predict", "--checkpoint", str(f["ckpt"]), "--store", str(f["store"]), "--out", str(f["store"])],
                None,
            ),
            "predict-out-is-ckpt": (
                ["predict", "--checkpoint", str(f["ckpt"]), "--store", str(f["store"]), "--out", str(f["ckpt"])],
                None,
            ),
            "export-out-is-preds": (
                ["data", "export", "videopose3d", "--predictions", str(f["preds"]), "--out", str(f["preds"])],
                None,
            ),
            "export-out-dir": (
                ["data", "export", "videopose3d", "--predictions", str(f["preds"]), "--out", str(folder)],
                None,
            ),
            "table-out-is-result": (["table", "--results", str(f["results"]), "--out", str(res)], None),
            "table-metrics-is-result": (["table", "--results", str(f["results"]), "--metrics", str(res)], None),
            "table-out-dir": (["table", "--results", str(f["results"]), "--out", str(folder)], None),
            "table-out-under-file": (
                ["table", "--results", str(f["results"]), "--out", str(afile / "t.md")],
                afile / "t.md",
            ),
            "table-out-unwritable": (["table", "--results", str(f["results"]), "--out", str(ro / "t.md")], ro / "t.md"),
            "leaderboard-out-is-result": (["leaderboard", "--results", str(f["results"]), "--out", str(res)], None),
            "leaderboard-out-dir": (["leaderboard", "--results", str(f["results"]), "--out", str(folder)], None),
            "leaderboard-out-under-file": (
                ["leaderboard", "--results", str(f["results"]), "--out", str(afile / "l.md")],
                afile / "l.md",
            ),
            "world-build-out-dir": (["world", "build", "--profile", "tiny", "--out", str(folder)], None),
            "world-build-out-under-file": (
                ["world", "build", "--profile", "tiny", "--out", str(afile / "w.h5")],
                afile / "w.h5",
            ),
            "world-build-out-unwritable": (
                ["world", "build", "--profile", "tiny", "--out", str(ro / "w.h5")],
                ro / "w.h5",
            ),
            "figures-out-under-file": (
                [
                    "figures",
                    "--results",
                    str(f["results"]),
                    "--runs",
                    str(folder / "runs"),
                    "--out",
                    str(afile / "figs"),
                    "--plots",
                    str(folder / "plots"),
                ],
                afile / "figs",
            ),
            "diagnose-out-is-store": (
                ["diagnose", "--checkpoint", str(f["ckpt"]), "--store", str(f["store"]), "--out", str(f["store"])],
                None,
            ),
        }
        return table[kind]

    return build


def _link(folder: Path, target: Path) -> Path:
    link = folder / "link.h5"
    link.symlink_to(target)
    return link


def _hardlink(folder: Path, target: Path) -> Path:
    link = folder / "hard.h5"
    link.hardlink_to(target)
    return link


for _kind in (
    "eval-out-is-preds",
    "eval-out-is-store",
    "eval-out-symlink-to-preds",
    "eval-out-dotdot-preds",
    "eval-out-hardlink-preds",
    "eval-out-dir",
    "eval-out-under-file",
    "eval-out-unwritable",
    "baseline-out-is-store",
    "baseline-out-dir",
    "baseline-out-under-file",
    "predict-out-is-store",
    "predict-out-is-ckpt",
    "export-out-is-preds",
    "export-out-dir",
    "table-out-is-result",
    "table-metrics-is-result",
    "table-out-dir",
    "table-out-under-file",
    "table-out-unwritable",
    "leaderboard-out-is-result",
    "leaderboard-out-dir",
    "leaderboard-out-under-file",
    "world-build-out-dir",
    "world-build-out-under-file",
    "world-build-out-unwritable",
    "figures-out-under-file",
    "diagnose-out-is-store",
):
    CASES.append((_kind.split("-out")[0].split("-metrics")[0].replace("-", " "), f"out-{_kind}", _out_case(_kind)))


# --- arguments -------------------------------------------------------------------------------------------------------


def _args_case(argv_of: Callable[[dict[str, Path], Path], list[str]]):
    def build(folder: Path, good):
        f = _copy(folder, good, "store", "preds", "ckpt", "results")
        return argv_of(f, folder), folder / "out-none"

    return build


_E = [*EVAL, "--protocol", "h36m-p2"]
ARG_CASES = {
    "eval": {
        "unknown-protocol": lambda f, d: [
            *EVAL,
            "--protocol",
            "nope",
            "--predictions",
            str(f["preds"]),
            "--store",
            str(f["store"]),
        ],
        "protocol-list-empty": lambda f, d: [
            *EVAL,
            "--protocol",
            ",",
            "--predictions",
            str(f["preds"]),
            "--store",
            str(f["store"]),
        ],
        "stride-text": lambda f, d: _E + ["--predictions", str(f["preds"]), "--stride", "abc"],
        "stride-zero": lambda f, d: (
            _E + ["--predictions", str(f["preds"]), "--store", str(f["store"]), "--stride", "0"]
        ),
        "unknown-camera": lambda f, d: (
            _E + ["--predictions", str(f["preds"]), "--store", str(f["store"]), "--cameras", "123"]
        ),
        "unknown-subject": lambda f, d: (
            _E + ["--predictions", str(f["preds"]), "--store", str(f["store"]), "--subjects", "S77"]
        ),
        "joint-order": lambda f, d: _E + ["--predictions", str(f["preds"]), "--joint-order", "coco"],
        "missing-protocol": lambda f, d: ["eval", "--predictions", str(f["preds"])],
        "missing-store": lambda f, d: _E + ["--predictions", str(f["preds"]), "--store", str(d / "none.h5")],
        "missing-preds": lambda f, d: _E + ["--predictions", str(d / "none.h5"), "--store", str(f["store"])],
        "folder-without-role": lambda f, d: _E + ["--predictions", str(d), "--store", str(f["store"])],
        "role-with-file": lambda f, d: (
            _E + ["--predictions", str(f["preds"]), "--store", str(f["store"]), "--role", "h36m-test"]
        ),
        "protocol-file-bad-yaml": lambda f, d: [
            *EVAL,
            "--protocol",
            str(_write(d / "p.yaml", "a: [")),
            "--predictions",
            str(f["preds"]),
            "--store",
            str(f["store"]),
        ],
        "protocol-file-not-mapping": lambda f, d: [
            *EVAL,
            "--protocol",
            str(_write(d / "p.yaml", "- 1\n")),
            "--predictions",
            str(f["preds"]),
            "--store",
            str(f["store"]),
        ],
    },
    "world build": {
        "unknown-profile": lambda f, d: ["world", "build", "--profile", "nope", "--out", str(d / "w.h5")],
        "negative-seed": lambda f, d: ["world", "build", "--profile", "tiny", "--seed", "-1", "--out", str(d / "w.h5")],
        "zero-jobs": lambda f, d: ["world", "build", "--profile", "tiny", "--jobs", "0", "--out", str(d / "w.h5")],
        "not-h5": lambda f, d: ["world", "build", "--profile", "tiny", "--out", str(d / "w.txt")],
        "missing-motion": lambda f, d: [
            "world",
            "build",
            "--profile",
            "tiny",
            "--motion",
            str(d / "m.npz"),
            "--out",
            str(d / "w.h5"),
        ],
        "motion-is-text": lambda f, d: [
            "world",
            "build",
            "--profile",
            "tiny",
            "--motion",
            str(_write(d / "m.npz", "x")),
            "--out",
            str(d / "w.h5"),
        ],
    },
    "world baseline": {
        "unknown-kind": lambda f, d: [
            "world",
            "baseline",
            "--kind",
            "x",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "b.h5"),
        ],
        "unknown-role": lambda f, d: [
            "world",
            "baseline",
            "--kind",
            "mean",
            "--role",
            "nope",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "b.h5"),
        ],
        "missing-store": lambda f, d: [
            "world",
            "baseline",
            "--kind",
            "mean",
            "--store",
            str(d / "none.h5"),
            "--out",
            str(d / "b.h5"),
        ],
    },
    "world describe": {
        "missing-store": lambda f, d: ["world", "describe", "--store", str(d / "none.h5")],
    },
    "world preview": {
        "missing-store": lambda f, d: ["world", "preview", "--store", str(d / "none.h5"), "--out", str(d / "p.png")],
        "per-role-zero": lambda f, d: [
            "world",
            "preview",
            "--store",
            str(f["store"]),
            "--per-role",
            "0",
            "--out",
            str(d / "p.png"),
        ],
    },
    "train": {
        "unknown-card": lambda f, d: ["train", "--card", "nope", "--store", str(f["store"]), "--out", str(d / "r")],
        "negative-seed": lambda f, d: [
            "train",
            "--card",
            "unsup",
            "--seed",
            "-2",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "r"),
        ],
        "zero-threads": lambda f, d: [
            "train",
            "--card",
            "unsup",
            "--threads",
            "0",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "r"),
        ],
        "missing-store": lambda f, d: [
            "train",
            "--card",
            "unsup",
            "--store",
            str(d / "none.h5"),
            "--out",
            str(d / "r"),
        ],
        "unknown-profile": lambda f, d: [
            "train",
            "--card",
            "unsup",
            "--profile",
            "nope",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "r"),
        ],
        "seeds-and-seed": lambda f, d: [
            "train",
            "--card",
            "unsup",
            "--seeds",
            "2",
            "--seed",
            "1",
            "--store",
            str(f["store"]),
            "--out",
            str(d / "r"),
        ],
        "out-is-store": lambda f, d: ["train", "--card", "unsup", "--store", str(f["store"]), "--out", str(f["store"])],
    },
    "predict": {
        "zero-batch": lambda f, d: [
            "predict",
            "--checkpoint",
            str(f["ckpt"]),
            "--store",
            str(f["store"]),
            "--batch",
            "0",
            "--out",
            str(d / "p.h5"),
        ],
        "garbage-checkpoint": lambda f, d: [
            "predict",
            "--checkpoint",
            str(f["ckpt"]),
            "--store",
            str(f["store"]),
            "--out",
            str(d / "p.h5"),
        ],
        "missing-run": lambda f, d: [
            "predict",
            "--run",
            str(d / "none"),
            "--store",
            str(f["store"]),
            "--out",
            str(d / "p"),
        ],
        "checkpoint-and-run": lambda f, d: [
            "predict",
            "--checkpoint",
            str(f["ckpt"]),
            "--run",
            str(d),
            "--out",
            str(d / "p.h5"),
        ],
    },
    "data validate": {
        "missing": lambda f, d: ["data", "validate", str(d / "none.h5")],
        "folder": lambda f, d: ["data", "validate", str(d)],
    },
    "data info": {
        "missing": lambda f, d: ["data", "info", str(d / "none.h5")],
    },
    "data import": {
        "vp3d-missing": lambda f, d: [
            "data",
            "import",
            "videopose3d",
            "--npz",
            str(d / "none.npz"),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "vp3d-text": lambda f, d: [
            "data",
            "import",
            "videopose3d",
            "--npz",
            str(_write(d / "a.npz", "x")),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "vp3d-predictions-npz": lambda f, d: [
            "data",
            "import",
            "videopose3d",
            "--npz",
            str(_preds_npz(f, d)),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "vp3d-out-is-npz": lambda f, d: [
            "data",
            "import",
            "videopose3d",
            "--npz",
            str(_preds_npz(f, d)),
            "--out",
            str(_preds_npz(f, d)),
            "--force",
            "--quiet",
        ],
        "mmpose-h36m-missing": lambda f, d: [
            "data",
            "import",
            "mmpose-h36m",
            "--npz",
            str(d / "none.npz"),
            "--cameras",
            str(d / "none.pkl"),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "mmpose-3dhp-text-pickle": lambda f, d: [
            "data",
            "import",
            "mmpose-3dhp",
            "--npz",
            str(_preds_npz(f, d)),
            "--cameras",
            str(_write(d / "c.pkl", "x")),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "mmpose-out-is-cameras": lambda f, d: [
            "data",
            "import",
            "mmpose-3dhp",
            "--npz",
            str(_preds_npz(f, d)),
            "--cameras",
            str(_write(d / "c.pkl", "x")),
            "--out",
            str(d / "c.pkl"),
            "--force",
            "--quiet",
        ],
        "h36m-missing-root": lambda f, d: [
            "data",
            "import",
            "h36m",
            "--root",
            str(d / "none"),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "3dhp-bad-cameras": lambda f, d: [
            "data",
            "import",
            "3dhp",
            "--root",
            str(d),
            "--cameras",
            "a",
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "frames-bad-role": lambda f, d: [
            "data",
            "import",
            "frames",
            "--root",
            str(d),
            "--role",
            "a/b",
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "frames-missing-root": lambda f, d: [
            "data",
            "import",
            "frames",
            "--root",
            str(d / "none"),
            "--out",
            str(d / "o.h5"),
            "--quiet",
        ],
        "frames-out-dir": lambda f, d: ["data", "import", "frames", "--root", str(d), "--out", str(d), "--quiet"],
    },
    "table": {
        "missing-results": lambda f, d: ["table", "--results", str(d / "none")],
        "bad-format": lambda f, d: ["table", "--results", str(f["results"]), "--format", "xls"],
    },
    "leaderboard": {
        "missing-results": lambda f, d: ["leaderboard", "--results", str(d / "none")],
        "unknown-protocol": lambda f, d: ["leaderboard", "--results", str(f["results"]), "--protocol", "3dhp"],
        "unknown-metric": lambda f, d: ["leaderboard", "--results", str(f["results"]), "--metric", "nope"],
        "empty-results": lambda f, d: ["leaderboard", "--results", str(_mkdir(d / "empty"))],
    },
    "compare": {
        "missing-file": lambda f, d: ["compare", str(d / "a.json"), str(f["results"] / "r.json")],
        "unknown-metric": lambda f, d: [
            "compare",
            str(f["results"] / "r.json"),
            str(f["results"] / "r.json"),
            "--metric",
            "nope",
        ],
        "one-argument": lambda f, d: ["compare", str(f["results"] / "r.json")],
    },
    "figures": {
        "missing-results": lambda f, d: ["figures", "--results", str(d / "none"), "--out", str(d / "f")],
        "missing-checkpoint": lambda f, d: [
            "figures",
            "--results",
            str(f["results"]),
            "--checkpoint",
            str(d / "none.pt"),
            "--out",
            str(d / "f"),
        ],
    },
    "protocols": {
        "extra-argument": lambda f, d: ["protocols", "extra"],
    },
    "diagnose": {
        "missing-checkpoint": lambda f, d: ["diagnose", "--checkpoint", str(d / "none.pt"), "--store", str(f["store"])],
        "zero-tuples": lambda f, d: ["diagnose", "--checkpoint", str(f["ckpt"]), "--tuples", "0"],
    },
    "check": {
        "unknown-option": lambda f, d: ["check", "--nope"],
        "bad-seeds": lambda f, d: ["check", "--seeds", "x"],
    },
    "kspbench": {
        "unknown-command": lambda f, d: ["nope"],
    },
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _preds_npz(f: dict[str, Path], d: Path) -> Path:
    path = d / "p.npz"
    if not path.exists():
        write_predictions(path, factories.truth_predictions(f["store"]))
    return path


for _cmd, _cases in ARG_CASES.items():
    for _kind, _argv in _cases.items():
        CASES.append((_cmd, f"args-{_kind}", _args_case(_argv)))


# --- the test ----------------------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("command,case,build", CASES, ids=[f"{c}:{k}" for c, k, _ in CASES])
def test_bad_input_exits_2_with_one_line(command, case, build, good, tmp_path, capsys):
    if case.endswith("unwritable") and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    argv, out = build(tmp_path, good)
    capsys.readouterr()
    before = _snapshot(tmp_path)
    existed = out is not None and out.exists()
    try:
        with pytest.raises(SystemExit) as exc:
            raise SystemExit(main(argv))
    finally:
        for p in tmp_path.rglob("*"):  # let tmp_path be cleaned up after an unwritable-folder case
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
    err = capsys.readouterr().err
    assert exc.value.code == 2, (argv, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    after = _snapshot(tmp_path)
    changed = [k for k in before if after.get(k) != before[k]]
    assert not changed, f"inputs changed: {changed}"
    if out is not None and not existed:
        assert not out.exists(), f"{out} was left behind"
    leftovers = [k for k in after if k not in before and not k.startswith("results/.") and "lock" not in k]
    assert not leftovers, f"files left behind: {leftovers}"
