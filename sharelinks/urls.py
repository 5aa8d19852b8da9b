from django.urls import path

from sharelinks.views import robots_txt, share_link_page

urlpatterns = [
    path("s/<str:token>", share_link_page, name="share-link-page"),
    path("robots.txt", robots_txt, name="robots-txt"),
]
