#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""api: the bikeshop's API, middle hop of web -> api -> data.

Python's standard library only (http.server, http.client).

  GET /bikes    calls data's /bikes and answers JSON: who answered (service,
                space, pod), the greeting below, what this hop received, and
                data's answer under "data"
  GET /healthz  "ok"

The azds-route-as, baggage, traceparent and tracestate fields of a request
go unchanged on the call to data: every field line, in order, value
untouched. A failing data gets a 502 (504 on a timeout) that names the
failed hop. Settings come from the environment: see the bikeshop README.
"""

import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import sys
import time

SERVICE = "api"

# What this api says. In the README's story alice changes this line in her
# space, and only requests routed as alice see her version.
GREETING = "Welcome to the bikeshop!"

# The fields a request carries down the chain, forwarded as they came.
PROPAGATE = ("azds-route-as", "baggage", "traceparent", "tracestate")
ANSWER_MAX = 1 << 20  # data's answer, in bytes


def fail(msg):
    print(f"{SERVICE}: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def env_int(name, default, lo, hi):
    v = os.environ.get(name, "")
    if v == "":
        return default
    if not v.isdigit() or not lo <= int(v) <= hi:
        fail(f"{name}={v} is not a whole number from {lo} to {hi}")
    return int(v)


def env_name(name, default):
    """Printable ASCII only: the value goes into a header and into JSON."""
    v = os.environ.get(name, "")
    if v == "":
        return default
    if len(v) > 253 or not all(0x20 <= ord(c) <= 0x7E for c in v):
        fail(f"{name} must be 1-253 printable ASCII characters")
    return v


SPACE = env_name("AZDS_SPACE", "unknown")
POD = env_name("AZDS_POD", socket.gethostname() or "unknown")
PORT = env_int("PORT", 80, 0, 65535)
LISTEN_ADDR = os.environ.get("LISTEN_ADDR") or "0.0.0.0"
DATA_HOST = os.environ.get("DATA_HOST") or "data"
DATA_PORT = env_int("DATA_PORT", 80, 1, 65535)
# shorter than web's own (10 s): a slow data is reported here, by the hop that saw it
TIMEOUT_MS = env_int("UPSTREAM_TIMEOUT_MS", 5000, 1, 600000)


class HopError(Exception):
    """A failed call to data: the status to answer and why."""

    def __init__(self, status, why):
        super().__init__(why)
        self.status = status
        self.why = why


def identity():
    return {"service": SERVICE, "space": SPACE, "pod": POD}


def call_data(fields):
    """GET data /bikes with fields [(name, value)]; returns (status, body bytes).

    One deadline covers the whole exchange: resolve and connect, then each
    read gets what is left of it.
    """
    where = f"{DATA_HOST}:{DATA_PORT}"
    deadline = time.monotonic() + TIMEOUT_MS / 1000

    def left():
        r = deadline - time.monotonic()
        if r <= 0:
            raise TimeoutError
        return r

    conn = http.client.HTTPConnection(DATA_HOST, DATA_PORT, timeout=left())
    try:
        conn.putrequest("GET", "/bikes", skip_accept_encoding=True)
        for name, value in fields:
            conn.putheader(name, value)
        conn.putheader("Accept", "application/json")
        conn.endheaders()
        conn.sock.settimeout(left())
        resp = conn.getresponse()
        body = b""
        while len(body) <= ANSWER_MAX:
            conn.sock.settimeout(left())
            chunk = resp.read1(65536)
            if not chunk:
                break
            body += chunk
        if len(body) > ANSWER_MAX:
            raise HopError(502, f"data's answer is larger than {ANSWER_MAX} bytes")
        return resp.status, body
    except TimeoutError:  # socket.timeout too (an alias since 3.10)
        raise HopError(504, f"data did not answer within {TIMEOUT_MS} ms ({where})") from None
    except ConnectionRefusedError:
        raise HopError(502, f"data refused the connection ({where}): is it running?") from None
    except socket.gaierror:
        raise HopError(502, f"cannot resolve data's host {DATA_HOST}") from None
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        raise HopError(502, f"data closed the connection before answering ({where})") from None
    except (OSError, http.client.HTTPException) as e:
        raise HopError(502, f"calling data ({where}) failed: {e!r}") from None
    finally:
        conn.close()


def parse_json(raw):
    try:
        v = json.loads(raw)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    server_version = "bikeshop-api"
    timeout = 30  # an idle or slow client does not hold a thread longer

    def fields(self):
        """The propagated fields, every line in arrival order, values as received."""
        return [(k, v) for k, v in self.headers.items() if k.lower() in PROPAGATE]

    def received(self):
        """What arrived: repeated lines joined with ", " (RFC 9110 5.3), None if absent."""
        out = {}
        for name in PROPAGATE:
            got = self.headers.get_all(name)
            out[name] = ", ".join(got) if got else None
        return out

    def send(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Azds-Service", SERVICE)
        self.send_header("X-Azds-Space", SPACE)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, extra=()):
        self.send(status, "application/json", (json.dumps(obj) + "\n").encode(), extra)

    def send_failure(self, status, error, failed_hop, upstream=None):
        body = identity()
        body.update(error=error, failed_hop=failed_hop)
        if upstream is not None:
            body["upstream"] = upstream
        body["received"] = self.received()
        self.send_json(status, body, [("X-Failed-Hop", failed_hop)])

    def bikes(self):
        try:
            status, raw = call_data(self.fields())
        except HopError as e:
            self.send_failure(e.status, e.why, "api -> data")
            return
        answer = parse_json(raw)
        if status == 200 and answer is not None:
            body = identity()
            body.update(greeting=GREETING, received=self.received(), data=answer)
            self.send_json(200, body)
        elif status in (502, 504) and answer is not None and answer.get("failed_hop"):
            self.send_failure(status, f"data answered {status}: {answer.get('error')}", answer["failed_hop"], answer)
        elif status == 200:
            self.send_failure(502, "data answered something that is not a JSON object", "api -> data",
                              raw[:500].decode("utf-8", "replace"))
        else:
            why = f": {answer['error']}" if answer and answer.get("error") else ""
            self.send_failure(502, f"data answered {status}{why}", "api -> data",
                              answer if answer is not None else raw[:500].decode("utf-8", "replace"))

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/bikes":
            self.bikes()
        elif path == "/healthz":
            self.send(200, "text/plain", b"ok\n")
        else:
            body = identity()
            body.update(error="no such path (api answers /bikes and /healthz)", path=path[:200])
            self.send_json(404, body)

    do_HEAD = do_GET

    def log_request(self, code="-", size="-"):
        # a refused request line leaves headers, command and path unset
        headers = getattr(self, "headers", None)
        ra = headers.get("azds-route-as", "-") if headers else "-"
        path = getattr(self, "path", "") or ""
        print(f"{SERVICE}: {getattr(self, 'command', None) or '-'} {path[:200]} {code} route-as={ra[:64]}",
              flush=True)

    def log_message(self, fmt, *args):
        print(f"{SERVICE}: " + (fmt % args), flush=True)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in LISTEN_ADDR else socket.AF_INET

    def server_bind(self):
        # HTTPServer's own would look up the address's FQDN: a DNS query that
        # stalls startup on a machine without a resolver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server = Server((LISTEN_ADDR, PORT), Handler)
    except OSError as e:
        fail(f"cannot listen on {LISTEN_ADDR} port {PORT}: {e.strerror}")
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"{SERVICE}: listening on {shown}:{port} (space {SPACE}), data at {DATA_HOST}:{DATA_PORT}")
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    print(f"{SERVICE}: stopping")


if __name__ == "__main__":
    main()
