"""End-to-end tests of eIDAS SAML identification for LRE letters: the gateway, a real SMTP
server (aiosmtpd), a recipient's browser, and an eIDAS node that is either the gateway's
built-in demo node or a pysaml2 identity provider (not our code, pysaml2_idp.py). Every
evidence record is checked with xmllint, xmlsec1 and openssl ts (evidence_checks.sh).

Usage: saml_e2e.py SCEAU_BINARY SOURCE_DIR CASE
where CASE is one of: demo, demo-levels, demo-refused, pysaml2, pysaml2-refusals.
"""

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET

from e2e_letter import (deposit_and_notify, letter_json, open_gateway, sample_pdf, secrets_in,
                        verify_all_evidence)
from e2e_support import Client, check, expect_status, run_case, wait_until
from lifecycle_e2e import form_fields, landing

EIDAS = "http://eidas.europa.eu/attributes/naturalperson/"
LOA = "http://eidas.europa.eu/LoA/"
SCEAU_NS = "{urn:sceau:evidence:1}"
DEMO_WARNINGS = ("DÉMONSTRATION", "DEMONSTRATION", "identifies no one")


def lre_letter():
    return letter_json("lre", consent_reference="consentement-2026-118")


def saml_start(browser, token, lang="fr"):
    """The landing page's eIDAS link, followed: returns where it sends the browser, which
    it marks with a cookie for the completion step."""
    page = landing(browser, token, lang)
    link = f"/r/{token}/auth/saml?lang={lang}"
    check(f'href="{link}"' in page.text, f"the landing page offers no eIDAS link: {page.text}")
    started = expect_status(browser.get(link), 303)
    cookie = started.headers.get("Set-Cookie", "")
    check("sceau_saml=" in cookie and "Path=/auth/saml/complete" in cookie and
          "HttpOnly" in cookie and "SameSite=Lax" in cookie, f"the browser cookie: {cookie}")
    return started.headers["Location"]


def post_to_acs(browser, acs, fields):
    """What a browser does with the HTTP-POST binding's form: posts it to the ACS, which
    verifies it, says nothing of the letter, and sends the browser on to the completion
    step. Returns the completion's answer, or the ACS's own when it expected no answer."""
    check(acs.endswith("/auth/saml/acs"), f"the answer goes to {acs}, not to the ACS")
    answer = browser.post_form(acs, {k: fields[k] for k in ("SAMLResponse", "RelayState")})
    if answer.status != 303:
        return answer
    completion = answer.headers["Location"]
    check(completion.startswith("/auth/saml/complete?answer="),
          f"the ACS sends the browser to {completion}")
    check(not secrets_in(answer.seen_bytes()), f"the ACS shows {secrets_in(answer.seen_bytes())}")
    done = browser.get(completion)
    check(done.status == 400 or browser.cookie("sceau_saml") is None,
          "the completion leaves the browser's cookie")
    return done


def expect_identified(browser, answer, token):
    expect_status(answer, 303)
    check(answer.headers["Location"].startswith(f"/r/{token}"),
          f"identification leads to {answer.headers['Location']}")
    choice = expect_status(browser.get(answer.headers["Location"]), 200)
    return form_fields(choice, f"/r/{token}/accept")


def expect_nothing_opened(gateway, sender, browser, answer, letter_id, token, heading,
                          reason=None):
    """A refused identification: 403 with `heading`, a page naming nothing of the letter,
    the session not identified, the letter still waiting; `reason` in the log if given."""
    expect_status(answer, 403)
    check(heading in answer.text, f"{answer.label}: not the page '{heading}': {answer.text}")
    check(not secrets_in(answer.seen_bytes()), f"the refusal shows {secrets_in(answer.seen_bytes())}")
    again = expect_status(browser.get(f"/r/{token}?lang=fr"), 200)
    check(f"/r/{token}/accept" not in again.text, "a refused identification opened the choice")
    check(sender.letter(letter_id)["status"] == "notified", "the letter moved")
    if reason:
        wait_until(f"the refusal reason {reason} in the log",
                   lambda: f"reason={reason}" in gateway.log_tail(400), timeout=5)


