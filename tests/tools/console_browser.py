#!/usr/bin/env python3
"""Drives the admin console in headless Chromium (Debian's chromium + chromium-driver) through
Selenium, as an operator would, and prints one JSON object of what it saw on stdout.

  --url URL            the console, e.g. http://127.0.0.1:PORT/console
  --admin-token T      a token with scope admin; --read-token T one with scope read
  --deferred ID        a message waiting for a retry: found through the queue filter, retried
  --release ID         a quarantined message: released through the quarantine review
  --hostile ID         a quarantined message with <script> in its Subject and bodies (and an
                       image the test listens for: it must never be fetched)
  --screenshots DIR    where the page screenshots go

Exits non-zero with the reason when a check fails. Started and stopped by tests/e2e/console.rs;
Chromium and its driver are stopped by driver.quit() whatever happens.
"""
import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


STEP = ["start"]


def step(name):
    """Names what the script does now, for the failure message."""
    STEP[0] = name


def check(ok, what):
    if not ok:
        raise AssertionError(what)


class Console:
    def __init__(self, url, shots):
        self.url = url.rstrip("/")
        self.shots = shots
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1100", "--no-first-run", "--disable-extensions"):
            options.add_argument(arg)
        service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.wait = WebDriverWait(self.driver, 20)

    def get(self, path):
        self.driver.get(self.url + path)

    def shot(self, name):
        """The whole page, beyond the window (Chromium's DevTools capture)."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": 1280, "height": min(size["height"], 4000), "scale": 1}
        png = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        with open(os.path.join(self.shots, name + ".png"), "wb") as f:
            f.write(base64.b64decode(png["data"]))

    def text(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def login(self, token):
        self.get("/login")
        box = self.driver.find_element(By.ID, "token")
        box.clear()
        box.send_keys(token)
        self.click(self.driver.find_element(By.CSS_SELECTOR, "#login button"))

    def click(self, element):
        """Clicks what loads another page, and waits until the old one is gone."""
        element.click()
        self.wait.until(lambda _: gone(element))

    def quit(self):
        self.driver.quit()


def gone(element):
    """Whether `element` left the document. Chromium may say so with a stale reference or,
    while the next page replaces it, with "Node with given id does not belong to the
    document"."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return True
        raise


def http(method, url, cookie=None, fields=None):
    """A request outside the browser: (status, headers, body)."""
    data = urllib.parse.urlencode(fields or {}, doseq=True).encode() if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method)
    if cookie:
        req.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=20) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def login_form(url):
    """The login form's CSRF token and the cookie that goes with it."""
    status, headers, body = http("GET", url + "/login")
    check(status == 200, f"the login page answered {status}")
    csrf = body.split('name="csrf" value="')[1].split('"')[0]
    return csrf, headers["Set-Cookie"].split(";")[0]


def session_cookie(url, token):
    csrf, cookie = login_form(url)
    status, headers, _ = http("POST", url + "/login", cookie=cookie, fields={"token": token, "csrf": csrf})
    check(status == 303, f"login answered {status}")
    cookie = [c for c in headers.get_all("Set-Cookie") if c.startswith("sluice_console=")][0]
    for part in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        check(part in cookie, f"the session cookie lacks {part}: {cookie}")
    return cookie.split(";")[0]


