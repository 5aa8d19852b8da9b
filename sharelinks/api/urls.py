from rest_framework.routers import SimpleRouter

from sharelinks.api.views import ShareLinkViewSet

router = SimpleRouter(trailing_slash=False)
router.register("share-links", ShareLinkViewSet, basename="share-link")

urlpatterns = router.urls
