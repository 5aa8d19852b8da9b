"""The links in an image job's result open for as long as the job can be read: they are made when
the job is read, like its `view_url`, never kept from when it completed."""

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from generations.signing import file_url
from jobs.models import Job
from jobs.services import job_execute


@pytest.fixture
def short_lived_links(settings):
    settings.GENERATION_VIEW_URL_MAX_AGE = 60


def _generated(api_client, **body) -> str:
    submitted = api_client.post("/api/v1/generations", body, format="json")
    assert submitted.status_code == 202, submitted.json()
    job_execute(job_id=submitted.json()["id"])
    return submitted.json()["id"]


def _image_generated(api_client) -> str:
    return _generated(api_client, kind="image", prompt="a fox", width=64, height=64, count=2)


def _opens(client, link: str) -> bool:
    response = client.get(urlsplit(link).path)
    # Read to its end, which closes the file it streams.
    body = response.getvalue()
    return (
        response.status_code == 200
        and response["Content-Type"] == "image/png"
        and body.startswith(b"\x89PNG")
    )


def test_an_image_jobs_links_open_long_after_their_first_links_expired(
    api_client, client, short_lived_links
):
    generated = _image_generated(api_client)
    source = Job.objects.get(pk=generated).result["imageIds"][0]
    edited = _generated(api_client, kind="image_edit", prompt="in snow", source_image_id=source)
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        for job_id, count in ((generated, 2), (edited, 1)):
            for url in (f"/api/v1/generations/{job_id}", f"/api/v1/jobs/{job_id}"):
                job = api_client.get(url).json()
                assert job["status"] == "completed"
                assert len(job["result"]["imageUrls"]) == count
                assert all(_opens(client, link) for link in job["result"]["imageUrls"])
            listed = api_client.get(f"/api/v1/jobs?ids={job_id}").json()["results"]
            assert all(_opens(client, link) for link in listed[0]["result"]["imageUrls"])


def test_polls_in_one_hundredth_of_the_links_lifetime_get_304_with_links_that_open(
    api_client, client, settings
):
    settings.GENERATION_VIEW_URL_MAX_AGE = 6000
    step = 60
    job_id = _image_generated(api_client)
    # A step's start plus 5 s, past the lifetime of any link made at completion.
    start = (int(time.time()) // step + 110) * step + 5
    url = f"/api/v1/generations/{job_id}"
    with time_machine.travel(start, tick=False):
        first = api_client.get(url)
    with time_machine.travel(start + 50, tick=False):
        again = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        result = first.json()["result"]
        image = api_client.get(f"/api/v1/images/{result['imageIds'][0]}").json()
        assert again.status_code == 304
        assert again["ETag"] == first["ETag"]
        # The image's own `url` is the job's link to it.
        assert image["url"] == result["imageUrls"][0]
        assert all(_opens(client, link) for link in result["imageUrls"])


def test_a_result_stored_with_its_links_is_shown_with_fresh_ones(
    api_client, client, short_lived_links
):
    job_id = _image_generated(api_client)
    ids = Job.objects.get(pk=job_id).result["imageIds"]
    # As image jobs completed before their links were made at each read.
    stored = [file_url("image", pk) for pk in ids]
    Job.objects.filter(pk=job_id).update(result={"imageUrls": stored, "imageIds": ids})
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        result = api_client.get(f"/api/v1/jobs/{job_id}").json()["result"]
        assert result["imageIds"] == ids
        assert not any(_opens(client, link) for link in stored)
        assert all(_opens(client, link) for link in result["imageUrls"])


def test_show_job_prints_an_image_jobs_ids_and_no_link_that_would_expire(api_client, capsys):
    job_id = _image_generated(api_client)
    ids = Job.objects.get(pk=job_id).result["imageIds"]
    call_command("show_job", job_id)
    assert f'Result: {{"imageIds": [{ids[0]}, {ids[1]}]}}' in capsys.readouterr().out
