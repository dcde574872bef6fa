"""dvc.yaml, params.yaml and models/ agree: cards, rows, protocols, and every `kspbench` command of the pipeline
parses."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kspbench.cli import build_parser, main
from kspbench.evaluation.protocol import load_protocol
from kspbench.model.cards import load_card

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())
CARD_FILES = sorted(p.stem for p in (REPO / "models").glob("*.yaml"))
VAR = re.compile(r"\$\{([^}]+)\}")


def _lookup(ctx: dict[str, Any], dotted: str) -> Any:
    value: Any = ctx
    for part in dotted.strip().split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"${{{dotted}}}: no {part!r} in params.yaml (or the foreach item)")
        value = value[part]
    return value


def _render(obj: Any, ctx: dict[str, Any]) -> Any:
    """DVC's ${a.b} interpolation, just enough for dvc.yaml: strings, lists and dicts, recursively."""
    if isinstance(obj, str):
        whole = VAR.fullmatch(obj)
        if whole:
            return _lookup(ctx, whole.group(1))
        return VAR.sub(lambda m: str(_lookup(ctx, m.group(1))), obj)
    if isinstance(obj, list):
        return [_render(v, ctx) for v in obj]
    if isinstance(obj, dict):
        return {_render(k, ctx): _render(v, ctx) for k, v in obj.items()}
    return obj


def _stages() -> dict[str, dict[str, Any]]:
    """Every stage of dvc.yaml, foreach stages expanded to name@key, with params substituted."""
    out = {}
    for name, stage in DVC["stages"].items():
        if "foreach" in stage:
            items = _render(stage["foreach"], PARAMS)
            pairs = items.items() if isinstance(items, dict) else ((v, v) for v in items)
            for key, item in pairs:
                out[f"{name}@{key}"] = _render(stage["do"], {**PARAMS, "key": key, "item": item})
        else:
            out[name] = _render(stage, PARAMS)
    return out


STAGES = _stages()


def _commands() -> list[tuple[str, str]]:
    cmds = []
    for name, stage in STAGES.items():
        cmd = stage["cmd"]
        for c in [cmd] if isinstance(cmd, str) else cmd:
            cmds.append((name, " ".join(c.split())))
    return cmds


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


# --- models/ <-> params.yaml ---------------------------------------------------------------------------------------


def test_every_card_file_is_a_pipeline_card_and_vice_versa():
    assert CARD_FILES and sorted(PARAMS["cards"]) == CARD_FILES


@pytest.mark.parametrize("card", sorted(PARAMS["cards"]))
def test_card_after_follows_init_from(card):
    c = load_card(REPO / "models" / f"{card}.yaml")
    assert c.name == card
    after = PARAMS["cards"][card]["after"]
    if c.init_from:
        assert after == f"runs/{c.init_from}", f"{card}: init_from {c.init_from} but after {after}"
        assert c.init_from in PARAMS["cards"], f"{card}: init_from {c.init_from} is not trained by the pipeline"
    else:
        assert after == f"models/{card}.yaml", f"{card}: trained from scratch but after {after}"


@pytest.mark.parametrize("card", sorted(PARAMS["cards"]))
def test_train_refuses_an_after_that_disagrees_with_init_from(card, tmp_path, monkeypatch, capsys):
    # The train stage passes its dependency (`after`) to `kspbench train --after`: DVC cannot derive it from the
    # card's init_from, so the command checks it. The pipeline's own argv passes the check (and stops at the store).
    monkeypatch.chdir(REPO)
    argv = shlex.split(STAGES[f"train@{card}"]["cmd"])[1:]
    argv[argv.index("--store") + 1] = str(tmp_path / "none.h5")
    assert main(argv) == 2
    assert "no such store" in capsys.readouterr().err
    wrong = "runs/semi" if PARAMS["cards"][card]["after"] != "runs/semi" else "runs/unsup"
    argv[argv.index("--after") + 1] = wrong
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"kspbench: error: --after {wrong}: card {card} ")
    assert f"cards.{card}.after" in err


def test_rows_are_the_baselines_then_the_cards():
    rows = PARAMS["rows"]
    assert len(rows) == len(set(rows))
    assert rows == list(PARAMS["baselines"]) + list(PARAMS["cards"])


def test_eval_protocols_exist():
    seen = []
    for group in PARAMS["eval"].values():
        names = [p.strip() for p in group["protocols"].split(",") if p.strip()]
        assert names
        for name in names:
            p = load_protocol(name)
            assert p.name == name and p.role == group["role"], (name, p.role, group["role"])
            seen.append(name)
    assert {"h36m-p2", "3dhp", "3dhp-pa"} <= set(seen)  # what Tables 2-4 read


def test_baseline_kinds_are_known_to_the_cli(capsys):
    parser = build_parser()
    for kind in PARAMS["baselines"]:
        assert parser.parse_args(["world", "baseline", "--kind", kind, "--out", "x.h5"]).kind == kind
    with pytest.raises(SystemExit):
        parser.parse_args(["world", "baseline", "--kind", "nope", "--out", "x.h5"])
    assert "invalid choice" in capsys.readouterr().err


# --- dvc.yaml -------------------------------------------------------------------------------------------------------


def test_pipeline_stages_exist():
    for name in ("world", "baseline", "train", "predict", "eval", "table", "figures"):
        assert name in DVC["stages"], name
    for card in PARAMS["cards"]:
        assert f"train@{card}" in STAGES and f"predict@{card}" in STAGES
    for row in PARAMS["rows"]:
        assert f"eval@{row}" in STAGES


