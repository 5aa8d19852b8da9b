"""Image hosts on loopback for the source URL fetch: an https site with a certificate from a test
authority, an internal plain TCP service, and a network whose DNS and routes a test writes."""

import http.server
import ipaddress
import socket
import ssl
import subprocess
import threading
from pathlib import Path

# Global addresses (never contacted: the network routes them to loopback).
PUBLIC = "93.184.216.34"
OTHER_PUBLIC = "93.184.216.35"
SITE_NAMES = ("img.example", "cdn.example")


def certificates_make(directory: Path) -> dict[str, Path]:
    """A test certificate authority and a certificate signed by it for SITE_NAMES."""
    files = {name: directory / f"{name}.pem" for name in ("ca", "ca_key", "site", "site_key")}
    csr, extensions = directory / "site.csr", directory / "site.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
        f"subjectAltName={','.join(f'DNS:{name}' for name in SITE_NAMES)}\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", files["ca_key"], "-out", files["ca"], "-days", "2"]
        + ["-subj", "/CN=Offload test authority"]
        + ["-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", files["site_key"], "-out", csr, "-subj", f"/CN={SITE_NAMES[0]}"],
        ["x509", "-req", "-in", csr, "-CA", files["ca"], "-CAkey", files["ca_key"]]
        + ["-CAcreateserial", "-out", files["site"], "-days", "2", "-extfile", extensions],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


class HttpsSite:
    """An https server answering `pages` (path -> (status, headers, body)); it records the SNI,
    the Host header and the Accept-Encoding header of every request."""

    def __init__(self, certificates: dict[str, Path]):
        self.pages: dict[str, tuple[int, dict, bytes]] = {}
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        self.accept_encodings: list[str | None] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                site.hosts.append(self.headers.get("Host", ""))
                site.accept_encodings.append(self.headers.get("Accept-Encoding"))
                status, headers, body = site.pages.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates["site"], certificates["site_key"])
        context.sni_callback = lambda connection, name, _: self.server_names.append(name)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: None  # refused handshakes, expected
        # The handshake happens in each request's thread, not in the one accepting connections.
        self.httpd.socket = context.wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class InternalService:
    """A plain TCP service on 127.0.0.1 (a cache, a database, an admin port) that counts the
    connections it gets."""

    def __init__(self):
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            with connection:
                connection.sendall(b"-ERR unknown command\r\n")

    def close(self):
        self.stopped.set()
        self.listener.close()


class FakeNetwork:
    """Names answer what `names` says (one answer per look-up, the last one repeated: a TTL-0
    name can change between two; an answer is an address, a tuple of them, or None for a name no
    name server knows), and connections to
    an address in `routes` reach that loopback port instead, whatever port was asked for.
    Connections reach nothing but loopback."""

    def __init__(self, real_getaddrinfo, real_create_connection):
        self.names: dict[str, list[str | tuple[str, ...] | None]] = {}
        self.routes: dict[str, int] = {}
        self.lookups: list[str] = []
        self._getaddrinfo = real_getaddrinfo
        self._create_connection = real_create_connection

    def getaddrinfo(self, host, port, *args, **kwargs):
        if host not in self.names:
            return self._getaddrinfo(host, port, *args, **kwargs)
        self.lookups.append(host)
        answers = self.names[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = answer if isinstance(answer, tuple) else (answer,)
        return [
            info
            for address in addresses
            for info in self._getaddrinfo(address, port, *args, **kwargs)
        ]

    def create_connection(self, address, *args, **kwargs):
        host, port = address[:2]
        if host in self.names:  # a client that resolves the name itself gets the next answer
            host = self.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0]
        if host in self.routes:
            host, port = "127.0.0.1", self.routes[host]
        if not ipaddress.ip_address(host).is_loopback:
            raise ConnectionRefusedError(f"The tests have no route to {host}.")
        return self._create_connection((host, port), *args, **kwargs)
