#!/usr/bin/env python3
"""Drives the admin console's suppressions, events and tenants pages in headless Chromium (as
console_browser.py does, whose helpers it uses), talks SMTP to the relay with smtplib to see
what the pages changed, and prints one JSON object of what it saw on stdout.

  --url URL            the console, e.g. http://127.0.0.1:PORT/console
  --admin-token T      a token with scope admin; --read-token T one with scope read
  --smtp-port P        the relay's SMTP port (AUTH as demo / demo-password)
  --screenshots DIR    where the page screenshots go

Exits non-zero with the reason when a check fails. Started and stopped by tests/e2e/console.rs;
Chromium and its driver are stopped by driver.quit() whatever happens.
"""
import argparse
import json
import os
import smtplib
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from console_browser import STEP, Console, check, http, login_form, session_cookie, step

HOSTILE = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=1\">"


class Smtp:
    """An authenticated SMTP session with the relay as the demo tenant."""

    def __init__(self, port):
        self.s = smtplib.SMTP("127.0.0.1", port, timeout=20)
        self.s.ehlo("console-test")
        self.s.login("demo", "demo-password")

    def rcpt(self, address):
        """The relay's reply to RCPT TO:<address> in a fresh transaction: "CODE text"."""
        self.s.rset()
        self.s.mail("app@example.com")
        code, text = self.s.rcpt(address)
        self.s.rset()
        return f"{code} {text.decode()}"

    def send(self, rcpt, subject):
        """Sends a message; its queue id (the last word of the reply to the data)."""
        self.s.rset()
        self.s.mail("app@example.com")
        code, text = self.s.rcpt(rcpt)
        check(code == 250, f"RCPT {rcpt}: {code} {text}")
        code, text = self.s.data(f"Subject: {subject}\r\n\r\nbody\r\n".encode())
        check(code == 250, f"DATA: {code} {text}")
        return text.decode().split()[-1]

    def quit(self):
        self.s.quit()


def rows(c, css):
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in c.driver.find_elements(By.CSS_SELECTOR, css)]


def pwned(c):
    return c.driver.execute_script("return typeof window.pwned")