def identification_of(xml):
    """What the record says of how the recipient was identified."""
    root = ET.fromstring(xml)
    details = [e for e in root.iter() if e.tag.endswith("}RecipientDetails")]
    check(len(details) == 1, "no single RecipientDetails")
    out = {e.tag.rsplit("}", 1)[-1]: (e.text or "") for e in details[0].iter()}
    out["asserted"] = {}
    out["asserted_by"] = set()
    for a in details[0].iter("{urn:oasis:names:tc:SAML:2.0:assertion}Attribute"):
        by = a.get(SCEAU_NS + "AssertedBy")
        if by is not None:
            value = a.find("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue").text
            out["asserted"][a.get("Name")] = value
            out["asserted_by"].add(by)
    return out


def check_identification(xml, level, provider, asserted):
    who = identification_of(xml)
    check(who.get("AuthenticationMethod") == "urn:sceau:identification:eidas-saml",
          f"method {who.get('AuthenticationMethod')!r}")
    check(who.get("AssuranceLevel") == LOA + level, f"level {who.get('AssuranceLevel')!r}")
    check(who.get("PolicyIDDetails") == "identified by " + provider,
          f"provider {who.get('PolicyIDDetails')!r}, not {provider}")
    check(who.get("AuthenticationTime", "").startswith("20"), "no authentication time")
    check(who["asserted_by"] == {provider}, f"asserted by {who['asserted_by']}")
    for name, value in asserted.items():
        check(who["asserted"].get(EIDAS + name) == value,
              f"asserted {name} is {who['asserted'].get(EIDAS + name)!r}, not {value!r}")


def accept_and_download(run, sender, browser, token, accept_fields, letter_id):
    """Accepts, opens the letter, downloads its document; returns the verified evidence."""
    accepted = expect_status(browser.post_form(f"/r/{token}/accept", accept_fields), 303)
    expect_status(browser.get(accepted.headers["Location"]), 200)
    document = expect_status(browser.get(f"/r/{token}/documents/1"), 200)
    check(document.body == sample_pdf(run), "the document differs from the deposited one")
    letter = sender.letter(letter_id)
    check(letter["status"] == "accepted", f"status {letter['status']}")
    return verify_all_evidence(
        run, sender, letter,
        ["SubmissionAcceptance", "NotificationForAcceptance", "ConsignmentAcceptance",
         "ContentHandover"])


def attempts(gateway, letter_id):
    """The recorded identification attempts that opened nothing, from the database."""
    with sqlite3.connect(os.path.join(gateway.data, "sceau.db")) as db:
        return db.execute("SELECT method, provider, outcome FROM identification_attempts "
                          "WHERE letter_id = ?", (letter_id,)).fetchall()


# --- The demo node ----------------------------------------------------------------------


def demo_page(browser, location):
    """The demo node's page: labelled as a demo, naming nothing of the letter."""
    page = expect_status(browser.get(location), 200)
    for warning in DEMO_WARNINGS:
        check(warning in page.text, f"{page.label}: no '{warning}' on the demo node's page")
    check(not secrets_in(page.seen_bytes()), f"the demo page shows {secrets_in(page.seen_bytes())}")
    return page


def demo_answer(browser, location, level, person="claire-martin", typed=None):
    """Through the demo node: pick `person` (or type `typed`) at `level`. Returns the ACS
    and the fields of the form the answer page posts there."""
    sign_in = demo_page(browser, location)
    fields = dict(form_fields(sign_in, "/demo/eidas/sso"), level=LOA + level, person=person)
    fields.update(typed or {})
    answer = expect_status(browser.post_form("/demo/eidas/sso", fields), 200)
    for warning in DEMO_WARNINGS:
        check(warning in answer.text, f"no '{warning}' on the demo node's answer")
    forms = answer.forms()
    check(len(forms) == 1, f"the answer page has forms {list(forms)}")
    return next(iter(forms.items()))


