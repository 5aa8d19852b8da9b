def test_submit_then_poll_a_diagnostic_job(api_client):
    response = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 1}}, format="json"
    )
    assert response.status_code == 202, response.json()
    job = response.json()
    assert job["status"] == "pending"
    assert response["Location"] == f"/api/v1/jobs/{job['id']}"
    assert response["Retry-After"] == "3"
    assert response["X-RateLimit-Limit"] == "10"
    poll = api_client.get(response["Location"])
    assert poll.status_code == 200
    assert poll.json()["queue"]["position"] == 1
    again = api_client.get(response["Location"], HTTP_IF_NONE_MATCH=poll["ETag"])
    assert again.status_code == 304
