"""The explorer (notebooks/07_explore.ipynb): served by Voila on a free local port and driven in headless
Chromium (typing a query fills the grids with exactly the ranking ``Space.search`` gives; picking an indexed
image brings it back first), the widget app in-process (upload, choice of spaces, errors), the static page
and the UMAP map."""
from __future__ import annotations

import datetime
import io
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import indirect_core as ic
from indirect_core.apps import explorer, explorer_map
from indirect_core.report import plots
from indirect_core.data.example_collection import write_example_collection

K = 4


@pytest.fixture(scope="module")
def spaces(tmp_path_factory, tiny_backbone, cache_dir):
    """CLIP and a colour space over a 12-image collection, saved: (folder of the saved spaces, {name: Space})."""
    base = tmp_path_factory.mktemp("explore")
    photos = write_example_collection(base / "photos", n_images=12, image_size=32, seed=1)
    data = ic.data.datasets.load_image_csv(photos / "labels.csv", name="photos")
    built = {"CLIP": ic.Space.clip(tiny_backbone, cache_dir=cache_dir).add_images(data, progress=False),
             "colour": ic.Space.from_prompts(tiny_backbone, template="a {} shape", name="colour",
                                             words=["red", "green", "blue", "yellow", "white", "black"],
                                             n_components=8, cache_dir=cache_dir).add_images(data, progress=False)}
    for name, space in built.items():
        space.save(base / "spaces" / name)
    return base, built


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _paths_in(driver, space: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [img.get_attribute("data-path") for img in
            driver.find_elements(By.CSS_SELECTOR, f".indirect-grid[data-space='{space}'] img.indirect-hit")]


@pytest.mark.slow
def test_voila_page_answers_typed_and_picked_queries(spaces, cache_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from indirect_core.report.page_check import start_browser

    base, built = spaces
    notebook = explorer.prepare_notebook(tmp_path / "served", spaces=[base / "spaces" / n for n in built],
                                         backbone="random-tiny", cache_dir=cache_dir, k=K)  # query "auto": none
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "INDIRECT_PROGRESS": "off"}
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(explorer.voila_command(notebook, port), cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    driver = start_browser(height=1600, profile=tmp_path / "profile")
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "voila.log").read_text()
                time.sleep(0.2)
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 50, ignored_exceptions=(StaleElementReferenceException,))  # grids re-render
        box = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".indirect-query-text input"))[0]
        assert len(driver.find_elements(By.CSS_SELECTOR, ".indirect-caveat")) == 1  # random-tiny, said once
        assert driver.find_elements(By.CSS_SELECTOR, "img.indirect-hit") == []  # your own spaces: no query yet
        assert box.get_attribute("value") == "" and "Static copy" not in driver.find_element(By.TAG_NAME, "body").text
        box.send_keys("a red shape" + Keys.ENTER)
        wait.until(lambda d: "a red shape" in d.find_element(By.CSS_SELECTOR, ".indirect-explorer").text
                   and len(d.find_elements(By.CSS_SELECTOR, "img.indirect-hit")) == K * len(built))
        sources = [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "img.indirect-hit")]
        assert all(s.startswith("data:image/png;base64,") and len(s) > 200 for s in sources)
        for name, space in built.items():
            assert _paths_in(driver, name) == space.search(text="a red shape", k=K)["path"].tolist()
            captions = [c.text for c in driver.find_elements(
                By.CSS_SELECTOR, f".indirect-grid[data-space='{name}'] figcaption")]
            assert [c.split("\n")[-1] for c in captions] == [Path(p).name for p in _paths_in(driver, name)]
            assert [c.split(" · ")[0] for c in captions] == [f"#{r}" for r in range(1, K + 1)]
        grid = driver.find_element(By.CSS_SELECTOR, ".indirect-grid")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
        driver.save_screenshot(str(tmp_path / "explorer.png"))
        with Image.open(tmp_path / "explorer.png") as shot:
            assert shot.size[0] == 1200 and len(np.unique(np.asarray(shot.convert("L")))) > 50

        paths = built["CLIP"].paths
        target = paths[5]
        Select(driver.find_element(By.CSS_SELECTOR, ".widget-dropdown select")).select_by_visible_text(
            os.path.relpath(target, os.path.commonpath(paths)))
        wait.until(lambda d: Path(target).name in d.find_element(By.CSS_SELECTOR, ".indirect-explorer").text
                   and all(_paths_in(d, n)[:1] == [target] for n in built))
        assert [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "img.indirect-hit")] \
            != sources

        # the keep / change controls: CLIP keeps the picked image, the colour space changes to a text
        from indirect_core.apps.composed_search import search_composed

        Select(driver.find_element(By.CSS_SELECTOR, ".indirect-role-clip select")).select_by_visible_text("keep")
        Select(driver.find_element(By.CSS_SELECTOR, ".indirect-role-colour select")).select_by_visible_text("change")
        driver.find_element(By.CSS_SELECTOR, ".indirect-change-colour input").send_keys("a red shape")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".indirect-change-colour input").get_attribute("value")
                   == "a red shape")
        driver.find_element(By.CSS_SELECTOR, ".indirect-compose").click()
        expected = search_composed(built, image=target, keep=["CLIP"], change={"colour": "a red shape"}, k=K)
        slow = WebDriverWait(driver, 150, ignored_exceptions=(StaleElementReferenceException,))  # a loaded machine
        slow.until(lambda d: _paths_in(d, "composed") == expected["path"].tolist())
        assert "composed query: keep CLIP of image" in driver.find_element(By.CSS_SELECTOR, ".indirect-explorer").text

        broken = tmp_path / "broken.png"
        broken.write_bytes(b"this is not a picture")
        # ipywidgets 8 keeps the upload's file input out of the page: catch it when the button clicks it, put it
        # in the page, and give it the file as a user's file dialog would.
        driver.execute_script("""
            const click = HTMLInputElement.prototype.click;
            HTMLInputElement.prototype.click = function () {
                if (this.type !== 'file') { return click.call(this); }
                this.id = 'upload-under-test'; document.body.appendChild(this); };""")
        driver.find_element(By.XPATH, "//button[contains(., 'Upload')]").click()
        driver.find_element(By.ID, "upload-under-test").send_keys(str(broken))
        wait.until(lambda d: "cannot be read" in d.find_element(By.CSS_SELECTOR, ".indirect-explorer").text)
        assert driver.find_elements(By.CSS_SELECTOR, "img.indirect-hit") == []  # the old grids went too

        status = driver.find_element(By.CSS_SELECTOR, ".indirect-map-status")
        WebDriverWait(driver, 400).until(lambda d: "map ready (UMAP prepared in" in status.text)
        driver.find_element(By.XPATH, "//button[contains(., 'Draw map')]").click()
        WebDriverWait(driver, 120).until(lambda d: "drawn in" in status.text)
        drawn = driver.find_element(By.CSS_SELECTOR, ".indirect-map img, img.indirect-map")
        assert drawn.is_displayed() and drawn.size["width"] > 300
    finally:
        driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_app_answers_text_images_uploads_and_shows_errors(spaces, tmp_path):
    _, built = spaces
    app = explorer.Explorer(built, k=3, prepare=False)
    assert app.refresh() == {} and app.grids.value == ""
    results = app.search(text="a green shape")
    for name, space in built.items():
        assert results[name]["path"].tolist() == space.search(text="a green shape", k=3)["path"].tolist()
        assert app.grids.value.count(f"data-space='{name}'") == 1
    assert app.grids.value.count("class='indirect-hit'") == 6
    app.choices["CLIP"].value = False  # untick a space: its grid goes
    assert list(app.results) == ["colour"] and "data-space='CLIP'" not in app.grids.value
    app.k.value = 5
    assert len(app.results["colour"]) == 5
    original = built["colour"].paths[2]
    content = Path(original).read_bytes()
    app.upload.value = ({"name": "query.png", "type": "image/png", "size": len(content),
                         "content": memoryview(content), "last_modified": datetime.datetime.now()},)
    hits = app.results["colour"]
    assert hits.loc[0, "path"] == original and hits.loc[0, "score"] >= 0.99  # same pixels as an indexed image
    (tmp_path / "broken.png").write_bytes(b"no image here")
    assert app.search(image=tmp_path / "broken.png") == {}
    assert "cannot be read" in app.status.value and "broken.png" in app.status.value
    assert app.grids.value == "" and app.results == {}  # no grids of the earlier query under the error


