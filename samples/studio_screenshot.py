"""The README's studio screenshot: the sample clip in the studio, its first mask imported,
propagated forward, seen on frame 40 (headless Chromium through Selenium).

    python samples/studio_screenshot.py            # writes docs/studio.png
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from selenium import webdriver

from aotvideo.studio import StudioServer, StudioSession

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(HERE.parent / "docs" / "studio.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        session = StudioSession(HERE / "sample.mp4", Path(folder) / "sample.studio")
        session.import_mask(0, HERE / "sample_mask.png")
        for object_id, name in zip((1, 2, 3), ("disc", "square", "triangle")):
            session.rename_object(object_id, name)
        session.propagate(0, "forward")
        session.wait()
        server = StudioServer(session)
        server.start()
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--window-size=1100,720"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(server.url)
            while driver.execute_script("return document.body.dataset.ready") != "1":
                time.sleep(0.1)
            field = driver.find_element("id", "frame-number")
            driver.execute_script("arguments[0].value = 40; arguments[0].dispatchEvent(new Event('change'))", field)
            while driver.execute_script("return document.body.dataset.frame") != "40":
                time.sleep(0.1)
            driver.save_screenshot(args.output)
        finally:
            driver.quit()
            server.stop()
            session.close()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
