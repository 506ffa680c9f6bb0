"""End-to-end tests of OpenID Connect identification against an identity provider that is
not our code: the npm package oidc-provider configured like FranceConnect+
(tests/oidc-provider/provider.mjs), the gateway, a real SMTP server, a recipient's browser
that follows every redirect between the two, and each evidence record checked with
xmllint, xmlsec1 and openssl ts (evidence_checks.sh).

Usage: oidc_e2e.py SCEAU_BINARY SOURCE_DIR PROVIDER_DIR CASE
where PROVIDER_DIR holds provider.mjs and its node_modules (tests/oidc-provider/install.sh)
and CASE is one of: accept, no-match, low-acr, cancel.
"""

import html
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET

from e2e_letter import (SUBJECT, deposit_and_notify, letter_json, open_gateway,
                        recipient_identification, sample_pdf, secrets_in, verify_all_evidence)
from e2e_support import Client, TestFailure, check, expect_status, run_case, wait_until
from lifecycle_e2e import form_fields

# The person the sender names: the provider knows her as born Lefèvre, using Marchand.
RECIPIENT = {
    "email": "elodie.marchand@example.org",
    "given_name": "Élodie",
    "family_name": "Marchand",
    "birth_date": "1985-04-03",
    "professional": False,
}
CLIENT_ID = "sceau-lre-test"
CLIENT_SECRET = secrets.token_urlsafe(24)
PROVIDER_NAME = "fcplus"
PROVIDER_LABEL = "FranceConnect+ (test)"
EIDAS = "http://eidas.europa.eu/attributes/naturalperson/"


