"""What the lifecycle tests drive: an SMTP server of aiosmtpd's that keeps every message,
the gateway as a child process, a sender's API client and a recipient's browser.

Everything listens on 127.0.0.1 on a port the system picks, and lives in a temporary
directory of its own, so that tests run side by side.
"""

import asyncio
import email
import email.policy
import html
import html.parser
import http.cookiejar
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    sys.exit("the lifecycle tests need aiosmtpd: Debian's python3-aiosmtpd, which scripts/test "
             "installs, and the Debian python3 that sees it")


class TestFailure(Exception):
    """A check that did not hold."""


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def wait_until(what, probe, timeout=20.0, interval=0.1):
    """Calls probe until it answers something true, and returns that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- Mail -------------------------------------------------------------------------------


class Mail:
    """One message as the SMTP server received it, and whether it came over TLS from an
    authenticated client."""

    def __init__(self, recipients, raw, over_tls=False, authenticated=False):
        self.recipients = recipients
        self.raw = raw
        self.over_tls = over_tls
        self.authenticated = authenticated
        self.message = email.message_from_bytes(raw, policy=email.policy.default)
        self.subject = str(self.message["subject"])
        self.text = self.message.get_body(("plain",)).get_content()

    def link(self):
        found = re.search(r"http://[^\s/]+/r/[A-Za-z0-9_-]+", self.text)
        check(found, f"no link in the mail: {self.text!r}")
        return found.group(0)

    def code(self):
        french = re.search(r"code de vérification .* : (\d+)", self.text)
        english = re.search(r"verification code: (\d+)", self.text)
        check(french and english, f"no code in the mail: {self.text!r}")
        check(french.group(1) == english.group(1), "the two languages give two codes")
        return french.group(1)


class Mailbox:
    """An SMTP server (aiosmtpd's protocol, our small handler) that keeps every message in
    memory, on a free port, in a thread of its own. It can refuse chosen recipients. Given
    an ssl.SSLContext and (login, password), it demands STARTTLS, then AUTH with those."""

    def __init__(self, tls=None, credentials=None):
        self.mails = []
        self.mail_attempts = 0
        self.rcpt_attempts = []
        self.logins = []  # (login, accepted) of every AUTH
        self._refusals = {}
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        options = {}
        if tls is not None:
            options = {"tls_context": tls, "require_starttls": True, "auth_required": True,
                       "auth_require_tls": True,
                       "authenticator": lambda *args: self._authenticate(credentials, *args)}
        server = self._loop.run_until_complete(
            self._loop.create_server(
                lambda: SMTP(self, hostname="mailbox.test", **options), host="127.0.0.1", port=0
            )
        )
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _authenticate(self, credentials, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        accepted = (auth_data.login, auth_data.password) == tuple(
            c.encode("utf-8") for c in credentials)
        with self._changed:
            self.logins.append((login, accepted))
            self._changed.notify_all()
        return AuthResult(success=accepted)

    def refuse(self, address, reply, times=None, at="RCPT"):
        """RCPT TO `address`, or with at="DATA" the end of a message to it, gets `reply` (an
        SMTP reply line such as "550 5.1.1 no such user") the next `times` times, or always."""
        with self._changed:
            self._refusals[(at, address)] = [reply, times]

    def refuse_sender(self, reply, times=None):
        """MAIL FROM, whatever the address, gets `reply` the next `times` times, or always."""
        with self._changed:
            self._refusals[("MAIL", None)] = [reply, times]

    def _refusal(self, rule_key):
        """The reply a refusal rule gives now, if any; counts the refusal down."""
        rule = self._refusals.get(rule_key)
        if not rule or rule[1] == 0:
            return None
        if rule[1] is not None:
            rule[1] -= 1
        return rule[0]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self._changed:
            self.mail_attempts += 1
            refusal = self._refusal(("MAIL", None))
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._changed:
            self.rcpt_attempts.append(address)
            refusal = self._refusal(("RCPT", address))
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._changed:
            refusals = [self._refusal(("DATA", to)) for to in envelope.rcpt_tos]
        if any(refusals):
            return next(r for r in refusals if r)
        mail = Mail(list(envelope.rcpt_tos), envelope.original_content or envelope.content,
                    over_tls=session.ssl is not None, authenticated=bool(session.authenticated))
        with self._changed:
            self.mails.append(mail)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def count(self):
        with self._changed:
            return len(self.mails)

    def wait_for(self, what, to, after=0, timeout=20.0):
        """The first mail to `to` among those received after the first `after` ones."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for mail in self.mails[after:]:
                    if to in mail.recipients:
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure(f"no {what} arrived for {to} within {timeout:.0f} s")
                self._changed.wait(left)

    def close(self):
        def stop():
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)


