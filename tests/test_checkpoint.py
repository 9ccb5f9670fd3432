"""Checkpoints and resume: a fit interrupted (by an exception or SIGKILL) and resumed ends with the model of a fit that
ran through; checkpoints of another fit are refused; checkpoint files are safetensors + JSON, never pickle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

import tabdiffusion as td
from tabdiffusion.checkpoint import FILE_NAME
from tabdiffusion.cli import app

# 48-row batches on 160 rows: 3 batches an epoch, so checkpoints every 10 steps fall inside an epoch; dropout draws
# from the global RNG, which the checkpoint must carry too. The memorisation checks (10 of them) run as by default.
TINY = dict(seed=0, steps=40, batch_size=48, d_layers=(32, 32), num_timesteps=20, dropout=0.1, verbose=False,
            device="cpu")


class Interrupt(Exception):
    """Raised from a fit's callback to cut the fit short."""


def interrupt_at(step: int, seen: list[int] | None = None):
    """A fit callback that records the steps it sees and raises Interrupt after `step`."""
    def callback(report: td.TrainingStep) -> None:
        if seen is not None:
            seen.append(report.step)
        if report.step == step:
            raise Interrupt
    return callback


def assert_same_model(a: td.Synthesizer, b: td.Synthesizer) -> None:
    """The same EMA weights, bit for bit, the same losses and checks, and the same seeded rows."""
    weights_a, weights_b = a.model_.state_dict(), b.model_.state_dict()
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    assert a.history_.loss_numeric == b.history_.loss_numeric
    assert a.history_.loss_categorical == b.history_.loss_categorical
    timeless = [[{k: v for k, v in c.items() if k != "seconds"} for c in s.history_.checks] for s in (a, b)]
    assert timeless[0] == timeless[1]
    pd.testing.assert_frame_equal(a.sample(80, seed=1), b.sample(80, seed=1))


def checkpoint_payload(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """A checkpoint's JSON and tensors, read with safetensors and json alone (no pickle)."""
    with safe_open(folder / FILE_NAME, framework="pt") as file:
        return json.loads(file.metadata()["payload"]), {name: file.get_tensor(name) for name in file.keys()}


def test_a_fit_interrupted_and_resumed_ends_with_the_model_of_a_fit_that_ran_through(mixed_table, tmp_path):
    plain = td.Synthesizer(**TINY).fit(mixed_table, target="label")
    through = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "a",
                                         checkpoint_every=10)
    assert_same_model(plain, through)  # saving checkpoints changes nothing
    with pytest.raises(Interrupt):
        td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "b", checkpoint_every=10,
                                   callback=interrupt_at(25))
    saved = checkpoint_payload(tmp_path / "b")[0]
    assert saved["step"] == 20
    seen: list[int] = []
    resumed = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "b",
                                         checkpoint_every=10, resume=True, callback=interrupt_at(-1, seen))
    assert seen == list(range(21, 41))  # trained from the checkpoint's step on
    assert resumed.history_.steps == 40 and len(resumed.history_.checks) == 10
    assert resumed.history_.seconds > saved["seconds"]  # the checkpoint's training time counts (time_budget too)
    assert_same_model(through, resumed)


def test_a_flow_fit_resumes_its_teacher_and_reflows_again_to_the_same_model(mixed_table, tmp_path, monkeypatch):
    from tabdiffusion.diffusion import flow as flow_module

    monkeypatch.setattr(flow_module, "REFLOW_MIN_PAIRS", 2_000)  # a quick reflow; the checks are tested above
    flow = {**TINY, "preset": "flow", "reflow_steps": 10, "dropout": 0.0, "min_proximity": 0}
    through = td.Synthesizer(**flow).fit(mixed_table, target="label")
    with pytest.raises(Interrupt):
        td.Synthesizer(**flow).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=10,
                                   callback=interrupt_at(35))
    resumed = td.Synthesizer(**flow).fit(mixed_table, target="label", checkpoint_dir=tmp_path, resume=True)
    assert resumed.reflow_history_.steps == through.reflow_history_.steps == 10
    assert checkpoint_payload(tmp_path)[0]["step"] == 40  # the teacher's last step; reflow keeps no checkpoint
    assert_same_model(through, resumed)


def test_resuming_a_finished_fit_trains_no_further_step(mixed_table, tmp_path):
    first = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=15)
    assert checkpoint_payload(tmp_path)[0]["step"] == 40  # the last step is saved too
    seen: list[int] = []
    again = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, resume=True,
                                       callback=interrupt_at(-1, seen))
    assert seen == []
    assert_same_model(first, again)


KILLED_FIT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import tabdiffusion as td
    from conftest import make_mixed_table
    from test_checkpoint import TINY

    # A step every 50 ms or more, so that the kill falls inside training.
    td.Synthesizer(**TINY).fit(make_mixed_table(), target="label", checkpoint_dir=sys.argv[2], checkpoint_every=10,
                               callback=lambda step: time.sleep(0.05))
    print("finished")
