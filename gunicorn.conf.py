"""Gunicorn reads this file from the working directory: its access log leaves out secret links and
ends each line with the request's id (its X-Request-Id), as every other log line of it does."""

from gunicorn.glogging import Logger

from core.redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The request line, the path, the referrer, and the user of HTTP Basic auth: a client
        # used to Stripe's `curl -u $KEY:` sends its API key there.
        for name in ("r", "U", "f", "u"):
            # None for a request gunicorn could not parse: it answers 400 and logs it all the same.
            if isinstance(atoms[name], str):
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger
# A batch look-up names up to 100 job ids in its URL, with a cursor: twice gunicorn's default room.
limit_request_line = 8190
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" request_id=%({x-request-id}o)s'
)
