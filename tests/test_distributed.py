"""Distributed fits under torchrun: two gloo processes on the CPU train as well as one process with the same global
batch, rank 0 alone writes the model file, which records the world size and backend, and a seeded distributed fit
repeats itself with the same weights on every rank, a table streamed from Parquet included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import tabdiffusion as td
from tabdiffusion import modelfile
from tabdiffusion.distributed import World, check_supported, launched

ROOT = Path(__file__).resolve().parents[1]
STEPS = 150
LOSS_TOLERANCE = 0.15  # relative difference of the last steps' mean loss, two processes against one
TIMEOUT = 180  # seconds for one launch, which takes under 20 s on 2 cores
AUC_TOLERANCE = 0.1  # absolute difference of the detection AUC (gradient boosting), two processes against one


def _structured_table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two correlated numeric columns, a category fixed by the sign of one of them and an independent category: an
    untrained model's rows are easy to tell from these, a trained one's are not."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a.round(3), "b": (2 * a + 0.3 * rng.normal(size=n)).round(3),
                         "c": np.where(a > 0, "high", "low"), "d": rng.choice(["x", "y", "z"], size=n)})


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `torchrun --standalone --nproc_per_node=2 ARGS` with one CPU thread per process, this checkout first on
    the import path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


# Each of the two processes runs `tabdiffusion fit` (as `python -m tabdiffusion fit` would), which opens the process
# group, then two seeded fits and a streamed fit of the same table as Parquet in the same process, which use the group
# the first fit left open; rank 0 records whether they agree. Then each rank closes the group as the fit would at exit.
WORKER = f"""
import json, os, sys
import torch, torch.distributed as dist
import tabdiffusion as td
from tabdiffusion.cli import main
from tabdiffusion.distributed import _close_process_group

sys.argv = ["tabdiffusion", "fit", "data/table.csv", "--out", "out/model.tdm", "--steps", "{STEPS}", "--seed", "0",
            "--min-proximity", "0", "--device", "cpu", "--quiet"]
try:
    main()
except SystemExit as done:
    assert not done.code, done.code
assert dist.is_initialized()
fits = [td.Synthesizer(seed=0, steps=40, batch_size=64, d_layers=(32, 32), num_timesteps=20, time_budget=600,
                       verbose=False, device="cpu").fit("data/table.csv") for _ in range(2)]
streamed = td.Synthesizer(seed=0, steps=40, batch_size=64, d_layers=(32, 32), num_timesteps=20, verbose=False,
                          device="cpu").fit("data/table.parquet", streaming=True, max_memory_rows=100)
weights = [torch.cat([w.flatten() for w in f.model_.state_dict().values()]) for f in (*fits, streamed)]
ranks = [torch.zeros_like(weights[0]) for _ in range(dist.get_world_size())]
dist.all_gather(ranks, weights[0])
streamed_ranks = [torch.zeros_like(weights[2]) for _ in range(dist.get_world_size())]
dist.all_gather(streamed_ranks, weights[2])
rank = dist.get_rank()
if rank == 0:
    with open("result.json", "w") as f:
        json.dump({{"repeats": torch.equal(weights[0], weights[1]),
                   "ranks_agree": all(torch.equal(r, ranks[0]) for r in ranks),
                   "histories_agree": fits[0].history_.loss == fits[1].history_.loss,
                   "checks": len(fits[0].history_.checks), "distributed": fits[0].distributed_,
                   "streamed": streamed.streamed_["rows"], "streamed_sample": streamed.streamed_["sample_rows"],
                   "streamed_ranks_agree": all(torch.equal(r, streamed_ranks[0]) for r in streamed_ranks)}}, f)
# Closing the group (what the fit registered to run at exit) must join gloo's threads: one left running can free a
# collective's tensors while the interpreter shuts down, which aborts the process.
threads = len(os.listdir("/proc/self/task"))
_close_process_group()
with open(f"closed.{{rank}}.json", "w") as f:
    json.dump({{"threads_open": threads, "threads_closed": len(os.listdir("/proc/self/task")),
               "closed": not dist.is_initialized()}}, f)
