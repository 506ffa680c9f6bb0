"""End-to-end tests of the recipient's pages in a real browser: Debian's headless Chromium,
driven through chromedriver by Selenium, with JavaScript turned off, against the gateway
and the SMTP server of e2e_support. The sender deposits over the API; the recipient opens
the link of the notice, identifies, chooses and downloads by clicking and typing; the
sender's evidence is then checked with the tools of evidence_checks.sh.

Each step of a journey is one small function that acts as the recipient would, checks
what the page shows and keeps a screenshot of it. Until the letter is accepted, every
page's title, visible text and source must be free of the sender's name, company and
e-mail, the subject and the reference.

Usage: browser_e2e.py SCEAU_BINARY SOURCE_DIR ARTIFACT_DIR CASE
where CASE is one of: ere-accept, ere-refuse, lre-accept. A case's screenshots go to ARTIFACT_DIR/CASE/,
numbered in the order of its steps; each run replaces them.
"""

import contextlib
import functools
import os
import secrets
import shutil
import sys
import time

from e2e_letter import (RECIPIENT, SECRETS, deposit_and_notify, letter_json, open_gateway,
                        recipient_identification, sample_pdf, secrets_in, verify_all_evidence)
from e2e_support import TestFailure, check, run_case, wait_until

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:
    sys.exit("the browser tests need Selenium: Debian's python3-selenium, which scripts/test "
             "installs, and the Debian python3 that sees it")

# As root and on a closed network: no sandbox (it needs a user of its own), and none of
# the background connections a first run makes.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--window-size=1024,1280",
]

# The browser talks to the gateway on 127.0.0.1 only, and Selenium to chromedriver.
for _proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
               "ALL_PROXY"):
    os.environ.pop(_proxy, None)


