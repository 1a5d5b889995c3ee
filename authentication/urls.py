from django.urls import path

from authentication import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="auth-login"),
    path("refresh/", views.RefreshView.as_view(), name="auth-refresh"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("user/", views.CurrentUserView.as_view(), name="auth-user"),
    path("user/update/", views.ProfileUpdateView.as_view(), name="auth-user-update"),
]
