"""Create or update the administrator account from ADMIN_USERNAME / ADMIN_PASSWORD.

When ADMIN_PASSWORD is unset and the account does not exist yet, a password is generated and
printed once. An existing account keeps its password unless ADMIN_PASSWORD is given.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create or update the admin user from ADMIN_USERNAME and ADMIN_PASSWORD."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME") or "admin"
        password = os.environ.get("ADMIN_PASSWORD") or ""
        user, created = User.objects.get_or_create(username=username)
        changed = created or not (user.is_staff and user.is_superuser and user.is_active)
        user.is_staff = user.is_superuser = user.is_active = True
        fields = ["is_staff", "is_superuser", "is_active"]
        generated = ""
        if password:
            if created or not user.check_password(password):
                user.set_password(password)
                fields.append("password")
                changed = True
        elif created:
            generated = secrets.token_urlsafe(12)
            user.set_password(generated)
            fields.append("password")
        # Only the fields this command sets: a concurrent change of the names or email stays.
        user.save(update_fields=fields)
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin user '{username}' with the generated password: {generated}\n"
                    "It is shown only this once; set ADMIN_PASSWORD to choose your own."
                )
            )
        elif created:
            self.stdout.write(f"Created admin user '{username}'.")
        elif changed:
            self.stdout.write(f"Updated admin user '{username}'.")
        else:
            self.stdout.write(f"Admin user '{username}' is up to date.")
