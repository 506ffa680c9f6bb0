"""An eIDAS node for the tests that is not our code: a SAML 2.0 identity provider built
with pysaml2 (Debian's python3-pysaml2), which signs with the xmlsec1 program.

It listens on 127.0.0.1 on a port the system picks and serves:
  GET  /sso/redirect  the single sign-on service (HTTP-Redirect binding): checks the
                      AuthnRequest's query signature against the SP's metadata, then shows
                      a login page naming the request
  POST /login         logs a user of the users file in and answers as the HTTP-POST
                      binding does: pysaml2's auto-post form to the SP's ACS
  GET  /metadata      this node's metadata, signed by its key (also written to
                      WORK/metadata.xml)

Usage: pysaml2_idp.py WORK KEY CERT USERS.json
  KEY, CERT  the node's RSA signing key and certificate (PEM); pysaml2 7.0 signs with RSA
             only
  USERS      {"login": {"loa": "http://eidas.europa.eu/LoA/...", "attributes": {...},
                        "sign": "both", "algorithm": "rsa-sha256"}}: attributes by
             pysaml2's local names (PersonIdentifier, FamilyName, FirstName, DateOfBirth,
             CurrentAddress),
             which the eIDAS attribute map below turns into the eIDAS URIs; "sign" is
             "assertion", "response" or "both" (the default); "algorithm" is rsa-sha1,
             rsa-sha256 (the default) or rsa-sha512, with the digest of the same size
The SP's metadata is read from WORK/sp-metadata.xml at the first request, so that the
test can start the node before the gateway whose metadata it needs. Once listening, the
port is written to WORK/ready.
"""

import html
import json
import os
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor, sign_entity_descriptor
    from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.server import Server
    from saml2.sigver import security_context, verify_redirect_signature
    from saml2 import xmldsig
except ImportError:
    sys.exit("the eIDAS node tests need pysaml2: Debian's python3-pysaml2, which scripts/test "
             "installs, and the Debian python3 that sees it")

# The eIDAS attribute profile's names, in the map format pysaml2 reads from a directory
# (its bundled maps give DateOfBirth another name, from an older profile).
EIDAS_ATTRIBUTE_MAP = """
NATURAL = "http://eidas.europa.eu/attributes/naturalperson/"
LEGAL = "http://eidas.europa.eu/attributes/legalperson/"
NAMES = {
    "PersonIdentifier": NATURAL + "PersonIdentifier",
    "FamilyName": NATURAL + "CurrentFamilyName",
    "FirstName": NATURAL + "CurrentGivenName",
    "DateOfBirth": NATURAL + "DateOfBirth",
    "CurrentAddress": NATURAL + "CurrentAddress",
    "LegalPersonIdentifier": LEGAL + "LegalPersonIdentifier",
    "LegalName": LEGAL + "LegalName",
}
MAP = {
    "identifier": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    "to": NAMES,
    "fro": {uri: name for name, uri in NAMES.items()},
}
"""

ALGORITHMS = {
    "rsa-sha1": (xmldsig.SIG_RSA_SHA1, xmldsig.DIGEST_SHA1),
    "rsa-sha256": (xmldsig.SIG_RSA_SHA256, xmldsig.DIGEST_SHA256),
    "rsa-sha512": (xmldsig.SIG_RSA_SHA512, xmldsig.DIGEST_SHA512),
}


class Node:
    """The pysaml2 Server, made once the SP's metadata is there."""

    def __init__(self, work, key, cert, users, port):
        self.work = work
        self.base = f"http://127.0.0.1:{port}"
        self.users = users
        self.settings = {
            "entityid": self.base + "/metadata",
            "name": "pysaml2 eIDAS test node",
            "key_file": key,
            "cert_file": cert,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "accepted_time_diff": 60,
            "attribute_map_dir": os.path.join(work, "attributemaps"),
            "service": {
                "idp": {
                    "name": "pysaml2 eIDAS test node",
                    "endpoints": {
                        "single_sign_on_service": [
                            (self.base + "/sso/redirect", BINDING_HTTP_REDIRECT)
                        ],
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    # The redirect binding signs the query, not the XML: checked below.
                    "want_authn_requests_signed": False,
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        }
                    },
                }
            },
        }
        self._server = None
        self._lock = threading.Lock()
        self.pending = {}

    def metadata(self):
        """This node's EntityDescriptor, signed by its own key (RSA-SHA256)."""
        config = IdPConfig().load(dict(self.settings))
        descriptor = entity_descriptor(config)
        _, xml = sign_entity_descriptor(descriptor, None, security_context(config),
                                        sign_alg=xmldsig.SIG_RSA_SHA256,
                                        digest_alg=xmldsig.DIGEST_SHA256)
        return xml

    def server(self):
        with self._lock:
            if self._server is None:
                settings = dict(self.settings)
                settings["metadata"] = {"local": [os.path.join(self.work, "sp-metadata.xml")]}
                self._server = Server(config=IdPConfig().load(settings))
            return self._server


