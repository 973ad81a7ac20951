"""A minimal webhook receiver: verify each delivery's signature, then act on the event.

The node POSTs every event of the subscribed types as a CloudEvent with a ``SafeRefer-Signature``
header (a detached JWS by a node key). The receiver checks it against the node's ``/jwks.json``
before it trusts anything (SR-EVENT-014), answers 2xx quickly, and de-duplicates by event id.
Run it, then subscribe its URL::

    python examples/webhook_receiver.py --port 8088 [--credentials-dir var/demo/credentials]

With ``--subscribe`` it registers itself for the shelter and deletes that subscription again
when it stops (Ctrl-C or SIGTERM), so the node does not keep retrying a receiver that is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

import _demo
import saferefer

SHELTER = _demo.org("demo-shelter")


def make_handler(jwks: dict[str, object], seen: set[str]) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                event = saferefer.webhooks.verify(dict(self.headers.items()), body, jwks)
            except saferefer.WebhookVerificationError as exc:
                print(f"rejected a delivery: {exc}", flush=True)
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            if event.id not in seen:
                seen.add(event.id)
                print(
                    f"verified {event.type} about {event.subject} (sequence {event.sequence})",
                    flush=True,
                )

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Receiver


def stop_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, a process manager) stops the receiver the way Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument(
        "--credentials-dir",
        type=Path,
        default=Path(os.environ.get("SAFEREFER_DEMO_CREDENTIALS", _demo.DEMO_CREDENTIALS)),
    )
    parser.add_argument(
        "--subscribe", action="store_true", help="subscribe this receiver for the shelter"
    )
    args = parser.parse_args()
    shelter = _demo.client(args.credentials_dir, SHELTER)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(shelter.jwks(), set()))
    url = f"http://127.0.0.1:{server.server_address[1]}/saferefer"
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    subscription = None
    try:
        if args.subscribe:
            subscription = shelter.subscriptions.create(
                url=url,
                event_types=["org.saferefer.referral.submitted", "org.saferefer.erasure.requested"],
            )
            print(f"subscribed {url} as {subscription.id}", flush=True)
        print(f"listening on {url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    finally:
        server.server_close()
        if subscription is not None:
            shelter.subscriptions.delete(subscription.id)
            print(f"unsubscribed {subscription.id}", flush=True)


if __name__ == "__main__":
    main()
