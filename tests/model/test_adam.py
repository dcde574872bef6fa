"""FusedAdam (kspbench/model/adam.py): torch.optim.Adam(fused=True) bit for bit, its state dicts interchangeable,
and a training process that never imports torch._dynamo."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from kspbench.model.adam import FusedAdam

REPO = Path(__file__).resolve().parents[2]


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def _steps(net: nn.Module, opt, n: int, *, start: int = 0) -> None:
    """n updates on fixed batches; every third step leaves the last layer without a gradient (as a loss that does
    not reach it), and the learning rate changes half-way (as the cosine decay does)."""
    for k in range(start, start + n):
        g = torch.Generator().manual_seed(100 + k)
        x = torch.randn(2, 3, 8, 8, generator=g)
        net.zero_grad(set_to_none=True)
        out = net[:4](x) if k % 3 == 2 else net(x)
        out.square().mean().backward()
        for group in opt.param_groups:
            group["lr"] = 1e-2 if k < 4 else 3e-3
        opt.step()


def _same(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_updates_equal_torch_fused_adam_bit_for_bit():
    ours, theirs = _net(), _net()
    _steps(ours, FusedAdam(ours.parameters(), lr=1e-2), 8)
    _steps(theirs, torch.optim.Adam(theirs.parameters(), lr=1e-2, fused=True), 8)
    _same(ours, theirs)
    assert not torch.equal(ours[0].weight, _net()[0].weight)  # it moved


def test_state_dict_has_torch_adams_layout():
    ours, theirs = _net(), _net()
    a, b = FusedAdam(ours.parameters(), lr=1e-2), torch.optim.Adam(theirs.parameters(), lr=1e-2, fused=True)
    _steps(ours, a, 3)
    _steps(theirs, b, 3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for i in sa["state"]:
        assert list(sa["state"][i]) == list(sb["state"][i])
        for key in sa["state"][i]:
            x, y = sa["state"][i][key], sb["state"][i][key]
            assert x.dtype == y.dtype and x.device == y.device and torch.equal(x, y), (i, key)


@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_a_resumed_run_continues_as_an_uninterrupted_one_across_the_two(direction):
    """Three steps with one, state dict into the other, three more: the same as six steps of torch's Adam."""
    ref = _net()
    _steps(ref, torch.optim.Adam(ref.parameters(), lr=1e-2, fused=True), 6)
    first, second = (torch.optim.Adam, FusedAdam) if direction == "torch->ours" else (FusedAdam, torch.optim.Adam)
    kw = {"fused": True} if first is torch.optim.Adam else {}
    net = _net()
    opt = first(net.parameters(), lr=1e-2, **kw)
    _steps(net, opt, 3)
    state = copy.deepcopy(opt.state_dict())
    kw = {"fused": True} if second is torch.optim.Adam else {}
    opt2 = second(net.parameters(), lr=1e-2, **kw)
    opt2.load_state_dict(state)
    _steps(net, opt2, 3, start=3)
    _same(net, ref)


def test_load_refuses_another_parameter_count_and_settings_it_lacks():
    net = _net()
    opt = FusedAdam(net.parameters(), lr=1e-3)
    fewer = torch.optim.Adam(list(net.parameters())[:2], lr=1e-3, fused=True).state_dict()
    with pytest.raises(ValueError, match="parameters"):
        opt.load_state_dict(fewer)
    ams = torch.optim.Adam(net.parameters(), lr=1e-3, amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="amsgrad"):
        opt.load_state_dict(ams)


def test_refuses_an_empty_or_integer_parameter_list():
    with pytest.raises(ValueError, match="empty"):
        FusedAdam([], lr=1e-3)
    with pytest.raises(ValueError, match="floating"):
        FusedAdam([torch.zeros(3, dtype=torch.int64)], lr=1e-3)


def test_a_training_process_never_imports_torch_dynamo(store, tmp_path):
    """torch.optim's step imports torch._dynamo (about 1.3 s of every training process's start-up); the trainer's
    optimiser does not, nor does anything else a default training run touches."""
    code = (
        "import sys\n"
        "from kspbench.cli import main\n"
        f"rc = main(['train', '--card', 'unsup', '--store', {str(store)!r}, '--profile', 'tiny', '--quiet',"
        f" '--out', {str(tmp_path / 'run')!r}])\n"
        "print(rc, 'torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1].split() == ["0", "False"], out.stdout + out.stderr