def main():
    p = argparse.ArgumentParser()
    for name in ("url", "admin-token", "read-token", "smtp-port", "screenshots"):
        p.add_argument("--" + name, required=True)
    a = p.parse_args()
    os.makedirs(a.screenshots, exist_ok=True)
    seen = {}
    smtp = Smtp(int(a.smtp_port))
    c = Console(a.url, a.screenshots)
    try:
        step("login")
        c.login(a.admin_token)
        c.wait.until(EC.presence_of_element_located((By.ID, "outcomes")))
        seen["destinations"] = rows(c, "#destinations tbody tr")
        seen["destinations_head"] = [th.text for th in c.driver.find_elements(By.CSS_SELECTOR, "#destinations tbody th")]

        step("events")
        # The tail: the events so far, one carrying a remote's <script> reply, shown as text.
        c.get("/events")
        c.wait.until(EC.text_to_be_present_in_element((By.ID, "tail-state"), "Following"))
        seen["tail_deferred"] = [r for r in rows(c, "#events-body tr") if r[1] == "deferred"]
        seen["tail_pwned_before"] = pwned(c)
        # A message sent after the page loaded appears without a reload.
        queue_id = smtp.send("later@dest.test", "tail marker")
        seen["tail_queue_id"] = queue_id
        row = c.wait.until(EC.presence_of_element_located((
            By.XPATH, f"//tbody[@id='events-body']/tr[td[2]='accepted' and td[4]='{queue_id}']")))
        seen["tail_new"] = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        seen["tail_link"] = row.find_element(By.CSS_SELECTOR, "a.id").get_attribute("href")
        seen["tail_state"] = c.text("#tail-state")
        seen["tail_pwned"] = pwned(c)
        c.shot("events")

        step("suppress")
        # Suppress an address in the page (with a note that would run a script); the relay
        # refuses it at RCPT.
        c.get("/suppressions?tenant=demo")
        for address, note in (("blocked@dest.test", HOSTILE), ("keep@dest.test", "kept")):
            c.driver.find_element(By.CSS_SELECTOR, "#add input[name=address]").send_keys(address)
            c.driver.find_element(By.CSS_SELECTOR, "#add input[name=detail]").send_keys(note)
            c.click(c.driver.find_element(By.CSS_SELECTOR, "#add button"))
            c.wait.until(EC.presence_of_element_located((By.ID, "flash")))
            seen.setdefault("add_flash", []).append(c.text("#flash"))
        seen["listed"] = rows(c, "#suppressions tbody tr")
        seen["count"] = c.text("#count")
        seen["suppressed_pwned"] = pwned(c)
        seen["rcpt_suppressed"] = smtp.rcpt("blocked@dest.test")
        # Search for a part of the address.
        box = c.driver.find_element(By.CSS_SELECTOR, "#search input[name=q]")
        box.send_keys("BLOCK")
        c.click(c.driver.find_element(By.CSS_SELECTOR, "#search button"))
        seen["search"] = [r[0] for r in rows(c, "#suppressions tbody tr")]
        c.shot("suppressions")
        # Remove it in the page; the relay takes it again.
        c.click(c.driver.find_element(
            By.XPATH, "//tr[td[1]='blocked@dest.test']//button[text()='Remove']"))
        c.wait.until(EC.presence_of_element_located((By.ID, "flash")))
        seen["remove_flash"] = c.text("#flash")
        seen["rcpt_removed"] = smtp.rcpt("blocked@dest.test")

        step("tenants")
        c.get("/tenants")
        for plugin in ("judge", "verdicts"):
            seen[plugin] = {
                "calls": c.text(f"#plugin-demo-{plugin} td.calls"),
                "verdicts": c.text(f"#plugin-demo-{plugin} td.verdicts"),
                "latency": c.text(f"#plugin-demo-{plugin} td.latency"),
            }
        seen["shadow"] = {r[0]: r[1:] for r in
                          ([tr.find_element(By.TAG_NAME, "th").text] +
                           [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                           for tr in c.driver.find_elements(By.CSS_SELECTOR, "#shadow-demo tbody tr"))}
        seen["limits"] = c.text("#limits-demo td.suppressions")
        c.shot("tenants-plugins")
        c.click(c.driver.find_element(By.CSS_SELECTOR, "header form button"))
        c.wait.until(EC.url_contains("/console/login"))

        step("read-only")
        # A read-only token sees the list but no form or button that changes it.
        c.login(a.read_token)
        c.wait.until(EC.presence_of_element_located((By.ID, "read-only")))
        c.get("/suppressions?tenant=demo")
        seen["read_only_listed"] = [r[0] for r in rows(c, "#suppressions tbody tr")]
        seen["read_only_buttons"] = [b.text for b in c.driver.find_elements(By.CSS_SELECTOR, "main button")]
        c.shot("suppressions-read-only")
    except Exception:
        print(f"at {c.driver.current_url}: {c.driver.page_source[:3000]}", file=sys.stderr)
        c.shot("failure-operations")
        raise
    finally:
        c.quit()

    step("forged posts")
    # Outside the browser: a read-only session's changes, and an admin's without the CSRF
    # token, are refused; the test then checks the list did not change.
    read = session_cookie(a.url, a.read_token)
    _, _, body = http("GET", a.url + "/suppressions?tenant=demo", cookie=read)
    csrf = body.split('name="csrf" value="')[1].split('"')[0]
    posts = {}
    for name, fields in (("remove", {"action": "remove", "address": "keep@dest.test"}),
                         ("add", {"action": "add", "address": "new@dest.test", "reason": "manual"})):
        posts["read_only_" + name] = http("POST", a.url + "/suppressions", cookie=read,
                                          fields={"csrf": csrf, "tenant": "demo", **fields})[0]
    admin = session_cookie(a.url, a.admin_token)
    posts["admin_no_csrf"] = http("POST", a.url + "/suppressions", cookie=admin,
                                  fields={"tenant": "demo", "action": "remove", "address": "keep@dest.test"})[0]
    # Login CSRF: a login without the form's token (or with another browser's) makes no session.
    login_csrf, login_cookie = login_form(a.url)
    for name, cookie, fields in (
            ("login_no_csrf", login_cookie, {"token": a.admin_token}),
            ("login_no_cookie", None, {"token": a.admin_token, "csrf": login_csrf}),
            ("login_other_csrf", login_cookie, {"token": a.admin_token, "csrf": login_form(a.url)[0]})):
        status, headers, _ = http("POST", a.url + "/login", cookie=cookie, fields=fields)
        posts[name] = [status, any(v.startswith("sluice_console=") for v in headers.get_all("Set-Cookie") or [])]
    seen["posts"] = posts
    seen["rcpt_keep"] = smtp.rcpt("keep@dest.test")
    smtp.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the test prints this with the relay's log
        print(f"console check failed at step {STEP[0]!r}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