def test_the_app_prepares_the_map_while_the_page_loads_and_says_so(spaces):
    _, built = spaces
    app = explorer.Explorer(built, k=3)
    assert app._prepared is explorer_map.prepare_map()  # one compilation per process
    app._prepared.thread.join()
    app._progress.join()
    assert app._prepared.error is None and app._prepared.seconds > 0
    assert f"map ready (UMAP prepared in {app._prepared.seconds:.1f} s)" in app.map_status.value
    png = app.draw_map()
    assert png.startswith(b"\x89PNG") and app.map_image.value == png and app.map_image.layout.display == ""
    assert "map of colour drawn in" in app.map_status.value


def test_first_query_is_the_example_query_only_on_the_example_collection():
    assert explorer.first_query("auto", example=True) == explorer.EXAMPLE_QUERY
    assert explorer.first_query("auto", example=False) is None
    assert explorer.first_query("a cat", example=False) == "a cat" and explorer.first_query(None, True) is None


def test_static_page_has_the_grids_and_one_banner(spaces):
    _, built = spaces
    results = ic.apps.space.search_spaces(built, text="a blue shape", k=K)
    page = explorer.static_page(results, built, "Query: a blue shape", map_png=b"\x89PNG fake")
    assert page.count("class='indirect-caveat'") == 1
    assert page.count("class='indirect-hit'") == K * len(built)
    for name in built:
        for path in results[name]["path"]:
            assert f"data-path='{path}'" in page and f"<span class='indirect-name'>{Path(path).name}</span>" in page
    assert "data:image/png;base64,iVBORyBmYWtl" in page  # the map, embedded


