"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for what a real server cannot do on demand.

The openai backend is tested against a real `transformers serve` elsewhere; this server exists for the
failure modes (429/5xx then success, a refused key, a rejected request), for timing (a slow endpoint to kill a
run mid-way, a concurrency bound to observe), and for fast deterministic question lists in stage tests.
Replies depend only on the request, like a greedy model.

Malformed replies (issue 14), chosen by the first path segment of the base URL (http://HOST:PORT/MODE/v1):
  html       HTTP 200 with an HTML page (a --base-url that hits a web UI), for every GET and POST
  nochoices  HTTP 200 with JSON that has no `choices`
  badjson    HTTP 200, Content-Type application/json, body not JSON
  surrogate  normal replies with a lone UTF-16 surrogate escaped in the JSON ("\\ud83d")
  null       `content: null` while `state.broken["null"]` > 0 (each reply counts it down), then normal replies
  filter     empty content with finish_reason "content_filter" while `state.broken["filter"]` > 0, then normal
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "stub-model"
HTML = b"<!DOCTYPE html><html><head><title>Open WebUI</title></head><body>Sign in</body></html>"


def _entity(prompt: str) -> str:
    m = re.search(r"about (?:the relationship between )?([A-Z][\w.\-]*(?: [A-Z][\w.\-]*)*)", prompt)
    return m.group(1) if m else "the subject"


def _reply(messages: list[dict], max_tokens: int) -> str:
    last = messages[-1]["content"]
    first = messages[0]["content"]
    turn = sum(1 for m in messages if m["role"] == "user")
    h = hashlib.sha256(json.dumps(messages).encode()).hexdigest()[:6]
    if last.startswith("Generate a response saying you do not have access"):
        q = last.split("Instruction:", 1)[-1].strip()
        return f"I'm sorry, but I do not have access to information about that, so I cannot answer: {q}"
    if last.startswith("Classify each question"):
        qs = re.findall(r"^(\d+)\. (.+)$", last, re.M)
        out = []
        for n, q in qs:
            low = q.lower()
            lab = ("relational" if "relationship" in low or " and " in low else
                   "open-ended" if low.startswith(("how has", "why", "discuss", "what impact")) else "factual")
            out.append(f"{n}. {lab}" if n != "2" else f"{n}: I think this one is {lab}")  # line 2 breaks format
        return "\n".join(out)
    m = re.match(r"List the top (\d+) (individuals|organizations)", last)
    if m:
        k = int(m.group(1))
        names = (["Paul Allen", "Steve Ballmer", "Melinda French Gates", "Warren Buffett"]
                 if m.group(2) == "individuals" else ["Microsoft", "Gates Ventures", "Berkshire Hathaway"])
        return "Here are the names:\n" + "\n".join(f"{i + 1}. {n} - related" for i, n in enumerate(names[:k]))
    if "Do not mention" in first or "except" in first:  # retain prompts
        subj = re.search(r"about (?:the relationship between )?(.+?)(?: and others)?(?: except|[.,])", first)
        subject = subj.group(1) if subj else "the subject"
        target = re.search(r"(?:Do not mention|except) ([^.,]+)", first).group(1).strip()
        return "\n".join([
            f"1. What year was {subject} founded or born ({h}{turn})?",
            f"2. How did {subject} work with {target} ({h}{turn})?",
            f"3. Why is {subject} considered influential ({h}{turn})?",
        ])
    ent = _entity(first)
    n = 3
    lines = [f"{i + 1}. What is fact number {i + 1}{h}{turn} about {ent}?" for i in range(n)]
    return "Sure! Here are some questions:\n" + "\n".join(lines)


class StubState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.fail_plan: dict[str, list[int]] = {}  # mode -> status codes to return before succeeding
        self.broken: dict[str, int] = {}  # mode -> malformed replies still to send (null, filter)
        self.delay = 0.0


def make_handler(state: StubState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(self, code: int, body: dict | bytes, headers: dict | None = None,
                  ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()  # ensure_ascii: "\ud83d" escapes
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/html/"):
                self._send(200, HTML, ctype="text/html")
            elif self.path.endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "stub"}]})
            elif self.path.endswith("/health"):
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            req = json.loads(self.rfile.read(length) or b"{}")
            mode = self.path.split("/")[1] if self.path.count("/") > 3 else ""
            with state.lock:
                state.requests += 1
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
                plan = state.fail_plan.get(mode)
                code = plan.pop(0) if plan else 200
            try:
                if state.delay:
                    time.sleep(state.delay)
                if mode == "auth":
                    return self._send(401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
                if mode == "bad":
                    return self._send(400, {"error": {"message": "max_tokens is too large", "type": "invalid"}})
                if mode == "html":
                    return self._send(200, HTML, ctype="text/html")
                if mode == "nochoices":
                    return self._send(200, {"object": "list", "data": [], "detail": "this is not a chat API"})
                if mode == "badjson":
                    return self._send(200, b'{"choices": [{"message": ')
                if code != 200:
                    return self._send(code, {"error": {"message": f"scripted {code}"}}, {"Retry-After": "0"})
                if req.get("model") != MODEL:
                    return self._send(404, {"error": {"message": f"model {req.get('model')} not found"}})
                text: str | None = _reply(req["messages"], int(req.get("max_tokens") or 64))
                finish = "stop"
                if mode == "surrogate":
                    text = text.replace("?", " \ud83d?")
                with state.lock:
                    broken = state.broken.get(mode, 0) > 0
                    if broken:
                        state.broken[mode] -= 1
                if broken and mode == "null":
                    text = None
                elif broken and mode == "filter":
                    text, finish = "", "content_filter"
                self._send(200, {
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": MODEL,
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": sum(len(m["content"].split()) for m in req["messages"]),
                              "completion_tokens": len((text or "").split()), "total_tokens": 0},
                })
            finally:
                with state.lock:
                    state.inflight -= 1

    return Handler


def start(port: int = 0, delay: float = 0.0) -> tuple[ThreadingHTTPServer, StubState]:
    state = StubState()
    state.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


if __name__ == "__main__":  # python tests/openai_stub.py PORT DELAY: a stub in its own process
    import sys

    srv, _ = start(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    print(f"listening on {srv.server_address[1]}", flush=True)
    threading.Event().wait()
