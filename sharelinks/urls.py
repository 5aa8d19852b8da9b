from django.urls import path, re_path

from core.public import public_link_not_found
from sharelinks.views import robots_txt, share_link_page

urlpatterns = [
    path("s/<str:token>", share_link_page, name="share-link-page"),
    # Any other path under /s/ (a trailing slash, no token) is a link that does not open.
    re_path(r"^s/", public_link_not_found),
    path("robots.txt", robots_txt, name="robots-txt"),
]