# --- HTTP -------------------------------------------------------------------------------


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A 303 is an answer to look at, not to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Answer:
    """One HTTP answer: status, headers and body, as received."""

    def __init__(self, label, status, reason, headers, body):
        self.label = label
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def seen_bytes(self):
        """Everything a client sees: the status line, every header, the body."""
        head = f"{self.status} {self.reason}\n{self.headers}".encode("utf-8")
        return head + b"\n" + self.body

    def forms(self):
        """The page's forms: {action: {field: value}} of their inputs."""
        parser = _FormParser()
        parser.feed(self.text)
        return parser.forms


class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(a.get("action", ""), {})
        elif tag in ("input", "button") and self._current is not None and "name" in a:
            self._current[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


class Client:
    """An HTTP client without proxies that keeps cookies, follows no redirect and records
    every answer it gets."""

    def __init__(self, base, headers=None):
        self.base = base
        self.headers = dict(headers or {})
        self.jar = http.cookiejar.CookieJar()
        self.answers = []
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.jar),
            _KeepRedirects(),
        )

    def request(self, method, path, body=None, headers=None, label=None):
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=body, method=method)
        for name, value in {**self.headers, **(headers or {})}.items():
            request.add_header(name, value)
        label = label or f"{method} {path}"
        try:
            with self._opener.open(request, timeout=30) as r:
                answer = Answer(label, r.status, r.reason, r.headers, r.read())
        except urllib.error.HTTPError as e:
            answer = Answer(label, e.code, e.reason, e.headers, e.read())
        answer.url = url
        self.answers.append(answer)
        return answer

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_form(self, path, fields, **kw):
        body = urllib.parse.urlencode(fields).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", path, body=body, headers=headers, **kw)

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c
        return None


def expect_status(answer, status):
    check(
        answer.status == status,
        f"{answer.label}: status {answer.status}, not {status}: {answer.body[:600]!r}",
    )
    return answer


# --- The gateway ------------------------------------------------------------------------


class Gateway:
    """`sceau serve` on a fresh data directory and a free port, mailing to `mailbox`.
    `settings` ({section: {key: value}}) adds to or overrides the test configuration."""

    def __init__(self, binary, work, mailbox, settings=None):
        self.binary = binary
        self.work = work
        self.data = os.path.join(work, "data")
        self.config = os.path.join(work, "sceau.toml")
        sections = {
            "mail": {"relay": f"smtp://127.0.0.1:{mailbox.port}", "starttls": False,
                     "timeout_ms": 5000},
            "lifecycle": {"worker_interval_seconds": 1},
        }
        self._sections = sections
        self.configure(settings)
        self.process = None
        self.base = None
        self._log = None

    def configure(self, settings):
        """Adds `settings` to the configuration file, for the next start."""
        for section, values in (settings or {}).items():
            self._sections.setdefault(section, {}).update(values)
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(toml_text(self._sections))

    def add_sender(self, name, email_address, company):
        out = subprocess.run(
            [self.binary, "sender", "add", "--data", self.data, "--name", name,
             "--email", email_address, "--company", company],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def start(self, clock_offset=0):
        check(self.process is None, "the gateway is already running")
        ready = os.path.join(self.work, "ready")
        if os.path.exists(ready):
            os.remove(ready)
        command = [self.binary, "serve", "--config", self.config, "--data", self.data,
                   "--listen", "127.0.0.1:0", "--ready-file", ready]
        if clock_offset:
            command += ["--clock-offset", str(clock_offset)]
        # Should this driver be killed outright, the gateway is told to stop as well.
        if shutil.which("setpriv"):
            command = ["setpriv", "--pdeathsig", "TERM", "--"] + command
        self._log = open(os.path.join(self.work, "server.log"), "ab")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=self._log)

        def address():
            check(self.process.poll() is None, "the gateway stopped:\n" + self.log_tail())
            if os.path.exists(ready):
                with open(ready, encoding="ascii") as f:
                    return f.read().strip()
            return None

        self.base = "http://" + wait_until("the gateway to listen", address, interval=0.05)

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._log.close()

    def log_tail(self, lines=30):
        path = os.path.join(self.work, "server.log")
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def toml_text(sections):
    """The TOML of {section: {key: value}}, for strings, integers, booleans and lists."""

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(item) for item in v) + "]"
        return json.dumps(v)  # a TOML basic string or integer is written as in JSON

    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value(v)}" for key, v in values.items()]
    return "\n".join(lines) + "\n"


