"""The share page: ``GET /watch/{id}`` needs no token (link-preview crawlers send none). For a shared
asset it is a small HTML page with OpenGraph and Twitter card tags and a player; for anything else a
plain 404 page that says nothing about whether the id exists.

The page's pictures are addressed through the API (``/watch/{id}/poster.jpg``, ``/preview.mp4``,
``/preview.webp``), which redirects to a moment's presigned URL: a link preview made today still shows
its poster next month, for as long as the asset is shared, and not a minute longer. The public view
and the feed name the pictures the same way (reelstack.sharing.public_links).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from reelstack import sharing
from reelstack.api import playback
from reelstack.config import deployment
from reelstack.errors import NotFound, PlaybackDenied
from reelstack.store.records import AssetModel
from reelstack.store.views import plain, signed_get_url

PAGE_CACHE_SECONDS = 60  # how long a CDN may keep a page (its playback URL is the window's)
_PAGE_CACHE_CONTROL = f"public, max-age={PAGE_CACHE_SECONDS}"
_NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found · Reelstack</title>
<meta name="robots" content="noindex"></head>
<body><h1>This video is not available</h1><p>It may be private, or it was removed.</p></body></html>
"""


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    cache_control: str


def _shared(asset_id: str) -> AssetModel:
    """The asset if it is shared; NotFound otherwise (an anonymous caller owns nothing)."""
    return sharing.visible_asset("", asset_id)


def page(asset_id: str, api_base: str) -> Page:
    try:
        asset = _shared(asset_id)
    except NotFound:
        return Page(404, _NOT_FOUND, _PAGE_CACHE_CONTROL)
    base = sharing.share_page_url(asset, api_base)
    links = sharing.public_links(asset, api_base)
    title = asset.title or "A video on Reelstack"
    description = asset.description or "Watch it on Reelstack."
    media = plain(asset.media)
    tags = [
        ("og:type", "video.other"),
        ("og:title", title),
        ("og:description", description),
        ("og:url", base),
        ("twitter:title", title),
        ("twitter:description", description),
    ]
    if "poster.jpg" in links:
        tags += [("og:image", links["poster.jpg"]), ("twitter:card", "summary_large_image")]
        tags += [("twitter:image", links["poster.jpg"])]
    else:
        tags.append(("twitter:card", "summary"))
    if "preview.mp4" in links:
        tags += [("og:video", links["preview.mp4"]), ("og:video:type", "video/mp4")]
    if media.get("durationSeconds"):
        tags.append(("video:duration", str(round(float(media["durationSeconds"])))))
    meta = "\n".join(
        f'<meta {"name" if key.startswith("twitter:") else "property"}="{key}" content="{escape(value)}">'
        for key, value in tags
    )
    try:
        hls = escape(playback.url_for(asset, f"{api_base}/playback")["hls"])
    except PlaybackDenied:  # a deployment without a PlaybackSecret: the preview, no player
        hls = ""
    poster = f' poster="{escape(links["poster.jpg"])}"' if "poster.jpg" in links else ""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Reelstack</title>
{meta}
<style>body{{margin:0;background:#111;color:#eee;font:15px/1.4 system-ui,sans-serif}}
main{{max-width:60rem;margin:0 auto;padding:1rem}}video{{width:100%;max-height:80vh;background:#000}}</style>
</head><body><main>
<video id="player" controls playsinline{poster} data-hls="{hls}"></video>
<select id="audio-track" aria-label="Audio" hidden></select>
<select id="subtitle-track" aria-label="Subtitles" hidden></select>
<h1>{escape(title)}</h1><p>{escape(description)}</p>
</main>
<script src="{escape(api_base)}/web/hls.min.js"></script>
<script>
const video = document.getElementById("player"), source = video.dataset.hls;
if (source && window.Hls && Hls.isSupported()) {{
  const hls = new Hls(), menu = document.getElementById("audio-track");
  hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, {{ audioTracks }}) => {{
    menu.replaceChildren(...audioTracks.map((track, index) => new Option(track.name, index)));
    menu.value = String(hls.audioTrack); menu.hidden = audioTracks.length < 2;
  }});
  menu.onchange = () => {{ hls.audioTrack = Number(menu.value); }};
  const subtitles = document.getElementById("subtitle-track");
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, {{ subtitleTracks }}) => {{
    subtitles.replaceChildren(new Option("Subtitles off", -1),
      ...subtitleTracks.map((track, index) => new Option(track.name, index)));
    subtitles.value = String(hls.subtitleTrack); subtitles.hidden = !subtitleTracks.length;
  }});
  subtitles.onchange = () => {{ hls.subtitleTrack = Number(subtitles.value); }};
  hls.loadSource(source); hls.attachMedia(video);
}} else if (source) {{ video.src = source; }}
</script>
</body></html>
"""
    return Page(200, html, _PAGE_CACHE_CONTROL)


def media_location(asset_id: str, what: str) -> playback.Served:
    """Where the shared asset's poster or preview is now: a redirect to a presigned URL that lives a
    moment, cached as the segment redirects are."""
    if what not in sharing.SHARED_MEDIA:
        raise NotFound("no such picture", code="NotFound")
    key = sharing.stored_media(_shared(asset_id), what)
    if not key:
        raise NotFound("this video has none", code="NotFound")
    location = signed_get_url(deployment().media_bucket, key, playback.SEGMENT_URL_SECONDS)
    return playback.Served("", playback.SHARED_CACHE_CONTROL, location=location)
