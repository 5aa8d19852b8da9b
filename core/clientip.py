from django.conf import settings


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or, behind NUM_PROXIES trusted proxies, the address the
    outermost trusted proxy saw (read from the right of X-Forwarded-For). A client can prepend
    whatever it likes to that header, so it is never read from the left."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]