def xmlsec_verifies(run, response_b64, cert, element):
    path = os.path.join(run.work, "demo-response.xml")
    with open(path, "wb") as f:
        f.write(base64.b64decode(response_b64))
    local = element.rsplit(":", 1)[1]
    return subprocess.run(
        ["xmlsec1", "--verify", "--enabled-key-data", "key-name", "--pubkey-cert-pem", cert,
         "--id-attr:ID", element, "--node-xpath",
         f'//*[local-name()="{local}"]/*[local-name()="Signature"]', path],
        capture_output=True).returncode == 0


def case_demo(run):
    """LRE through the demo node: deposit, notice, eIDAS identification as Claire Martin at
    substantial, acceptance, download; the demo node's answer verifies with xmlsec1 against
    the sample identity-provider certificate alone."""
    gateway, sender = open_gateway(run, {"saml": {"demo_node": True}})
    node = gateway.base + "/demo/eidas/metadata"
    metadata = expect_status(Client(gateway.base).get("/demo/eidas/metadata"), 200).text
    with open(os.path.join(run.source_dir, "certs-sample", "idp.pem"), encoding="ascii") as f:
        sample_cert = "".join(line.strip() for line in f if "CERTIFICATE" not in line)
    check(sample_cert in metadata, "the demo node's metadata holds another certificate")

    letter, token = deposit_and_notify(run, sender, lre_letter())
    browser = Client(gateway.base)
    location = saml_start(browser, token)
    check(location.startswith(gateway.base + "/demo/eidas/sso?SAMLRequest="),
          f"the eIDAS link goes to {location}")
    acs, fields = demo_answer(browser, location, "substantial")

    root = os.path.join(run.source_dir, "certs-sample")
    for element in ("urn:oasis:names:tc:SAML:2.0:protocol:Response",
                    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"):
        check(xmlsec_verifies(run, fields["SAMLResponse"], os.path.join(root, "idp.pem"), element),
              f"xmlsec1 refuses the demo node's {element} signature")
        check(not xmlsec_verifies(run, fields["SAMLResponse"], os.path.join(root, "seal.pem"),
                                  element), f"the {element} verifies with another key")

    accept = expect_identified(browser, post_to_acs(browser, acs, fields), token)
    records = accept_and_download(run, sender, browser, token, accept, letter["id"])
    for event in ("ConsignmentAcceptance", "ContentHandover"):
        check_identification(records[event], "substantial", node,
                             {"CurrentFamilyName": "Martin", "CurrentGivenName": "Claire",
                              "DateOfBirth": "1985-02-17"})


def case_demo_levels(run):
    """lre configured to high: the request asks for high; substantial is refused, someone
    else is refused and recorded, the named person at high is accepted."""
    gateway, sender = open_gateway(run, {"saml": {"demo_node": True},
                                         "identification": {"lre_level": "high"}})
    letter, token = deposit_and_notify(run, sender, lre_letter())
    browser = Client(gateway.base)
    check("eIDAS de niveau élevé" in landing(browser, token).text,
          "the landing page does not ask for level high")

    # Begun in English: the node's answer, which carries no language, is answered in English.
    location = saml_start(browser, token, lang="en")
    page = demo_page(browser, location)
    check("<strong>élevé / high</strong>" in page.text, "the demo node was not asked for high")
    typed = {"given_names": "Claire", "family_name": "Martin", "birth_date": "1985-02-17"}
    acs, fields = demo_answer(browser, location, "substantial", "typed", typed)
    low = post_to_acs(browser, acs, fields)
    check('<html lang="en">' in low.text and ": high." in low.text,
          f"the refusal is not in English or names no level: {low.text}")
    expect_nothing_opened(gateway, sender, browser, low, letter["id"], token,
                          "Identification level too low", "loa_too_low")

    acs, fields = demo_answer(browser, saml_start(browser, token), "high", "someone-else")
    expect_nothing_opened(gateway, sender, browser, post_to_acs(browser, acs, fields),
                          letter["id"], token, "Identité non reconnue")
    node = gateway.base + "/demo/eidas/metadata"
    check(attempts(gateway, letter["id"]) ==
          [("urn:sceau:identification:eidas-saml", node, "no-match")],
          f"attempts recorded: {attempts(gateway, letter['id'])}")

    acs, fields = demo_answer(browser, saml_start(browser, token), "high", "typed", typed)
    accept = expect_identified(browser, post_to_acs(browser, acs, fields), token)
    records = accept_and_download(run, sender, browser, token, accept, letter["id"])
    check_identification(records["ConsignmentAcceptance"], "high", node,
                         {"CurrentFamilyName": "Martin", "CurrentGivenName": "Claire"})


def case_demo_refused(run):
    """The demo node is refused at start beside a seal of its own, or beside a real node;
    the same gateway starts without it."""
    keys = os.path.join(run.work, "keys")
    os.mkdir(keys)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(keys, "seal.key"),
                    "-out", os.path.join(keys, "seal.pem"), "-days", "2", "-subj",
                    "/CN=Own seal/O=Sceau test", "-addext", "keyUsage=critical,digitalSignature,"
                    "nonRepudiation"], check=True, capture_output=True)
    own_seal = {"key": os.path.join(keys, "seal.key"),
                "certificate": os.path.join(keys, "seal.pem"),
                "trust_anchor": os.path.join(keys, "seal.pem")}
    for settings, says in (
            ({"seal": own_seal, "saml": {"demo_node": True}}, "runs only on the sample keys"),
            ({"saml": {"demo_node": True, "node_certificate": "node.pem",
                       "node_entity_id": "https://node.example", "node_sso_url": "https://n"}},
             "cannot be on together with saml.node_metadata or saml.node_certificate")):
        gateway = run.gateway(settings)
        started = subprocess.run([run.binary, "serve", "--config", gateway.config, "--data",
                                  gateway.data, "--listen", "127.0.0.1:0"],
                                 capture_output=True, text=True, timeout=30)
        check(started.returncode != 0, "the gateway started with the demo node where it must not")
        check(says in started.stderr, f"the refusal does not say why: {started.stderr}")
    gateway = run.gateway({"seal": own_seal})
    gateway.start()
    check(Client(gateway.base).get("/demo/eidas/metadata").status == 404,
          "the demo node answers while off")


