"""The Ray engine: cache shards as Ray tasks give the local path's features (also when a worker is SIGKILLed
mid-task), a plan run through Ray on a head + worker node gives the local run's tables, bad input names itself.

One local Ray (2 CPUs) serves this module's cache tests; the plan test starts its own two-node cluster with
``ray start`` and stops it by process group. Ray runs with token authentication off (RAY_AUTH_MODE=disabled):
the test clusters listen only for this machine's own processes and need no credentials.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch
import yaml

import indirect_core as ic
from indirect_core import backbone as bbmod
from indirect_core import batch
from indirect_core import engines

ROOT = Path(__file__).resolve().parents[1]
RAY_BIN = Path(sys.executable).with_name("ray")
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
OBJECT_STORE = 80 * 2**20  # bytes per node: shards travel as file paths, results as small ints


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for this module (torn down after its last test), started apart from any other
    cluster on the machine and with RAY_ADDRESS unset, so nothing outside the tests is touched."""
    saved = {key: os.environ.get(key) for key in (*RAY_ENV, "RAY_ADDRESS")}
    os.environ.update(RAY_ENV)
    os.environ.pop("RAY_ADDRESS", None)
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live under it
    ray.init(address="local", num_cpus=2, object_store_memory=OBJECT_STORE, include_dashboard=False,
             logging_level="warning", _temp_dir=temp)
    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    deadline = time.time() + 20
    while _ray_descendants() and time.time() < deadline:
        time.sleep(0.2)
    assert not _ray_descendants(), "Ray left processes behind"
    shutil.rmtree(temp, ignore_errors=True)


def _processes_with(text: str) -> list[int]:
    """Pids of processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _ray_descendants() -> list[str]:
    """Command lines of this process's descendants that belong to Ray (its services and workers)."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                continue
    found = []
    for pid, command in commands.items():
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, os.getpid()):
            ancestor = parents.get(ancestor)
        if ancestor == os.getpid() and (command.startswith("ray::") or "/site-packages/ray/" in command):
            found.append(command[:120])
    return found