def test_map_is_seeded_and_coloured_by_the_matching_label(spaces, tiny_backbone):
    _, built = spaces
    space = built["colour"]
    first, second = explorer_map.space_map(space, seed=3), explorer_map.space_map(space, seed=3)
    assert first.shape == (12, 2) and np.isfinite(first).all() and np.array_equal(first, second)
    assert explorer_map.default_label_column(built["colour"]) == "shape"  # no "colour" column: the first one
    figure = plots.plot_space_map(first, space.labels["object_colour"].tolist(), label_name="object colour")
    legend = figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == sorted(set(space.labels["object_colour"]))
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == 12
    with pytest.raises(ic.ConfigError, match="label_column='size' is not a label"):
        explorer_map.draw_map(space, "size")
    small = ic.Space.clip(tiny_backbone)
    with pytest.raises(ic.ConfigError, match="a map needs at least 4 images"):
        explorer_map.space_map(small)
    buffer = io.BytesIO(explorer.figure_png(figure))
    assert Image.open(buffer).size[0] > 300


def test_keep_and_change_controls_run_a_composed_search(spaces):
    from indirect_core.apps.composed_search import search_composed

    _, built = spaces
    app = explorer.Explorer(built, k=3, prepare=False)
    assert app.compose() == {} and "choose keep or change for at least one space" in app.status.value
    reference = built["CLIP"].paths[2]
    app.roles["CLIP"].value = "keep"
    app.roles["colour"].value = "change"
    app.changes["colour"].value = "a red shape"
    assert app.compose() == {} and "give image=" in app.status.value     # no image query yet: said, no grids
    assert app.grids.value == ""
    app.search(image=reference)
    results = app.compose()
    expected = search_composed(built, image=reference, keep=["CLIP"], change={"colour": "a red shape"}, k=3)
    assert list(results) == ["composed"] and results["composed"].equals(expected)
    assert app.grids.value.count("class='indirect-hit'") == 3 and "data-space='composed'" in app.grids.value
    assert "keep CLIP of image" in app.status.value and "colour → &#x27;a red shape&#x27;" in app.status.value
    assert app.compose(keep=[], change={"colour": "a blue shape"})["composed"]["path"].tolist() == \
        built["colour"].search(text="a blue shape", k=3)["path"].tolist()
