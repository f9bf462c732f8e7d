"""The benchmark suite keeps working: every benchmark runs one round at tiny sizes.

Nothing here asserts anything about speed; the asserts are about the suite computing
the right things (the numpy baseline's gradients, the agreement checks, the hygiene
probes being able to fail).
"""

import gc
import importlib.util
import shlex
from pathlib import Path

import numpy as np
import pytest

from benchmarks import chain, deep, hygiene, mlp, report, scalar, targets
from benchmarks.harness import Case, run_case
from benchmarks.mlp import Size
from benchmarks.numpy_mlp import NumpyMLP, init_weights, make_batch

TINY_SIZES = (Size((3, 5, 1), 4, "bce", rounds=1), Size((4, 6, 3), 5, "ce", rounds=1))
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_MICROGRAD = importlib.util.find_spec("micrograd") is not None


def _run_once(cases: list[Case]) -> list:
    results = [run_case(c, rounds=1, min_time=0.0) for c in cases]
    for r in results:
        for system in r.case.systems:
            assert len(r.times[system]) == 1
            assert r.median(system) >= 0.0
    return results


@pytest.mark.parametrize("loss", ["bce", "ce"])
def test_numpy_baseline_gradients_match_central_differences(loss):
    sizes = [3, 4, 2] if loss == "ce" else [3, 4, 1]
    layers = init_weights(sizes)
    X, y = make_batch(sizes, 5, loss)
    net = NumpyMLP(layers, loss, lr=0.1)
    _, dWs, dbs = net.loss_and_grads(X, y)
    eps = 1e-6
    for params, grads in ((net.W, dWs), (net.b, dbs)):
        for p, g in zip(params, grads, strict=True):
            numeric = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + eps
                up = net.loss_and_grads(X, y)[0]
                p[idx] = old - eps
                down = net.loss_and_grads(X, y)[0]
                p[idx] = old
                numeric[idx] = (up - down) / (2 * eps)
            np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


def test_numpy_baseline_step_is_sgd():
    sizes = [3, 4, 1]
    layers = init_weights(sizes)
    X, y = make_batch(sizes, 6, "bce")
    net = NumpyMLP(layers, "bce", lr=0.5)
    _, dWs, _ = net.loss_and_grads(X, y)
    W0 = net.W[0].copy()
    net.step(X, y)
    np.testing.assert_allclose(net.W[0], W0 - 0.5 * dWs[0], rtol=1e-12)


def test_mlp_cases_agree_and_run():
    cases = mlp.make_cases(TINY_SIZES, torch=False)
    assert len(cases) == 4
    results = _run_once(cases)
    assert all(r.ratio(next(iter(r.case.systems)), "numpy") > 0 for r in results)


def test_agreement_check_catches_a_wrong_gradient():
    size = TINY_SIZES[0]
    layers = init_weights(list(size.layers))
    X, y = make_batch(list(size.layers), size.batch, size.loss)
    good = mlp.numpy_system(layers, size, X, y)
    bad = mlp.numpy_system(layers, size, X, y)
    right = bad.grads

    def halved():
        loss, dW, db = right()
        return loss, [g * 0.5 for g in dW], db

    bad.grads = halved
    with pytest.raises(AssertionError, match="disagrees"):
        mlp.check_agreement({"numpy": good, "bad": bad}, "numpy", np.float64)


def test_chain_cases_run():
    _run_once(chain.make_cases(sizes=(1, 3), n_ops=7, torch=False, rounds=1))


def test_scalar_cases_run():
    readme = scalar.readme_case(torch=False, micrograd=False, rounds=1)
    tiny_mlp = scalar.mlp_case((2, 3, 1), samples=2, torch=False, micrograd=False, rounds=1)
    _run_once([readme, tiny_mlp])


