"""The letter every end-to-end test sends and what its sender checks: a sender and a
letter whose words must never reach the recipient before acceptance, the deposit up to
the notice, and the evidence of each step verified with the tools of evidence_checks.sh.
"""

import html
import os
import urllib.parse
import xml.etree.ElementTree as ET

from e2e_support import Sender, check


# A sender and a letter whose every word cannot turn up by chance, with characters that
# HTML and MIME encode, so that the leak test also finds them in their encoded forms.
SENDER_NAME = "Ermengarde Quillebœuf"
SENDER_COMPANY = "Zéphyrine & Courtepointe"
SENDER_EMAIL = "e.quilleboeuf@courtepointe-zephyr.example"
SUBJECT = "L'ultimatum <orichalque> nébuleux"
REFERENCE = "KWX-40417/ZQ"
SECRETS = {
    "sender name": SENDER_NAME,
    "sender company": SENDER_COMPANY,
    "sender e-mail": SENDER_EMAIL,
    "subject": SUBJECT,
    "reference": REFERENCE,
}
# Each telling word alone too: a page showing half a name leaks as much.
SECRET_WORDS = ["Ermengarde", "Quillebœuf", "quilleboeuf", "Zéphyrine", "Courtepointe",
                "orichalque", "nébuleux", "KWX-40417"]

RECIPIENT = {
    "email": "claire.martin@example.org",
    "given_name": "Claire",
    "family_name": "Martin",
    "birth_date": "1985-02-17",
}


def letter_json(kind="ere", **extra):
    letter = {"kind": kind, "recipient": dict(RECIPIENT), "subject": SUBJECT,
              "reference": REFERENCE}
    letter.update(extra)
    return letter


def sample_pdf(run, name="hostile/pdf/p00-positive-control.pdf"):
    with open(os.path.join(run.source_dir, "tests", "fixtures", name), "rb") as f:
        return f.read()


def open_gateway(run, settings=None):
    gateway = run.gateway(settings)
    sender = Sender(gateway, gateway.add_sender(SENDER_NAME, SENDER_EMAIL, SENDER_COMPANY))
    gateway.start()
    return gateway, sender


def deposit_and_notify(run, sender, letter=None, documents=None):
    """Deposits, waits for the notice in the mailbox and for the `notified` status.
    Returns the letter as the API then shows it, and the token of the notice's link."""
    before = run.mailbox.count()
    letter = letter or letter_json()
    documents = documents or [("mise-en-demeure.pdf", sample_pdf(run))]
    deposited = sender.deposit(letter, documents)
    check([e["event"] for e in deposited["evidence"]] == ["SubmissionAcceptance"],
          f"deposit evidence: {deposited['evidence']}")
    notice = run.mailbox.wait_for("notice", letter["recipient"]["email"], after=before)
    link = notice.link()
    check(link.startswith(sender.gateway.base + "/r/"),
          f"the notice links to {link}, not to {sender.gateway.base}")
    check(notice.text.count(link) == 2, "the notice gives the link in both languages")
    letter = sender.wait_for_status(deposited["id"], "notified")
    return letter, link.rsplit("/", 1)[1]


def evidence_of(letter, event):
    found = [e for e in letter["evidence"] if e["event"] == event]
    check(len(found) == 1, f"{len(found)} {event} evidence records in {letter['evidence']}")
    return found[0]


def verify_all_evidence(run, sender, letter, events):
    """The letter's evidence is exactly `events`, in order, in the list and the timeline,
    and every record passes the independent checks. Returns {event: xml}."""
    check([e["event"] for e in letter["evidence"]] == events,
          f"evidence {[e['event'] for e in letter['evidence']]}, expected {events}")
    check([t["event"] for t in letter["timeline"]] == events,
          f"timeline {[t['event'] for t in letter['timeline']]}, expected {events}")
    records = {}
    for e in letter["evidence"]:
        records[e["event"]] = sender.evidence(e["url"])
        run.verify_evidence(records[e["event"]], letter["id"], e["event"])
    return records


def recipient_identification(xml):
    """(AuthenticationMethod, AssuranceLevel) of the record's RecipientDetails."""
    root = ET.fromstring(xml)
    details = [e for e in root.iter() if e.tag.endswith("}RecipientDetails")]
    check(len(details) == 1, "no single RecipientDetails")
    values = {e.tag.rsplit("}", 1)[-1]: (e.text or "") for e in details[0].iter()}
    return values.get("AuthenticationMethod"), values.get("AssuranceLevel")

def secrets_in(data):
    """What of the sender's secrets `data` shows, case-insensitively, as plain text, as
    HTML (entities, escaped) or percent-encoded."""
    text = data.decode("utf-8", errors="replace")
    haystack = "\n".join({text, html.unescape(text), urllib.parse.unquote_plus(text)}).casefold()
    found = []
    needles = list(SECRETS.items()) + [(f"the word {w!r}", w) for w in SECRET_WORDS]
    for what, value in needles:
        forms = {value, html.escape(value), html.escape(value, quote=False)}
        if any(form.casefold() in haystack for form in forms):
            found.append(what)
    return found