# --- A pysaml2 identity provider --------------------------------------------------------

CLAIRE = {"PersonIdentifier": "FR/FR/1985021700042", "FamilyName": "Martin",
          "FirstName": "Claire", "DateOfBirth": "1985-02-17"}
# An attribute the gateway does not ask for, long enough to make the answer larger than the
# 64 KiB of other small requests (and, twice as long, than the 256 KiB a SAMLResponse may be).
ADDRESS = "QWRyZXNzZSBwb3N0YWxlIGRlIGTDqW1vbnN0cmF0aW9u" * 3300
USERS = {
    "claire": {"loa": LOA + "substantial", "attributes": CLAIRE},
    "claire-response-signed": {"loa": LOA + "high", "attributes": CLAIRE, "sign": "response"},
    "claire-assertion-sha512": {"loa": LOA + "substantial", "attributes": CLAIRE,
                                "sign": "assertion", "algorithm": "rsa-sha512"},
    "claire-low": {"loa": LOA + "low", "attributes": CLAIRE},
    "claire-sha1": {"loa": LOA + "substantial", "attributes": CLAIRE, "algorithm": "rsa-sha1"},
    "claire-large": {"loa": LOA + "substantial", "attributes": dict(CLAIRE, CurrentAddress=ADDRESS)},
    "claire-oversized": {"loa": LOA + "substantial",
                         "attributes": dict(CLAIRE, CurrentAddress=ADDRESS * 2)},
    "mallory": {"loa": LOA + "substantial",
                "attributes": {"PersonIdentifier": "FR/FR/1990060100666", "FamilyName": "Dupont",
                               "FirstName": "Mallory", "DateOfBirth": "1990-06-01"}},
}


