"""Drives Weir's web UI in headless Chromium (as tests/web_ui.py does) against a secured
cluster: HTTPS with the cluster's own CA, and a REST token.

1. The page loads without the token, and the API's 401 makes it show the sign-in form.
2. A wrong token is refused: the form comes back saying so.
3. The right token signs in: the form goes away and the overview shows the running job and the
   TaskManagers, polled with the token.

Prints one JSON line with what it saw. Exits non-zero, with the page's text and a screenshot,
when a step fails.
"""

import argparse
import json

from web_ui import browser_arguments, drive, log


def login_shown(page):
    # The form is position: fixed, which has no offsetParent: `Page.visible` cannot tell.
    return page.js("const e = document.getElementById('login'); return !!e && !e.hidden;")


def sign_in(page, token):
    page.until("the sign-in form", lambda: login_shown(page))
    field = page.driver.find_element("css selector", "#login-token")
    field.clear()
    field.send_keys(token)
    page.click("#login-submit")


def run(args):
    # The cluster's CA is not the browser's: a test cluster's certificate is accepted as is.
    args.extra_flags = ["--ignore-certificate-errors"]
    seen = {}
    def steps(page):
        page.open("/overview")
        page.until("the sign-in form to appear", lambda: login_shown(page))
        seen["loginShown"] = True
        log("the page asked for the token")

        sign_in(page, "not-the-token")
        page.until("the refusal", lambda: page.text("#login-error") == "The token was not accepted.")
        seen["wrongTokenRefused"] = True
        log("a wrong token was refused")

        sign_in(page, args.token)
        page.until("the form to go", lambda: not login_shown(page))
        page.until("the running job on the overview", lambda: args.job_name in (page.text("#content") or ""))
        seen["signedIn"] = True
        seen["overview"] = page.text("#content")
        page.driver.save_screenshot(args.screenshot)
        log(f"signed in; screenshot: {args.screenshot}")
        print(json.dumps(seen), flush=True)

    drive(args, steps)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--job-name", required=True)
    parser.add_argument("--screenshot", required=True)
    browser_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
