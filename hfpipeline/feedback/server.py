"""Stdlib HTTP server for the labelling page: serves page.html and a small JSON API over one batch.

Labels are appended to `<batch stem>.labels.jsonl` beside the batch via hfpipeline.feedback.
"""

import json
import re
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from urllib.parse import unquote

from hfpipeline import feedback
from hfpipeline.errors import UserError

MAX_BODY = 1 << 20
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


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
        return {"id": item["id"], "n": n + 1, "prompt": item["prompt"], "responses": item["responses"],
                "label": labels.get(item["id"])}

    def summary(self) -> dict:
        """Progress and the next unlabelled item (None when the batch is finished)."""
        labels = self.labels()
        n = feedback.next_unlabelled(self.batch, labels)
        return {"batch": self.batch.path.name, "total": len(self.batch.items), "done": len(labels),
                "finished": n is None, "item": None if n is None else self.item_view(n, labels),
                "tags": [{"name": t, "label": feedback.tag_label(t)} for t in self.tags]}


def make_handler(state: LabelingState):
    """A request handler class bound to `state`."""
    page = (files("hfpipeline.feedback") / "page.html").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        server_version = "hfpipeline-label"

        def log_message(self, format, *args):
            """Stay quiet; the labeller only needs the URL."""

        def send_body(self, status, body: bytes, content_type: str):
            """Send a complete response that the browser must not cache."""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status, obj):
            """Send `obj` as JSON."""
            self.send_body(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json")

        def send_error_json(self, status, message):
            """Send {"error": message} with an error status."""
            self.send_json(status, {"error": message})

        def host_allowed(self) -> bool:
            """Refuse foreign Host headers on a loopback server (DNS rebinding)."""
            if self.server.server_address[0] not in LOOPBACK_HOSTS:
                return True
            host = self.headers.get("Host", "")
            name = re.sub(r":\d+$", "", host).strip("[]")
            return name in LOOPBACK_HOSTS

        def do_GET(self):
            """Page, progress, or one item."""
            if not self.host_allowed():
                return self.send_error_json(HTTPStatus.FORBIDDEN, "unexpected Host header")
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                return self.send_body(HTTPStatus.OK, page, "text/html; charset=utf-8")
            try:
                with state.lock:
                    if path == "/api/state":
                        return self.send_json(HTTPStatus.OK, state.summary())
                    if path.startswith("/api/item/"):
                        item_id = unquote(path[len("/api/item/"):])
                        if item_id not in state.batch.positions:
                            return self.send_error_json(HTTPStatus.NOT_FOUND, f"unknown id {item_id!r}")
                        view = state.item_view(state.batch.positions[item_id], state.labels())
                        return self.send_json(HTTPStatus.OK, view)
            except UserError as e:
                return self.send_error_json(HTTPStatus.INTERNAL_SERVER_ERROR, str(e))
            self.send_error_json(HTTPStatus.NOT_FOUND, f"no such page: {path}")

        def do_POST(self):
            """Save one label: 200 with the new progress, or 4xx with {"error": ...} and nothing saved."""
            if not self.host_allowed():
                return self.send_error_json(HTTPStatus.FORBIDDEN, "unexpected Host header")
            if self.path != "/api/label":
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
            try:
                with state.lock:
                    saved = feedback.save_label(state.batch, state.labels_path, body, state.tags)
                    summary = state.summary()
            except UserError as e:
                return self.send_error_json(HTTPStatus.BAD_REQUEST, str(e))
            self.send_json(HTTPStatus.OK, {"saved": saved, "state": summary})

    return Handler


def make_server(batch_path, host="127.0.0.1", port=8765, tags=feedback.DEFAULT_TAGS) -> ThreadingHTTPServer:
    """A ready (not yet serving) labelling server; port 0 picks a free port."""
    state = LabelingState(batch_path, tags)
    try:
        server = ThreadingHTTPServer((host, port), make_handler(state))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}). Pass another --port") from None
    server.daemon_threads = True
    server.labeling_state = state
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    """The address to open in a browser."""
    host, port = server.server_address[:2]
    host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve(batch_path, host="127.0.0.1", port=8765, tags=feedback.DEFAULT_TAGS, open_browser=False):
    """Serve the labelling page for `batch_path` until Ctrl-C."""
    server = make_server(batch_path, host, port, tags)
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
