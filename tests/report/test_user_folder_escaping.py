"""End to end: a study on a user's folder whose file names carry markup, then the report.

The issue's test: a folder holding an image named ``<img src=x onerror=alert(1)>.png`` (and an
unreadable file with markup in its name, which lands in the skipped-files list) must leave no
live markup in the page.
"""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from reconloss.studies import StudySpec, run

EVIL = "<img src=x onerror=alert(1)>"


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evil")
    folder = root / "<b onmouseover=alert(2)>photos"
    folder.mkdir()
    photos = {"astronaut": skdata.astronaut(), "chelsea": skdata.chelsea(), "coffee": skdata.coffee()}
    for i, (name, img) in enumerate(photos.items()):
        crop = np.ascontiguousarray(img[:96, :96])
        fname = f"{EVIL}.png" if i == 0 else f"{name}.png"
        Image.fromarray(crop).save(folder / fname)
    (folder / f"{EVIL}-broken.jpg").write_bytes(b"not an image")
    out = root / "out"
    with pytest.warns(UserWarning):
        run(StudySpec(study="reconstruct", preset="tiny", data=str(folder), out=str(out), workers=1,
                      progress=False, device="cpu"))
    return out


def test_user_strings_reach_the_page_only_escaped(evil_run: Path) -> None:
    results = json.loads((evil_run / "results.json").read_text())
    meta = results["metadata"]
    # the file name was kept verbatim in the data ...
    assert EVIL + ".png" in json.dumps(meta["data"])
    assert any(EVIL in s["path"] for s in meta["skipped_files"])
    page = (evil_run / "report.html").read_text()
    # ... and reaches the page only escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert EVIL not in page
    assert "<script" not in page.lower()
    assert "<b onmouseover" not in page
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert "onerror" not in attrs and "onmouseover" not in attrs, f"live event handler in <{tag}>"
        if tag == "img":
            assert attrs.get("src", "").startswith("data:image/png;base64,"), attrs.get("src")