class IdentityProvider:
    """oidc-provider under node, on a free port, until stop()."""

    def __init__(self, provider_dir, work):
        self.work = work
        ready = os.path.join(work, "op-ready")
        self._log = open(os.path.join(work, "op.log"), "ab")
        command = ["node", os.path.join(provider_dir, "provider.mjs"), ready]
        if shutil.which("setpriv"):
            command = ["setpriv", "--pdeathsig", "TERM", "--"] + command
        self.process = subprocess.Popen(command, cwd=provider_dir, stdout=self._log,
                                        stderr=self._log)

        def port():
            check(self.process.poll() is None, "the provider stopped:\n" + self.log_tail())
            if os.path.exists(ready):
                with open(ready, encoding="ascii") as f:
                    return f.read().strip()
            return None

        self.issuer = "http://127.0.0.1:" + wait_until("the provider to listen", port,
                                                       interval=0.05)

    def register(self, redirect_uri, auth_method="client_secret_basic"):
        fields = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                  "redirect_uri": redirect_uri, "token_endpoint_auth_method": auth_method}
        expect_status(Client(self.issuer).post_form("/test/client", fields), 204)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log_tail(self, lines=30):
        with open(os.path.join(self.work, "op.log"), encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def start(run, provider_dir, auth_method="client_secret_basic"):
    """The provider, then the gateway configured for it, then the provider told the
    gateway's redirect URI. Returns (provider, gateway, sender)."""
    op = IdentityProvider(provider_dir, run.work)
    run.cleanups.append(op.stop)
    settings = {
        f"oidc.{PROVIDER_NAME}": {
            "label": PROVIDER_LABEL,
            "issuer": op.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_auth_method": auth_method,
            "algorithms": ["ES256"],
            "scopes": ["openid", "given_name", "family_name", "birthdate", "preferred_username"],
            "usage_name_claim": "preferred_username",
            "timeout_ms": 5000,
        },
    }
    gateway, sender = open_gateway(run, settings)
    op.register(gateway.base + "/auth/oidc/callback", auth_method)
    return op, gateway, sender


def deposit_lre(run, sender):
    """An LRE letter for Élodie Marchand, notified; returns (letter, link token)."""
    letter = letter_json("lre", recipient=RECIPIENT, consent_reference="consent-2026-77")
    return deposit_and_notify(run, sender, letter)


def follow(browser, answer, limit=12):
    """Follows 302 and 303 answers (from either site) until a page; returns it."""
    for _ in range(limit):
        if answer.status not in (302, 303):
            return answer
        answer = browser.get(urllib.parse.urljoin(answer.url, answer.headers["Location"]))
    raise TestFailure(f"more than {limit} redirects")


def login(op, gateway, browser, token, person, acr="eidas2", cancel=False, lang="fr"):
    """From the landing page through the provider's login to the answer at the callback;
    returns (the callback's answer, the callback URL the provider sent the browser to)."""
    page = expect_status(browser.get(f"/r/{token}?lang={lang}"), 200)
    start_path = f"/r/{token}/auth/oidc/{PROVIDER_NAME}?lang={lang}"
    check(f'href="{start_path}"' in page.text and PROVIDER_LABEL in page.text,
          f"the landing page does not offer {PROVIDER_LABEL}:\n{page.text}")
    check("Recevoir un code" not in page.text and "Send me a code" not in page.text,
          "an LRE offers the e-mail code")

    to_provider = expect_status(browser.get(start_path), 303)
    cookie = to_provider.headers["Set-Cookie"]
    check("sceau_oidc=" in cookie and "Path=/auth/oidc/callback" in cookie and
          "HttpOnly" in cookie and "SameSite=Lax" in cookie, f"the browser cookie: {cookie}")
    authorize = to_provider.headers["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize).query)
    check(authorize.startswith(op.issuer + "/"),
          f"the recipient is sent to {authorize}")
    check(query["acr_values"] == ["eidas2"], f"acr_values {query['acr_values']}")
    check(query["code_challenge_method"] == ["S256"] and len(query["state"][0]) >= 43 and
          len(query["nonce"][0]) >= 43, f"the authorisation request: {authorize}")

    # The provider's login page, then the login (or the cancel button).
    page = expect_status(follow(browser, browser.get(authorize)), 200)
    check("acr asked: eidas2" in page.text, f"the provider's page:\n{page.text}")
    action = re.search(r'action="([^"]+)"', page.text)
    check(action, f"no login form at the provider:\n{page.text}")
    fields = {"person": person, "acr": acr, ("cancel" if cancel else "login"): "1"}
    answer = browser.post_form(urllib.parse.urljoin(page.url, action.group(1)), fields)

    # Redirects at the provider until it sends the browser to the gateway's callback.
    for _ in range(6):
        check(answer.status in (302, 303),
              f"{answer.label}: {answer.status} at the provider: {answer.body[:400]!r}")
        target = urllib.parse.urljoin(answer.url, answer.headers["Location"])
        if target.startswith(gateway.base + "/auth/oidc/callback"):
            return browser.get(target), target
        answer = browser.get(target)
    raise TestFailure("the provider never sent the browser back")


def attempts(gateway, letter_id):
    """The identification attempts the gateway recorded for the letter, from its store."""
    with sqlite3.connect(os.path.join(gateway.data, "sceau.db")) as db:
        return db.execute("SELECT method, provider, outcome FROM identification_attempts "
                          "WHERE letter_id = ?", (letter_id,)).fetchall()


def check_log_is_clean(gateway, *values):
    log = open(os.path.join(gateway.work, "server.log"), encoding="utf-8").read()
    for value in values:
        check(value not in log, f"the gateway's log holds {value[:12]}...")


def recipient_attributes(xml):
    """{attribute name: value} of the record's RecipientDetails."""
    root = ET.fromstring(xml)
    details = [e for e in root.iter() if e.tag.endswith("}RecipientDetails")][0]
    out = {}
    for attribute in details.iter("{urn:oasis:names:tc:SAML:2.0:assertion}Attribute"):
        value = attribute.find("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue")
        out[attribute.get("Name")] = value.text
    return out


def expect_nothing_opened(browser, sender, letter, token):
    check(sender.letter(letter["id"])["status"] == "notified", "the letter changed status")
    page = expect_status(browser.get(f"/r/{token}?lang=fr"), 200)
    check(f"/r/{token}/accept" not in page.text, "the recipient is offered the choice")
    document = browser.get(f"/r/{token}/documents/1")
    check(document.status == 404 and b"%PDF" not in document.body, "a document was served")


# --- The cases --------------------------------------------------------------------------


def case_accept(run, provider_dir):
    """LRE: deposit, notice, OIDC at eidas2 as the named person (by her usage name),
    acceptance, download; each evidence verified; the callback cannot be used twice."""
    op, gateway, sender = start(run, provider_dir)
    letter, token = deposit_lre(run, sender)
    browser = Client(gateway.base)
    back, callback_url = login(op, gateway, browser, token, "elodie")
    expect_status(back, 303)
    check(back.headers["Location"] == f"/r/{token}?lang=fr",
          f"the callback leads to {back.headers['Location']}")
    check("sceau_oidc=;" in back.headers.get("Set-Cookie", ""), "the browser cookie stays")

    # The same answer again (a replayed code and state): nothing is expected any more.
    replay = browser.get(callback_url)
    expect_status(replay, 400)

    choice = expect_status(browser.get(back.headers["Location"]), 200)
    accepted = browser.post_form(f"/r/{token}/accept",
                                 form_fields(choice, f"/r/{token}/accept"))
    expect_status(accepted, 303)
    page = expect_status(browser.get(accepted.headers["Location"]), 200)
    check(SUBJECT in html.unescape(page.text), "the accepted letter does not show its subject")
    document = expect_status(browser.get(f"/r/{token}/documents/1"), 200)
    check(document.body == sample_pdf(run), "the document differs from the deposited one")

    letter = sender.letter(letter["id"])
    check(letter["status"] == "accepted", f"status {letter['status']}")
    records = verify_all_evidence(
        run, sender, letter,
        ["SubmissionAcceptance", "NotificationForAcceptance", "ConsignmentAcceptance",
         "ContentHandover"])
    for event in ("ConsignmentAcceptance", "ContentHandover"):
        method, level = recipient_identification(records[event])
        check(method == "urn:sceau:identification:oidc", f"{event} records method {method!r}")
        check(level == "http://eidas.europa.eu/LoA/substantial", f"{event} records {level!r}")
        text = records[event].decode("utf-8")
        check(f"identified by {op.issuer}" in text, f"{event} does not name the provider")
        attributes = recipient_attributes(records[event])
        for name, value in (("CurrentGivenName", "Élodie"), ("CurrentFamilyName", "Marchand"),
                            ("BirthName", "Lefèvre"), ("DateOfBirth", "1985-04-03")):
            check(attributes.get(EIDAS + name) == value,
                  f"{event}: {name} is {attributes.get(EIDAS + name)!r}")
        check(attributes.get("urn:sceau:attribute:oidc:sub") == "elodie",
              f"{event} does not record the provider's subject")
    check(attempts(gateway, letter["id"]) == [], "a matching identification was recorded")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(callback_url).query)["code"][0]
    check_log_is_clean(gateway, code, "Lefèvre", CLIENT_SECRET)


def case_no_match(run, provider_dir):
    """LRE: a login as another person opens nothing and is recorded; an answer brought by
    another browser is not taken."""
    op, gateway, sender = start(run, provider_dir, "client_secret_post")
    letter, token = deposit_lre(run, sender)

    # The answer, brought back by a browser that did not begin the identification.
    browser = Client(gateway.base)
    expect_status(browser.get(f"/r/{token}?lang=fr"), 200)
    to_provider = expect_status(browser.get(f"/r/{token}/auth/oidc/{PROVIDER_NAME}?lang=fr"), 303)
    stranger = Client(gateway.base)
    forged = stranger.get(gateway.base + "/auth/oidc/callback?code=x&state=" +
                          urllib.parse.parse_qs(urllib.parse.urlsplit(
                              to_provider.headers["Location"]).query)["state"][0])
    expect_status(forged, 400)

    back, _ = login(op, gateway, Client(gateway.base), token, "claire")
    expect_status(back, 403)
    check("Identité non reconnue" in back.text, f"the mismatch page:\n{back.text}")
    check(secrets_in(back.seen_bytes()) == [], f"the mismatch page shows the letter:\n{back.text}")
    for name in ("Marchand", "Martinez"):
        check(name not in back.text, f"the mismatch page names {name}")
    check(attempts(gateway, letter["id"]) ==
          [("urn:sceau:identification:oidc", op.issuer, "no-match")],
          f"attempts recorded: {attempts(gateway, letter['id'])}")
    expect_nothing_opened(browser, sender, letter, token)
    check("outcome=no-match" in open(os.path.join(gateway.work, "server.log")).read(),
          "the mismatch is not in the log")
    check_log_is_clean(gateway, "Martinez", CLIENT_SECRET)


def case_low_acr(run, provider_dir):
    """LRE: the named person, but at eidas1: refused, nothing opened, nothing recorded as
    an attempt (the provider did not vouch at the level)."""
    op, gateway, sender = start(run, provider_dir)
    letter, token = deposit_lre(run, sender)
    browser = Client(gateway.base)
    # Begun in English, answered in English: the provider's redirect carries no language.
    back, _ = login(op, gateway, browser, token, "elodie", acr="eidas1", lang="en")
    expect_status(back, 403)
    check('<html lang="en">' in back.text and "Identification level too low" in back.text and
          "substantial or high" in back.text, f"the refusal page:\n{back.text}")
    check(secrets_in(back.seen_bytes()) == [], f"the refusal page shows the letter:\n{back.text}")
    check("reason=loa_too_low" in open(os.path.join(gateway.work, "server.log")).read(),
          "the log does not say the level was too low")
    check(attempts(gateway, letter["id"]) == [], "a refused identification was matched")
    expect_nothing_opened(browser, sender, letter, token)


def case_cancel(run, provider_dir):
    """LRE: the person cancels at the provider (error=access_denied): a page that says the
    identification did not succeed, nothing opened."""
    op, gateway, sender = start(run, provider_dir)
    letter, token = deposit_lre(run, sender)
    browser = Client(gateway.base)
    back, url = login(op, gateway, browser, token, "elodie", cancel=True)
    check("error=access_denied" in url, f"the provider answered {url}")
    expect_status(back, 403)
    check("Identification interrompue" in back.text, f"the page:\n{back.text}")
    check(secrets_in(back.seen_bytes()) == [], f"the page shows the letter:\n{back.text}")
    check("reason=provider_error" in open(os.path.join(gateway.work, "server.log")).read(),
          "the log does not give the reason")
    expect_nothing_opened(browser, sender, letter, token)


CASES = {
    "accept": case_accept,
    "no-match": case_no_match,
    "low-acr": case_low_acr,
    "cancel": case_cancel,
}

if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[4] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} SCEAU_BINARY SOURCE_DIR PROVIDER_DIR "
                 f"{{{','.join(CASES)}}}")
    binary, source_dir, provider_dir = (os.path.abspath(a) for a in sys.argv[1:4])
    case = CASES[sys.argv[4]]
    sys.exit(run_case(lambda run: case(run, provider_dir), binary, source_dir))
