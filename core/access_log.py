"""gunicorn's own log lines, its access log and its error log, in the product's log format: plain
text as gunicorn writes them, or with LOG_FORMAT=json one JSON object a line, as every other line."""

import json
import os
import subprocess
import sys
import traceback
from types import SimpleNamespace

from gunicorn.glogging import Logger

from core.clientip import client_ip
from core.logging import ContextFilter, RedactSecretsFilter, formatter
from core.redaction import redact

# The JSON formatter of the settings' LOGGING with LOG_FORMAT=json, else null.
_READ_JSON_FORMATTER = (
    "import json; from django.conf import settings; print(json.dumps("
    "settings.LOGGING['formatters']['json'] if settings.LOG_FORMAT == 'json' else None))"
)


def json_formatter_config(env: dict[str, str]) -> dict | None:
    """What the settings say of gunicorn's own lines, read in a process of its own: gunicorn's
    master never loads the settings itself, so each web process it starts reads them, and .env,
    afresh (after a reload, HUP, too), with gunicorn's `--env` applied. None for the readable
    format, and for settings that cannot load: the web process starting says why."""
    read = subprocess.run(
        [sys.executable, "-c", _READ_JSON_FORMATTER],
        # Where gunicorn finds the project (its --chdir, --pythonpath), the settings are found too.
        env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
        capture_output=True,
        text=True,
        check=False,
    )
    if read.returncode != 0 or not read.stdout.strip():
        return None
    return json.loads(read.stdout.splitlines()[-1])


class GunicornLogger(Logger):
    """The access log leaves out secret links and ends each line with the web process's id and
    the request's id (its X-Request-Id), as every other log line names them."""

    def setup(self, cfg):
        super().setup(cfg)
        config = json_formatter_config(cfg.env)
        self.json = config is not None
        if not self.json:
            return
        json_formatter = formatter(config)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter)
                handler.addFilter(ContextFilter())
                handler.addFilter(RedactSecretsFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The web process that answered, as a plain number (gunicorn's own `p` is `<1234>`).
        atoms["pid"] = os.getpid()
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
