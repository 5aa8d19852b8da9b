"""Gunicorn reads this file from the working directory: its access log leaves out secret links."""

from gunicorn.glogging import Logger

from core.redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "f"):  # the request line, the path, the referrer
            # None for a request gunicorn could not parse: it answers 400 and logs it all the same.
            if isinstance(atoms[name], str):
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger
