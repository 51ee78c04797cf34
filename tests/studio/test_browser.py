"""The studio in a real browser (Debian's Chromium, headless, through chromedriver and Selenium),
with the real tracker and the packaged model: mark an object with a box, propagate, fix a frame
with the brush, propagate again through it and check the fix held, propagate backward, export
an alpha video and read it back."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from aotvideo.io.reader import VideoReader

from tests.conftest import _skip_unless_ci
from tests.studio.conftest import FRAMES, iou

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def driver(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _skip_unless_ci("Chromium and chromedriver are not installed (apt install chromium "
                        "chromium-driver); the studio's browser test needs them",
                        ".ci/run installs them")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    request.node.studio_driver = browser
    yield browser
    browser.quit()


def wait_for(condition, what: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def body(driver, key: str) -> str:  # type: ignore[no-untyped-def]
    return driver.execute_script(f"return document.body.dataset.{key} || ''")


def drag_on_picture(driver, start: tuple[float, float], end: tuple[float, float], size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Press at ``start`` and release at ``end``, both in video pixels."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "picture")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", canvas)
    width, height = size

    def offset(point: tuple[float, float]) -> tuple[int, int]:
        return (round(point[0] * rect["width"] / width - rect["width"] / 2),
                round(point[1] * rect["height"] / height - rect["height"] / 2))

    actions = ActionChains(driver)
    actions.move_to_element_with_offset(canvas, *offset(start)).click_and_hold()
    for step in range(1, 6):
        point = (start[0] + (end[0] - start[0]) * step / 5, start[1] + (end[1] - start[1]) * step / 5)
        actions.move_to_element_with_offset(canvas, *offset(point))
    actions.release().perform()


def go_to(driver, index: int) -> None:  # type: ignore[no-untyped-def]
    field = driver.find_element("id", "frame-number")
    driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
                          field, index)
    wait_for(lambda: body(driver, "frame") == str(index), f"frame {index} on screen")


def run_job(driver, button: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("document.body.dataset.job = ''")  # the last job's end is not this one's
    driver.find_element("id", button).click()
    wait_for(lambda: body(driver, "job") == f"{kind}:done", f"the {kind} to finish", 300)


def test_box_propagate_fix_backward_export(driver, server, session, clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    height, width = truth.shape[1:]
    driver.get(server.url)
    wait_for(lambda: body(driver, "ready") == "1", "the page")
    assert "aotvideo studio" in driver.title

    driver.find_element("id", "add-object").click()
    wait_for(lambda: session.workspace.objects, "the new object")
    ys, xs = np.nonzero(truth[0] == 1)
    margin = 4
    drag_on_picture(driver, (xs.min() - margin, ys.min() - margin), (xs.max() + margin, ys.max() + margin),
                    (width, height))
    wait_for(lambda: 0 in session.workspace.keyframes, "the box's mask on frame 0")
    assert iou(session.labels(0) == 1, truth[0] == 1) > 0.6

    run_job(driver, "propagate-forward", "propagate")
    tracked = [iou(session.labels(i) == 1, truth[i] == 1) for i in range(1, FRAMES)]
    assert min(tracked) > 0.5, tracked

    # fix frame 12: paint a stroke of object 1 in the top-left corner, where it is not
    go_to(driver, 12)
    driver.find_element("css selector", "#tools [data-tool=brush]").click()
    drag_on_picture(driver, (8, 8), (40, 8), (width, height))
    wait_for(lambda: 12 in session.workspace.keyframes, "the correction saved as a keyframe")
    fixed = session.labels(12).copy()
    assert fixed[8, 20] == 1

    # propagate again from frame 0 through the keyframe: the correction holds
    go_to(driver, 0)
    driver.find_element("id", "stop-at-keyframe").click()  # off: go through keyframes
    run_job(driver, "propagate-forward", "propagate")
    assert np.array_equal(session.labels(12), fixed)

    # backward from the last frame, stopping at the keyframe 12
    driver.find_element("id", "stop-at-keyframe").click()  # on again
    go_to(driver, FRAMES - 1)
    run_job(driver, "propagate-backward", "propagate")
    assert session.wait().done == FRAMES - 1 - 12 - 1
    assert np.array_equal(session.labels(12), fixed)

    # export an alpha video and read it back
    select = driver.find_element("id", "export-mode")
    driver.execute_script("arguments[0].value = 'alpha'", select)
    run_job(driver, "export", "export")
    output = Path(session.wait().output)
    with VideoReader(output) as reader:
        assert reader.info.pix_fmt.startswith(("yuva", "rgba", "argb", "gbrap"))
        assert sum(1 for _ in reader.frames()) == FRAMES
    link = driver.find_element("css selector", "#export-result a")
    assert link.get_attribute("href").endswith(output.name)


def test_bad_input_is_a_message_on_the_page(driver, server, session) -> None:  # type: ignore[no-untyped-def]
    driver.get(server.url)
    wait_for(lambda: body(driver, "ready") == "1", "the page")
    driver.find_element("id", "propagate-forward").click()  # no object marked yet
    message = driver.find_element("id", "message")
    wait_for(message.is_displayed, "the message")
    assert "no mask to propagate" in message.text
    assert "Traceback" not in driver.page_source