class Browser:
    """Headless Chromium with JavaScript off, a fresh profile and download directory under
    `work`, and screenshots numbered into `shots`."""

    def __init__(self, work, shots, language):
        chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
        check(chromium and chromedriver,
              "the browser tests need Debian's chromium and chromium-driver (scripts/test "
              "installs them)")
        os.makedirs(work)
        self.downloads = os.path.join(work, "downloads")
        os.mkdir(self.downloads)
        self.shots = shots
        self.steps = 0

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={os.path.join(work, 'profile')}",
                                      f"--lang={language}"]:
            options.add_argument(flag)
        options.add_experimental_option("prefs", {
            "profile.managed_default_content_settings.javascript": 2,  # blocked
            "intl.accept_languages": language,
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "plugins.always_open_pdf_externally": True,
        })
        service = Service(chromedriver, log_path=os.path.join(work, "chromedriver.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(30)

    def shot(self, name):
        """Saves what the window shows as NN-name.png."""
        self.steps += 1
        path = os.path.join(self.shots, f"{self.steps:02d}-{name}.png")
        check(self.driver.save_screenshot(path), f"no screenshot {path}")
        return path

    def visit(self, url):
        self.driver.get(url)

    def text(self):
        """The text a reader sees: what is rendered of the body."""
        return self.driver.find_element(By.TAG_NAME, "body").text

    def press(self, action):
        """Clicks the button of the form that posts to `action`, as a person would (no
        script submits it), and waits for the page it leads to."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button").click()
        wait_until(f"the page after {action}", lambda: _is_stale(old))

    def click(self, selector):
        """Clicks what `selector` finds (a link, or one button among several of a form),
        and waits for the page it leads to."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, selector).click()
        wait_until(f"the page after clicking {selector}", lambda: _is_stale(old))

    def type_into(self, field_id, text):
        field = self.driver.find_element(By.ID, field_id)
        field.clear()
        field.send_keys(text)

    def download(self, href, name, timeout=20.0):
        """Clicks the link to `href` and returns the bytes of the file `name` it saves."""
        self.driver.find_element(By.CSS_SELECTOR, f"a[href='{href}']").click()
        path = os.path.join(self.downloads, name)

        def finished():
            names = os.listdir(self.downloads)
            return os.path.exists(path) and not any(n.endswith(".crdownload") for n in names)

        wait_until(f"the download of {name}", finished, timeout=timeout)
        with open(path, "rb") as f:
            return f.read()

    def quit(self):
        self.driver.quit()


def _is_stale(element):
    try:
        element.tag_name
        return False
    except WebDriverException:
        return True


@contextlib.contextmanager
def chromium(run, shots, language):
    """A Browser for one case; on failure the page as it was is kept as NN-failed.png."""
    browser = Browser(os.path.join(run.work, "browser"), shots, language)
    try:
        yield browser
    except BaseException as failure:
        with contextlib.suppress(Exception):
            browser.shot("failed")
        if isinstance(failure, WebDriverException):
            raise TestFailure(f"the browser: {failure}") from failure
        raise
    finally:
        browser.quit()


# --- One recipient's journey, a step per function ----------------------------------------
# A journey is a list of these calls. An LRE journey differs in its identification step
# only: one that follows the landing page's eIDAS link to the node and comes back through
# /auth/saml/acs, where identify_by_code stands for an ERE.


class Journey:
    """A letter deposited and notified, its sender, and the recipient's browser on it.
    `revealed` turns true once the recipient accepted: until then no page may show what
    the recipient is not yet entitled to."""

    def __init__(self, run, browser, gateway, sender, letter, link, documents, lang):
        self.run = run
        self.browser = browser
        self.gateway = gateway
        self.sender = sender
        self.letter = letter
        self.link = link
        self.token = link.rsplit("/", 1)[1]
        self.documents = documents
        self.lang = lang
        self.revealed = False
        self.codes = []

    def t(self, fr, en):
        return en if self.lang == "en" else fr

    def look(self, step):
        """The page now shown: a screenshot, no script in it, and before acceptance
        nothing of the sender, the subject or the reference. Returns its visible text."""
        b = self.browser
        b.shot(step)
        source = b.driver.page_source
        check("<script" not in source.lower(), f"{step}: the page carries a script")
        text = b.text()
        if not self.revealed:
            for what, seen in (("title", b.driver.title), ("visible text", text),
                               ("source", source)):
                leaks = secrets_in(seen.encode("utf-8"))
                check(not leaks, f"{step}: the page's {what} shows {leaks} before acceptance")
        return text


def deposit(run, sender, documents, kind="ere"):
    """The sender deposits a letter over the API and its notice reaches the mailbox.
    Returns the letter and the link the notice gives."""
    extra = {"consent_reference": "consentement-2026-118"} if kind == "lre" else {}
    letter, token = deposit_and_notify(run, sender, letter_json(kind, **extra), documents)
    links = [m.link() for m in run.mailbox.mails if "/r/" + token in m.text]
    check(len(links) == 1, f"{len(links)} notices link to the letter")
    return letter, links[0]


def check_javascript_off(browser):
    """The browser runs no script: a page that would retitle itself keeps its title and
    shows its <noscript> content."""
    browser.visit("data:text/html,<title>static</title>"
                  "<script>document.title='script ran'</script>"
                  "<noscript><p>scripts are off</p></noscript>")
    check(browser.driver.title == "static", "the browser ran a script")
    check("scripts are off" in browser.text(), "the browser shows no <noscript> content")


def open_notice(j):
    """The recipient opens the link of the notice: a letter waits, with its deadline."""
    j.browser.visit(j.link)
    text = j.look("notice-link")
    # Only an lre is a "lettre recommandée électronique" (CPCE L.100); an ere is an "envoi".
    if j.letter["kind"] == "lre":
        waits = j.t("Une lettre recommandée électronique vous attend",
                    "A registered electronic letter awaits you")
    else:
        waits = j.t("Un envoi recommandé électronique vous attend",
                    "A registered electronic delivery awaits you")
        check("lettre recommandée" not in text, f"an ere is called an lre: {text}")
    check(waits in text, f"landing page: {text}")
    check(j.t("heure de Paris", "Paris time") in text, f"no deadline on the landing page: {text}")
    cookies = {c["name"]: c for c in j.browser.driver.get_cookies()}
    session = cookies.get("sceau_session")
    check(session is not None and session["httpOnly"] and session.get("sameSite") == "Lax" and
          session["path"] == f"/r/{j.token}",
          f"the session cookie is not HttpOnly, SameSite=Lax and scoped to the link: {session}")


def ask_for_code(j):
    """The recipient asks for a code by e-mail; it arrives as a second mail."""
    before = j.run.mailbox.count()
    j.browser.press(f"/r/{j.token}/code")
    text = j.look("code-asked")
    check(j.t("Saisissez votre code", "Enter your code") in text, f"code page: {text}")
    code = j.run.mailbox.wait_for("code mail", RECIPIENT["email"], after=before).code()
    j.codes.append(code)
    return code


def enter_code(j, code, step="code-entered"):
    """The recipient types the code into the form and confirms it."""
    j.browser.type_into("code", code)
    j.browser.press(f"/r/{j.token}/verify")
    return j.look(step)


def enter_wrong_code(j, code):
    """A mistyped code is refused, with the attempts left, and changes nothing."""
    wrong = "".join(str((int(d) + 1) % 10) for d in code)
    text = enter_code(j, wrong, "wrong-code")
    check(j.t("Essais restants : 4", "Attempts left: 4") in text, f"wrong code page: {text}")


def identify_by_code(j, mistype_first=False):
    """Identification by e-mail code, up to the page of the choice."""
    code = ask_for_code(j)
    if mistype_first:
        enter_wrong_code(j, code)
    text = enter_code(j, code)
    check(j.t("Acceptez-vous cette lettre ?", "Do you accept this letter?") in text,
          f"no choice after the code: {text}")


def identify_by_demo_node(j):
    """Identification for an LRE through the built-in demo eIDAS node: the landing page's
    eIDAS link, the node's page (labelled as a demonstration), Claire Martin picked at
    level substantial, the node's answer posted to the ACS by its button, up to the choice."""
    text = j.browser.text()
    check(j.t("exige une identification eIDAS", "requires eIDAS identification") in text,
          f"the landing page of an LRE does not ask for eIDAS: {text}")
    j.browser.click(f"a[href^='/r/{j.token}/auth/saml']")
    text = j.look("demo-node")
    for warning in ("DÉMONSTRATION", "DEMONSTRATION"):
        check(warning in text, f"the demo node's page does not say {warning}: {text}")
    check("substantiel / substantial" in text, f"the node was not asked for substantial: {text}")
    j.browser.click("form[action='/demo/eidas/sso'] button[value='claire-martin']")
    text = j.look("demo-node-answer")
    check("DÉMONSTRATION" in text and "Claire Martin" in text, f"the node's answer: {text}")
    j.browser.press(j.gateway.base + "/auth/saml/acs")
    text = j.look("identified-by-eidas")
    check(j.t("Acceptez-vous cette lettre ?", "Do you accept this letter?") in text,
          f"no choice after eIDAS identification: {text}")


def accept(j):
    """The recipient accepts: now, and only now, the sender, subject and documents."""
    j.browser.press(f"/r/{j.token}/accept")
    j.revealed = True
    text = j.look("accepted-letter")
    for what, value in SECRETS.items():
        check(value in text, f"the letter page does not show the {what}: {text}")
    for name, _ in j.documents:
        check(name in text, f"the letter page does not name {name}")


def download_documents(j):
    """Each document, clicked on the letter page, saves the very bytes deposited, under
    the name it was deposited with."""
    for n, (name, content) in enumerate(j.documents, start=1):
        saved = j.browser.download(f"/r/{j.token}/documents/{n}", name)
        check(saved == content, f"the downloaded {name} differs from the deposited bytes")
    j.look("documents-downloaded")


def refuse(j):
    """The recipient refuses: the refusal is confirmed and nothing of the letter shown."""
    j.browser.press(f"/r/{j.token}/refuse")
    text = j.look("refused")
    check(j.t("Vous avez refusé la lettre", "You have refused the letter") in text,
          f"refusal page: {text}")


def check_link_dead(j):
    """After a refusal the link, the letter page and the documents show what a link that
    never existed shows, and nothing downloads."""
    bogus = secrets.token_urlsafe(32)
    j.browser.visit(f"{j.gateway.base}/r/{bogus}")
    neutral = j.browser.text()
    for step, path in (("link-after-refusal", ""), ("letter-after-refusal", "/letter"),
                       ("document-after-refusal", "/documents/1")):
        j.browser.visit(j.link + path)
        check(j.look(step) == neutral, f"{step}: not the page of an unknown link")
    time.sleep(0.5)  # a download would have started by now
    check(not os.listdir(j.browser.downloads), "a document downloaded after the refusal")


def check_sender_evidence(j, status, events, choice_event,
                          identified=("urn:sceau:identification:email-code",
                                      "urn:sceau:loa:email-control")):
    """The sender sees the letter in `status` with exactly `events`, each verified by the
    independent tools; the choice records the identification (method, level) given."""
    letter = j.sender.wait_for_status(j.letter["id"], status)
    records = verify_all_evidence(j.run, j.sender, letter, events)
    method, level = recipient_identification(records[choice_event])
    check((method, level) == identified,
          f"{choice_event} records identification {method!r} at {level!r}")


def check_server_log(j):
    """The gateway's log holds neither the link's token, the codes, the session cookie,
    the sender's key nor any document."""
    with open(os.path.join(j.gateway.work, "server.log"), encoding="utf-8",
              errors="replace") as f:
        log = f.read()
    check("request id=" in log, "the gateway logged no request")
    secret_values = {"the link's token": j.token, "the sender's API key": j.sender.key}
    secret_values.update({f"code {code}": code for code in j.codes})
    for cookie in j.browser.driver.get_cookies():
        secret_values[f"cookie {cookie['name']}"] = cookie["value"]
    for what, value in secret_values.items():
        check(value not in log, f"the gateway's log holds {what}")
    check("%PDF" not in log, "the gateway's log holds a document")


# --- The cases --------------------------------------------------------------------------


def case_ere_accept(run, shots):
    """ERE in French: notice link, a mistyped code then the right one, acceptance, the
    letter shown, both documents downloaded byte for byte, the sender's evidence verified."""
    gateway, sender = open_gateway(run)
    documents = [("mise-en-demeure.pdf", sample_pdf(run)),
                 ("annexe n°2.pdf", sample_pdf(run, "pdf-generated/plain-objstm.pdf"))]
    letter, link = deposit(run, sender, documents)
    with chromium(run, shots, "fr-FR,fr") as browser:
        check_javascript_off(browser)
        j = Journey(run, browser, gateway, sender, letter, link, documents, "fr")
        open_notice(j)
        identify_by_code(j, mistype_first=True)
        accept(j)
        download_documents(j)
        check_sender_evidence(j, "accepted",
                              ["SubmissionAcceptance", "NotificationForAcceptance",
                               "ConsignmentAcceptance", "ContentHandover"],
                              "ConsignmentAcceptance")
        check_server_log(j)


def case_ere_refuse(run, shots):
    """ERE in English: notice link, code, refusal; the link is dead afterwards and the
    sender's evidence is verified."""
    gateway, sender = open_gateway(run)
    documents = [("mise-en-demeure.pdf", sample_pdf(run))]
    letter, link = deposit(run, sender, documents)
    with chromium(run, shots, "en-GB,en") as browser:
        check_javascript_off(browser)
        j = Journey(run, browser, gateway, sender, letter, link, documents, "en")
        open_notice(j)
        identify_by_code(j)
        refuse(j)
        check_link_dead(j)
        check_sender_evidence(j, "refused",
                              ["SubmissionAcceptance", "NotificationForAcceptance",
                               "ConsignmentRejection"],
                              "ConsignmentRejection")
        check_server_log(j)


def case_lre_accept(run, shots):
    """LRE in French through the demo eIDAS node: notice link, eIDAS identification as the
    named person at substantial, acceptance, the document downloaded, the sender's evidence
    verified and recording the eIDAS identification."""
    gateway, sender = open_gateway(run, {"saml": {"demo_node": True}})
    documents = [("mise-en-demeure.pdf", sample_pdf(run))]
    letter, link = deposit(run, sender, documents, kind="lre")
    with chromium(run, shots, "fr-FR,fr") as browser:
        check_javascript_off(browser)
        j = Journey(run, browser, gateway, sender, letter, link, documents, "fr")
        open_notice(j)
        identify_by_demo_node(j)
        accept(j)
        download_documents(j)
        check_sender_evidence(j, "accepted",
                              ["SubmissionAcceptance", "NotificationForAcceptance",
                               "ConsignmentAcceptance", "ContentHandover"],
                              "ConsignmentAcceptance",
                              ("urn:sceau:identification:eidas-saml",
                               "http://eidas.europa.eu/LoA/substantial"))
        check_server_log(j)


CASES = {
    "ere-accept": case_ere_accept,
    "ere-refuse": case_ere_refuse,
    "lre-accept": case_lre_accept,
}

if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[4] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} SCEAU_BINARY SOURCE_DIR ARTIFACT_DIR "
                 f"{{{','.join(CASES)}}}")
    binary, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shots = os.path.join(os.path.abspath(sys.argv[3]), sys.argv[4])
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)
    sys.exit(run_case(functools.partial(CASES[sys.argv[4]], shots=shots), binary, source_dir))
