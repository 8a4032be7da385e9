"""Kernel start robustness: IPC sockets in a private folder, retry only when the kernel failed to start."""
from __future__ import annotations

import papermill
import pytest
from nbclient.exceptions import DeadKernelError

from indirect_core.batch import notebook_execution


class FakePapermill:
    """Stands in for papermill.execute_notebook: raises the queued errors in turn, then succeeds."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.configs = []

    def __call__(self, input_path, output_path, **kwargs):
        self.configs.append(kwargs["config"])
        if self.errors:
            raise self.errors.pop(0)


def test_a_kernel_that_dies_at_start_is_retried_with_fresh_sockets(monkeypatch, tmp_path):
    fake = FakePapermill([RuntimeError("Kernel died before replying to kernel_info")])
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    starts = notebook_execution.execute_notebook("in.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
    assert starts == 2
    managers = [config.KernelManager for config in fake.configs]
    assert [m.transport for m in managers] == ["ipc", "ipc"]
    assert managers[0].ip != managers[1].ip


def test_a_kernel_crash_during_a_cell_is_not_retried(monkeypatch, tmp_path):
    fake = FakePapermill([DeadKernelError("Kernel died")])
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    with pytest.raises(DeadKernelError):
        notebook_execution.execute_notebook("in.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
    assert len(fake.configs) == 1


def test_start_failures_give_up_after_the_last_attempt(monkeypatch, tmp_path):
    fake = FakePapermill([RuntimeError("Kernel didn't respond in 60 seconds")] * 5)
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    with pytest.raises(RuntimeError, match="didn't respond"):
        notebook_execution.execute_notebook("in.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path,
                                            start_attempts=3)
    assert len(fake.configs) == 3


def test_socket_folders_are_removed_afterwards(monkeypatch, tmp_path):
    fake = FakePapermill([RuntimeError("Kernel died before replying to kernel_info")])
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    notebook_execution.execute_notebook("in.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
    from pathlib import Path
    assert not any(Path(c.KernelManager.ip).parent.exists() for c in fake.configs)