class Pysaml2Node:
    """pysaml2_idp.py on a free port with an RSA key made for this run."""

    def __init__(self, run):
        self.work = os.path.join(run.work, "idp")
        os.mkdir(self.work)
        self.key, self.cert = rsa_key(self.work, "idp", "/CN=pysaml2 eIDAS test node")
        users = os.path.join(self.work, "users.json")
        with open(users, "w", encoding="utf-8") as f:
            json.dump(USERS, f)
        self._log = open(os.path.join(self.work, "idp.log"), "ab")
        command = [sys.executable, "-B", os.path.join(os.path.dirname(__file__), "pysaml2_idp.py"),
                   self.work, self.key, self.cert, users]
        # Should this driver be killed outright, the node is told to stop as well.
        if shutil.which("setpriv"):
            command = ["setpriv", "--pdeathsig", "TERM", "--"] + command
        self.process = subprocess.Popen(command, stdout=self._log, stderr=self._log)
        ready = os.path.join(self.work, "ready")

        def port():
            check(self.process.poll() is None, "the pysaml2 node stopped:\n" + self.log())
            if os.path.exists(ready):
                with open(ready, encoding="ascii") as f:
                    return f.read().strip()
            return None

        self.base = "http://127.0.0.1:" + wait_until("the pysaml2 node to listen", port)
        self.metadata = os.path.join(self.work, "metadata.xml")
        self.entity_id = ET.parse(self.metadata).getroot().get("entityID")

    def trust(self, gateway):
        """Gives the node the gateway's SP metadata, as an operator would."""
        metadata = expect_status(Client(gateway.base).get("/auth/saml/metadata"), 200).body
        with open(os.path.join(self.work, "sp-metadata.xml"), "wb") as f:
            f.write(metadata)

    def log(self):
        with open(os.path.join(self.work, "idp.log"), encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-30:])

    def login(self, location, user, level_asked="substantial"):
        """The person logs in at the node; returns the ACS and the auto-post form's fields."""
        check(location.startswith(self.base + "/sso/redirect?SAMLRequest="),
              f"the eIDAS link goes to {location}")
        browser = Client(self.base)
        page = expect_status(browser.get(location), 200)  # pysaml2 checked the signature
        check(f'<span id="asked">{LOA}{level_asked}</span>' in page.text,
              f"the node was not asked for {level_asked}: {page.text}")
        answer = expect_status(browser.post_form("/login", dict(form_fields(page, "/login"),
                                                                 user=user)), 200)
        forms = answer.forms()
        check(len(forms) == 1, f"pysaml2's answer has forms {list(forms)}")
        return next(iter(forms.items()))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def rsa_key(directory, name, subject):
    key, cert = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", subject], check=True, capture_output=True)
    return key, cert


