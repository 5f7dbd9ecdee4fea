"""Drives Weir's web UI in headless Chromium (as tests/web_ui.py does): the Flame Graph panel of
a job's operator.

On the job's page, a click on the operator shows its Flame Graph panel; "Sample for 2 s" draws
the guest's sampled stacks as nested bars, from "root" down. Sampling again when a sampling
caught nothing (the guest may rest between records).

Prints one JSON line with the frames it saw (name and samples). Exits non-zero, with the
page's text and a screenshot, when a step fails.
"""

import argparse
import json

from web_ui import browser_arguments, drive, log

FRAMES = "return [...document.querySelectorAll('#flame-graph .flame-frame')].map(e => [e.dataset.name, Number(e.dataset.value)]);"


def sampled(page):
    """Samples until the panel draws frames below the root."""
    if page.js("return document.querySelector('#flame-sample').disabled;"):
        return False
    frames = page.js(FRAMES)
    if len(frames) >= 2:
        return frames
    page.click("#flame-sample")
    return False


def run(args):
    def steps(page):
        page.open(f"/job/{args.job}")
        page.click(f'tr.vertex-row[data-vertex="{args.vertex}"]')
        page.until("the Flame Graph panel", lambda: page.js("const p = document.querySelector('#flame-panel'); return p && !p.hidden;"))
        frames = page.until("the flame graph's frames", lambda: sampled(page))
        page.js("document.querySelector('#flame-panel').scrollIntoView();")
        page.driver.save_screenshot(args.screenshot)
        log(f"{len(frames)} frames drawn; screenshot: {args.screenshot}")
        print(json.dumps({"frames": frames}), flush=True)

    drive(args, steps)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--vertex", required=True)
    browser_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
