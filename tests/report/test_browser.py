"""Render the report in headless Chromium: a real screenshot, not blank; no overflow on a phone.

Chromium is optional locally (the tests skip) but required in CI (``CI`` set: the tests fail).
Screenshots are kept in the ``artifacts_dir`` for humans to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PHONE = 390


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    msg = "headless Chromium not found (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(msg + "; CI must install it")
    pytest.skip(msg)


def _run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp)}  # keep Chromium's own files inside the test's folder
    cmd = [chromium, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def _check_not_blank(png: Path) -> np.ndarray:
    arr = np.asarray(Image.open(png).convert("RGB"), dtype=np.float64)
    assert arr.std() > 20, f"screenshot {png} looks blank (std {arr.std():.1f})"
    packed = arr.astype(np.int64) @ np.array([65536, 256, 1])
    assert len(np.unique(packed)) > 200, "screenshot has too few distinct colours"
    return arr


def test_desktop_screenshot(chromium: str, built_report: Path, tmp_path: Path, artifacts_dir: Path) -> None:
    shot = tmp_path / "report-desktop.png"
    res = _run(chromium, tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", (built_report / "report.html").as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    arr = _check_not_blank(shot)
    assert arr.shape[1] == 1280
    header = arr[:60].reshape(-1, 3).mean(axis=0)
    assert header.max() < 80, "the dark page header should be at the top"
    shutil.copy(shot, artifacts_dir / "report-desktop.png")


def test_phone_width_has_no_horizontal_overflow(
    chromium: str, built_report: Path, tmp_path: Path, artifacts_dir: Path
) -> None:
    # Headless windows have a minimum width, so the page is shown in a 390 px wide iframe; the
    # probe script lives in this test's wrapper page, never in the report itself.
    wrapper = tmp_path / "phone.html"
    wrapper.write_text(
        "<!DOCTYPE html><html><body style='margin:0;background:#777'>"
        f"<iframe id='f' src='{(built_report / 'report.html').as_uri()}' "
        f"style='width:{PHONE}px;height:2400px;border:0;background:#fff'></iframe>"
        "<script>document.getElementById('f').addEventListener('load', function () {"
        " var d = this.contentDocument.documentElement;"
        " document.body.setAttribute('data-probe', d.scrollWidth + ' ' + d.clientWidth); });</script>"
        "</body></html>",
        encoding="utf-8",
    )
    res = _run(chromium, tmp_path, "--allow-file-access-from-files", "--window-size=500,900", "--dump-dom", wrapper.as_uri())
    m = re.search(r'data-probe="(\d+) (\d+)"', res.stdout)
    assert m, f"probe did not run: {res.stdout[-500:]} {res.stderr[-1000:]}"
    scroll_w, client_w = int(m.group(1)), int(m.group(2))
    assert client_w <= PHONE
    assert scroll_w <= client_w, f"page is {scroll_w}px wide in a {client_w}px viewport: horizontal overflow"

    shot = tmp_path / "report-phone.png"
    _run(chromium, tmp_path, "--allow-file-access-from-files", "--window-size=500,2400", f"--screenshot={shot}", wrapper.as_uri())
    assert shot.is_file()
    phone = Image.open(shot).convert("RGB").crop((0, 0, PHONE, 2400))
    phone.save(artifacts_dir / "report-phone.png")
    _check_not_blank(artifacts_dir / "report-phone.png")
