"""Share links in the admin: a leaked link is found from what leaked."""

from generations.models import Deck
from sharelinks.services import share_link_create

LINKS = "/admin/sharelinks/publiclink/"


def _found(admin_client, pasted: str) -> list[int]:
    response = admin_client.get(LINKS, {"q": pasted})
    assert response.status_code == 200
    return [link.pk for link in response.context["cl"].result_list]


def test_a_pasted_url_or_token_finds_its_link_and_the_prefix_still_does(admin_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    leaked, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)

    assert _found(admin_client, f"https://offload.example/s/{token}?utm_source=chat") == [leaked.pk]
    assert _found(admin_client, f" {token}\n") == [leaked.pk]
    assert _found(admin_client, token[:6]) == [leaked.pk]
    assert _found(admin_client, f"https://offload.example/s/{token}x") == []
    assert _found(admin_client, "http://[x/s/abc") == []
    page = admin_client.get(LINKS).content.decode()
    assert "A link&#x27;s URL (…/s/&lt;token&gt;) or token, pasted whole" in page
