"""A small local web site for capture tests, served by uvicorn on 127.0.0.1 in a thread: pages, a redirect,
lazy-loaded images (``loading=lazy`` and a script that sets ``src`` when an image scrolls into view), a
404, and an X-like post (an image with alt text inside a post with its text). The pictures are generated
from scikit-image's bundled public-domain pictures (a face pasted into a landscape is the stand-in for a
deepfake). Every URL the site serves is on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from reclaim.demo import jpeg, paste_face, sample_picture


def site_images() -> dict[str, bytes]:
    """The site's pictures by file name (JPEG and PNG)."""
    fake = paste_face(sample_picture("coffee"), width=150, at=(0.5, 0.35))
    png = Image.fromarray(sample_picture("coins")).resize((192, 152))
    buf = __import__("io").BytesIO()
    png.save(buf, "PNG")
    return {
        "hero.jpg": jpeg(Image.fromarray(sample_picture("camera")), 90),
        "lazy.jpg": jpeg(Image.fromarray(sample_picture("horse")), 88),
        "observed.jpg": jpeg(paste_face(sample_picture("rocket"), width=110, at=(0.3, 0.3)), 85),
        "post.jpg": jpeg(fake, 92),
        "coins.png": buf.getvalue(),
        "broken.jpg": jpeg(fake, 92)[:1500],  # a JPEG cut short: one decode error
    }


SPACER = '<div style="height:2600px;background:linear-gradient(#fff,#8ab)">scroll</div>'

INDEX = f"""<!doctype html><html><head><title>Local test site</title></head><body>
<h1>Local test site</h1>
<p><a href="/post/1">a post</a> · <a href="/missing">a missing page</a></p>
<figure><img src="/img/hero.jpg" alt="A camera operator" width="256">
<figcaption>Taken on a sunny day</figcaption></figure>
<img src="/img/coins.png" alt="">
{SPACER}
<img loading="lazy" src="/img/lazy.jpg" alt="A horse, loaded lazily" width="200">
{SPACER}
<img class="observed" data-src="/img/observed.jpg" alt="Set on scroll" width="200" height="150">
<script>
const io = new IntersectionObserver(entries => entries.forEach(e => {{
  if (e.isIntersecting) {{ e.target.src = e.target.dataset.src; io.unobserve(e.target); }}
}}));
document.querySelectorAll('img.observed').forEach(img => io.observe(img));
</script>
</body></html>"""

POST = """<!doctype html><html><head><title>Post by @someone</title></head><body>
<main><article data-testid="tweet">
  <div class="user">Someone <span>@someone</span> · 2h</div>
  <div data-testid="tweetText">look at this picture</div>
  <div data-testid="tweetPhoto"><img src="/img/post.jpg" alt="Image of a person at a café"></div>
  <div class="actions">12 replies 40 reposts</div>
</article></main></body></html>"""

BROKEN = """<!doctype html><html><head><title>Broken</title></head><body>
<img src="/img/post.jpg" alt="fine"><img src="/img/broken.jpg" alt="cut short"></body></html>"""

MISSING = """<!doctype html><html><head><title>Not found</title></head><body>
<h1>This page was removed</h1><img src="/img/gone.jpg" alt="gone"></body></html>"""


@dataclass
class Site:
    base: str
    images: dict[str, bytes]
    hosts: set[str] = field(default_factory=set)
    """The Host header of every request the site answered."""
    paths: list[str] = field(default_factory=list)


def make_app(site: Site) -> Starlette:
    def note(request: Request) -> None:
        site.hosts.add(request.headers.get("host", ""))
        site.paths.append(request.url.path)

    async def index(request: Request) -> Response:
        note(request)
        return HTMLResponse(INDEX)

    async def old(request: Request) -> Response:
        note(request)
        return RedirectResponse("/", status_code=301)

    async def post(request: Request) -> Response:
        note(request)
        return HTMLResponse(POST)

    async def missing(request: Request) -> Response:
        note(request)
        return HTMLResponse(MISSING, status_code=404)

    async def broken(request: Request) -> Response:
        note(request)
        return HTMLResponse(BROKEN)

    async def image(request: Request) -> Response:
        note(request)
        name = request.path_params["name"]
        data = site.images.get(name)
        if data is None:
            return Response(b"not found", status_code=404, media_type="text/plain")
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        return Response(data, media_type=kind)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/old", old),
            Route("/post/1", post),
            Route("/missing", missing),
            Route("/broken", broken),
            Route("/img/{name}", image),
        ]
    )


@contextmanager
def serve_site() -> Iterator[Site]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    site = Site(base=f"http://127.0.0.1:{port}", images=site_images())
    server = uvicorn.Server(
        uvicorn.Config(make_app(site), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="capture-site", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the local site did not start"
        time.sleep(0.05)
    try:
        yield site
    finally:
        server.should_exit = True
        thread.join(timeout=30)