def _features(backbone, data, folder: Path, threads: int | None = None, **options) -> ic.features.cache.ImageFeatures:
    """The local path, optionally at a given torch thread count (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return ic.image_features(backbone, data, cache_dir=folder, progress=False, **options)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_shards_on_ray_equal_the_local_path(local_ray, tiny_backbone, small_shapes, tmp_path):
    options = dict(batch_size=16, shard_size=25)
    local = _features(tiny_backbone, small_shapes, tmp_path / "local", **options)
    on_ray = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path / "ray", progress=False,
                               executor="ray", **options)
    assert (on_ray.features - local.features).abs().max() <= 1e-6
    assert on_ray.kept.tolist() == local.kept.tolist() == list(range(60)) and on_ray.skipped == {}
    assert [p.name for p in sorted(on_ray.location.glob("shard-*.pt"))] == \
        [p.name for p in sorted(local.location.glob("shard-*.pt"))]
    # a shard task computes on THREADS_PER_SHARD (1) thread: at the same thread count the bits are equal
    one_thread = _features(tiny_backbone, small_shapes, tmp_path / "local1", threads=1, **options)
    assert torch.equal(on_ray.features, one_thread.features)
    # resuming on Ray reads the finished shards; the local path reads Ray's shards as its own
    stamps = {p.name: p.stat().st_mtime_ns for p in on_ray.location.glob("shard-*.pt")}
    again = ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path / "ray", progress=False,
                              executor="ray", **options)
    assert {p.name: p.stat().st_mtime_ns for p in again.location.glob("shard-*.pt")} == stamps
    assert torch.equal(_features(tiny_backbone, small_shapes, tmp_path / "ray", **options).features, on_ray.features)


@pytest.mark.slow
def test_unreadable_image_on_ray_is_the_local_error_and_record(local_ray, tiny_backbone, tmp_path):
    data = ic.load_dataset("synthetic-shapes", root=tmp_path / "shapes", n_images=12, image_size=64, seed=5,
                           progress=False)
    data.image_paths[4].write_bytes(b"\x89PNG truncated")
    with pytest.raises(ic.DatasetError, match=r"000004\.png.*on_error='skip'"):
        ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c", shard_size=5, progress=False,
                          executor="ray")
    skipped = ic.image_features(tiny_backbone, data, cache_dir=tmp_path / "c", shard_size=5, on_error="skip",
                                progress=False, executor="ray")
    local = _features(tiny_backbone, data, tmp_path / "local", threads=1, shard_size=5, on_error="skip")
    assert skipped.skipped == local.skipped == {"images/000004.png": local.skipped["images/000004.png"]}
    assert skipped.kept.tolist() == local.kept.tolist() and torch.equal(skipped.features, local.features)


@pytest.mark.slow
def test_sigkilled_worker_is_retried_and_features_are_identical(local_ray, tiny_backbone, small_shapes, cache_dir,
                                                                 tmp_path):
    # Weights the workers have not loaded yet: each one's first shard task spends a second loading them, a
    # window in which the kill lands mid-task.
    other = ic.load_backbone(str(bbmod.random_clip_checkpoint("random-tiny", cache_dir / "kill", seed=2)))
    options = dict(batch_size=4, shard_size=4)
    outcome: dict = {}

    def cache() -> None:
        try:
            outcome["result"] = ic.image_features(other, small_shapes, cache_dir=tmp_path / "killed",
                                                  progress=False, executor="ray", **options)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error

    runner = threading.Thread(target=cache)
    runner.start()
    victim, deadline = None, time.time() + 120
    while victim is None and runner.is_alive() and time.time() < deadline:
        victim = next(iter(_processes_with("ray::_compute_shards")), None)
        time.sleep(0.01)
    assert victim is not None, "no shard task was seen running"
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=300)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert not Path(f"/proc/{victim}").exists()  # the worker really died; Ray re-ran its shard elsewhere
    assert len(list(result.location.glob("shard-*.pt"))) == 15
    expected = _features(other, small_shapes, tmp_path / "local", threads=1, **options)
    assert torch.equal(result.features, expected.features)
    assert (result.features - _features(other, small_shapes, tmp_path / "local2", **options).features
            ).abs().max() <= 1e-6


def _die(job: batch.Job, *args) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


@pytest.mark.slow
def test_a_job_whose_worker_dies_fails_alone(local_ray, tmp_path, monkeypatch):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    job = batch.Job("demo/03_evaluate", batch.NOTEBOOKS["evaluate"], {"device": "cpu"})
    with engines.get_engine("ray").job_pool(1) as pool:
        future = pool.submit(_die, job, resources=batch.job_resources(job))
        with pytest.raises(ray.exceptions.RayError):  # lost after the job's retry
            future.result(timeout=120)
    monkeypatch.setattr(batch.runner, "execute_job", _die)  # the runner's view: that job failed, the next one ran
    other = batch.Job("demo/02_fit-shape", batch.NOTEBOOKS["fit"], {"device": "cpu"})
    lines: list[str] = []
    results = batch.run_jobs([job, other], tmp_path, executor="ray", log=lines.append)
    assert [r.state for r in results] == ["failed", "failed"]
    assert "worker lost or never started" in results[0].error["evalue"]
    assert sum(line.startswith("[failed]") for line in lines) == 2


def test_resources_per_job_kind(tmp_path):
    plan = batch.load_plan(_smoke_plan(tmp_path))
    by_kind = {job.id.rsplit("/", 1)[1].split("-")[0]: batch.job_resources(job)
               for job in batch.plan_jobs({**plan, "device": "cuda"}, tmp_path)}
    assert by_kind == {"01_cache": {"num_cpus": 1, "num_gpus": 1}, "02_fit": {"num_cpus": 1, "num_gpus": 0.25},
                       "03_evaluate": {"num_cpus": 1, "num_gpus": 0.25},
                       "04_attribution": {"num_cpus": 1, "num_gpus": 1}}
    jobs = batch.plan_jobs({**plan, "executor": "ray", "evaluation": {"n_jobs": 3}}, tmp_path)
    assert jobs[0].parameters["executor"] == "ray" and batch.job_resources(jobs[0]) == {"num_cpus": 0}
    assert batch.job_resources(jobs[-2]) == {"num_cpus": 3, "num_gpus": 0}
    assert "executor" not in batch.plan_jobs(plan, tmp_path)[0].parameters  # local plans keep their hashes
    training = batch.Job("x/06_train-lincir", batch.NOTEBOOKS["train_mapper"], {"device": "cuda"})
    assert batch.job_resources(training) == {"num_cpus": 1, "num_gpus": 1}


def test_threads_are_pinned_per_job_kind_and_decide_the_job_hash(tmp_path):
    plan = batch.load_plan(_smoke_plan(tmp_path, threads={"attribution": 3}))
    jobs = {job.kind: job for job in batch.plan_jobs(plan, tmp_path)}
    assert {kind: job.threads for kind, job in jobs.items()} == {"cache": 1, "fit": 1, "evaluate": 1,
                                                                "attribution": 3}
    assert batch.job_resources(jobs["attribution"]) == {"num_cpus": 3, "num_gpus": 0}
    again = batch.plan_jobs(batch.load_plan(_smoke_plan(tmp_path, threads=2)), tmp_path)
    assert {job.threads for job in again} == {2}
    assert again[0].params_hash != jobs["cache"].params_hash  # another thread count is another result
    for bad in ({"training": 2}, 0, "two"):
        with pytest.raises(ic.ConfigError, match="threads"):
            batch.load_plan(_smoke_plan(tmp_path, threads=bad))


SMOKE_OUTPUTS = ("*/*/03_evaluate/summary.csv", "*/*/03_evaluate/results.md", "*/*/04_attribution/mask_share.csv",
                 "*/*/02_fit-*/projection.pt", "*/*/06_train-*/mapper.pt", "*/*/06_train-*/loss_curve.csv",
                 "*/*/05_composed/results.csv")
"""What the smoke plan computes: result tables, projections, trained mappers and their losses."""


@pytest.mark.slow
def test_the_smoke_plan_on_ray_gives_the_local_bytes(local_ray, smoke_run, monkeypatch):
    """Ray gives each task its own thread count; the batch pins the kernels' in both engines, so the whole smoke
    plan (fits, attribution, mapper training, composed retrieval) is byte-identical to the local run."""
    local_dir, base, _ = smoke_run
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what this driver's environment says must not matter
    ray_dir = batch.run_plan(base / "smoke.yaml", run_dir=base / "runs" / "smoke-on-ray", n_jobs=2,
                             data_dir=base / "data", figures_dir=None, log=lambda _: None, executor="ray")
    outputs = sorted(path.relative_to(local_dir) for pattern in SMOKE_OUTPUTS for path in local_dir.glob(pattern))
    assert len(outputs) == 11
    for relative in outputs:
        assert (ray_dir / relative).read_bytes() == (local_dir / relative).read_bytes(), relative
    kernels = [json.loads(path.read_text())["threads"] for path in ray_dir.rglob("provenance.json")]
    assert kernels and all(k["torch"] == 1 and k["OMP_NUM_THREADS"] == "1" for k in kernels)


def test_bad_engine_choices_name_the_fix(tiny_backbone, small_shapes, tmp_path, monkeypatch):
    with pytest.raises(ic.ConfigError, match=r"executor='dask' must be one of \['local', 'ray'\]"):
        ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, executor="dask", progress=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"datasets": {"synthetic-shapes": {}}, "executor": "spark"}))
    with pytest.raises(ic.ConfigError, match="executor='spark'"):
        batch.load_plan(bad)
    with pytest.raises(ic.ConfigError, match="only used with executor='ray'"):
        engines.get_engine("local", "10.0.0.5:6379")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ic.ConfigError, match=r"pip install -e \.\[scale\]"):
        ic.image_features(tiny_backbone, small_shapes, cache_dir=tmp_path, executor="ray", progress=False)


def _smoke_plan(folder: Path, name: str = "smoke", **changes) -> Path:
    """plans/smoke.yaml's InDiReCT part (without the composed-retrieval plans it includes), with changes."""
    plan = yaml.safe_load((ROOT / "plans" / "smoke.yaml").read_text())
    plan.pop("include", None)
    plan.update(name=name, **changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def _tiny_plan(folder: Path, **changes) -> Path:
    """The smoke plan shrunk: one notion, no attribution (cache, fit, evaluate)."""
    datasets = yaml.safe_load((ROOT / "plans" / "smoke.yaml").read_text())["datasets"]
    datasets["synthetic-shapes"]["notions"] = ["object colour"]
    return _smoke_plan(folder, "tiny", datasets=datasets, attribution={}, **changes)


class _Cluster:
    """A head and a worker node on this machine, each ``ray start --block`` in its own process group."""

    def __init__(self, temp: str, env: dict) -> None:
        self.temp, self.env, self.groups = temp, env, []
        common = ["--block", "--num-cpus=1", f"--object-store-memory={OBJECT_STORE}", "--disable-usage-stats"]
        self._start(["start", "--head", "--port=0", f"--temp-dir={temp}", "--include-dashboard=false", *common],
                    "head")
        self.address = self._wait(lambda: (Path(temp) / "ray_current_cluster").read_text().strip(), "head")
        self._start(["start", f"--address={self.address}", *common], "worker")
        self._wait(lambda: "Ray runtime started" in (Path(temp) / "worker.log").read_text(), "worker")

    def _start(self, arguments: list[str], name: str) -> None:
        with open(Path(self.temp) / f"{name}.log", "w") as log:
            process = subprocess.Popen([str(RAY_BIN), *arguments], env=self.env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.groups.append(process)

    def _wait(self, probe, name: str, seconds: float = 120):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                value = probe()
                if value:
                    return value
            except OSError:
                pass
            assert all(p.poll() is None for p in self.groups), (Path(self.temp) / f"{name}.log").read_text()
            time.sleep(0.2)
        raise AssertionError(f"ray {name} node did not start: {(Path(self.temp) / f'{name}.log').read_text()}")

    def stop(self) -> None:
        """SIGTERM both nodes' process groups (``ray start --block`` stops what it started), SIGKILL leftovers."""
        for signal_number in (signal.SIGTERM, signal.SIGKILL):
            for process in self.groups:
                try:
                    os.killpg(process.pid, signal_number)
                except ProcessLookupError:
                    pass
            for process in self.groups:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass


@pytest.mark.slow
def test_plan_on_a_two_node_cluster_gives_the_local_tables(tmp_path, monkeypatch):
    env = {**os.environ, **RAY_ENV, "OMP_NUM_THREADS": "1",  # Ray gives each 1-CPU task one thread
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # a test cluster stops at once, not after 30 s
    env.pop("RAY_ADDRESS", None)
    # The local run (its kernels on one thread too) goes on in a thread while the cluster starts and works.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local = threading.Thread(target=batch.run_plan, args=(_tiny_plan(local_dir),), kwargs=dict(
        run_dir=local_dir / "runs" / "tiny", n_jobs=2, data_dir=local_dir / "data", figures_dir=None,
        log=lambda _: None))
    local.start()
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    cluster = None
    try:
        cluster = _Cluster(temp, env)
        command = [sys.executable, "-m", "indirect_core", "report", str(_tiny_plan(ray_dir, executor="ray")),
                   "--executor", "ray", "--address", cluster.address, "--jobs", "2", "--runs-dir",
                   str(ray_dir / "runs"), "--data-dir", str(ray_dir / "data"), "--figures-dir", str(ray_dir / "f")]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=500)
    finally:
        local.join(timeout=500)
        if cluster is not None:
            cluster.stop()
        leftovers = _processes_with(temp)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not leftovers, "the cluster's processes outlived their ray start"
    lines = done.stdout.splitlines()
    assert "engine: Ray cluster: 2 node(s), 2 CPU(s), 0 GPU(s)" in lines
    assert sum(line.startswith("[start]") for line in lines) == 3
    assert any(line.startswith("[succeeded]") and "[3/3 done" in line for line in lines)
    local_job = local_dir / "runs" / "tiny" / "synthetic-shapes" / "random-tiny"
    ray_job = ray_dir / "runs" / "tiny" / "synthetic-shapes" / "random-tiny"
    pd.testing.assert_frame_equal(pd.read_csv(ray_job / "03_evaluate" / "summary.csv"),
                                  pd.read_csv(local_job / "03_evaluate" / "summary.csv"), check_exact=True)
    rows = [[line for line in (job / "03_evaluate" / "results.md").read_text().splitlines() if "±" in line]
            for job in (local_job, ray_job)]
    assert rows[0] and rows[0] == rows[1]
    statuses = [json.loads(p.read_text()) for p in ray_job.rglob("status.json")]
    assert sorted(s["state"] for s in statuses) == ["succeeded"] * 3
    assert (ray_dir / "runs" / "tiny" / "index.html").is_file()
    cached = [json.loads((job / "01_cache" / "provenance.json").read_text())["settings"]["cache"]
              for job in (local_job, ray_job)]
    assert cached[0]["n_features"] == cached[1]["n_features"] == 60
    shards = [sorted(Path(c["location"]).glob("shard-*.pt")) for c in cached]
    assert [p.name[:11] for p in shards[0]] == [p.name[:11] for p in shards[1]]  # keys follow file mtimes
    for mine, theirs in zip(*shards):
        assert torch.equal(torch.load(mine)["features"], torch.load(theirs)["features"])


@pytest.mark.slow
def test_unreachable_cluster_fails_at_once_naming_the_address(tmp_path):
    env = {**os.environ, **RAY_ENV}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", "indirect_core", "report", str(_tiny_plan(tmp_path)), "--executor",
                           "ray", "--address", "127.0.0.1:9", "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "cannot reach the Ray cluster at address='127.0.0.1:9'" in done.stderr
    assert not (tmp_path / "runs").exists()  # nothing was written