def test_rendering_leaves_no_placeholder():
    for name, stage in STAGES.items():
        assert "${" not in yaml.safe_dump(stage), name


@pytest.mark.parametrize("stage, cmd", _commands(), ids=[f"{n}#{i}" for i, (n, _) in enumerate(_commands())])
def test_every_kspbench_command_parses(stage, cmd):
    argv = shlex.split(cmd)
    assert argv[0] == "kspbench", cmd
    parser = build_parser()
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit as err:  # argparse prints the reason on stderr
        pytest.fail(f"{stage}: `{cmd}` does not parse (exit {err.code})")
    assert callable(getattr(args, "func", None)), cmd
    if argv[1] == "eval":
        for p in args.protocol.split(","):
            load_protocol(p)
        assert args.role.split(",") == [g["role"] for g in PARAMS["eval"].values()]
    if argv[1] == "train":
        assert Path(REPO / args.card).is_file() and args.seeds == PARAMS["train"]["seeds"]


def test_stage_params_exist_in_params_yaml():
    for _name, stage in DVC["stages"].items():
        body = stage.get("do", stage)
        for p in body.get("params", []):
            assert isinstance(p, str)
            _lookup(PARAMS, p)  # raises KeyError naming the missing key


def test_every_dep_is_in_the_repo_or_an_output_of_a_stage():
    outs = {o for s in STAGES.values() for key in ("outs", "metrics", "plots") for o in _paths(s.get(key))}
    for name, stage in STAGES.items():
        for dep in _paths(stage.get("deps")):
            produced = any(
                dep == o or o.startswith(dep.rstrip("/") + "/") or dep.startswith(o.rstrip("/") + "/") for o in outs
            )
            assert produced or (REPO / dep).exists(), f"{name}: dep {dep} is neither in the repo nor an output"
            # A stage never depends on its own output.
            assert dep not in _paths(stage.get("outs")), (name, dep)


def test_outputs_are_unique():
    seen: dict[str, str] = {}
    for name, stage in STAGES.items():
        for o in _paths(stage.get("outs")) + _paths(stage.get("metrics")) + _paths(stage.get("plots")):
            assert o not in seen, f"{o} is an output of {seen.get(o)} and {name}"
            seen[o] = name


def test_long_stages_report_progress():
    """No --quiet: world and training write a progress line at least every 30 s into dvc repro's output."""
    for name in ["world", *(f"train@{card}" for card in PARAMS["cards"])]:
        assert "--quiet" not in STAGES[name]["cmd"].split(), name


def test_metrics_are_a_folder_of_small_files_that_git_keeps():
    """`dvc metrics diff` reads the metrics of past commits from git: a JSON per row and protocol, not ignored."""
    table = STAGES["table"]
    assert _paths(table["metrics"]) == ["reports/metrics"]
    assert "--metrics reports/metrics" in " ".join(table["cmd"].split())
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    kept = ["reports/metrics/unsup/h36m-p2.json", "reports/plots/val_curves.csv", "reports/bench/kinematic_core.json"]
    ignored = ["reports/figures/pck_curves.png", "results/unsup/h36m-test/s0/h36m-p2.json", "tables.md"]
    for path, want in [(p, 1) for p in kept] + [(p, 0) for p in ignored]:
        rc = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode
        assert rc == want, f"{path}: {'ignored' if rc == 0 else 'kept'} by git"


def test_top_level_plots_draw_the_columns_the_figures_stage_writes():
    """A plot per PCK table (a 3DHP protocol of the pipeline) with a line per row, and the validation table with a
    line per card: DVC refuses a plot whose column is missing, so these lists follow params.yaml."""
    from kspbench.reporting.figures import VAL_CSV, pck_csv_name

    plots = {name: _render(spec, PARAMS) for entry in DVC["plots"] for name, spec in entry.items()}
    assert "reports/plots" in _paths(STAGES["figures"]["outs"])
    assert "--plots reports/plots" in " ".join(STAGES["figures"]["cmd"].split())
    protocols = [p.strip() for p in PARAMS["eval"]["mpi3dhp"]["protocols"].split(",") if p.strip()]
    pck = {f: cols for spec in plots.values() if spec["x"] == "threshold_mm" for f, cols in spec["y"].items()}
    assert pck == {f"reports/plots/{pck_csv_name(p)}": PARAMS["rows"] for p in protocols}
    val = [spec["y"] for spec in plots.values() if spec["x"] == "step"]
    assert val == [{f"reports/plots/{VAL_CSV}": list(PARAMS["cards"])}]


# --- DVC itself -----------------------------------------------------------------------------------------------------


def _dvc() -> list[str]:
    if importlib.util.find_spec("dvc") is None:
        pytest.skip("dvc is not installed")
    exe = Path(sys.executable).with_name("dvc")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "dvc"]


def _stage_list(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_dvc() + ["stage", "list"], cwd=cwd, capture_output=True, text=True, timeout=120)


def _assert_listing(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = {ln.split()[0] for ln in proc.stdout.splitlines() if ln.strip()}
    assert {"train@unsup", "eval@mean", "eval@prior-only", "table", "figures"} <= names, proc.stdout
    assert names == set(STAGES), sorted(set(STAGES) ^ names)  # DVC expands dvc.yaml as this file's resolver does


def test_dvc_lists_the_stages_in_a_copy(tmp_path):
    """What `kspbench check` does: the pipeline files in a fresh git repository (no .gitignore of the checkout)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for name in ("dvc.yaml", "params.yaml", ".dvc/config"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    _assert_listing(_stage_list(tmp_path))


def test_dvc_lists_the_stages_in_the_checkout():
    _assert_listing(_stage_list(REPO))
