"""Small generated media for tests: videos, audio, images, built with the real ffmpeg.

Every function writes one file at ``path`` and returns ``path``. Inputs come from ffmpeg's
``lavfi`` sources (testsrc2, mandelbrot, noise, sine), so nothing is downloaded and every test
gets fresh, deterministic bytes. Keep sizes small (a few seconds, ≤ 320x240) so suites stay fast.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FFMPEG = "ffmpeg"


def _run(args: list[str]) -> None:
    cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def _video_source(seconds: float, width: int, height: int, fps: int, *, noisy: bool) -> str:
    # testsrc2 rounds odd sizes down; the scale filter gives exactly the size asked for.
    source = f"testsrc2=s={width}x{height}:r={fps}:d={seconds},scale={width}:{height}"
    if noisy:
        # Random noise over a moving pattern: hard to compress, like grainy camera footage.
        return f"{source},noise=alls=60:allf=t+u"
    return source


def make_video(
    path: Path,
    seconds: float,
    width: int,
    height: int,
    *,
    audio: bool = True,
    noisy: bool = False,
    fps: int = 25,
    rotate: int = 0,
    video_kbps: int | None = None,
) -> Path:
    """Write an H.264 (+ AAC) video with a moving test pattern (and a sine tone when ``audio``).

    Args:
        path: where to write; the extension picks the container (.mp4, .mkv, .mov, .webm...).
        seconds: duration.
        width: frame width (odd values are fine; the encoder is told to accept them).
        height: frame height.
        audio: add a 440 Hz stereo tone.
        noisy: add heavy noise so the clip is expensive to compress.
        fps: frame rate.
        rotate: display rotation in degrees stored in the container (mp4/mov only).
        video_kbps: encode at this bitrate instead of near-lossless quality.
    """
    path = Path(path)
    args = ["-f", "lavfi", "-i", _video_source(seconds, width, height, fps, noisy=noisy)]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:d={seconds}:sample_rate=48000"]
    webm = path.suffix.lower() == ".webm"
    vcodec = (
        ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
        if webm
        else [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ]
    )
    args += vcodec
    args += ["-b:v", f"{video_kbps}k"] if video_kbps else (["-crf", "10"] if not webm else [])
    args += ["-pix_fmt", "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"]
    if audio:
        args += ["-c:a", "libopus" if webm else "aac", "-b:a", "192k", "-ac", "2", "-shortest"]
    if rotate:
        tmp = path.with_name(path.stem + ".norot" + path.suffix)
        _run([*args, str(tmp)])
        _run(["-i", str(tmp), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(path)])
        tmp.unlink()
    else:
        _run([*args, str(path)])
    return path


def make_fractal_video(path: Path, seconds: float, width: int, height: int) -> Path:
    """Write a zooming Mandelbrot video (detailed, moderately hard to compress), no audio."""
    src = f"mandelbrot=s={width}x{height}:r=25,trim=duration={seconds}"
    _run(["-f", "lavfi", "-i", src, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8",
          "-pix_fmt", "yuv420p", str(path)])  # fmt: skip
    return Path(path)


def make_audio(path: Path, seconds: float, *, kbps: int = 320, channels: int = 2) -> Path:
    """Write a tone plus pink noise; the extension picks the codec (mp3/m4a/ogg/wav/flac)."""
    path = Path(path)
    codec = {
        ".mp3": ["-c:a", "libmp3lame", "-b:a", f"{kbps}k"],
        ".m4a": ["-c:a", "aac", "-b:a", f"{kbps}k"],
        ".aac": ["-c:a", "aac", "-b:a", f"{kbps}k"],
        ".ogg": ["-c:a", "libopus", "-b:a", f"{kbps}k"],
        ".opus": ["-c:a", "libopus", "-b:a", f"{kbps}k"],
        ".wav": ["-c:a", "pcm_s16le"],
        ".flac": ["-c:a", "flac"],
    }[path.suffix.lower()]
    src = (
        f"anoisesrc=d={seconds}:c=pink:a=0.3:r=48000[n];sine=f=330:d={seconds}:r=48000[s];"
        "[n][s]amix=inputs=2"
    )
    _run(["-filter_complex", src, "-ac", str(channels), *codec, str(path)])
    return path


def make_png(path: Path, width: int = 320, height: int = 240, *, alpha: bool = True) -> Path:
    """Write a noisy PNG (hard to compress); with ``alpha`` its alpha channel varies per pixel."""
    src = f"testsrc2=s={width}x{height}:d=1,noise=alls=80:allf=u"
    with_alpha = "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255*X/W'"
    vf = with_alpha if alpha else "format=rgb24"
    _run(["-f", "lavfi", "-i", src, "-vf", vf, "-frames:v", "1", str(path)])
    return Path(path)


def make_jpeg(path: Path, width: int = 320, height: int = 240, *, quality: int = 1) -> Path:
    """Write a noisy JPEG photo stand-in (``quality`` is mjpeg's qscale: 1 best, 31 worst)."""
    src = f"testsrc2=s={width}x{height}:d=1,noise=alls=60:allf=u"
    _run(["-f", "lavfi", "-i", src, "-frames:v", "1", "-q:v", str(quality), "-pix_fmt",
          "yuvj444p", str(path)])  # fmt: skip
    return Path(path)


def make_gif(path: Path, seconds: float = 2, width: int = 160, height: int = 120) -> Path:
    """Write an animated GIF of a moving test pattern (10 fps)."""
    src = f"testsrc2=s={width}x{height}:r=10:d={seconds}"
    _run(["-f", "lavfi", "-i", src, "-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse",
          str(path)])  # fmt: skip
    return Path(path)


def truncate(path: Path, keep_bytes: int) -> Path:
    """Cut a file down to its first ``keep_bytes`` bytes (a broken download)."""
    data = Path(path).read_bytes()[:keep_bytes]
    Path(path).write_bytes(data)
    return Path(path)


def ffmpeg_reading(path: Path) -> list[str]:
    """Command lines of running ffmpeg/ffprobe processes that mention ``path`` (via /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "ffmpeg" in cmdline and str(path) in cmdline:
            found.append(cmdline)
    return found
