"""Execute one notebook with papermill robustly when several kernels start at the same time.

Jupyter kernels talk over TCP ports that the client picks, releases and hands to the kernel; two kernels
started at once can race for the same port and one dies before its first reply ("Kernel died before
replying to kernel_info"). Kernels here use IPC sockets in a private folder instead, so there are no ports
to race for, and a kernel that still fails to *start* is retried: no cell ran, so a retry is safe.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")


def is_kernel_start_failure(error: BaseException) -> bool:
    """True for errors raised when a kernel failed to start, before any cell executed."""
    return isinstance(error, RuntimeError) and any(text in str(error) for text in KERNEL_START_FAILURES)


def ipc_kernel_config(socket_dir: str | Path) -> Any:
    """Traitlets config making the kernel manager use IPC sockets named inside ``socket_dir``."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(socket_dir) / "kernel")}})


def execute_notebook(input_path: str | Path, output_path: str | Path, parameters: dict[str, Any],
                     cwd: str | Path, start_attempts: int = 3) -> int:
    """Run ``input_path`` with papermill into ``output_path``; return how many kernel starts it took.

    Execution errors (``PapermillExecutionError``) propagate at once; kernel start failures are retried up
    to ``start_attempts`` times in total, each with a fresh kernel.
    """
    import papermill

    logging.getLogger("papermill").addFilter(_known_parameters)
    for attempt in range(1, start_attempts + 1):
        # A short private folder: Unix socket paths are limited to about 100 characters.
        socket_dir = tempfile.mkdtemp(prefix="ick-")
        try:
            papermill.execute_notebook(str(input_path), str(output_path), parameters=parameters, cwd=str(cwd),
                                       progress_bar=False, kernel_name="python3",
                                       request_save_on_cell_execute=True, config=ipc_kernel_config(socket_dir))
            return attempt
        except RuntimeError as error:
            if attempt == start_attempts or not is_kernel_start_failure(error):
                raise
        finally:
            shutil.rmtree(socket_dir, ignore_errors=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _known_parameters(record: logging.LogRecord) -> bool:
    """Drop papermill's "Passed unknown parameter" warning: the notebooks' parameters cells assign nothing (their
    parameters are declared in ``batch.parameters``), and their check cell refuses a name they do not take."""
    return not str(record.msg).startswith("Passed unknown parameter")


SHOWN_INPUT_TAGS = ("parameters", "injected-parameters")
"""Code cells whose source the HTML page shows (the rest show only their outputs)."""

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

PAGE_STYLE = """<style>
/* long lines (a parameter holding paths, a printed path) wrap at the page's edge instead of being cut off */
.jp-InputArea-editor pre, .jp-OutputArea-output pre {white-space: pre-wrap; overflow-wrap: anywhere;}
</style>"""


def render_html(notebook_path: str | Path, html_path: str | Path | None = None) -> Path:
    """A self-contained HTML page of an executed notebook, for readers without Jupyter.

    Narrative, outputs and figures (inlined as data URIs) are kept; code cells show their outputs only,
    except the parameter cells; widget outputs fall back to their static text; nothing is loaded from the
    internet (nbconvert's CDN scripts are left out); long code and output lines wrap. Written atomically next to
    the notebook by default.
    """
    import re

    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    from .._util.atomic import write_text_atomic

    notebook_path = Path(notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    injected = any("injected-parameters" in c.metadata.get("tags", []) for c in notebook.cells)
    shown = {"injected-parameters"} if injected else set(SHOWN_INPUT_TAGS)  # the values the notebook ran with
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = set(cell.metadata.get("tags", []))
        if not tags & shown:
            cell.metadata["tags"] = sorted(tags | {"hide-input"})
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_MIME, None)
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"hide-input"}, enabled=True),
                                   enabled=True)
    body, _ = exporter.from_notebook_node(notebook)
    body = re.sub(r"<script[^>]*\bsrc=['\"]https?://[^>]*>\s*</script>", "", body)
    body = re.sub(r"<script[^>]*>(?:(?!</script>).)*https?://(?:(?!</script>).)*</script>", "", body, flags=re.S)
    body = body.replace("</head>", PAGE_STYLE + "\n</head>", 1)
    target = Path(html_path) if html_path is not None else notebook_path.with_suffix(".html")
    return write_text_atomic(target, body)
