"""Stdlib HTTP server for the labelling page: serves page.html and a small JSON API over one batch.

Labels are appended to `<batch stem>.labels.jsonl` beside the batch via hfpipeline.feedback. Only known Host
names are served (DNS rebinding), POSTs from another Origin are refused, and a server bound beyond loopback asks
for a per-run token (in the printed URL, then a cookie).
"""

import contextlib
import hmac
import json
import re
import secrets
import socket
import threading
import webbrowser
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import parse_qs, unquote

from hfpipeline import feedback
from hfpipeline.errors import UserError

MAX_BODY = 1 << 20
MAX_DEPTH = 8  # a label is {id, ranking: [..], tags: {i: [..]}, comment}: depth 3
MAX_CONNECTIONS = 32  # concurrent connections; more are closed at once
TIMEOUT = 30  # seconds a connection may stay silent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
COOKIE = "hfpipeline_label_token"


class LabelingState:
    """The batch being labelled, its labels file, and a lock so saves never interleave."""

    def __init__(self, batch_path, tags):
        self.batch = feedback.load_batch(batch_path)
        self.labels_path = feedback.labels_path_for(batch_path)
        self.tags = tuple(tags)
        self.lock = threading.Lock()
        feedback.load_labels(self.batch, self.labels_path, self.tags)  # fail at start on a bad labels file

    def labels(self) -> dict:
        """Saved labels by id, re-read so edits by other processes are seen."""
        return feedback.load_labels(self.batch, self.labels_path, self.tags)

    def item_view(self, n: int, labels: dict) -> dict:
        """What the page needs to show item number `n` (0-based), with its saved label if any."""
        item = self.batch.items[n]
        return {
            "id": item["id"],
            "n": n + 1,
            "prompt": item["prompt"],
            "responses": item["responses"],
            "label": labels.get(item["id"]),
        }

    def summary(self) -> dict:
        """Progress and the next unlabelled item (None when the batch is finished)."""
        labels = self.labels()
        n = feedback.next_unlabelled(self.batch, labels)
        return {
            "batch": self.batch.path.name,
            "total": len(self.batch.items),
            "done": len(labels),
            "finished": n is None,
            "item": None if n is None else self.item_view(n, labels),
            "tags": [{"name": t, "label": feedback.tag_label(t)} for t in self.tags],
        }


