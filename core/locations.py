from django.urls import reverse


def created_headers(view, pk) -> dict[str, str]:
    """A 201's `Location`: the new object's own address in the API, as a job's 202 gives the job
    to poll, so a client reads it back without building the URL itself."""
    return {"Location": reverse(f"{view.basename}-detail", kwargs={"pk": pk})}
