"""Drives Weir's web UI in headless Chromium (as tests/web_ui.py does) for what the dashboard
shows of a job under backpressure, of a failed job, and of the cluster's managers:

1. the job graph of a job whose Backpressure operator sleeps on every record draws the source
   dark (backpressured), the Backpressure operator red (busy) and the counter blue (idle), read
   as the computed fill of each operator's box;
2. the source's subtask shows backpressure `high` (a red badge) and its output buffer usage;
3. the counter's box in the graph, its subtask and the Watermarks tab show the counter's
   watermark, the tab as REST reports it;
4. the Exceptions tab of a job that failed shows its root exception and the failing task;
5. the TaskManagers page lists the TaskManager with its slots, and its own page shows CPU load,
   memory, WASM instances and their memory, with plots;
6. the JobManager page shows its metrics and its configuration.

Prints one JSON line with what it saw, for tests/tests/web_ui.rs to check against the REST API.
Exits non-zero, with the page's text and a screenshot, when a step fails.
"""

import argparse
import json
import time
import urllib.request

from web_ui import Page, browser_arguments, log, make_driver, report_failure

SOURCE = "Source: ClickEvent Source"
BACKPRESSURE = "Backpressure"
COUNTER = "ClickEvent Counter"
MIN_WATERMARK = -9.2e18
FAULT = "fails on its first call (on purpose)"


def rest(url, path):
    with urllib.request.urlopen(f"{url.rstrip('/')}{path}", timeout=30) as answer:
        return json.load(answer)


def vertex_ids(url, job):
    return {v["name"]: v["id"] for v in rest(url, f"/jobs/{job}")["vertices"]}


