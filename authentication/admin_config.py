from django.contrib.admin.apps import AdminConfig


class AuditedAdminConfig(AdminConfig):
    """``django.contrib.admin`` whose site signs in through the API's login throttle and audit."""

    default_site = "authentication.admin_site.AuditedAdminSite"
