"""gunicorn's own log lines, its access log and its error log, in the product's log format: plain
text as gunicorn writes them, or with LOG_FORMAT=json one JSON object a line, as every other line."""

import traceback
from types import SimpleNamespace

from django.conf import settings
from gunicorn.glogging import Logger

from core.clientip import client_ip
from core.logging import ContextFilter, RedactSecretsFilter, formatter
from core.redaction import redact


class GunicornLogger(Logger):
    """The access log leaves out secret links and ends each line with the request's id (its
    X-Request-Id), as every other log line of it does."""

    def setup(self, cfg):
        super().setup(cfg)
        self.json = settings.LOG_FORMAT == "json"
        if not self.json:
            return
        json_formatter = formatter("json")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter)
                handler.addFilter(ContextFilter())
                handler.addFilter(RedactSecretsFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The request line, the path, the referrer, and the user of HTTP Basic auth: a client
        # used to Stripe's `curl -u $KEY:` sends its API key there.
        for name in ("r", "U", "f", "u"):
            # None for a request gunicorn could not parse: it answers 400 and logs it all the same.
            if isinstance(atoms[name], str):
                atoms[name] = redact(atoms[name])
        return atoms

    def access(self, resp, req, environ, request_time):
        if not self.json:
            super().access(resp, req, environ, request_time)
            return
        # gunicorn gives its access log a handler only when it is asked for one (--access-logfile).
        if not self.access_log.handlers:
            return
        try:
            request_line, status, fields = self.access_fields(resp, req, environ, request_time)
            self.access_log.info('"%s" %s', request_line, status, extra=fields)
        except Exception:
            self.error(traceback.format_exc())

    def access_fields(self, resp, req, environ, request_time):
        atoms = self.atoms(resp, req, environ, request_time)
        path, _, query = redact(environ.get("RAW_URI") or "").partition("?")
        fields = {
            "method": atoms["m"],
            "path": path,
            "query": query,
            "status": int(atoms["s"]),
            "bytes": atoms["B"],
            "duration_ms": round(atoms["D"] / 1000, 3),
            # The id the product gave the request; none when gunicorn answered it alone.
            "request_id": atoms.get("{x-request-id}o") or "-",
            # As the product reads it: through NUM_PROXIES trusted proxies, the client's.
            "remote_addr": client_ip(SimpleNamespace(META=environ)),
            "user_agent": atoms["a"],
            "referer": atoms["f"],
        }
        return atoms["r"], atoms["s"], fields
