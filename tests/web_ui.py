"""Drives Weir's web UI in headless Chromium (Debian's chromium and chromium-driver, through
WebDriver with selenium) against a running cluster, as a person would use it:

1. the overview shows the TaskManager and its slots, and the job started over REST as RUNNING;
2. the TaskManagers page lists the TaskManager with its slots;
3. the job page draws the job graph with its operators and live records, and a click on an
   operator shows its subtasks; a screenshot of the page is saved;
4. the checkpoints tab shows the job's checkpoints (or says there are none);
5. an upgrade to version 1.1 of the component (uploaded over REST): the job page's Upgrade box
   offers the jar, its dry run lists the counter as getting new code, its confirmation swaps
   the code in and says so, and the operator table and the job's upgrade history then name the
   new component; a dry run of the same component again says there is nothing to upgrade;
   screenshots of the plan and of the upgraded job are saved; then the Rescale box: every
   operator at 2 is refused for the datagen source and the page says why, every operator but
   the source at 2 runs, and the job's history lists the RESCALE;
6. stop-with-savepoint into a directory typed in the page stops the job with a savepoint, and
   the page says where it is (or shows the cluster's error);
7. a component uploaded and run through the submit page starts a job;
8. cancelling that job through its page cancels it.

Prints one JSON line with what happened, for the Rust test (tests/tests/web_ui.rs) to check
against the REST API. Exits non-zero, with the page's text and a screenshot, when a step fails.
"""

import argparse
import json
import os
import re
import sys
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

SOURCE = "Source: ClickEvent Source"
COUNTER = "ClickEvent Counter"
OPERATORS = {SOURCE, COUNTER, "ClickEventStatistics Sink: Writer", "ClickEventStatistics Sink: Committer"}


def log(message):
    print(f"[web_ui] {message}", file=sys.stderr, flush=True)


def upload_jar(url, path):
    """Uploads a component over REST (`POST /jars/upload`, multipart); returns its jar id."""
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        content = f.read()
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="jarfile"; filename="{os.path.basename(path)}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/jars/upload",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["filename"].split("/")[-1]