def make_handler(state: LabelingState):
    """A request handler class bound to `state`."""
    page = (files("hfpipeline.feedback") / "page.html").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        server_version = "hfpipeline-label"
        timeout = TIMEOUT

        def log_message(self, format, *args):
            """Stay quiet; the labeller only needs the URL."""

        def send_body(self, status, body: bytes, content_type: str):
            """Send a complete response that the browser must not cache."""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")  # no clickjacking: the page never runs in a frame
            self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
            for name, value in getattr(self, "extra_headers", ()):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, obj):
            """Send `obj` as JSON."""
            self.send_body(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json")

        def send_error_json(self, status, message):
            """Send {"error": message} with an error status."""
            self.send_json(status, {"error": message})

        def send_error(self, code, message=None, explain=None):
            """Methods other than GET and POST get 405 (http.server says 501); other errors as JSON."""
            if code == HTTPStatus.NOT_IMPLEMENTED:
                self.extra_headers = [("Allow", "GET, POST")]
                code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command} not allowed: use GET or POST"
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may be gone already
                self.send_error_json(code, message or (code.phrase if isinstance(code, HTTPStatus) else "error"))

        def refusal(self) -> tuple | None:
            """(status, why) when the request must be refused: foreign Host (DNS rebinding), a POST from another
            Origin, or a missing/wrong token on a server reachable from other machines; else None."""
            host = self.headers.get("Host", "")
            name = re.sub(r":\d+$", "", host).strip("[]").lower()
            if name not in self.server.allowed_hosts:
                return HTTPStatus.FORBIDDEN, f"unexpected Host header {host!r}. Pass --allow-host NAME to serve it"
            origin = self.headers.get("Origin")
            if self.command == "POST" and origin is not None and origin.rstrip("/") != f"http://{host}":
                return HTTPStatus.FORBIDDEN, f"cross-origin request from {origin!r} refused"
            token = self.server.token
            if token and not any(hmac.compare_digest(t, token) for t in self.tokens()):
                return HTTPStatus.FORBIDDEN, "missing or wrong token: open the URL that hfpipeline label printed"
            return None

        def tokens(self) -> list[str]:
            """Tokens the request carries: ?token= in the URL, and the cookie set when the page was opened."""
            query = parse_qs(self.path.split("?", 1)[1]) if "?" in self.path else {}
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            return query.get("token", []) + ([cookie[COOKIE].value] if COOKIE in cookie else [])

        def do_GET(self):
            """Page, progress, or one item."""
            if refused := self.refusal():
                return self.send_error_json(*refused)
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                if self.server.token:  # the page's own requests then carry the token as a same-site cookie
                    self.extra_headers = [
                        ("Set-Cookie", f"{COOKIE}={self.server.token}; Path=/; HttpOnly; SameSite=Strict")
                    ]
                return self.send_body(HTTPStatus.OK, page, "text/html; charset=utf-8")
            try:
                with state.lock:
                    if path == "/api/state":
                        return self.send_json(HTTPStatus.OK, state.summary())
                    if path.startswith("/api/item/"):
                        item_id = unquote(path[len("/api/item/") :])
                        if item_id not in state.batch.positions:
                            return self.send_error_json(HTTPStatus.NOT_FOUND, f"unknown id {item_id!r}")
                        view = state.item_view(state.batch.positions[item_id], state.labels())
                        return self.send_json(HTTPStatus.OK, view)
            except UserError as e:
                return self.send_error_json(HTTPStatus.INTERNAL_SERVER_ERROR, str(e))
            self.send_error_json(HTTPStatus.NOT_FOUND, f"no such page: {path}")

        def do_POST(self):
            """Save one label: 200 with the new progress, or 4xx with {"error": ...} and nothing saved."""
            if refused := self.refusal():
                return self.send_error_json(*refused)
            if self.path.split("?", 1)[0] != "/api/label":
                return self.send_error_json(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")
            # Requiring JSON forces a CORS preflight, so other web sites cannot post labels here.
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
                return self.send_error_json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the label as application/json")
            length = self.headers.get("Content-Length", "")
            length = int(length) if length.isdigit() else 0
            if not 0 < length <= MAX_BODY:
                return self.send_error_json(HTTPStatus.BAD_REQUEST, f"body must be 1..{MAX_BODY} bytes of JSON")
            try:
                body = json.loads(self.rfile.read(length).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return self.send_error_json(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {e}")
            except RecursionError:
                body = None
            if body is None or depth(body) > MAX_DEPTH:
                return self.send_error_json(HTTPStatus.BAD_REQUEST, f"body nests deeper than {MAX_DEPTH} levels")
            try:
                with state.lock:
                    saved = feedback.save_label(state.batch, state.labels_path, body, state.tags)
                    summary = state.summary()
            except UserError as e:
                return self.send_error_json(HTTPStatus.BAD_REQUEST, str(e))
            self.send_json(HTTPStatus.OK, {"saved": saved, "state": summary})

    return Handler


def depth(obj) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iterative: a deep body cannot blow the stack)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


class LabelServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that closes connections beyond MAX_CONNECTIONS instead of starting a thread each."""

    daemon_threads = True

    def __init__(self, address, handler, allowed_hosts: set, token: str | None):
        self.allowed_hosts, self.token = allowed_hosts, token
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def host_names(host: str, extra=()) -> set[str]:
    """Host header names the server answers to: loopback names, the bound address, and for a non-loopback bind
    this machine's names and addresses, plus `extra` (--allow-host)."""
    names = set(LOOPBACK_HOSTS) | {host.lower()} | {e.lower() for e in extra}
    if host not in LOOPBACK_HOSTS:
        machine = socket.gethostname()
        names |= {machine.lower(), socket.getfqdn().lower()}
        with contextlib.suppress(OSError):  # a host name that does not resolve: its name alone
            names |= {info[4][0] for info in socket.getaddrinfo(machine, None)}
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # UDP connect sends nothing: it picks the outgoing interface's address
            names.add(probe.getsockname()[0])
    return names - {"", "0.0.0.0", "::"}


def make_server(
    batch_path, host="127.0.0.1", port=8765, tags=feedback.DEFAULT_TAGS, allow_hosts=(), token: str | None = None
) -> ThreadingHTTPServer:
    """A ready (not yet serving) labelling server; port 0 picks a free port. Bound beyond loopback, it asks every
    request for `token` (a fresh one unless given)."""
    state = LabelingState(batch_path, tags)
    if host not in LOOPBACK_HOSTS:
        token = token or secrets.token_urlsafe(16)
    try:
        server = LabelServer((host, port), make_handler(state), host_names(host, allow_hosts), token)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}). Pass another --port") from None
    except (socket.gaierror, UnicodeError, OverflowError):
        raise UserError(f"--host {host}: not an address of this machine. E.g. 127.0.0.1 or 0.0.0.0") from None
    server.labeling_state = state
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    """The address to open in a browser (with the token when the server asks for one)."""
    host, port = server.server_address[:2]
    host = socket.gethostname() if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/" + (f"?token={server.token}" if server.token else "")


def serve(batch_path, host="127.0.0.1", port=8765, tags=feedback.DEFAULT_TAGS, open_browser=False, allow_hosts=()):
    """Serve the labelling page for `batch_path` until Ctrl-C."""
    server = make_server(batch_path, host, port, tags, allow_hosts)
    state = server.labeling_state
    url = server_url(server)
    print(f"Labelling {state.batch.path} ({len(state.batch.items)} items); labels go to {state.labels_path}")
    print(f"Open {url} in a browser. Press Ctrl-C to stop.", flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopped.")
    finally:
        server.server_close()
