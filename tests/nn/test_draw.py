"""`python -m nn.draw`: the command line that draws an MLP."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nn.draw import main

pytest.importorskip("nn")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not installed")
SVG = "{http://www.w3.org/2000/svg}"


@needs_dot
def test_issue_example_writes_an_svg_with_gradients(tmp_path, capsys):
    out = tmp_path / "mlp.svg"
    argv = "--layers 2,16,16,1 --activations tanh,tanh,sigmoid --loss bce --backward -o"
    assert main([*argv.split(), str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    tree = ET.parse(out).getroot()
    text = " ".join(tree.itertext())
    for name in ("layers.0.W", "layers.1.b", "layers.2.W", "(16, 2) float64", "sigmoid"):
        assert name in text
    assert "grad" in text
    clusters = [g for g in tree.iter(f"{SVG}g") if g.get("class") == "cluster"]
    assert len(clusters) == 4  # three Dense boxes inside the MLP's


def test_dot_source_needs_no_graphviz(capsys, monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert main(["--layers", "3,4,2", "--activations", "relu,identity", "--dot"]) == 0
    source = capsys.readouterr().out
    assert source.startswith("digraph") and "layers.1.W" in source and "relu" in source
    assert "grad<" not in source  # no --backward


def test_layers_stack_top_to_bottom_unless_rankdir_says_otherwise(capsys):
    argv = ["--layers", "2,4,1", "--activations", "tanh,sigmoid", "--dot"]
    assert main(argv) == 0
    assert "rankdir=TB" in capsys.readouterr().out  # "auto" on a model: one column
    assert main([*argv, "--rankdir", "LR"]) == 0
    assert "rankdir=LR" in capsys.readouterr().out


def test_mixed_hidden_activations_and_other_losses(capsys):
    argv = ["--layers", "2,5,4,3", "--activations", "relu,tanh,identity", "--dot"]
    assert main([*argv, "--loss", "cross_entropy", "--backward"]) == 0
    source = capsys.readouterr().out
    for op in ("linear", "relu", "tanh", "log_softmax"):
        assert f"<B>{op}</B>" in source
    # each Dense layer is a linear node followed by its activation
    assert source.count("<B>linear</B>") == 3 and "grad<" in source
    assert main(["--layers", "2,3,1", "--loss", "mse", "--dot", "--collapse-modules"]) == 0
    source = capsys.readouterr().out
    assert source.count("(2 ops)") == 2  # linear and relu in each collapsed layer


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--layers", "2,x"], "comma-separated integers"),
        (["--layers", "2"], "at least two"),
        (["--layers", "2,3,1", "--activations", "tanh,relu,relu"], "3 names for 2 layers"),
        (["--layers", "2,3,1", "--activations", "swish"], "unknown activation"),
        (["--layers", "2,3,1", "--backward"], "--backward needs --loss"),
    ],
)
def test_bad_arguments_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_save_failure_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    assert main(["--layers", "2,3,1", "-o", str(tmp_path / "g.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "nn.draw", "--help"], capture_output=True, text=True, check=True
    )
    assert "--layers" in result.stdout and "--backward" in result.stdout
    assert "python -m nn.draw --layers 2,16,16,1" in result.stdout
    assert "--rankdir {auto,LR,TB,RL,BT}" in result.stdout
