"""The admin's lists of what grows with every job or request (what generations make, notifications,
idempotency records, share links) read one page from an index, newest first, sorted by no column
without one, and their search boxes find rows through indexes: a word of a column through its
trigram index, a workspace or a recipient through the rows' foreign key."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification
from core.models import IdempotencyRecord
from generations.models import (
    Block,
    Deck,
    Distractor,
    Flashcard,
    GeneratedImage,
    SkillNode,
    SkillTree,
    Slide,
    Story,
)
from sharelinks.models import PublicLink
from tests.factories import UserFactory
from tests.plans import query_plans

# More than a page of each, so that a list reads one page of them, as it does at volume.
ROWS = 101


def _get(client, url: str, params=None) -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, (url, response.content[:500])
    return response.content.decode(), captured


def _listed(page: str, url: str) -> list[int]:
    return [int(pk) for pk in re.findall(rf'href="{url}(\d+)/change/', page)]


def _sortable(page: str) -> list[str]:
    return re.findall(r'<th scope="col" class="sortable column-(\w+)', page)


def _indexes_read(plan: str) -> set[str]:
    return set(re.findall(r"Index Scan on (\w+)", plan))


def _generated(tenant, rows: int = 1) -> None:
    """`rows` of everything a generation makes, in `tenant`."""
    deck = Deck.objects.create(tenant=tenant, title="Volcanoes")
    slide = Slide.objects.create(deck=deck, position=0, title="Lava")
    card = Flashcard.objects.create(tenant=tenant, question="What is lava?", answer="Rock")
    tree = SkillTree.objects.create(tenant=tenant, name="Geology")
    Deck.objects.bulk_create(Deck(tenant=tenant, title=f"Deck {n}") for n in range(rows))
    Slide.objects.bulk_create(Slide(deck=deck, position=n, title="Slide") for n in range(rows))
    Block.objects.bulk_create(
        Block(slide=slide, position=n, kind=Block.Kind.PARAGRAPH, text="Hot") for n in range(rows)
    )
    Flashcard.objects.bulk_create(
        Flashcard(tenant=tenant, question="Q?", answer="A") for _ in range(rows)
    )
    Distractor.objects.bulk_create(
        Distractor(tenant=tenant, flashcard=card, text="Ice", position=n) for n in range(rows)
    )
    SkillTree.objects.bulk_create(SkillTree(tenant=tenant, name="Tree") for _ in range(rows))
    SkillNode.objects.bulk_create(
        SkillNode(tree=tree, name="Node", depth=1, position=n) for n in range(rows)
    )
    Story.objects.bulk_create(Story(tenant=tenant, title="Story") for _ in range(rows))
    GeneratedImage.objects.bulk_create(
        GeneratedImage(tenant=tenant, prompt="A cat", file="x.png", width=1, height=1)
        for _ in range(rows)
    )


def _notified(tenant, user, rows: int = 1) -> None:
    Notification.objects.bulk_create(
        Notification(
            tenant=tenant,
            user=user,
            kind=Notification.Kind.BUDGET_ALERT,
            alert_key=f"budget:{n}",
            title="Budget at 80%",
        )
        for n in range(rows)
    )


def _keys(tenant, rows: int = 1) -> list[IdempotencyRecord]:
    now = timezone.now()
    return IdempotencyRecord.objects.bulk_create(
        IdempotencyRecord(
            tenant=tenant,
            key=f"key-{n}",
            fingerprint="0" * 64,
            # The earlier a record, the later it expires: the two orders are not the same.
            expires_at=now + timedelta(hours=rows - n),
        )
        for n in range(rows)
    )


GENERATED = [
    ("/admin/generations/deck/", "generations_deck", {"deck_title_search"}),
    ("/admin/generations/slide/", "generations_slide", {"slide_title_search"}),
    ("/admin/generations/block/", "generations_block", {"block_text_search"}),
    (
        "/admin/generations/flashcard/",
        "generations_flashcard",
        {"flashcard_question_search", "flashcard_answer_search"},
    ),
    ("/admin/generations/distractor/", "generations_distractor", {"distractor_text_search"}),
    ("/admin/generations/skilltree/", "generations_skilltree", {"skilltree_name_search"}),
    ("/admin/generations/skillnode/", "generations_skillnode", {"skillnode_name_search"}),
    ("/admin/generations/story/", "generations_story", {"story_title_search"}),
    (
        "/admin/generations/generatedimage/",
        "generations_generatedimage",
        {"generatedimage_prompt_search"},
    ),
]
OTHERS = [
    (
        "/admin/accounts/notification/",
        "accounts_notification",
        {"notification_title_search", "notification_alert_key_search"},
    ),
    ("/admin/core/idempotencyrecord/", "core_idempotencyrecord", {"idempotencyrecord_key_search"}),
]


@pytest.mark.parametrize(("url", "table", "indexes"), [*GENERATED, *OTHERS])
def test_a_search_of_a_growing_list_reads_its_indexes(
    admin_client, admin_user, tenant, url, table, indexes
):
    _generated(tenant)
    _notified(tenant, admin_user)
    _keys(tenant)

    _, captured = _get(admin_client, url, {"q": "lava"})

    # The count of what it found (the list's own query reads one page in the list's order). On a
    # test's few rows, the btree of every workspace's keys (which holds the key) read whole would
    # cost less than a search.
    off = ("seqscan", "indexscan", "indexonlyscan")
    plans = query_plans(captured, table, "COUNT(*)", off=off)
    (plan,) = [plan for plan in plans if "~~" in plan]
    assert indexes <= _indexes_read(plan), plan


@pytest.mark.parametrize(
    ("url", "table"), [(url, table) for url, table, _ in [*GENERATED, *OTHERS]]
)
def test_a_growing_list_reads_one_page_newest_first_along_the_primary_key(
    admin_client, admin_user, tenant, url, table
):
    _generated(tenant, ROWS)
    _notified(tenant, admin_user, ROWS)
    _keys(tenant, ROWS)
    newest = max(_listed(_get(admin_client, url)[0], url))

    # Asked for another column (an old bookmark), the list keeps its own order.
    page, captured = _get(admin_client, url, {"o": "1"})

    assert _listed(page, url)[0] == newest
    assert _sortable(page) == (["expires_at"] if "idempotency" in url else [])
    plans = query_plans(captured, table, off=("seqscan", "sort"))
    listed = [plan for plan in plans if "Limit" in plan]
    assert listed
    for plan in listed:
        assert f"Index Scan Backward using {table}_pkey" in plan and "Sort" not in plan, plan


def test_share_links_are_sorted_by_no_column(admin_client, tenant):
    PublicLink.objects.bulk_create(
        PublicLink(
            tenant=tenant,
            resource_type="deck",
            resource_id="1",
            token_hash=f"{n:064}",
            view_count=n % 7,
        )
        for n in range(ROWS)
    )
    newest = PublicLink.objects.latest("pk")
    url = "/admin/sharelinks/publiclink/"

    # By views (?o=7), as Django's admin offered: every link sorted for one page.
    page, captured = _get(admin_client, url, {"o": "7"})

    assert _sortable(page) == []
    assert _listed(page, url)[0] == newest.pk
    plans = query_plans(captured, "sharelinks_publiclink", off=("seqscan", "sort"))
    (plan,) = [plan for plan in plans if "Limit" in plan]
    assert "Index Scan Backward using sharelinks_publiclink_pkey" in plan, plan
    assert "Sort" not in plan, plan


def test_a_story_is_found_by_its_title_or_its_workspace_not_its_text(
    admin_client, tenant, other_tenant
):
    volcano = Story.objects.create(tenant=tenant, title="The volcano", text="Lava and ash.")
    bobs = Story.objects.create(tenant=other_tenant, title="The sea", text="Waves.")
    url = "/admin/generations/story/"

    assert _listed(_get(admin_client, url, {"q": "VOLCANO"})[0], url) == [volcano.pk]
    assert _listed(_get(admin_client, url, {"q": "bob"})[0], url) == [bobs.pk]
    # Thousands of words a story: an index of them would be as large as the stories.
    assert _listed(_get(admin_client, url, {"q": "lava"})[0], url) == []


@pytest.mark.parametrize(
    ("url", "model", "own", "artifacts"),
    [
        ("/admin/generations/slide/", Slide, "lava", "volcano"),
        ("/admin/generations/skillnode/", SkillNode, "node", "geology"),
    ],
)
def test_a_part_is_found_by_its_own_words_not_its_artifacts(
    admin_client, tenant, url, model, own, artifacts
):
    _generated(tenant)

    theirs = [part.pk for part in model.objects.order_by("-pk") if own in str(part).lower()]
    assert theirs
    assert _listed(_get(admin_client, url, {"q": own})[0], url) == theirs
    # Decks and trees are as many as the jobs that made them.
    assert _listed(_get(admin_client, url, {"q": artifacts})[0], url) == []


@pytest.mark.parametrize(
    ("url", "table", "key", "term"),
    [
        ("/admin/generations/deck/", "generations_deck", "tenant_id", "alice"),
        ("/admin/accounts/notification/", "accounts_notification", "user_id", "ada@"),
        ("/admin/core/idempotencyrecord/", "core_idempotencyrecord", "tenant_id", "alice"),
    ],
)
def test_a_row_is_found_by_what_it_belongs_to_through_its_foreign_key(
    admin_client, tenant, other_tenant, url, table, key, term
):
    _generated(tenant)
    _generated(other_tenant)
    ada = UserFactory(username="ada", email="ada@example.com")
    _notified(tenant, ada)
    _notified(tenant, UserFactory(username="grace", email="grace@example.com"))
    _keys(tenant)
    _keys(other_tenant)
    found = {
        "generations_deck": Deck.objects.filter(tenant=tenant),
        "accounts_notification": Notification.objects.filter(user=ada),
        "core_idempotencyrecord": IdempotencyRecord.objects.filter(tenant=tenant),
    }[table]

    page, captured = _get(admin_client, url, {"q": term})

    assert sorted(_listed(page, url)) == sorted(found.values_list("pk", flat=True))
    off = ("seqscan", "indexonlyscan")
    (plan,) = [p for p in query_plans(captured, table, "COUNT(*)", off=off) if "~~" in p]
    assert re.search(rf"Index Cond: \({key} = (ANY|\d)", plan), plan
