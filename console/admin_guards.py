"""Guards in front of every admin page (OpscoreAdminSite.admin_view, library pages too): what
Django lets through from a list's address to a 500 is dropped with a message instead. Django
takes any lookup on a model's own fields from the query string and answers the ones it cannot
build; the ones the database refuses (an invalid regex, an array literal, an extension's lookup
such as unaccent) or that fail while the page counts its rows fail past that point."""

import functools
import logging

from django.contrib import messages
from django.db import DatabaseError, transaction
from django.shortcuts import redirect

from opscore.db_deadline import busy_reason

logger = logging.getLogger(__name__)


def year_out_of_range(query) -> str | None:
    """A list filter by year (`created_at__year=99999`, `__year__gte`, `__iso_year`) that no
    datetime holds: Django takes it, then builds the year's bounds as the page counts its rows
    and raises ValueError there (a 500), past the point where it answers bad lookups itself."""
    for key, values in query.lists():
        if not {"year", "iso_year"} & set(key.split("__")[1:]):
            continue
        for item in (part for value in values for part in value.split(",")):
            try:
                year = int(item)
            except ValueError:
                continue  # not a number: Django's own 'incorrect lookup parameters' page
            if not 1 <= year <= 9999:
                return f"{key}: a year is 1 to 9999 ({item.strip()} given); the filter was dropped."
    return None


def refusing_bad_years(view):
    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method == "GET" and (problem := year_out_of_range(request.GET)):
            messages.error(request, problem)
            return redirect(request.path)
        return view(request, *args, **kwargs)

    return guarded


def refusing_failed_filters(view):
    """A list whose filters the database refused is shown without them, saying why; its query
    runs in a savepoint so the refusal leaves the connection usable. Logged, not hidden."""

    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        if request.method != "GET" or not request.GET:
            return view(request, *args, **kwargs)
        try:
            with transaction.atomic():
                response = view(request, *args, **kwargs)
                return response.render() if hasattr(response, "render") else response
        except (DatabaseError, ValueError) as refused:
            if busy_reason(refused):  # no fault of the filters: the busy page says what it is
                raise
            logger.warning("admin list filter refused: %s", request.get_full_path(), exc_info=True)
            reason = str(refused).splitlines()[0] if str(refused) else type(refused).__name__
            messages.error(request, f"These filters could not be applied ({reason}); dropped.")
            return redirect(request.path)

    return guarded


def guarded(view):
    if getattr(view, "__name__", "") == "changelist_view":
        view = refusing_failed_filters(view)
    return refusing_bad_years(view)
