from rest_framework.routers import SimpleRouter

from destinations.views import DestinationViewSet

router = SimpleRouter()
router.register("", DestinationViewSet, basename="destination")

urlpatterns = router.urls