class Sender:
    """The sender's side of the API, with its key."""

    def __init__(self, gateway, key):
        self.gateway = gateway
        self.key = key

    def client(self):
        return Client(self.gateway.base, {"Authorization": f"Bearer {self.key}"})

    def deposit(self, letter, documents, status=201):
        """POST /v1/letters with the `letter` part and (name, bytes) PDF documents; the
        answer must have `status`."""
        boundary = uuid.uuid4().hex
        parts = [
            b'Content-Disposition: form-data; name="letter"\r\n'
            b"Content-Type: application/json\r\n\r\n" + json.dumps(letter).encode("utf-8")
        ]
        for name, content in documents:
            parts.append(
                f'Content-Disposition: form-data; name="document"; filename="{name}"\r\n'
                "Content-Type: application/pdf\r\n\r\n".encode("utf-8") + content
            )
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        body += b"--" + boundary.encode() + b"--\r\n"
        answer = self.client().request(
            "POST", "/v1/letters", body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        expect_status(answer, status)
        return json.loads(answer.body)

    def letter(self, letter_id):
        answer = expect_status(self.client().get(f"/v1/letters/{letter_id}"), 200)
        return json.loads(answer.body)

    def wait_for_status(self, letter_id, status, timeout=20.0):
        """Polls the letter until it has `status`; returns it as the API then shows it."""

        def probe():
            letter = self.letter(letter_id)
            return letter if letter["status"] == status else None

        return wait_until(f"letter {letter_id} to be {status}", probe, timeout=timeout)

    def evidence(self, url):
        return expect_status(self.client().get(url), 200).body


def verify_evidence(source_dir, work, xml, letter_id, event):
    """The record, checked by evidence_checks.sh with xmllint, xmlsec1 and openssl ts."""
    path = os.path.join(work, f"{letter_id}-{event}.xml")
    with open(path, "wb") as f:
        f.write(xml)
    run = subprocess.run(
        ["bash", os.path.join(source_dir, "tests", "tools", "evidence_checks.sh"),
         source_dir, path, letter_id, event],
        capture_output=True, text=True,
    )
    check(run.returncode == 0, f"{event} evidence of {letter_id}:\n{run.stderr}")
    print("  " + run.stdout.strip())


# --- A run ------------------------------------------------------------------------------


class Run:
    """One test's world: a temporary directory, the SMTP server, the gateways it starts,
    and whatever else a test starts and leaves in `cleanups` to stop."""

    def __init__(self, binary, source_dir):
        self.binary = binary
        self.source_dir = source_dir
        self.work = tempfile.mkdtemp(prefix="sceau-e2e-")
        self.mailbox = Mailbox()
        self.gateways = []
        self.cleanups = []

    def secure_mailbox(self, credentials):
        """Replaces the mailbox by one that demands STARTTLS with the sample TLS certificate
        (for 127.0.0.1) and AUTH with `credentials`; before any gateway starts."""
        check(not self.gateways, "the mailbox changes before any gateway is made")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sample = os.path.join(self.source_dir, "certs-sample")
        tls.load_cert_chain(os.path.join(sample, "tls.pem"), os.path.join(sample, "tls.key"))
        self.mailbox.close()
        self.mailbox = Mailbox(tls, credentials)
        return self.mailbox

    def gateway(self, settings=None):
        work = os.path.join(self.work, f"gateway-{len(self.gateways) + 1}")
        os.mkdir(work)
        g = Gateway(self.binary, work, self.mailbox, settings)
        self.gateways.append(g)
        return g

    def verify_evidence(self, xml, letter_id, event):
        verify_evidence(self.source_dir, self.work, xml, letter_id, event)

    def close(self):
        for stop in reversed(self.cleanups):
            stop()
        for g in self.gateways:
            g.stop()
        self.mailbox.close()
        shutil.rmtree(self.work, ignore_errors=True)


def run_case(case, binary, source_dir):
    """Runs case(run) and turns its outcome into an exit status. The gateways, the SMTP
    server and the directory go away whatever happens, also on SIGTERM."""

    def terminated(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    run = Run(binary, source_dir)
    try:
        case(run)
    except TestFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        for g in run.gateways:
            if g.process is not None or os.path.exists(os.path.join(g.work, "server.log")):
                print(f"--- the gateway's log, last lines:\n{g.log_tail()}", file=sys.stderr)
        return 1
    finally:
        run.close()
    print(f"passed in {time.monotonic() - started:.1f} s")
    return 0