@pytest.mark.slow  # importing torch takes seconds
@pytest.mark.skipif(not (HAVE_TORCH and HAVE_MICROGRAD), reason="torch/micrograd not installed")
def test_external_systems_run():
    cases = mlp.make_cases(TINY_SIZES[:1], (np.float32,), torch=True)
    cases += chain.make_cases(sizes=(2,), n_ops=5, torch=True, rounds=1)
    cases.append(scalar.readme_case(torch=True, micrograd=True, rounds=1))
    cases.append(scalar.mlp_case((2, 3, 1), samples=2, rounds=1))
    results = _run_once(cases)
    assert {"torch"} <= set(results[0].case.systems)
    assert "micrograd" in results[-1].case.systems


def test_deep_chain_gradient_in_a_fresh_process():
    run = deep.measure("autodiff", 300)
    assert run["ops"] == 300
    assert run["grad_rel_err"] < 1e-10
    assert run["peak_rss_bytes"] > 0


def test_expected_grad_of_a_short_chain_by_hand():
    # x -> x * s -> + d -> tanh: derivative s * (1 - tanh(s x + d)**2)
    x, s, d = 0.3, deep.SCALE, deep.SHIFT
    want = s * (1 - np.tanh(s * x + d) ** 2)
    assert deep.expected_grad(x, 3) == pytest.approx(want, rel=1e-12)


def test_cycle_probe_finds_a_cycle_of_tensors():
    from autodiff import Tensor

    def leaky_step():
        t = Tensor([1.0])
        t._attr_values = (t,)  # a reference cycle through a Tensor

    report_ = hygiene.cycles_after_step(leaky_step)
    assert report_.ours >= 1
    assert not report_.ok
    gc.collect()


def test_cycle_probe_on_training_steps():
    for workload in hygiene.workloads():
        assert hygiene.cycles_after_step(workload.step).collected >= 0


def test_hygiene_checks_in_a_fresh_process_and_report():
    checks = hygiene.measure()
    assert len(checks) == 2
    for check in checks:
        assert check["backward"]["create_graph"] > 0  # the probe sees Tensors when they exist
    results = _run_once(chain.make_cases(sizes=(1,), n_ops=4, torch=False, rounds=1))
    verdicts = targets.evaluate(results, None, checks)
    assert {t.verdict for t in verdicts} <= set(targets.VERDICTS)
    text = report.render([("python", "test")], results, None, checks, verdicts, [])
    assert "## Targets" in text and "op chain 4 ops, 1 element" in text


def test_command_line_runs_a_selection(capsys):
    from benchmarks.__main__ import main

    assert main(["--only", "chain", "--match", "no such case", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "threads:" in out and "## Targets" in out


def _readme_benchmark_commands():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    return [
        shlex.split(line.split("#")[0])[3:]
        for line in readme.splitlines()
        if line.startswith("python -m benchmarks")
    ]


def test_readme_selection_examples_time_every_group_they_name():
    from benchmarks.__main__ import build_cases, parse_args

    commands = [argv for argv in _readme_benchmark_commands() if "--match" in argv]
    assert commands, "README shows a --match example"
    for argv in commands:
        args = parse_args(argv)
        cases = build_cases(args, torch=False, micrograd=False)
        timed = {"mlp", "chain", "scalar"} & set(args.groups)  # the groups --match filters
        assert timed <= {c.group for c in cases}, f"{argv} measures nothing of some group"


def test_recording_cost_is_measured_and_reported():
    from benchmarks import recording

    config = recording.Config((3, 5, 1), 4, "bce", "Adam", rounds=1)
    run = recording.measure_one(config, rounds=1)
    assert run["calls"] >= 2 and run["eager_ms"] > 0 and run["record_ms"] > 0
    verdicts = recording.evaluate([run, {**run, "judged": False}])
    assert verdicts[0].verdict in ("PASS", "FAIL") and "3,5,1" in verdicts[0].name
    assert verdicts[1].verdict == "INFO"
    assert {t.verdict for t in recording.evaluate(None)} == {"SKIP"}
    text = report.render([("python", "test")], [], None, None, verdicts, [], [run])
    assert "## Recording cost" in text and "[3,5,1] b4 bce Adam" in text
    again = recording.measure_one(recording.Config((3, 5, 1), 4, "bce", "SGD", rounds=1,
                                                   again=True), rounds=1)  # fmt: skip
    assert again["record_ms"] > 0 and again["name"].endswith("again (new lr)")