"""


@pytest.fixture(scope="module")
def launch(tmp_path_factory) -> Path:
    """The folder of one launch of WORKER in two gloo processes, on _structured_table in data/table.csv."""
    folder = tmp_path_factory.mktemp("distributed")
    (folder / "data").mkdir()
    (folder / "out").mkdir()
    _structured_table().to_csv(folder / "data" / "table.csv", index=False)
    _structured_table().to_parquet(folder / "data" / "table.parquet", index=False)
    (folder / "worker.py").write_text(WORKER)
    _torchrun(["worker.py"], cwd=folder)
    return folder


def _detection_auc(synth: td.Synthesizer, table: pd.DataFrame) -> float:
    """How well gradient boosting tells `synth`'s rows from `table`'s (0.5: not at all)."""
    fake = synth.sample(len(table), seed=1)
    return td.evaluate(table, fake, metrics="detection", n_jobs=1, verbose=False).scores["detection.gbm_auc"]


def test_two_gloo_processes_train_as_well_as_one_and_rank_0_alone_writes(launch):
    out = launch / "out"
    assert sorted(p.name for p in out.iterdir()) == ["model.tdm"]  # one file, no second rank's, no temporary file
    payload, _ = modelfile.read_model_file(out / "model.tdm")
    assert payload["distributed"] == {"world_size": 2, "backend": "gloo"}
    two = td.Synthesizer.load(out / "model.tdm")
    one = td.Synthesizer(seed=0, steps=STEPS, min_proximity=0, device="cpu", verbose=False).fit(launch / "data" / "table.csv")
    assert one.distributed_ is None and two.history_.steps == one.history_.steps == STEPS
    loss_one, loss_two = (np.mean(s.history_.loss[-30:]) for s in (one, two))
    assert abs(loss_two - loss_one) <= LOSS_TOLERANCE * loss_one, (loss_one, loss_two)
    assert loss_two < 0.85 * np.mean(two.history_.loss[:10])  # it learned
    table = pd.read_csv(launch / "data" / "table.csv")
    auc_one, auc_two = _detection_auc(one, table), _detection_auc(two, table)
    assert abs(auc_two - auc_one) <= AUC_TOLERANCE and auc_two < 0.7, (auc_one, auc_two)


def test_a_seeded_distributed_fit_repeats_with_the_same_weights_on_every_rank(launch):
    result = json.loads((launch / "result.json").read_text())
    assert result["repeats"] and result["ranks_agree"] and result["histories_agree"], result
    assert result["checks"] > 0  # the memorisation checks ran (their values are rank 0's on every rank)
    assert result["distributed"] == {"world_size": 2, "backend": "gloo"}


def test_a_streamed_table_trains_distributed_with_the_same_weights_on_every_rank(launch):
    result = json.loads((launch / "result.json").read_text())
    assert result["streamed"] == 300 and result["streamed_sample"] == 100  # read in batches, not held in memory
    assert result["streamed_ranks_agree"], result


def test_closing_the_group_joins_gloos_threads_on_every_rank(launch):
    for rank in range(2):
        closed = json.loads((launch / f"closed.{rank}.json").read_text())
        assert closed["closed"], closed
        assert closed["threads_closed"] <= closed["threads_open"] - 2, closed  # gloo's two work threads, at least


def test_each_rank_trains_on_its_own_equal_slice_of_every_global_batch():
    batches = [torch.randperm(100)[:30] for _ in range(3)]
    worlds = [World(rank, 3, "gloo", torch.device("cpu")) for rank in range(3)]
    assert [world.global_batch(31) for world in worlds] == [30, 30, 30]
    shards = [list(world.shard(iter(batches))) for world in worlds]
    for step, batch in enumerate(batches):
        parts = [shard[step] for shard in shards]
        assert all(len(part) == 10 for part in parts)
        assert torch.equal(torch.cat(parts), batch)  # together the global batch, each row on one rank
    with pytest.raises(td.ParameterError, match="batch_size=2"):
        worlds[0].global_batch(2)


def test_each_rank_draws_its_own_noise_from_the_shared_seed():
    worlds = [World(rank, 2, "gloo", torch.device("cpu")) for rank in range(2)]
    own = [world.own_generator(torch.Generator().manual_seed(5)) for world in worlds]
    again = worlds[0].own_generator(torch.Generator().manual_seed(5))
    draws = [torch.rand(4, generator=g) for g in (*own, again)]
    assert not torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])


def test_torchrun_environment_is_read_and_a_plain_process_is_no_launch(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launched() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert launched() is None  # one process trains as a plain one
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert (launched().rank, launched().world_size, launched().local_rank) == (3, 4, 1)
    monkeypatch.setenv("RANK", "three")
    with pytest.raises(td.ParameterError, match="RANK"):
        launched()


def test_what_a_distributed_fit_cannot_share_out_is_refused_in_one_line():
    check_supported(None, False)
    with pytest.raises(td.ParameterError, match="dp_epsilon"):
        check_supported(3.0, False)
    with pytest.raises(td.ParameterError, match="time_budget"):
        check_supported(None, True)
    with pytest.raises(td.ParameterError, match="checkpoint_dir"):
        check_supported(None, False, checkpointed=True)


def test_a_one_process_model_file_records_no_distribution_and_older_files_still_load(fitted, tmp_path):
    synth, _ = fitted
    payload, tensors = modelfile.read_model_file(synth.save(tmp_path / "new.tdm"))
    assert synth.distributed_ is None and payload["distributed"] is None
    del payload["distributed"]  # as written before distributed fits
    loaded = td.Synthesizer.load(modelfile.write_model_file(tmp_path / "old.tdm", payload, tensors))
    assert loaded.distributed_ is None and len(loaded.sample(5, seed=0)) == 5
