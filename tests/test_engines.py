"""The engine registry: engines are found by name, a third-party engine plugs in without the cache or the batch
runner knowing it, and a bad name or a misplaced address is named."""
from __future__ import annotations

import concurrent.futures as futures

import pytest
import torch

import indirect_core as ic
from indirect_core import batch
from indirect_core import engines


class RecordingEngine:
    """An in-process engine that runs every task on its own (as a parallel engine would) and records them."""

    name = "recording"
    parallel = True

    def __init__(self, address=None):
        self.address = address
        RecordingEngine.instances.append(self)
        self.tasks, self.jobs = [], []

    def describe(self):
        return "recording engine"

    def map(self, function, tasks, *, resources=None, retries=0, progress=None):
        for number, task in enumerate(tasks):
            self.tasks.append((function.__name__, resources))
            result = function(*task)
            if progress is not None:
                progress(result)
            yield number, result

    def job_pool(self, n_jobs):
        engine = self

        class Pool(futures.ThreadPoolExecutor):
            def submit(self, function, /, *args, resources=None):
                engine.jobs.append((args[0].kind, resources))
                future = futures.Future()
                future.set_result({"job": args[0].id, "state": "succeeded", "seconds": 0.0})
                return future

        return Pool(max_workers=1)


RecordingEngine.instances = []


@pytest.fixture
def recording():
    engines.register("recording", RecordingEngine)
    RecordingEngine.instances.clear()
    yield RecordingEngine
    engines._FACTORIES.pop("recording", None)


def test_a_registered_engine_computes_the_cache_shard_by_shard_with_the_local_features(recording, tiny_backbone,
                                                                                      small_shapes, tmp_path):
    local = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path / "local", shard_size=16,
                              progress=False)
    plugged = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path / "plugged", shard_size=16,
                                progress=False, executor="recording")
    engine, = recording.instances
    assert [name for name, _ in engine.tasks] == ["_compute_shards"] * 4  # 60 images: one task per shard
    assert engine.tasks[0][1] == {"num_cpus": 1}
    assert torch.equal(plugged.features, local.features) and (plugged.kept == local.kept).all()


def test_the_batch_runner_hands_jobs_and_their_resources_to_the_engine(recording, tmp_path):
    jobs = [batch.Job("d/01_cache", batch.NOTEBOOKS["cache"], {}, threads=2),
            batch.Job("d/02_fit-shape", batch.NOTEBOOKS["fit"], {}, depends_on=("d/01_cache",))]
    results = batch.run_jobs(jobs, tmp_path, executor="recording", log=lambda _: None)
    assert [r.state for r in results] == ["succeeded", "succeeded"]
    assert recording.instances[0].jobs == [("cache", {"num_cpus": 2, "num_gpus": 0}),
                                           ("fit", {"num_cpus": 1, "num_gpus": 0})]


def test_engine_names_are_checked_and_an_address_needs_ray():
    assert engines.available_engines()[:2] == ("local", "ray")
    with pytest.raises(ic.ConfigError, match=r"executor='dask' must be one of \['local', 'ray'"):
        engines.get_engine("dask")
    with pytest.raises(ic.ConfigError, match="only used with executor='ray'"):
        engines.get_engine("local", address="10.0.0.5:6379")
    with pytest.raises(ic.ConfigError, match="non-empty string"):
        engines.register("", RecordingEngine)
