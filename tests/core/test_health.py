def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-Id"]


def test_readyz_reports_each_dependency(db, client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "broker", "cache"}
    assert all(check["ok"] for check in body["checks"].values())


def test_me_shows_the_callers_tenant(api_client, tenant):
    response = api_client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == tenant.slug
