"""The sign-in forms of the Stage and the admin, holding a username to its column's length
before anyone is asked about it.

Django's AuthenticationForm sets its username field's max_length only after the field is built,
so no validator holds it, and a name of any length went on to authenticate(); django-axes then
recorded the failed attempt with that name in its 255-character column, and Postgres refused it:
a 500 on the sign-in page for a long name. A name longer than any user's can never sign in, so it
is a form error (nothing authenticated, no attempt recorded), as a short wrong one is."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class UsernameWithinItsLength:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))


class SignInForm(UsernameWithinItsLength, AuthenticationForm):
    """The Stage's (LOGIN_URL)."""


class AdminSignInForm(UsernameWithinItsLength, AdminAuthenticationForm):
    """The admin's."""