""")


def test_a_fit_killed_with_sigkill_resumes_in_another_process_to_the_same_model(mixed_table, tmp_path):
    script, folder = tmp_path / "fit.py", tmp_path / "checkpoints"
    script.write_text(KILLED_FIT)
    root = Path(td.__file__).resolve().parents[1]  # this checkout's package, and its tests' conftest
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    killed = subprocess.Popen([sys.executable, str(script), str(root / "tests"), str(folder)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (folder / FILE_NAME).exists():
            assert killed.poll() is None, killed.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within two minutes"
            time.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
        output, _ = killed.communicate(timeout=60)
    finally:
        killed.kill()
        killed.wait()
    assert killed.returncode == -signal.SIGKILL and b"finished" not in output
    assert checkpoint_payload(folder)[0]["step"] in (10, 20, 30)  # killed inside training
    resumed = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=folder, resume=True)
    assert_same_model(td.Synthesizer(**TINY).fit(mixed_table, target="label"), resumed)


def test_resume_refuses_a_checkpoint_of_another_fit(mixed_table, tmp_path):
    with pytest.raises(Interrupt):
        td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=10,
                                   callback=interrupt_at(12))
    saved = (tmp_path / FILE_NAME).read_bytes()
    for change, fit, words in [
        ({"seed": 1}, {}, "its seed is 0, this fit's 1"),
        ({"lr": 0.0123}, {}, "its model settings differ in lr"),
        ({}, {"data": mixed_table.iloc[1:]}, "its training data differ"),
    ]:
        with pytest.raises(td.ParameterError, match="--checkpoint-dir") as refused:
            td.Synthesizer(**{**TINY, **change}).fit(fit.get("data", mixed_table), target="label",
                                                     checkpoint_dir=tmp_path, resume=True)
        assert words in str(refused.value) and "\n" not in str(refused.value)
    assert (tmp_path / FILE_NAME).read_bytes() == saved  # a refused resume leaves the checkpoint as it was
    table = tmp_path / "t.csv"
    mixed_table.to_csv(table, index=False)
    result = CliRunner().invoke(app, ["fit", str(table), "--out", str(tmp_path / "m.tdm"), "--target", "label",
                                      "--seed", "1", "--checkpoint-dir", str(tmp_path), "--resume", "--quiet"])
    assert result.exit_code == 1 and "--checkpoint-dir" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_checkpoint_files_are_safetensors_and_json_and_only_the_latest_is_kept(mixed_table, tmp_path):
    td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=10)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # one checkpoint, no temporary file
    payload, tensors = checkpoint_payload(tmp_path)
    assert payload["step"] == 40 and len(payload["history"]["loss_numeric"]) == 40 and payload["fit"]["seed"] == 0
    assert {name.split(".")[0] for name in tensors} >= {"model", "ema", "optimizer", "generator", "generators", "rng",
                                                        "batches"}
    model = td.Synthesizer(**TINY).fit(mixed_table, target="label").model_
    for name, value in model.state_dict().items():
        assert torch.equal(tensors[f"ema.{name}"], value), name
    assert not (tmp_path / FILE_NAME).read_bytes().startswith(b"\x80")  # no pickle protocol header


def test_resume_with_no_checkpoint_starts_from_scratch_and_an_unseeded_fit_resumes_with_the_checkpoints_seed(
        mixed_table, tmp_path):
    fresh = td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "new", resume=True)
    assert_same_model(td.Synthesizer(**TINY).fit(mixed_table, target="label"), fresh)
    unseeded = {**TINY, "seed": None}
    with pytest.raises(Interrupt):
        td.Synthesizer(**unseeded).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "u", checkpoint_every=10,
                                       callback=interrupt_at(12))
    seed = checkpoint_payload(tmp_path / "u")[0]["fit"]["seed"]
    resumed = td.Synthesizer(**unseeded).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "u", resume=True)
    assert resumed.seed_ == seed
    assert_same_model(td.Synthesizer(**{**TINY, "seed": seed}).fit(mixed_table, target="label"), resumed)


def test_a_damaged_checkpoint_is_refused_and_a_killed_saves_temporary_file_removed(mixed_table, tmp_path):
    with pytest.raises(Interrupt):
        td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=10,
                                   callback=interrupt_at(12))
    left = tmp_path / f".{FILE_NAME}.x1y2.tmp"  # what a kill during a save leaves
    left.write_bytes(b"half")
    data = bytearray((tmp_path / FILE_NAME).read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor
    (tmp_path / FILE_NAME).write_bytes(bytes(data))
    with pytest.raises(td.ParameterError, match="--checkpoint-dir.*damaged") as refused:
        td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, resume=True)
    assert "\n" not in str(refused.value) and not left.exists()


def test_a_fit_without_resume_replaces_a_checkpoint_with_a_warning(mixed_table, tmp_path):
    td.Synthesizer(**TINY).fit(mixed_table, target="label", checkpoint_dir=tmp_path, checkpoint_every=10)
    with pytest.warns(UserWarning, match="starts from scratch"):
        td.Synthesizer(**{**TINY, "seed": 3}).fit(mixed_table, target="label", checkpoint_dir=tmp_path)
    assert checkpoint_payload(tmp_path)[0]["fit"]["seed"] == 3


@pytest.mark.parametrize("arguments, message", [
    ({"checkpoint_every": 10}, "need checkpoint_dir"),
    ({"resume": True}, "need checkpoint_dir"),
    ({"checkpoint_dir": "c", "checkpoint_every": 0}, "checkpoint_every must be a positive integer"),
    ({"checkpoint_dir": "c", "resume": "yes"}, "resume must be True or False"),
])
def test_checkpoint_arguments_are_checked(mixed_table, tmp_path, arguments, message):
    if "checkpoint_dir" in arguments:
        arguments = {**arguments, "checkpoint_dir": tmp_path / arguments["checkpoint_dir"]}
    with pytest.raises(td.ParameterError, match=message):
        td.Synthesizer(**TINY).fit(mixed_table, target="label", **arguments)
    assert not (tmp_path / "c").exists()


def test_a_private_fit_refuses_checkpoints(mixed_table, tmp_path):
    pytest.importorskip("opacus")
    with pytest.raises(td.ParameterError, match="--checkpoint-dir.*dp_epsilon"):
        td.Synthesizer(**{**TINY, "dp_epsilon": 3.0}).fit(mixed_table, target="label", checkpoint_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_check_that_fails_after_resume_rolls_back_to_the_weights_that_passed_before_the_interruption(tmp_path):
    from tabdiffusion.checkpoint import Checkpointer
    from tabdiffusion.diffusion.mixed import MixedDiffusion
    from tabdiffusion.nn.mlp import MLPDenoiser, reset_parameters
    from tabdiffusion.training import Checks, table_loss, train

    def run(stop_at: int | None, resume: bool) -> tuple[torch.nn.Module, td.training.History]:
        g = torch.Generator().manual_seed(0)
        diffusion = MixedDiffusion(2, [3], 20, "cpu")
        model = MLPDenoiser(diffusion.input_width, [16], d_t=16, dropout=0.1)
        reset_parameters(model, g)
        loss = table_loss(diffusion, torch.randn(60, 2, generator=g), torch.randint(0, 3, (60, 1), generator=g), None)
        at = {"step": 0}  # the probe fails from step 30 on
        checks = Checks(frozenset({10, 20, 30}), lambda ema: {"proximity": 1.0 if at["step"] < 30 else 0.5},
                        lambda v: v["proximity"] >= 0.8)
        fingerprint = {"seed": 0, "config": {}, "settings": {}, "device": "cpu", "data_sha256": ""}
        checkpoint = Checkpointer.open(tmp_path / "c", 10, resume).bind(fingerprint, {})

        def on_step(step: int, *_: object) -> None:
            at["step"] = step
            if step == stop_at:
                raise Interrupt

        return train(model, loss, 60, steps=40, time_budget=None, batch_size=16, lr=1e-2, weight_decay=0.0,
                     ema_decay=0.9, generator=g, verbose=False, checks=checks, on_step=on_step, checkpoint=checkpoint)

    through, history = run(None, resume=False)
    assert history.stopped_by == "memorisation" and history.kept_step == 20
    (tmp_path / "c" / FILE_NAME).unlink()
    with pytest.raises(Interrupt):
        run(25, resume=False)
    resumed, resumed_history = run(None, resume=True)  # the EMA weights that passed at step 20 come from the checkpoint
    assert resumed_history.kept_step == 20 and resumed_history.steps == history.steps
    for name, value in through.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


def test_the_cli_fits_with_checkpoints_and_resumes(mixed_table, tmp_path):
    table, folder = tmp_path / "t.csv", tmp_path / "ckpt"
    mixed_table.to_csv(table, index=False)
    fit = ["fit", str(table), "--target", "label", "--steps", "20", "--seed", "0", "--quiet", "--min-proximity", "0",
           "--checkpoint-dir", str(folder)]
    runner = CliRunner()
    first = runner.invoke(app, [*fit, "--out", str(tmp_path / "a.tdm"), "--checkpoint-every", "7"])
    assert first.exit_code == 0, first.output
    assert checkpoint_payload(folder)[0]["step"] == 20
    again = runner.invoke(app, [*fit, "--out", str(tmp_path / "b.tdm"), "--resume"])
    assert again.exit_code == 0, again.output
    assert_same_model(td.Synthesizer.load(tmp_path / "a.tdm"), td.Synthesizer.load(tmp_path / "b.tdm"))
    refused = runner.invoke(app, [*fit, "--out", str(tmp_path / "c.tdm"), "--checkpoint-every", "0"])
    assert refused.exit_code == 1 and "checkpoint_every must be a positive integer" in refused.output
