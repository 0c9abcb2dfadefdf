#!/usr/bin/env python3
"""A webhook receiver for trying Agent Studio Connect's webhooks on a laptop (standard library only).

It verifies every delivery as the Standard Webhooks specification says — the `webhook-signature`
header must hold `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, keyed with
the base64-decoded part of the secret after `whsec_`, and the timestamp must be within five
minutes — answers 204 to a valid delivery and 401 otherwise, and prints each verified event as one
JSON line (also appended to --out when given). The secret is read from --secret-file at every
delivery, so the file may be written after the receiver starts (the create answer of the webhook
is the only place the secret appears).

    python3 infra/scripts/webhook-receiver.py --port 9000 --secret-file .studio/webhook-secret
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def verify(secret: str, headers, body: bytes) -> bool:
    if not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return False
    except ValueError:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = headers.get("webhook-signature", "").split(" ")
    return any(
        sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected) for sig in offered
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret-file", required=True, help="holds the webhook's whsec_ secret")
    parser.add_argument("--out", help="append each verified event (a JSON line) to this file")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the standard library's name)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                with open(args.secret_file, encoding="utf-8") as f:
                    secret = f.read().strip()
            except OSError:
                secret = ""
            if not verify(secret, self.headers, body):
                print("refused: bad or stale signature", file=sys.stderr, flush=True)
                self.send_response(401)
                self.end_headers()
                return
            line = json.dumps(json.loads(body), sort_keys=True)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
