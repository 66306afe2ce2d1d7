"""A page's bytes are judged, not only the type it names: a PNG, a zip or a PDF served as
text/html was kept, its bytes run through the extractor and stored as the crawl's artifact
(NULs and all), as if it were words. What is not text is refused with the reason, whatever
type it claims; a page in UTF-16 (whose bytes hold NULs, its text none), or one with a stray
NUL far into it, is still text."""

import gzip

import pytest

from missions.crawl import fetch_main_text
from missions.models import Artifact, StepAttempt
from missions.worker import handle_one_step
from tests.factories import make_step
from tests.missions.test_crawl import PNG, Served, dns, far_end, http_response, server  # noqa: F401 (fixtures)

BINARIES = {
    "png": ("text/html", PNG),
    "zip": ("text/plain", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40)),
    "pdf": ("text/html; charset=utf-8", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
    "gzip-unsaid": ("text/html", gzip.compress(b"<p>hello</p>" * 50)),
}


@pytest.mark.parametrize(("content_type", "body"), BINARIES.values(), ids=BINARIES)
@pytest.mark.django_db
def test_a_binary_body_served_as_text_is_refused_with_its_reason(
    dns,  # noqa: F811
    far_end,  # noqa: F811
    content_type,
    body,
):
    dns["files.example"] = "93.184.216.34"
    far_end.serve(http_response(f"Content-Type: {content_type}\r\n", body))
    step = make_step("crawl", payload={"url": "http://files.example/report"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.attempt_count) == ("failed", 1)
    media = content_type.split(";")[0]
    assert step.last_error == f"crawl refused: served as {media}, but its bytes are not text"
    assert StepAttempt.objects.get(step=step).outcome == "refused"
    assert not Artifact.objects.filter(step=step).exists()


def test_a_utf16_page_holding_nuls_in_its_bytes_is_still_text(dns):  # noqa: F811
    dns["news.example"] = "93.184.216.34"
    body = "<html><body><article><p>Release notes for May.</p></article></body></html>"
    served = Served([body.encode("utf-16")])

    page = fetch_main_text(
        "https://news.example/a", server({"content-type": "text/html; charset=utf-16"}, served)
    )

    assert "Release notes for May." in page.text


def test_a_page_with_a_stray_nul_deep_in_it_is_still_text(dns):  # noqa: F811
    dns["news.example"] = "93.184.216.34"
    body = b"<html><body><article><p>" + b"Release notes. " * 200 + b"\x00</p></article>"
    served = Served([body])

    page = fetch_main_text("https://news.example/a", server({"content-type": "text/html"}, served))

    assert "Release notes." in page.text and "\x00" not in page.text