def main():
    p = argparse.ArgumentParser()
    for name in ("url", "admin-token", "read-token", "deferred", "release", "hostile", "screenshots"):
        p.add_argument("--" + name, required=True)
    a = p.parse_args()
    os.makedirs(a.screenshots, exist_ok=True)
    seen = {}
    c = Console(a.url, a.screenshots)
    try:
        step("login")
        # Every page is behind the login.
        c.get("/queue")
        check(c.driver.current_url.endswith("/console/login"), f"not sent to login: {c.driver.current_url}")
        c.login("not-a-token")
        check("not one of the relay's admin tokens" in c.text("#flash"), "a wrong token was not refused")
        c.shot("login")
        c.login(a.admin_token)

        step("overview")
        # Overview with the numbers of the mail sent through the relay.
        c.wait.until(EC.presence_of_element_located((By.ID, "outcomes")))
        seen["overview"] = {o: int(c.text(f"#hour-{o}")) for o in
                            ("accepted", "delivered", "deferred", "bounced", "rejected", "quarantined")}
        seen["queue_depth"] = {s: int(c.text(f"#queue-{s}")) for s in ("queued", "deferred", "held", "quarantined")}
        seen["commits"] = int(c.text("#commits"))
        seen["charts"] = len(c.driver.find_elements(By.CSS_SELECTOR, "figure.chart svg polyline"))
        c.shot("overview")

        step("queue")
        # Queue: filter on the deferred state, open the message, retry it.
        c.get("/queue")
        Select(c.driver.find_element(By.NAME, "state")).select_by_value("deferred")
        c.click(c.driver.find_element(By.CSS_SELECTOR, "#filter button"))
        c.wait.until(EC.url_contains("state=deferred"))
        ids = [e.text for e in c.driver.find_elements(By.CSS_SELECTOR, "#messages a.id")]
        check(ids == [a.deferred], f"the deferred filter shows {ids}")
        c.shot("queue")
        c.click(c.driver.find_element(By.LINK_TEXT, a.deferred))
        c.wait.until(EC.presence_of_element_located((By.ID, "attempts")))
        seen["deferred_state"] = c.text("#state")
        seen["deferred_reply"] = c.text("#attempts td.reply")
        c.shot("queue-message")
        c.click(c.driver.find_element(By.XPATH, "//button[text()='Retry now']"))
        c.wait.until(EC.presence_of_element_located((By.ID, "flash")))
        seen["retry_flash"] = c.text("#flash")

        step("quarantine")
        # Quarantine: why each is held; the hostile one shown without running anything.
        c.get("/quarantine")
        seen["held_rows"] = len(c.driver.find_elements(By.CSS_SELECTOR, "#held tbody tr"))
        seen["held_by"] = sorted({e.text for e in c.driver.find_elements(By.CSS_SELECTOR, "#held td.plugin")})
        c.shot("quarantine")
        title = c.driver.title
        c.get("/quarantine/" + a.hostile)
        c.wait.until(EC.presence_of_element_located((By.ID, "body-html")))
        frame = c.driver.find_element(By.ID, "body-html")
        seen["hostile"] = {
            "title": c.driver.title,
            "pwned": c.driver.execute_script("return typeof window.pwned"),
            "subject": c.text("#subject"),
            "text": c.text("#body-text"),
            "sandbox": frame.get_attribute("sandbox"),
            "frame_title": c.driver.execute_script(
                "try { return document.getElementById('body-html').contentDocument.title } "
                "catch (e) { return 'unreachable' }"),
        }
        check(title != "pwned", "the list page title was changed")
        c.shot("quarantine-message")

        step("release")
        # Release one quarantined message (checkbox + bulk button).
        c.get("/quarantine")
        c.driver.find_element(By.CSS_SELECTOR, f"input[name=ids][value='{a.release}']").click()
        c.click(c.driver.find_element(By.XPATH, "//button[text()='Release selected']"))
        c.wait.until(EC.presence_of_element_located((By.ID, "flash")))
        seen["release_flash"] = c.text("#flash")

        step("tenants")
        c.get("/tenants")
        seen["tenants"] = c.text("main")
        c.shot("tenants")
        c.click(c.driver.find_element(By.CSS_SELECTOR, "header form button"))
        c.wait.until(EC.url_contains("/console/login"))

        step("read-only")
        # A read-only token sees no action button.
        c.login(a.read_token)
        c.wait.until(EC.presence_of_element_located((By.ID, "read-only")))
        buttons = {}
        for path in ("/queue/" + a.deferred, "/quarantine", "/quarantine/" + a.hostile):
            c.get(path)
            buttons[path] = [b.text for b in c.driver.find_elements(By.CSS_SELECTOR, "main button")]
        seen["read_only_buttons"] = buttons
        c.get("/quarantine/" + a.hostile)
        c.shot("read-only")
    except Exception:
        print(f"at {c.driver.current_url}: {c.driver.page_source[:3000]}", file=sys.stderr)
        c.shot("failure")
        raise
    finally:
        c.quit()

    step("forged posts")
    # Forged POSTs, outside the browser.
    read = session_cookie(a.url, a.read_token)
    status, headers, body = http("GET", a.url + "/quarantine", cookie=read)
    seen["csp"] = headers.get("Content-Security-Policy")
    csrf = body.split('name="csrf" value="')[1].split('"')[0]
    seen["read_only_post"] = http("POST", f"{a.url}/quarantine", cookie=read,
                                  fields={"csrf": csrf, "action": "delete", "ids": a.hostile})[0]
    admin = session_cookie(a.url, a.admin_token)
    seen["no_csrf_post"] = http("POST", f"{a.url}/quarantine", cookie=admin,
                                fields={"action": "delete", "ids": a.hostile})[0]
    seen["wrong_csrf_post"] = http("POST", f"{a.url}/quarantine", cookie=admin,
                                   fields={"csrf": csrf, "action": "delete", "ids": a.hostile})[0]
    seen["no_session_post"] = http("POST", f"{a.url}/quarantine",
                                   fields={"csrf": csrf, "action": "delete", "ids": a.hostile})[0]
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints this with the relay's log
        print(f"console check failed at step {STEP[0]!r}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