def pysaml2_gateway(run, node):
    """A gateway whose eIDAS node is `node`, trusted from its metadata (which must be signed
    by the node's certificate), signing its requests with an RSA key of its own, as pysaml2
    verifies only RSA. A gateway told another metadata signer refuses to start."""
    sp_key, sp_cert = rsa_key(node.work, "sp", "/CN=Sceau test SP")
    gateway, sender = open_gateway(run, {"saml": {
        "node_metadata": node.metadata, "node_metadata_signer": node.cert,
        "node_entity_id": node.entity_id, "sp_key": sp_key, "sp_certificate": sp_cert}})
    node.trust(gateway)

    wrong = run.gateway({"saml": {"node_metadata": node.metadata, "node_metadata_signer": sp_cert,
                                  "node_entity_id": node.entity_id}})
    started = subprocess.run([run.binary, "serve", "--config", wrong.config, "--data", wrong.data,
                              "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                             timeout=30)
    check(started.returncode != 0 and "node metadata signature" in started.stderr,
          f"metadata not signed by the configured signer: {started.returncode} {started.stderr}")
    return gateway, sender


def with_pysaml2(case):
    """Runs case(run, node, gateway, sender) with a pysaml2 node, stopped afterwards."""

    def run_with_node(run):
        node = Pysaml2Node(run)
        try:
            case(run, node, *pysaml2_gateway(run, node))
        finally:
            node.stop()

    return run_with_node


@with_pysaml2
def case_pysaml2(run, node, gateway, sender):
    """LRE through a pysaml2 eIDAS node: deposit, notice, identification of the named
    person at substantial, acceptance, download, every record verified. The node signs the
    Response and the Assertion with RSA-SHA256 and exclusive C14N; three more letters are
    identified with the Response alone signed at level high, the Assertion alone signed
    with RSA-SHA512, and an answer of about 200 KiB (an attribute not asked for makes it
    larger than the other small requests may be)."""
    letter, token = deposit_and_notify(run, sender, lre_letter())
    browser = Client(gateway.base)
    acs, fields = node.login(saml_start(browser, token), "claire")
    accept = expect_identified(browser, post_to_acs(browser, acs, fields), token)
    records = accept_and_download(run, sender, browser, token, accept, letter["id"])
    for event in ("ConsignmentAcceptance", "ContentHandover"):
        check_identification(records[event], "substantial", node.entity_id,
                             {"PersonIdentifier": CLAIRE["PersonIdentifier"],
                              "CurrentFamilyName": "Martin", "CurrentGivenName": "Claire",
                              "DateOfBirth": "1985-02-17"})

    for user in ("claire-response-signed", "claire-assertion-sha512", "claire-large"):
        other, other_token = deposit_and_notify(run, sender, lre_letter())
        browser = Client(gateway.base)
        acs, fields = node.login(saml_start(browser, other_token), user)
        if user == "claire-large":
            form = urllib.parse.urlencode(fields)
            check(len(form) > 64 << 10 and len(fields["SAMLResponse"]) < 256 << 10,
                  f"the large answer is {len(fields['SAMLResponse'])} bytes, {len(form)} as a form")
        expect_identified(browser, post_to_acs(browser, acs, fields), other_token)


@with_pysaml2
def case_pysaml2_refusals(run, node, gateway, sender):
    """Against the pysaml2 node: another person opens nothing and is recorded; level low,
    a SHA-1 signature and an answer over the 256 KiB a SAMLResponse may be are refused; a
    response posted again, or by another session, is refused."""
    letter, token = deposit_and_notify(run, sender, lre_letter())
    browser = Client(gateway.base)

    acs, fields = node.login(saml_start(browser, token), "mallory")
    expect_nothing_opened(gateway, sender, browser, post_to_acs(browser, acs, fields),
                          letter["id"], token, "Identité non reconnue")
    check(attempts(gateway, letter["id"]) ==
          [("urn:sceau:identification:eidas-saml", node.entity_id, "no-match")],
          f"attempts recorded: {attempts(gateway, letter['id'])}")

    for user, reason, heading in (
            ("claire-low", "loa_too_low", "Niveau d'identification insuffisant"),
            ("claire-sha1", "signature_algorithm_refused", "Identification refusée"),
            ("claire-oversized", "malformed_message", "Identification refusée")):
        acs, fields = node.login(saml_start(browser, token), user)
        if user == "claire-oversized":
            check(len(fields["SAMLResponse"]) > 256 << 10,
                  f"the oversized answer is {len(fields['SAMLResponse'])} bytes")
        expect_nothing_opened(gateway, sender, browser, post_to_acs(browser, acs, fields),
                              letter["id"], token, heading, reason)

    # A genuine answer, captured: once it has served, it serves no one again.
    acs, fields = node.login(saml_start(browser, token), "claire")
    expect_identified(browser, post_to_acs(browser, acs, fields), token)
    again = post_to_acs(browser, acs, fields)
    check(again.status == 400 and "Identification expirée" in again.text,
          f"the same answer posted again: {again.status}")
    thief = Client(gateway.base)
    theirs = urllib.parse.parse_qs(urllib.parse.urlsplit(saml_start(thief, token)).query)
    stolen = dict(fields, RelayState=theirs["RelayState"][0])
    expect_nothing_opened(gateway, sender, thief, post_to_acs(thief, acs, stolen),
                          letter["id"], token, "Identification refusée", "in_response_to_mismatch")


CASES = {
    "demo": case_demo,
    "demo-levels": case_demo_levels,
    "demo-refused": case_demo_refused,
    "pysaml2": case_pysaml2,
    "pysaml2-refusals": case_pysaml2_refusals,
}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} SCEAU_BINARY SOURCE_DIR {{{','.join(CASES)}}}")
    binary, source_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sys.exit(run_case(CASES[sys.argv[3]], binary, source_dir))