def rgb(css):
    """`rgb(1, 2, 3)` as a tuple of three numbers."""
    return tuple(float(c) for c in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def luminance(c):
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255


# The colours of the legend: idle #d6e6ff blending into busy #e5484d, or backpressured into
# #25292f. Each test is loose enough for ratios short of 100 %.
def dark(c):
    return luminance(c) < 0.45 and max(c) - min(c) < 40


def red(c):
    return c[0] > 150 and c[0] - c[1] > 80


def blue(c):
    return c[2] > c[0] + 20


NODE = "return [...document.querySelectorAll('svg#job-graph g.node')].find(n => n.dataset.name === arguments[0])"

NODES = """
return Object.fromEntries([...document.querySelectorAll('svg#job-graph g.node')].map(n =>
  [n.dataset.name, { fill: getComputedStyle(n.querySelector('rect.box')).fill, text: n.textContent }]));
"""

# The rows of a table as objects keyed by the table's column titles.
ROWS = """
const table = document.querySelector(arguments[0]);
if (!table) return [];
const titles = [...table.querySelectorAll('thead th')].map(th => th.textContent.trim());
return [...table.querySelectorAll('tbody tr')].map(tr => {
  const row = { _classes: tr.className };
  [...tr.children].forEach((td, i) => { row[titles[i]] = td.textContent.trim(); });
  return row;
});
"""

CARDS = """
return Object.fromEntries([...document.querySelectorAll('.card')].map(c =>
  [c.querySelector('.label').textContent.trim(), c.querySelector('.value').textContent.trim()]));
"""


class Seen:
    """The last thing a wait looked at, for its failure message."""

    def __init__(self):
        self.last = None

    def __call__(self, value):
        self.last = value
        return value


def wait(page, what, condition, timeout=None):
    seen = Seen()
    try:
        return page.until(what, lambda: condition(seen), timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {seen.last}") from None


def fmt_time(ms):
    """The page's fmtTime: local date and time to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def node_colours(page, seen):
    nodes = seen(page.js(NODES))
    return {name: rgb(n["fill"]) for name, n in nodes.items()}


def run(args):
    result = {}
    driver = make_driver(args)
    page = Page(driver, args.url, args.timeout)
    try:
        vertices = vertex_ids(args.url, args.job)

        # 1. The job graph's colours, from the live busy and backpressured times.
        page.open(f"/job/{args.job}")
        page.until("the job page", lambda: page.attr("#job-state", "data-state") == "RUNNING")

        def coloured(seen):
            c = node_colours(page, seen)
            return c if dark(c[SOURCE]) and red(c[BACKPRESSURE]) and blue(c[COUNTER]) else None

        colours = wait(page, "the source dark, the Backpressure operator red and the counter blue", coloured, 90)
        result["colours"] = {name: list(c) for name, c in colours.items()}
        text_fill = page.js(NODE + ".querySelector('text.name').getAttribute('fill');", SOURCE)
        assert text_fill == "#ffffff", f"the dark source box's name is drawn in {text_fill}"
        driver.save_screenshot(args.screenshot)
        log(f"job graph: source {colours[SOURCE]}, Backpressure {colours[BACKPRESSURE]}, counter {colours[COUNTER]}")

        # 2. The source's subtask: backpressure high, its output buffers in use.
        page.click(f'svg#job-graph g.node[data-vertex="{vertices[SOURCE]}"]')

        def source_high(seen):
            rows = seen(page.js(ROWS, "#subtasks-panel table"))
            badge = page.js(
                "const b = document.querySelector('#subtasks-panel tr.subtask-row .badge.level-high');"
                "return b ? getComputedStyle(b).backgroundColor : null;"
            )
            return (rows[0], badge) if len(rows) == 1 and rows[0]["Backpressure"].startswith("high") and badge else None

        source_row, badge = wait(page, "the source's subtask backpressured high", source_high)
        assert red(rgb(badge)), f"the high backpressure badge is {badge}"
        assert source_row["Out Pool"].endswith("%"), source_row
        result["sourceSubtask"] = source_row
        log(f"source subtask: backpressure {source_row['Backpressure']}, out pool {source_row['Out Pool']}")

        # 3. The counter's watermark: in its subtask row, and in the Watermarks tab as REST has it.
        page.click(f'svg#job-graph g.node[data-vertex="{vertices[COUNTER]}"]')

        def counter_watermark(seen):
            rows = seen(page.js(ROWS, "#subtasks-panel table"))
            heading = page.text("#subtasks-panel h2") or ""
            box = page.js(NODE + ".textContent;", COUNTER) or ""
            ok = (
                COUNTER in heading
                and len(rows) == 1
                and rows[0]["Watermark"] not in ("", "No Watermark", "-")
                and "Low watermark: " in box
                and "Low watermark: No Watermark" not in box
            )
            return rows[0] if ok else None

        counter_row = wait(page, "the counter's watermark in its subtask row and its box", counter_watermark)
        result["counterSubtask"] = counter_row
        before = float(rest(args.url, f"/jobs/{args.job}/vertices/{vertices[COUNTER]}/watermarks")[0]["value"])
        assert before > MIN_WATERMARK, f"REST has no watermark for the counter: {before}"
        page.click("#tab-watermarks")

        def watermark_row(seen):
            rows = seen(page.js(ROWS, "#watermarks-panel table"))
            counter = [r for r in rows if r["Operator"] == COUNTER]
            # Watermarks only rise: a refresh after REST's answer shows at least that.
            return counter[0] if len(counter) == 1 and float(counter[0]["Raw"]) >= before else None

        row = wait(page, "the counter's watermark in the Watermarks tab", watermark_row)
        after = float(rest(args.url, f"/jobs/{args.job}/vertices/{vertices[COUNTER]}/watermarks")[0]["value"])
        raw = float(row["Raw"])
        assert before <= raw <= after, (before, row, after)
        assert row["Watermark"] == fmt_time(raw), row
        result["watermark"] = row
        log(f"watermarks: the counter's is {row['Watermark']} ({row['Raw']}); REST had {before:.0f} then {after:.0f}")

        # 4. The failed job's exceptions, reached from the completed jobs.
        page.click('#sidebar a[data-nav="jobs-completed"]')
        page.click(f'tr.job-row[data-jid="{args.failed_job}"]')
        page.until("the failed job's page", lambda: page.attr("#job-state", "data-state") == "FAILED")
        page.click("#tab-exceptions")
        root = wait(page, "the root exception", lambda seen: seen(page.text("#root-exception pre.trace")))
        assert FAULT in root, root
        history = wait(page, "the exception history", lambda seen: seen(page.js(ROWS, "#job-exceptions section:nth-of-type(2) table")))
        assert any(r["Task"].startswith(COUNTER) and FAULT in r["Details"] for r in history), history
        result["rootException"] = root
        log(f"exceptions: root {root!r}; {len(history)} in the history")

        # 5. The TaskManagers: the list, then one TaskManager's page.
        page.click('#sidebar a[data-nav="taskmanagers"]')

        def tm_listed(seen):
            rows = seen(page.js(ROWS, "#taskmanagers-panel table"))
            # The failed job's slot is free again; the running job holds the other.
            return rows if len(rows) == 1 and rows[0]["All Slots"] == "2" and rows[0]["Free Slots"] == "1" else None

        tms = wait(page, "one TaskManager listed with 1 of 2 slots free", tm_listed)
        result["taskmanagerRow"] = tms[0]
        page.click("tr.tm-row")

        def tm_cards(seen):
            cards = seen(page.js(CARDS))
            charts = page.count(".chart path.series")
            # Two refreshes put two points on each of the CPU and the two memory lines.
            ok = (
                cards.get("WASM Instances", "0") not in ("0", "-")
                and cards.get("WASM Memory", "-").endswith("B")
                and cards.get("Slots") == "1 free of 2"
                and charts >= 3
            )
            return cards if ok else None

        cards = wait(page, "the TaskManager's CPU, memory and WASM cards and plots", tm_cards)
        assert cards["CPU Load"].endswith("%"), cards
        assert cards["Resident Memory"].endswith("MB") or cards["Resident Memory"].endswith("GB"), cards
        assert not cards["WASM Memory"].startswith("0 "), cards
        result["taskmanagerCards"] = cards
        log(f"task manager page: {cards}")

        # 6. The JobManager: its metrics and its configuration.
        page.click('#sidebar a[data-nav="jobmanager"]')

        def jm_page(seen):
            cards = seen(page.js(CARDS))
            tables = page.js("return [...document.querySelectorAll('#content section.panel table')].length;")
            return cards if cards.get("Task Managers") == "1" and tables == 2 else None

        cards = wait(page, "the JobManager's metrics and configuration", jm_page)
        metrics, config = page.js(
            "return [...document.querySelectorAll('#content section.panel')].map(p => "
            "[...p.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent.trim())));"
        )
        metrics, config = dict(metrics), dict(config)
        assert cards["Running Jobs"] == "1", cards
        assert metrics.get("numRegisteredTaskManagers") == "1", metrics
        assert metrics.get("numRunningJobs") == "1", metrics
        assert config.get("rest.port") == args.url.rstrip("/").rsplit(":", 1)[1], config
        result["jobmanagerCards"] = cards
        result["jobmanagerConfig"] = config
        log(f"job manager page: {cards}, {len(metrics)} metrics, {len(config)} configuration entries")
        print(json.dumps(result), flush=True)
    except Exception:
        report_failure(driver, page, args.screenshot)
        raise
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--job", required=True, help="a RUNNING job whose Backpressure operator always sleeps")
    parser.add_argument("--failed-job", required=True, help="a job that FAILED in its counter")
    parser.add_argument("--screenshot", required=True)
    browser_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
