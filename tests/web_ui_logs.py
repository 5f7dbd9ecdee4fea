"""Drives Weir's web UI in headless Chromium (as tests/web_ui.py does): the Logs and Thread Dump
tabs of the Job Manager and of a Task Manager.

1. The Job Manager's Logs tab lists its log file and shows it; as the JobManager logs more
   (a checkpoint completes every second), the shown log grows by itself.
2. A Task Manager's Logs tab (reached from the Task Managers page) shows its log, fetched by
   the JobManager from the TaskManager, with its "Completed checkpoint" lines, growing too.
3. The Task Manager's Thread Dump tab names the job's subtask threads.

Prints one JSON line with what it saw. Exits non-zero, with the page's text and a screenshot,
when a step fails.
"""

import argparse
import json

from web_ui import browser_arguments, drive, log


def log_lines(page):
    return (page.text("#log-text") or "").count("\n")


def follows(page, what):
    """Waits until the shown log has grown by at least two lines, without a click."""
    before = log_lines(page)
    page.until(f"{what} to grow", lambda: log_lines(page) >= before + 2)
    return log_lines(page) - before


def run(args):
    seen = {}
    def steps(page):
        page.open("/jobmanager")
        page.click("#tab-logs")
        page.until("the JobManager's log file", lambda: page.count("tr.log-row") >= 1)
        seen["jobmanagerFile"] = page.attr("tr.log-row.selected", "data-log")
        page.until("the JobManager's log", lambda: "JobManager listening" in (page.text("#log-text") or ""))
        seen["jobmanagerGrew"] = follows(page, "the JobManager's log")
        log(f"job manager log {seen['jobmanagerFile']} followed")

        page.click('#sidebar a[data-nav="taskmanagers"]')
        page.click("tr.tm-row")
        page.click("#tab-logs")
        page.until("the TaskManager's log file", lambda: page.count("tr.log-row") >= 1)
        seen["taskmanagerFile"] = page.attr("tr.log-row.selected", "data-log")
        page.until("a completed checkpoint in the TaskManager's log", lambda: "Completed checkpoint" in (page.text("#log-text") or ""))
        seen["taskmanagerGrew"] = follows(page, "the TaskManager's log")
        seen["checkpointLines"] = (page.text("#log-text") or "").count("Completed checkpoint")
        page.driver.save_screenshot(args.screenshot)
        log(f"task manager log {seen['taskmanagerFile']} followed; screenshot: {args.screenshot}")

        page.click("#tab-thread-dump")
        page.until("the subtask threads", lambda: page.count("pre.thread[data-thread^='ClickEvent Counter']") >= 1)
        seen["threads"] = page.js("return [...document.querySelectorAll('pre.thread')].map(e => e.dataset.thread);")
        print(json.dumps(seen), flush=True)

    drive(args, steps)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--screenshot", required=True)
    browser_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