def make_driver(args):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={args.user_data_dir}",
        "--window-size=1400,1500",
        *getattr(args, "extra_flags", []),
    ]:
        options.add_argument(flag)
    # An explicit driver path: selenium never looks for (or downloads) a driver itself.
    service = Service(executable_path=args.chromedriver, log_output=os.path.join(args.user_data_dir, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


class Page:
    """The browser, with waits that tolerate the UI re-rendering every few seconds."""

    def __init__(self, driver, url, timeout):
        self.driver = driver
        self.url = url.rstrip("/")
        self.timeout = timeout

    def open(self, path):
        self.driver.get(f"{self.url}/#{path}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def until(self, what, condition, timeout=None):
        """Waits until `condition()` is truthy; returns its value."""
        def attempt(_):
            try:
                return condition()
            except (StaleElementReferenceException, WebDriverException, KeyError, IndexError):
                # A page still drawing (a graph box, a table's column not there yet) is "not yet".
                return False

        try:
            return WebDriverWait(self.driver, timeout or self.timeout, poll_frequency=0.25).until(attempt)
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}") from None

    def text(self, css):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", css)

    def attr(self, css, name):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", css, name)

    def count(self, css):
        return self.js("return document.querySelectorAll(arguments[0]).length;", css)

    def click(self, css):
        """Clicks the element, retrying while the page replaces it."""
        def attempt():
            element = self.driver.find_element(By.CSS_SELECTOR, css)
            if not element.is_displayed():
                return False
            element.click()
            return True

        self.until(f"{css} to be clickable", attempt)

    def next_refresh(self):
        """Waits until the page has polled the REST API and redrawn once more (the top bar's
        clock of the last refresh moves)."""
        last = self.text("#refresh-text")
        self.until("the page's next refresh", lambda: self.text("#refresh-text") != last)

    def visible(self, css):
        return self.js(
            "const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.offsetParent !== null;", css
        )


def run(args):
    result = {}
    driver = make_driver(args)
    page = Page(driver, args.url, args.timeout)
    try:
        # 1. The overview: the cluster and the running job.
        page.open("/overview")
        page.until("the overview to count 1 TaskManager", lambda: page.text("#ov-taskmanagers") == "1")
        page.until("the overview to count 2 slots", lambda: page.text("#ov-slots-total") == "2")
        job_row = f'tr.job-row[data-jid="{args.job}"]'
        page.until("the REST job to be listed RUNNING", lambda: page.attr(job_row, "data-state") == "RUNNING")
        log("overview: 1 TaskManager, 2 slots, the job RUNNING")

        # 2. The TaskManagers page.
        page.click('#sidebar a[data-nav="taskmanagers"]')
        page.until("one TaskManager row", lambda: page.count("tr.tm-row") == 1)
        assert page.attr("tr.tm-row", "data-slots") == "2", page.attr("tr.tm-row", "data-slots")
        log("task managers: one, with 2 slots")

        # 3. The job page, reached by clicking the job in the running jobs list.
        page.click('#sidebar a[data-nav="jobs-running"]')
        page.click(job_row)
        page.until("the job page", lambda: page.attr("#job-state", "data-state") == "RUNNING")
        page.until("the job graph", lambda: page.count("svg#job-graph g.node") == len(OPERATORS))
        names = set(page.js("return [...document.querySelectorAll('svg#job-graph g.node')].map(n => n.dataset.name);"))
        assert names == OPERATORS, names
        source_row = 'tr.vertex-row:first-child'
        page.until(
            "records flowing out of the source",
            lambda: int(page.attr(source_row, "data-write-records") or 0) > 0,
        )
        page.until("a throughput plot", lambda: page.count("#throughput-chart path.series") >= 1)
        source_node = page.js(
            "return [...document.querySelectorAll('svg#job-graph g.node')].find(n => n.dataset.name === arguments[0]).dataset.vertex;",
            SOURCE,
        )
        node_css = f'svg#job-graph g.node[data-vertex="{source_node}"]'
        page.until(
            "the source node to show records out",
            lambda: re.search(r"Out: [1-9]", page.js("return document.querySelector(arguments[0]).textContent;", node_css)),
        )
        page.click(node_css)
        page.until("the source's subtasks", lambda: page.count("#subtasks-panel tr.subtask-row") == 1)
        page.until("the subtask's backpressure level", lambda: page.count("#subtasks-panel .badge.level-ok, #subtasks-panel .badge.level-low, #subtasks-panel .badge.level-high") == 1)
        page.next_refresh()
        driver.save_screenshot(args.screenshot)
        result["screenshot"] = args.screenshot
        log(f"job page: graph with {sorted(names)}, subtasks shown; screenshot {args.screenshot}")

        # 4. Checkpoints: the statistics with a size plot once two have completed (the job
        # checkpoints every second), or a clear "no checkpoints" where there are none.
        page.click("#tab-checkpoints")
        page.until(
            "the checkpoints tab",
            lambda: page.count("#no-checkpoints") == 1 or page.count("#checkpoint-chart path.series") >= 1,
        )
        result["checkpoints"] = "none" if page.count("#no-checkpoints") else "statistics"
        if result["checkpoints"] == "statistics":
            driver.save_screenshot(args.screenshot.replace(".png", "-checkpoints.png"))
        log(f"checkpoints tab: {result['checkpoints']}")
        page.click("#tab-overview")
        page.until("the overview tab", lambda: page.count("svg#job-graph g.node") == len(OPERATORS))

        # 5. Upgrade to version 1.1: dry run first, then for real; the page follows the upgrade
        # to its end and then shows the new component on the counter.
        page.until(
            "the operators' components",
            lambda: any(os.path.basename(args.component) in t for t in page.js(
                "return [...document.querySelectorAll('#vertices-panel .vertex-component')].map(e => e.textContent);")),
        )
        jar = upload_jar(args.url, args.upgrade_component)
        page.click("#upgrade-job")
        page.until("the upgrade box", lambda: page.visible("#upgrade-job-box"))
        page.until(
            "the uploaded jar to be offered",
            lambda: page.js("return [...document.querySelectorAll('#upgrade-jar option')].some(o => o.value === arguments[0]);", jar),
        )
        Select(driver.find_element(By.CSS_SELECTOR, "#upgrade-jar")).select_by_value(jar)
        page.click("#upgrade-dry-run")
        page.until("the dry run's plan", lambda: page.attr("#upgrade-plan", "data-kind") in ("plan", "error"))
        assert page.attr("#upgrade-plan", "data-kind") == "plan", page.text("#upgrade-plan")
        plan = page.js(
            "return Object.fromEntries([...document.querySelectorAll('#upgrade-plan tr.upgrade-plan-row')]"
            ".map(r => [r.dataset.name, r.textContent.includes('new code')]));"
        )
        assert plan.get(COUNTER) is True, plan
        result["upgradeMode"] = page.text("#upgrade-mode")
        log(f"upgrade dry run: {result['upgradeMode']}, new code for {sorted(n for n, new in plan.items() if new)}")
        shots = os.path.dirname(os.path.abspath(args.screenshot))
        driver.save_screenshot(os.path.join(shots, "upgrade-plan.png"))
        page.click("#upgrade-job-confirm")
        page.until(
            "the outcome of the upgrade",
            lambda: page.attr("#notice", "data-kind") == "error" or (page.text("#notice-text") or "").startswith("Upgrade SWAPPED"),
            timeout=90,
        )
        result["upgradeKind"] = page.attr("#notice", "data-kind")
        result["upgradeMessage"] = page.text("#notice-text")
        log(f"upgrade: {result['upgradeKind']}: {result['upgradeMessage']}")
        assert result["upgradeKind"] == "success", result["upgradeMessage"]
        upgraded = os.path.basename(args.upgrade_component)
        counter_components = (
            "return [...document.querySelectorAll('#vertices-panel tr.vertex-row')]"
            ".filter(r => r.textContent.includes(arguments[0]))"
            ".map(r => r.querySelector('.vertex-component')?.textContent || '');"
        )
        page.until(
            f"the counter to run {upgraded}",
            lambda: any(upgraded in t for t in page.js(counter_components, COUNTER)),
        )
        result["counterComponent"] = page.js(counter_components, COUNTER)[0]
        page.until("the upgrade in the job's history", lambda: page.attr("#upgrades-panel tr.upgrade-row", "data-result") == "SWAPPED")
        assert page.attr("#job-state", "data-state") == "RUNNING", page.attr("#job-state", "data-state")
        page.next_refresh()
        driver.save_screenshot(os.path.join(shots, "upgrade.png"))
        page.js("document.querySelector('#vertices-panel').scrollIntoView();")
        driver.save_screenshot(os.path.join(shots, "upgrade-operators.png"))
        page.js("window.scrollTo(0, 0);")
        log(f"upgraded through the UI: the counter runs {upgraded}; screenshot {os.path.join(shots, 'upgrade.png')}")
        # The same component again is nothing to upgrade: the dry run says so in the box.
        page.click("#upgrade-job")
        page.until("the jar to be offered again", lambda: page.js(
            "return [...document.querySelectorAll('#upgrade-jar option')].some(o => o.value === arguments[0]);", jar))
        Select(driver.find_element(By.CSS_SELECTOR, "#upgrade-jar")).select_by_value(jar)
        page.click("#upgrade-dry-run")
        page.until("the dry run's refusal", lambda: page.attr("#upgrade-plan", "data-kind") in ("plan", "error"))
        assert page.attr("#upgrade-plan", "data-kind") == "error", page.text("#upgrade-plan")
        assert "Nothing to upgrade" in page.text("#upgrade-plan"), page.text("#upgrade-plan")
        page.click("#upgrade-job-abort")
        page.until("the upgrade box to close", lambda: not page.visible("#upgrade-job-box"))
        log("the same component again: the dry run says there is nothing to upgrade")

        # 5b. Rescale through the job page's Rescale box (Flink's features.web-rescale): first
        # every operator at 2, which the cluster refuses for the datagen source (its position
        # cannot be split) and the page says why; then every operator but the source, which
        # the page follows to its end, and the job's history lists the RESCALE.
        def ask_parallelism(skip_source):
            page.click("#rescale-job")
            page.until("the rescale box", lambda: page.visible("#rescale-job-box"))
            page.until("the operators' parallelism", lambda: page.js(
                "return document.querySelectorAll('#rescale-vertices input[data-vertex]').length;") >= 4)
            for field in driver.find_elements(By.CSS_SELECTOR, "#rescale-vertices input[data-vertex]"):
                if skip_source and field.get_attribute("data-name").startswith("Source:"):
                    continue
                field.clear()
                field.send_keys("2")
        ask_parallelism(skip_source=False)
        page.click("#rescale-job-confirm")
        page.until("the refusal", lambda: page.attr("#notice", "data-kind") == "error")
        result["rescaleRefusal"] = page.text("#notice-text")
        log(f"rescale refused: {result['rescaleRefusal']}")
        assert "datagen" in result["rescaleRefusal"], result["rescaleRefusal"]
        ask_parallelism(skip_source=True)
        page.click("#rescale-job-confirm")
        page.until(
            "the outcome of the rescale",
            lambda: (page.text("#notice-text") or "").startswith("Rescale completed")
            or (page.attr("#notice", "data-kind") == "error" and page.text("#notice-text") != result["rescaleRefusal"]),
            timeout=90,
        )
        result["rescaleKind"] = page.attr("#notice", "data-kind")
        result["rescaleMessage"] = page.text("#notice-text")
        log(f"rescale: {result['rescaleKind']}: {result['rescaleMessage']}")
        assert result["rescaleKind"] == "success", result["rescaleMessage"]
        page.until("the rescale in the job's history", lambda: page.js(
            "return [...document.querySelectorAll('#upgrades-panel tr.upgrade-row')].some(r => r.textContent.includes('RESCALE'));"))
        page.until("the job running again", lambda: page.attr("#job-state", "data-state") == "RUNNING")

        # 6. Stop with savepoint into a directory typed in the page; the UI follows the
        # savepoint and says where it is, or shows the cluster's error.
        page.click("#stop-job")
        driver.find_element(By.CSS_SELECTOR, "#stop-target").send_keys(args.savepoint_dir)
        page.click("#stop-job-confirm")
        page.until(
            "the outcome of stop-with-savepoint",
            lambda: page.attr("#notice", "data-kind") == "error" or "Savepoint completed" in (page.text("#notice-text") or ""),
            timeout=90,
        )
        result["stopKind"] = page.attr("#notice", "data-kind")
        result["stopMessage"] = page.text("#notice-text")
        log(f"stop with savepoint: {result['stopKind']}: {result['stopMessage']}")
        if result["stopKind"] == "success":
            page.until("the stopped job to finish", lambda: page.attr("#job-state", "data-state") == "FINISHED")

        # 7. Upload the component and run it through the submit page.
        page.click('#sidebar a[data-nav="submit"]')
        upload = driver.find_element(By.CSS_SELECTOR, "#jar-file")
        upload.send_keys(os.path.abspath(args.component))
        page.click("#upload-jar")
        page.until("the uploaded jar to be selected", lambda: page.visible("#run-panel"))
        assert page.text("#run-jar") == os.path.basename(args.component), page.text("#run-jar")
        driver.find_element(By.CSS_SELECTOR, "#run-args").send_keys(args.program_args)
        driver.find_element(By.CSS_SELECTOR, "#run-parallelism").send_keys("1")
        page.click("#run-submit")
        page.until("the new job's page", lambda: re.search(r"#/job/[0-9a-f]{32}$", driver.current_url))
        ui_job = re.search(r"#/job/([0-9a-f]{32})$", driver.current_url).group(1)
        assert ui_job != args.job
        result["uiJob"] = ui_job
        page.until("the submitted job to run", lambda: page.attr("#job-state", "data-state") == "RUNNING")
        page.until("its graph", lambda: page.count("svg#job-graph g.node") == len(OPERATORS))
        log(f"submitted through the UI: job {ui_job} RUNNING")

        # 8. Cancel it through its page.
        page.click("#cancel-job")
        page.click("#cancel-job-confirm")
        page.until("the job to be cancelled", lambda: page.attr("#job-state", "data-state") == "CANCELED")
        page.until("the cancel buttons to go", lambda: not page.visible("#cancel-job"))
        log("cancelled through the UI")
        print(json.dumps(result), flush=True)
    except Exception:
        report_failure(driver, page, args.screenshot)
        raise
    finally:
        driver.quit()


def drive(args, steps):
    """Runs `steps(page)` in a fresh headless Chromium at `args.url`; when a step fails, keeps a
    screenshot and the page's text next to `args.screenshot`, then re-raises."""
    driver = make_driver(args)
    page = Page(driver, args.url, args.timeout)
    try:
        steps(page)
    except Exception:
        report_failure(driver, page, args.screenshot)
        raise
    finally:
        driver.quit()


def report_failure(driver, page, screenshot):
    """Keeps a screenshot and the page's text of a failed run, next to `screenshot`."""
    failure = screenshot.replace(".png", "-failure.png")
    try:
        driver.save_screenshot(failure)
        log(f"failure screenshot: {failure}")
        log("page text:\n" + page.js("return document.body.innerText;"))
    except WebDriverException:
        pass


def browser_arguments(parser):
    """The options every browser script takes: its Chromium, profile and step deadline."""
    parser.add_argument("--user-data-dir", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--timeout", type=float, default=45)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--job", required=True, help="a job started over REST, expected RUNNING")
    parser.add_argument("--component", required=True, help="the job component file to upload")
    parser.add_argument("--program-args", required=True)
    parser.add_argument("--upgrade-component", required=True, help="the component to upgrade the running job to")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--savepoint-dir", required=True, help="typed into the stop-with-savepoint box")
    browser_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
