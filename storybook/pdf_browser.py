"""The print PDF through a Chromium-family browser, where weasyprint cannot load.

Most ComfyUI installs are Windows or macOS machines, where weasyprint's Python package installs but its native
libraries (Pango, GObject) do not. Every Windows has Microsoft Edge, and many Macs have Google Chrome: both
print HTML to PDF headless (`--print-to-pdf`) and honour the CSS `@page` size. So the book's one layout, the
same `index.html`, is printed by the browser instead of by a second layout engine.

A browser knows no `bleed` (a weasyprint/CSS Paged Media property), so its page is made trim + 2 x bleed with
a small extra style sheet and each sheet is moved in by the bleed: the pictures that reach into the bleed then
fill it as in weasyprint's PDF. What a browser PDF cannot carry (TrimBox/BleedBox, PDF/X, a bleed on some sides
only), and what was not measured (text overflow, picture resolution), preflight says.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from storybook.errors import StorybookError
from storybook.pagesize import MM_PER_UNIT, PageGeometry

# Names of Chromium-family browsers on PATH (Linux packages, Homebrew, scoop, ...), most common first.
BROWSER_COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                    "microsoft-edge", "microsoft-edge-stable", "msedge")
# Where the installers put them when they are not on PATH (Windows: per machine, then per user).
_WINDOWS = (("Microsoft", "Edge", "Application", "msedge.exe"), ("Google", "Chrome", "Application", "chrome.exe"),
            ("Chromium", "Application", "chrome.exe"))
_WINDOWS_ROOTS = ("ProgramFiles(x86)", "ProgramFiles", "LOCALAPPDATA")
_MACOS = ("Google Chrome.app/Contents/MacOS/Google Chrome", "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
          "Chromium.app/Contents/MacOS/Chromium")
PRINT_TIMEOUT_S = 180  # a 40-page book with 2048 px pictures prints in well under a minute
SIZE_TOLERANCE_MM = 0.5  # browsers round the page size to whole points (0.35 mm)
BROWSER_PDF_LIMITS = ("no TrimBox/BleedBox, no PDF/X, bleed on all four sides only, and text overflow and "
                      "picture resolution were not checked")


class BrowserPrintFailed(StorybookError):
    """The browser was found but did not print the book as asked."""


def browser_candidates(system: str, environ: Mapping[str, str], home: Path) -> list[Path]:
    """The usual install paths of Edge, Chrome and Chromium on `system` (platform.system()'s name)."""
    if system == "Windows":
        return [Path(environ[root], *parts) for root in _WINDOWS_ROOTS if environ.get(root) for parts in _WINDOWS]
    if system == "Darwin":
        return [base / app for base in (Path("/Applications"), home / "Applications") for app in _MACOS]
    return []


def find_browser(system: str | None = None, environ: Mapping[str, str] | None = None,
                 which: Callable[[str], str | None] = shutil.which, home: Path | None = None) -> Path | None:
    """A Chromium-family browser on this machine: one on PATH, else one in its usual install folder
    (the arguments default to this machine's; tests pass another's)."""
    for name in BROWSER_COMMANDS:
        if found := which(name):
            return Path(found)
    system = platform.system() if system is None else system
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    return next((p for p in browser_candidates(system, environ, home) if p.is_file()), None)


def browser_css(g: PageGeometry) -> str:
    """The style sheet added for the browser: the page is the trim plus the bleed on every side, and each
    sheet (trim-sized, its pictures reaching into the bleed) is moved in by the bleed."""
    return (f"@page {{ size: {g.width_mm + 2 * g.bleed_mm:.3f}mm {g.height_mm + 2 * g.bleed_mm:.3f}mm; margin: 0; }}\n"
            f"@media print {{ .sheet {{ left: {g.bleed_mm:.3f}mm; top: {g.bleed_mm:.3f}mm; }} }}\n")


def _browser_command(browser: Path, page: Path, pdf: Path, profile: Path) -> list[str]:
    command = [str(browser), "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", f"--user-data-dir={profile}",
               # No date, title and URL printed on the pages: the new flag, and the one older versions read.
               "--no-pdf-header-footer", "--print-to-pdf-no-header", f"--print-to-pdf={pdf}", page.as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox (e.g. in Docker)
    return command


def check_printed(pdf: Path, g: PageGeometry, pages: int, browser: Path) -> None:
    """Raise BrowserPrintFailed unless `pdf` has `pages` pages of the trim + bleed size (an old browser
    ignores the CSS page size and prints Letter)."""
    import pypdfium2

    want = (g.width_mm + 2 * g.bleed_mm, g.height_mm + 2 * g.bleed_mm)
    try:
        document = pypdfium2.PdfDocument(str(pdf))
    except (pypdfium2.PdfiumError, OSError) as e:
        raise BrowserPrintFailed(f"{browser} wrote no readable PDF ({e})") from None
    try:
        sizes = [(page.get_width() * MM_PER_UNIT["pt"], page.get_height() * MM_PER_UNIT["pt"]) for page in document]
    finally:
        document.close()
    wrong = next((s for s in sizes if abs(s[0] - want[0]) > SIZE_TOLERANCE_MM
                  or abs(s[1] - want[1]) > SIZE_TOLERANCE_MM), None)
    if len(sizes) != pages or wrong:
        got = f"{len(sizes)} pages" + (f" of {wrong[0]:.1f} x {wrong[1]:.1f} mm" if wrong else "")
        raise BrowserPrintFailed(f"{browser} printed {got}, not {pages} pages of {want[0]:.1f} x {want[1]:.1f} mm "
                                 "(an old version ignores the book's page size): update the browser")


def print_with_browser(browser: Path, html: Path, pdf: Path, g: PageGeometry, pages: int,
                       timeout: float = PRINT_TIMEOUT_S) -> Path:
    """Print `html` (the book's index.html) to `pdf` with `browser`, at the page size of `g` with its bleed;
    the page count and size are checked. Raises BrowserPrintFailed saying what went wrong."""
    text = html.read_text(encoding="utf-8")
    page = html.with_name(".print-browser.html")  # beside index.html, so pictures and fonts resolve alike
    page.write_text(text.replace("</head>", f"<style>\n{browser_css(g)}</style>\n</head>", 1), encoding="utf-8")
    try:
        with tempfile.TemporaryDirectory(prefix="storybook-browser-", ignore_cleanup_errors=True) as profile:
            done = subprocess.run(_browser_command(browser, page, pdf, Path(profile)), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BrowserPrintFailed(f"{browser} did not print the book within {timeout:.0f} s") from None
    except OSError as e:
        raise BrowserPrintFailed(f"{browser} could not be started ({e.strerror or e})") from None
    finally:
        page.unlink(missing_ok=True)
    if not pdf.is_file():
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BrowserPrintFailed(f"{browser} wrote no PDF ({last[:200]})")
    check_printed(pdf, g, pages, browser)
    return pdf
