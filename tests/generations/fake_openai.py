"""A small OpenAI-compatible server on loopback, scripted per test. It answers Anthropic's
Messages API (`/v1/messages`) too, in that API's shape."""

import base64
import http.server
import io
import json
import threading
import time

from PIL import Image

DECK = {
    "title": "Tides",
    "slides": [
        {"title": "Why tides", "blocks": [{"kind": "paragraph", "text": "The moon pulls."}]}
    ],
}
CARDS = {
    "cards": [
        {"question": "What pulls the tides?", "answer": "The moon", "source": "The moon pulls."}
    ]
}


class FakeOpenAI:
    def __init__(self):
        self.requests = []
        # per request: ("json", payload) | ("status", code or (code, headers)) | ("raw", text)
        # | ("sleep", seconds, or (seconds, the action answered after))
        # | ("image", PNG bytes, or None for a 64×64 one)
        # | ("body", the whole JSON answer)
        self.script = []
        self.default = ("json", CARDS)
        self.retry_after = "60"  # what a 429 says
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with server.lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "key": self.headers.get("Authorization", ""),
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.time(),
                        }
                    )
                    action = server.script.pop(0) if server.script else server.default
                server.answer(self, action)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, handler, action):
        kind, value = action
        if kind == "sleep":
            seconds, (kind, value) = value if isinstance(value, tuple) else (value, ("json", CARDS))
            time.sleep(seconds)
        headers = {}
        if kind == "status":
            # ("status", code), or ("status", (code, {header: value})) for headers of its own.
            value, headers = value if isinstance(value, tuple) else (value, {})
            body, code = json.dumps({"error": {"message": f"scripted {value}"}}).encode(), value
        elif kind == "body":
            body, code = json.dumps(value).encode(), 200
        elif kind == "image":
            body, code = _image(value), 200
        else:
            text = value if kind == "raw" else json.dumps(value)
            messages = handler.path.endswith("/messages")
            body, code = (message_body(text) if messages else chat_body(text)), 200
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            if code == 429:
                handler.send_header("Retry-After", self.retry_after)
            for name, header in headers.items():
                handler.send_header(name, header)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def close(self):
        self.httpd.shutdown()


def message_body(text: str) -> bytes:
    return json.dumps({"role": "assistant", "content": [{"type": "text", "text": text}]}).encode()


def chat_body(content: str) -> bytes:
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": content}}]}
    ).encode()


def _image(content: bytes | None) -> bytes:
    if content is None:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, format="PNG")
        content = buffer.getvalue()
    return json.dumps({"data": [{"b64_json": base64.b64encode(content).decode()}]}).encode()
