from django.urls import path
from rest_framework.routers import SimpleRouter

from authentication.views import auth
from authentication.views.users import UserViewSet

router = SimpleRouter()
router.register("users", UserViewSet, basename="auth-users")

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="auth-login"),
    path("refresh/", auth.RefreshView.as_view(), name="auth-refresh"),
    path("logout/", auth.LogoutView.as_view(), name="auth-logout"),
    path("user/", auth.CurrentUserView.as_view(), name="auth-user"),
    path("user/update/", auth.ProfileUpdateView.as_view(), name="auth-user-update"),
    *router.urls,
]
