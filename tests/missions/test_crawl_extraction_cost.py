"""A page within the size cap still costs its extraction: trafilatura's backup extractors
(run when its own finds little) take time growing with the square of the page, and a 1 MB
page of short lists, fetched well inside the crawl's deadline, held the crawl worker for a
minute of CPU (a 2 MB one for about five), past every deadline the crawl promises. A page
larger than FULL_EXTRACTION_BYTES is extracted by trafilatura's own pass alone, whose cost
grows with the page; an ordinary page keeps the full extraction."""

import pytest
import trafilatura

from missions.crawl import FULL_EXTRACTION_BYTES, fetch_main_text
from tests.missions.test_crawl import Served, dns, server  # noqa: F401 (dns: a fixture)

LISTS = b"<ul><li>item one two</li></ul>"


@pytest.fixture
def extractions(monkeypatch):
    """How trafilatura was asked to extract (the library, at its edge): its real answer kept."""
    asked, real = [], trafilatura.extract

    def extract(html, **options):
        asked.append(options)
        return real(html, **options)

    monkeypatch.setattr(trafilatura, "extract", extract)
    return asked


def crawled(size: int):
    body = b"<html><body>" + LISTS * (size // len(LISTS))
    page = server({"content-type": "text/html"}, Served([body]))
    return fetch_main_text("https://lists.example/", page)


def test_a_large_page_is_extracted_without_the_backup_extractors(dns, extractions):  # noqa: F811
    dns["lists.example"] = "93.184.216.34"

    page = crawled(FULL_EXTRACTION_BYTES + 4096)

    assert [options.get("fast") for options in extractions] == [True]
    assert page.text.startswith("item one two")


def test_an_ordinary_page_keeps_the_full_extraction(dns, extractions):  # noqa: F811
    dns["lists.example"] = "93.184.216.34"

    page = crawled(FULL_EXTRACTION_BYTES // 4)

    assert [options.get("fast") for options in extractions] == [False]
    assert "item one two" in page.text
