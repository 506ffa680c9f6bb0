"""End-to-end tests of a letter's life: the gateway, a real SMTP server (aiosmtpd), a
recipient's browser, and the evidence of every step checked with xmllint, xmlsec1 and
openssl ts (evidence_checks.sh).

Usage: lifecycle_e2e.py SCEAU_BINARY SOURCE_DIR CASE
where CASE is one of: accept, refuse, expire, wrong-codes, lre, undeliverable,
relay-trouble, leak.
"""

import datetime
import html
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import zoneinfo

from e2e_letter import (RECIPIENT, SECRETS, deposit_and_notify, evidence_of, letter_json,
                        open_gateway, recipient_identification, sample_pdf, secrets_in,
                        verify_all_evidence)
from e2e_support import Client, check, expect_status, run_case, wait_until
from prometheus_client.parser import text_string_to_metric_families

EXPIRY_OFFSET = 17 * 24 * 3600  # past any acceptance window (15 days from the next day)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# Past the reminder seven days before the window closes, still inside the window.
REMINDER_OFFSET = 14 * 24 * 3600


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def form_fields(page, action):
    forms = page.forms()
    check(action in forms, f"{page.label}: no form posting to {action}; forms: {list(forms)}")
    return forms[action]


def landing(browser, token, lang="fr"):
    page = expect_status(browser.get(f"/r/{token}?lang={lang}"), 200)
    set_cookie = page.headers.get("Set-Cookie")
    check(set_cookie is None or ("HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie),
          f"the session cookie is open to scripts or other sites: {set_cookie}")
    cookie = browser.cookie("sceau_session")
    check(cookie is not None and cookie.path == f"/r/{token}",
          f"the session cookie is not scoped to the link: {cookie}")
    return page


def ask_code(run, browser, token, page):
    """Posts the page's code form; returns the code the mail brings."""
    before = run.mailbox.count()
    fields = form_fields(page, f"/r/{token}/code")
    expect_status(browser.post_form(f"/r/{token}/code", fields), 200)
    return run.mailbox.wait_for("code mail", RECIPIENT["email"], after=before).code()


def identify(run, browser, token, lang="fr"):
    """From the link to the choice: landing, code by mail, verification. Returns the
    choice page."""
    page = landing(browser, token, lang)
    code = ask_code(run, browser, token, page)
    fields = dict(form_fields(page, f"/r/{token}/code"), code=code)
    verified = expect_status(browser.post_form(f"/r/{token}/verify", fields), 303)
    check(verified.headers["Location"] == f"/r/{token}?lang={lang}",
          f"verification leads to {verified.headers['Location']}")
    choice = expect_status(browser.get(verified.headers["Location"]), 200)
    form_fields(choice, f"/r/{token}/accept")
    form_fields(choice, f"/r/{token}/refuse")
    return choice


def neutral_page(gateway):
    """The page of a link that never existed: what every dead link must look like."""
    bogus = secrets.token_urlsafe(32)
    page = expect_status(Client(gateway.base).get(f"/r/{bogus}?lang=fr"), 404)
    return page.text.replace(bogus, "TOKEN")


def expect_neutral(answer, token, neutral):
    expect_status(answer, 404)
    check(answer.text.replace(token, "TOKEN") == neutral,
          f"{answer.label}: not the neutral page of an unknown link:\n{answer.text}")
    check(answer.headers.get("Set-Cookie") is None, f"{answer.label}: sets a cookie")


def expect_no_document(answer, pdf):
    check(answer.status != 200 and b"%PDF" not in answer.body and pdf not in answer.body,
          f"{answer.label}: served content ({answer.status})")


# --- The cases --------------------------------------------------------------------------


def case_accept(run):
    """ERE: deposit, notice, code, acceptance, download; every step's evidence verified."""
    gateway, sender = open_gateway(run)
    documents = [("mise-en-demeure.pdf", sample_pdf(run)),
                 ("annexe n°2.pdf", sample_pdf(run, "pdf-generated/plain-objstm.pdf"))]
    letter, token = deposit_and_notify(run, sender, documents=documents)

    # The window: 15 days counted from the day after the notice, never less than 15 days.
    notified_at = parse_time(evidence_of(letter, "NotificationForAcceptance")["time"])
    deadline = parse_time(letter["accept_deadline"])
    check(datetime.timedelta(days=15) <= deadline - notified_at <= datetime.timedelta(days=17),
          f"notified {notified_at}, deadline {deadline}")
    check(deadline.astimezone(PARIS).time() == datetime.time(0, 0),
          f"the deadline {deadline} is not a midnight in Paris")

    # The notice (the run's first mail) and the landing page announce that deadline's last
    # day; strftime names it in English, as the C locale does.
    last_day = (deadline - datetime.timedelta(milliseconds=1)).astimezone(PARIS)
    last_day_text = last_day.strftime("%A %-d %B %Y")
    check(f"until {last_day_text} inclusive" in run.mailbox.mails[0].text,
          f"the notice does not give {last_day_text}: {run.mailbox.mails[0].text}")
    check(last_day_text in landing(Client(gateway.base), token, "en").text,
          f"the landing page does not give {last_day_text}")

    browser = Client(gateway.base)
    choice = identify(run, browser, token)
    accepted = browser.post_form(f"/r/{token}/accept", form_fields(choice, f"/r/{token}/accept"))
    expect_status(accepted, 303)
    check(accepted.headers["Location"] == f"/r/{token}/letter?lang=fr",
          f"acceptance leads to {accepted.headers['Location']}")

    # Now, and only now, the sender, the subject and the documents.
    page = expect_status(browser.get(accepted.headers["Location"]), 200)
    for what, value in SECRETS.items():
        check(value in html.unescape(page.text), f"the letter page does not show the {what}")
    for n, (name, _) in enumerate(documents, start=1):
        check(f'href="/r/{token}/documents/{n}"' in page.text, f"the page does not link {n}")
        check(html.escape(name) in page.text, f"the letter page does not name {name}")

    # Each document, byte for byte, under its name; downloading again, or another document,
    # is no second handover.
    for n, (name, content) in [(1, documents[0]), (2, documents[1]), (1, documents[0])]:
        document = expect_status(browser.get(f"/r/{token}/documents/{n}"), 200)
        check(document.body == content, f"document {n} differs from the deposited one")
        check(document.headers["Content-Type"] == "application/pdf",
              f"document {n} served as {document.headers['Content-Type']}")
        disposition = document.headers["Content-Disposition"]
        check(disposition.startswith("attachment;") and
              disposition.endswith("''" + urllib.parse.quote(name, safe="")),
              f"document {n} is not served as the attachment {name}: {disposition}")
    for n in (0, 3, "x"):
        answer = browser.get(f"/r/{token}/documents/{n}")
        check(answer.status == 404 and b"%PDF" not in answer.body, f"document {n} served")

    letter = sender.letter(letter["id"])
    check(letter["status"] == "accepted", f"status {letter['status']}")
    records = verify_all_evidence(
        run, sender, letter,
        ["SubmissionAcceptance", "NotificationForAcceptance", "ConsignmentAcceptance",
         "ContentHandover"])
    method, level = recipient_identification(records["ConsignmentAcceptance"])
    check(method == "urn:sceau:identification:email-code",
          f"the acceptance records the method {method!r}")
    check(level == "urn:sceau:loa:email-control", f"the acceptance records the level {level!r}")


def case_refuse(run):
    """ERE: deposit, notice, code, refusal; afterwards the link is dead."""
    gateway, sender = open_gateway(run)
    pdf = sample_pdf(run)
    letter, token = deposit_and_notify(run, sender)

    browser = Client(gateway.base)
    choice = identify(run, browser, token, lang="en")
    refuse_fields = form_fields(choice, f"/r/{token}/refuse")
    refused = expect_status(browser.post_form(f"/r/{token}/refuse", refuse_fields), 200)
    check("You have refused the letter" in refused.text, f"refusal page: {refused.text}")

    letter = sender.letter(letter["id"])
    check(letter["status"] == "refused", f"status {letter['status']}")
    verify_all_evidence(run, sender, letter,
                        ["SubmissionAcceptance", "NotificationForAcceptance",
                         "ConsignmentRejection"])

    # The link, the letter page and the document are gone, for this session and any other.
    neutral = neutral_page(gateway)
    for client in (browser, Client(gateway.base)):
        expect_neutral(client.get(f"/r/{token}?lang=fr"), token, neutral)
        expect_neutral(client.get(f"/r/{token}/letter?lang=fr"), token, neutral)
        for n in (1, 2):
            answer = client.get(f"/r/{token}/documents/{n}?lang=fr")
            expect_no_document(answer, pdf)
            expect_neutral(answer, token, neutral)
    # The refusing session's later "accept" loses like any late choice: 409, nothing changes.
    accept_fields = form_fields(choice, f"/r/{token}/accept")
    late = browser.post_form(f"/r/{token}/accept", dict(accept_fields, lang="fr"))
    check(late.status == 409, f"a late acceptance answered {late.status}")
    check(sender.letter(letter["id"])["status"] == "refused", "a refused letter was accepted")


def case_expire(run):
    """ERE: deposit and notice; 17 days later (a restart with a shifted clock) the letter
    has expired, at once, with its evidence; the link is dead."""
    gateway, sender = open_gateway(run)
    letter, token = deposit_and_notify(run, sender)
    browser = Client(gateway.base)
    landing(browser, token)

    gateway.stop()
    gateway.start(clock_offset=EXPIRY_OFFSET)
    browser.base = gateway.base  # a new port; the same cookies
    letter = sender.wait_for_status(letter["id"], "expired", timeout=15)
    verify_all_evidence(run, sender, letter,
                        ["SubmissionAcceptance", "NotificationForAcceptance",
                         "AcceptanceRejectionExpiry"])
    check(parse_time(evidence_of(letter, "AcceptanceRejectionExpiry")["time"])
          >= parse_time(letter["accept_deadline"]), "expired before the deadline")

    neutral = neutral_page(gateway)
    pdf = sample_pdf(run)
    for client in (browser, Client(gateway.base)):
        expect_neutral(client.get(f"/r/{token}?lang=fr"), token, neutral)
        expect_neutral(client.get(f"/r/{token}/letter?lang=fr"), token, neutral)
        document = client.get(f"/r/{token}/documents/1?lang=fr")
        expect_no_document(document, pdf)
        expect_neutral(document, token, neutral)


def case_wrong_codes(run):
    """Forms without the session's CSRF token change nothing; wrong codes are limited, and
    past the limit the right code fails too."""
    gateway, sender = open_gateway(run, {"recipient": {"code_attempts": 3}})
    letter, token = deposit_and_notify(run, sender)
    browser = Client(gateway.base)
    page = landing(browser, token)
    fields = form_fields(page, f"/r/{token}/code")
    csrf = fields["csrf"]
    other = Client(gateway.base)
    other_csrf = form_fields(landing(other, token), f"/r/{token}/code")["csrf"]

    def forged(action, **extra):
        """POSTs without the CSRF token, with a wrong one, with another session's: 403."""
        for label, forged_csrf in (("no", None), ("a wrong", csrf[::-1]),
                                   ("another session's", other_csrf)):
            form = dict(fields, **extra)
            if forged_csrf is None:
                del form["csrf"]
            else:
                form["csrf"] = forged_csrf
            answer = browser.post_form(f"/r/{token}/{action}", form,
                                       label=f"POST {action} with {label} CSRF token")
            expect_status(answer, 403)

    before = run.mailbox.count()
    forged("code")
    check(run.mailbox.count() == before, "a forged form sent a code")

    code = ask_code(run, browser, token, page)
    forged("verify", code=code)
    forged("accept")
    forged("refuse")
    again = expect_status(browser.get(f"/r/{token}?lang=fr"), 200)
    check(f"/r/{token}/accept" not in again.text, "forged forms identified the session")
    check(sender.letter(letter["id"])["status"] == "notified", "forged forms decided")

    # Three wrong codes, then the right one is refused as well.
    wrong = "".join(str((int(d) + 1) % 10) for d in code)
    for left in (2, 1):
        answer = expect_status(
            browser.post_form(f"/r/{token}/verify", dict(fields, code=wrong)), 400)
        check(f"Essais restants : {left}" in answer.text, f"attempts left: {answer.text}")
    expect_status(browser.post_form(f"/r/{token}/verify", dict(fields, code=wrong)), 400)
    locked = expect_status(browser.post_form(f"/r/{token}/verify", dict(fields, code=code)), 400)
    check("plus valable" in locked.text, f"the right code after the limit: {locked.text}")
    still = expect_status(browser.get(f"/r/{token}?lang=fr"), 200)
    check(f"/r/{token}/accept" not in still.text, "the right code past the limit identified")
    refused = browser.post_form(f"/r/{token}/accept", fields)
    check(refused.status == 400, f"accepting unidentified answered {refused.status}")
    check(sender.letter(letter["id"])["status"] == "notified", "an unidentified choice counted")

    # A new code, entered right the first time, opens the choice.
    code = ask_code(run, browser, token, still)
    expect_status(browser.post_form(f"/r/{token}/verify", dict(fields, code=code)), 303)
    form_fields(expect_status(browser.get(f"/r/{token}?lang=fr"), 200), f"/r/{token}/accept")


def case_lre(run):
    """LRE letters need eIDAS identification: no code form, and no code is ever mailed."""
    gateway, sender = open_gateway(run)
    professional = dict(RECIPIENT, professional=True, legal_name="Martin Conseil")
    for letter in (letter_json("lre", consent_reference="consentement-2026-118"),
                   dict(letter_json("lre"), recipient=professional)):
        letter, token = deposit_and_notify(run, sender, letter)
        browser = Client(gateway.base)
        french = landing(browser, token, "fr")
        check("exige une identification eIDAS" in french.text, f"landing: {french.text}")
        english = landing(browser, token, "en")
        check("requires eIDAS identification" in english.text, f"landing: {english.text}")
        for page in (french, english):
            check(not page.forms(), f"{page.label} offers forms: {list(page.forms())}")

        before = run.mailbox.count()
        for fields in ({"lang": "fr"}, {"lang": "fr", "csrf": secrets.token_urlsafe(24)}):
            expect_status(browser.post_form(f"/r/{token}/code", fields), 403)
            expect_status(browser.post_form(f"/r/{token}/verify", dict(fields, code="12345678")),
                          403)
        check(run.mailbox.count() == before, "a code was mailed for an lre letter")
        check(sender.letter(letter["id"])["status"] == "notified", "the lre letter moved")


def case_undeliverable(run):
    """The SMTP server refuses one recipient for good (550), the message to another (554
    after its data), and a third for a while (451): the first two letters are undeliverable
    with their failure evidence, the third is notified once the server takes the mail,
    each step verified."""
    gateway, sender = open_gateway(run, {"lifecycle": {"first_retry_seconds": 1}})
    nobody = "personne@example.org"
    strict = "filtre-strict@example.org"
    busy = "encombre@example.org"
    run.mailbox.refuse(nobody, "550 5.1.1 no such mailbox")
    run.mailbox.refuse(strict, "554 5.6.0 message refused", at="DATA")
    run.mailbox.refuse(busy, "451 4.2.1 mailbox busy, try later", times=2)

    def deposit_to(address):
        letter = dict(letter_json(), recipient=dict(RECIPIENT, email=address))
        return sender.deposit(letter, [("mise-en-demeure.pdf", sample_pdf(run))])["id"]

    lost, refused, late = deposit_to(nobody), deposit_to(strict), deposit_to(busy)
    for letter_id, reply in ((lost, b"550"), (refused, b"554")):
        letter = sender.wait_for_status(letter_id, "undeliverable")
        records = verify_all_evidence(
            run, sender, letter, ["SubmissionAcceptance", "NotificationForAcceptanceFailure"])
        check(reply in records["NotificationForAcceptanceFailure"],
              "the failure evidence does not give the server's reply")
        check(letter["accept_deadline"] is None, "an undeliverable letter has a deadline")

    letter = sender.wait_for_status(late, "notified", timeout=30)
    verify_all_evidence(run, sender, letter,
                        ["SubmissionAcceptance", "NotificationForAcceptance"])
    notice = run.mailbox.wait_for("notice", busy)
    check(run.mailbox.rcpt_attempts.count(busy) == 3, f"attempts: {run.mailbox.rcpt_attempts}")
    check(notice.link().startswith(gateway.base + "/r/"), "the late notice has no link")
    check(not any(nobody in m.recipients or strict in m.recipients for m in run.mailbox.mails),
          "a refused mail arrived")
    check(run.mailbox.rcpt_attempts.count(nobody) == 1, "a permanent refusal was retried")
    check(run.mailbox.rcpt_attempts.count(strict) == 1, "a refused message was sent again")


def case_relay_trouble(run):
    """A relay that demands STARTTLS and a login, then refuses the provider's sender
    address for a while: the notice waits in its queue and nothing is recorded against the
    recipient; once the relay takes it, it left over TLS, authenticated, and the letter is
    notified."""
    credentials = ("sceau-relay", secrets.token_urlsafe(12))
    mailbox = run.secure_mailbox(credentials)
    mail = {"starttls": True, "username": credentials[0], "password": "not-" + credentials[1],
            "ca_file": os.path.join(run.source_dir, "certs-sample", "root-ca.pem")}
    gateway, sender = open_gateway(run, {"mail": mail, "lifecycle": {"first_retry_seconds": 1}})
    letter_id = sender.deposit(letter_json(), [("mise-en-demeure.pdf", sample_pdf(run))])["id"]

    def still_waiting(trouble):
        letter = sender.letter(letter_id)
        check(letter["status"] == "deposited", f"{trouble} made the letter {letter['status']}")
        check([e["event"] for e in letter["evidence"]] == ["SubmissionAcceptance"],
              f"{trouble} left evidence: {letter['evidence']}")
        check(not mailbox.mails, f"a mail was taken despite {trouble}")

    # A wrong password: refused logins, retried.
    wait_until("two refused logins", lambda: len(mailbox.logins) >= 2)
    check(set(mailbox.logins) == {(credentials[0], False)}, f"logins: {mailbox.logins}")
    still_waiting("a refused login")

    # The right password, after a restart; the relay then refuses our address twice.
    mailbox.refuse_sender("550 5.7.1 sender address not allowed", times=2)
    gateway.stop()
    gateway.configure({"mail": {"password": credentials[1]}})
    gateway.start()
    wait_until("two refused senders", lambda: mailbox.mail_attempts >= 2)
    still_waiting("a refused sender address")

    notice = mailbox.wait_for("notice", RECIPIENT["email"], timeout=30)
    check(notice.over_tls and notice.authenticated, "the notice came in the clear or anonymously")
    letter = sender.wait_for_status(letter_id, "notified")
    verify_all_evidence(run, sender, letter, ["SubmissionAcceptance", "NotificationForAcceptance"])
    with open(os.path.join(gateway.work, "server.log"), encoding="utf-8") as f:
        check(credentials[1] not in f.read(), "the relay's password is in the log")


def case_leak(run):
    """Nothing a recipient can see before accepting names the sender, the subject or the
    reference: mails, pages, titles, headers, error pages, in French and in English."""
    gateway, sender = open_gateway(run, {"lifecycle": {"reminder_days": [7]}})
    pdf = sample_pdf(run)
    clients = []

    def client():
        clients.append(Client(gateway.base))
        return clients[-1]

    # Pages of no letter: dead links, the stylesheet, unknown paths.
    anonymous = client()
    bogus = secrets.token_urlsafe(32)
    for lang in ("fr", "en"):
        for path in ("", "/letter", "/documents/1"):
            expect_status(anonymous.get(f"/r/{bogus}{path}?lang={lang}"), 404)
        expect_status(anonymous.post_form(f"/r/{bogus}/code", {"lang": lang}), 404)
    expect_status(anonymous.get("/assets/recipient.css"), 200)
    anonymous.get("/r/")
    anonymous.request("DELETE", f"/r/{bogus}")

    # A letter refused, through every page on the way, in both languages.
    refused, refused_token = deposit_and_notify(run, sender)
    for lang in ("fr", "en"):
        browser = client()
        page = landing(browser, refused_token, lang)
        browser.get(f"/r/{refused_token}?lang={lang}")
        expect_status(browser.get(f"/r/{refused_token}/letter?lang={lang}"), 303)
        expect_no_document(browser.get(f"/r/{refused_token}/documents/1?lang={lang}"), pdf)
        browser.request("HEAD", f"/r/{refused_token}?lang={lang}")
        fields = form_fields(page, f"/r/{refused_token}/code")
        expect_status(browser.post_form(f"/r/{refused_token}/code", {"lang": lang}), 403)
        expect_status(browser.post_form(f"/r/{refused_token}/accept",
                                        dict(fields, csrf="x" + fields["csrf"])), 403)
        code = ask_code(run, browser, refused_token, page)
        wrong = dict(fields, code="0" * len(code))
        expect_status(browser.post_form(f"/r/{refused_token}/verify", wrong), 400)
        if lang == "fr":
            # The pages of a void code and of too many codes.
            for _ in range(10):
                if "plus valable" in browser.answers[-1].text:
                    break
                expect_status(browser.post_form(f"/r/{refused_token}/verify", wrong), 400)
            check("plus valable" in browser.answers[-1].text, "wrong codes without end")
            for _ in range(2):
                code = ask_code(run, browser, refused_token, page)
            too_many = browser.post_form(f"/r/{refused_token}/code", fields)
            check("Trop de codes" in expect_status(too_many, 400).text, "no limit on codes")
        expect_status(browser.post_form(f"/r/{refused_token}/verify", dict(fields, code=code)),
                      303)
        choice = expect_status(browser.get(f"/r/{refused_token}?lang={lang}"), 200)
        if lang == "en":
            expect_status(browser.post_form(f"/r/{refused_token}/refuse",
                                            form_fields(choice, f"/r/{refused_token}/refuse")),
                          200)
    for browser in clients[1:]:
        expect_status(browser.get(f"/r/{refused_token}"), 404)
        expect_status(browser.get(f"/r/{refused_token}/documents/1"), 404)

    # An lre letter's landing pages.
    _, lre_token = deposit_and_notify(
        run, sender, letter_json("lre", consent_reference="consentement-2026-118"))
    for lang in ("fr", "en"):
        landing(client(), lre_token, lang)

    # Two weeks later (a restart with a shifted clock) the two letters still waiting get
    # their reminder, whose link opens the letter too. The refused one gets none.
    accepted, token = deposit_and_notify(run, sender)
    before = run.mailbox.count()
    gateway.stop()
    gateway.start(clock_offset=REMINDER_OFFSET)
    wait_until("two reminders", lambda: run.mailbox.count() == before + 2)
    for reminder in run.mailbox.mails[before:]:
        check(reminder.subject.startswith("Rappel"), f"not a reminder: {reminder.subject}")
        reminder_token = reminder.link().rsplit("/", 1)[1]
        check(reminder_token not in (refused_token, lre_token, token), "a link given twice")
        for lang in ("fr", "en"):
            landing(client(), reminder_token, lang)

    # The letter about to be accepted: everything up to the choice.
    browser = client()
    choice = identify(run, browser, token, lang="en")

    seen = [(a.label, a.seen_bytes()) for c in clients for a in c.answers]
    for mail in run.mailbox.mails:
        headers = "\n".join(f"{k}: {v}" for k, v in mail.message.items())
        seen.append((f"mail '{mail.subject}' as sent", mail.raw))
        seen.append((f"mail '{mail.subject}' decoded", (headers + "\n\n" + mail.text).encode()))
    leaks = [(label, found) for label, data in seen for found in secrets_in(data)]
    check(not leaks, "seen before acceptance:\n" + "\n".join(f"  {l}: {w}" for l, w in leaks))
    print(f"  {len(seen)} answers and mails before acceptance name no sender, subject or reference")

    # The positive control: once accepted, the same search finds every one of them.
    accept = form_fields(choice, f"/r/{token}/accept")
    expect_status(browser.post_form(f"/r/{token}/accept", accept), 303)
    letter_page = expect_status(browser.get(f"/r/{token}/letter?lang=en"), 200)
    found = set(secrets_in(letter_page.seen_bytes()))
    check(found >= set(SECRETS), f"the letter page shows only {sorted(found)}")
    check(sender.letter(refused["id"])["status"] == "refused", "the first letter was not refused")
    check(sender.letter(accepted["id"])["status"] == "accepted", "the last letter not accepted")


def scrape(gateway):
    """GET /metrics, parsed by the Prometheus client's own parser: {(name, labels): value}."""
    answer = expect_status(Client(gateway.base).get("/metrics"), 200)
    check(answer.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
          f"/metrics is {answer.headers['Content-Type']}")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return answer, samples


def case_metrics(run):
    """/metrics counts what the gateway did, as Prometheus parses it, and names no one."""
    gateway, sender = open_gateway(run)
    accepted, _ = deposit_and_notify(run, sender)
    rejection = sender.deposit(letter_json("lre"), [("a.pdf", sample_pdf(run))], status=422)
    refused = rejection["letter"]
    subprocess.run([gateway.binary, "checkpoint", "--config", gateway.config, "--data",
                    gateway.data], check=True, capture_output=True)
    # Made-up methods and paths add no series: they count as "other" and "-".
    for n in range(3):
        Client(gateway.base).request(f"BREW{n}", f"/no/such/path/{n}")
    answer, samples = scrape(gateway)

    def value(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        check(key in samples, f"/metrics lacks {key}:\n{answer.text}")
        return samples[key]

    check(value("sceau_http_requests_total", method="POST", route="/v1/letters",
                status="201") == 1, "one deposit answered 201")
    check(value("sceau_http_requests_total", method="POST", route="/v1/letters",
                status="422") == 1, "one deposit answered 422")
    check(value("sceau_http_request_duration_seconds_count", route="/v1/letters") == 2,
          "two deposits timed")
    check(value("sceau_http_request_duration_seconds_bucket", route="/v1/letters",
                le="+Inf") == 2, "the histogram's last bucket holds every deposit")
    check('le="0.005"' in answer.text and 'le="2.5"' in answer.text,
          "bucket bounds are not written in their shortest form")
    odd = [labels for name, labels in samples if name == "sceau_http_requests_total"
           and dict(labels)["method"] not in ("GET", "POST")]
    check(len(odd) == 1 and dict(odd[0])["method"] == "other" and dict(odd[0])["route"] == "-"
          and value("sceau_http_requests_total", **dict(odd[0])) == 3,
          f"made-up methods or paths made series: {odd}")
    check(value("sceau_letters", status="notified") == 1, "one letter notified")
    check(value("sceau_letters", status="rejected") == 1, "one letter rejected")
    check(value("sceau_letters_overdue") == 0, "no letter overdue")
    records = len(sender.letter(accepted["id"])["evidence"]) + len(
        sender.letter(refused["id"])["evidence"])
    check(value("sceau_log_entries") == records, f"the log holds the {records} records")
    check(value("sceau_log_checkpoint_entries") == records, "the checkpoint covers them")
    stamped = value("sceau_log_checkpoint_timestamp_seconds")
    check(abs(time.time() - stamped) < 600, f"the checkpoint was stamped at {stamped}")
    check(value("sceau_queue_due", queue="mail") == 0, "the notice left: no mail is due")
    check(value("sceau_qualified") == 0, "the sample keys are not qualified")
    check(any(name == "sceau_build_info" and dict(labels).get("version")
              for name, labels in samples), "the build is shown")

    # Labels are patterns and figures only: no letter, sender or person is named.
    named = [accepted["id"], refused["id"], sender.key, RECIPIENT["email"]]
    named += [e["id"] for e in accepted["evidence"] + refused["evidence"]]
    check(not [n for n in named if n in answer.text], "/metrics names a letter or a person")
    check(not secrets_in(answer.body), f"/metrics shows {secrets_in(answer.body)}")

    gateway.stop()
    gateway.configure({"server": {"metrics": False}})
    gateway.start()
    off = expect_status(Client(gateway.base).get("/metrics"), 404)
    check(off.headers["Content-Type"] == "application/problem+json", "404 is a problem")


CASES = {
    "accept": case_accept,
    "refuse": case_refuse,
    "expire": case_expire,
    "wrong-codes": case_wrong_codes,
    "lre": case_lre,
    "undeliverable": case_undeliverable,
    "relay-trouble": case_relay_trouble,
    "leak": case_leak,
    "metrics": case_metrics,
}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} SCEAU_BINARY SOURCE_DIR {{{','.join(CASES)}}}")
    binary, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sys.exit(run_case(CASES[sys.argv[3]], binary, source_dir))
