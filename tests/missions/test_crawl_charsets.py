"""A crawled page is read in the charset it declares (its Content-Type, else a <meta> near its
top), as a browser reads it: decoded as UTF-8 whatever it said, a Latin-1 or windows-1252 page
lost every accented letter to '�', and a UTF-16 one became noise. A charset nobody knows, or
a codec that is not a text encoding, is read as UTF-8, never a failed crawl."""

import pytest

from missions.crawl import fetch_main_text
from tests.missions.test_crawl import Served, dns, server  # noqa: F401

LATIN = "Le café du coin rouvre après les travaux de l'été. " * 4


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain; charset=iso-8859-1", LATIN.encode("latin-1")),
        ('text/plain; charset="windows-1252"', LATIN.encode("cp1252")),
        ("text/plain; charset=utf-16", LATIN.encode("utf-16")),
        (
            "text/html",
            b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body>'
            b"<article><p>" + LATIN.encode("latin-1") + b"</p></article></body></html>",
        ),
    ],
)
def test_a_page_is_read_in_the_charset_it_declares(dns, content_type, body):  # noqa: F811
    dns["news.example"] = "93.184.216.34"

    page = fetch_main_text(
        "https://news.example/a", server({"content-type": content_type}, Served([body]))
    )

    assert "café du coin rouvre après" in page.text
    assert "\ufffd" not in page.text


@pytest.mark.parametrize("charset", ["x-nobody-knows", "rot13", "idna", "base64"])
def test_a_charset_that_is_no_text_encoding_reads_as_utf8(dns, charset):  # noqa: F811
    dns["news.example"] = "93.184.216.34"
    body = "déjà vu, again".encode()

    page = fetch_main_text(
        "https://news.example/a",
        server({"content-type": f"text/plain; charset={charset}"}, Served([body])),
    )

    assert page.text == "déjà vu, again"
