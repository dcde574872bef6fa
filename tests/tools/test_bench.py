"""bench.py and `kspbench bench`: the workload computes real gradients and the CLI writes figures with provenance."""

from __future__ import annotations

import json

import torch

from kspbench.cli import main
from kspbench.tools.bench import bench_kinematic_core, forward_backward_workload


def test_workload_gives_finite_nonzero_gradients():
    g_vk, g_c6 = forward_backward_workload(4, 8)()
    assert g_vk.shape == (4, 40) and g_c6.shape == (4, 6)
    assert torch.isfinite(g_vk).all() and g_vk.abs().sum() > 0 and g_c6.abs().sum() > 0


def test_bench_rows():
    rows = bench_kinematic_core(2, (8,), min_seconds=0.01)
    assert rows[0]["map_size"] == 8 and rows[0]["per_sample_us"] > 0 and rows[0]["calls"] >= 5


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--batch", "2", "--sizes", "8", "--min-seconds", "0.01", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["kinematic_core"][0]["batch"] == 2 and "git" in data["kspbench"]
    assert main(["bench", "--sizes", "a,b"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