class Handler(BaseHTTPRequestHandler):
    node = None

    def log_message(self, format, *args):
        sys.stderr.write("idp: " + (format % args) + "\n")

    def answer(self, status, body, content_type="text/html; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/metadata":
            return self.answer(200, self.node.metadata(), "application/samlmetadata+xml")
        if url.path != "/sso/redirect":
            return self.answer(404, "no such page")
        # SAML bindings 3.4.4.1: the signature covers the query as sent.
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        server = self.node.server()
        try:
            request = server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
            issuer = request.message.issuer.text
            certificates = server.metadata.certs(issuer, "any", "signing")
            if not any(verify_redirect_signature(query, server.sec.sec_backend, cert)
                       for cert in certificates):
                return self.answer(403, "the AuthnRequest's signature does not verify")
        except Exception as e:  # pysaml2 raises many kinds
            return self.answer(400, f"unreadable AuthnRequest: {e!r}")
        key = secrets.token_urlsafe(16)
        self.node.pending[key] = (request, query.get("RelayState", ""))
        context = request.message.requested_authn_context
        asked = context.authn_context_class_ref[0].text if context else "nothing"
        page = (
            "<!DOCTYPE html><html><head><title>pysaml2 eIDAS test node</title></head><body>"
            f"<p>Level asked for: <span id=\"asked\">{html.escape(asked)}</span></p>"
            "<form method=\"post\" action=\"/login\">"
            f"<input type=\"hidden\" name=\"key\" value=\"{key}\">"
            "<input name=\"user\"><button type=\"submit\">Log in</button></form>"
            "</body></html>"
        )
        return self.answer(200, page)

    def do_POST(self):
        if self.path != "/login":
            return self.answer(404, "no such page")
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("ascii")))
        pending = self.node.pending.pop(form.get("key", ""), None)
        user = self.node.users.get(form.get("user", ""))
        if pending is None or user is None:
            return self.answer(403, "unknown login or request")
        request, relay_state = pending
        server = self.node.server()
        args = server.response_args(request.message, [BINDING_HTTP_POST])
        identity = {name: [value] for name, value in user["attributes"].items()}
        name_id = NameID(format=NAMEID_FORMAT_PERSISTENT,
                         text=user["attributes"]["PersonIdentifier"])
        sign = user.get("sign", "both")
        sign_alg, digest_alg = ALGORITHMS[user.get("algorithm", "rsa-sha256")]
        response = server.create_authn_response(
            identity,
            name_id=name_id,
            authn={"class_ref": user["loa"], "authn_auth": self.node.settings["entityid"]},
            sign_assertion=sign in ("assertion", "both"),
            sign_response=sign in ("response", "both"),
            sign_alg=sign_alg,
            digest_alg=digest_alg,
            **args,
        )
        http_args = server.apply_binding(BINDING_HTTP_POST, str(response), args["destination"],
                                         relay_state, response=True)
        return self.answer(200, http_args["data"])


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    work, key, cert, users_file = sys.argv[1:]
    with open(users_file, encoding="utf-8") as f:
        users = json.load(f)
    os.makedirs(os.path.join(work, "attributemaps"), exist_ok=True)
    with open(os.path.join(work, "attributemaps", "eidas.py"), "w", encoding="utf-8") as f:
        f.write(EIDAS_ATTRIBUTE_MAP)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    Handler.node = Node(work, key, cert, users, port)
    with open(os.path.join(work, "metadata.xml"), "w", encoding="utf-8") as f:
        f.write(Handler.node.metadata())
    with open(os.path.join(work, "ready.tmp"), "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.rename(os.path.join(work, "ready.tmp"), os.path.join(work, "ready"))
    httpd.serve_forever()


if __name__ == "__main__":
    main()
