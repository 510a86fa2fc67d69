"""audio: the first audio track resampled to 16 kHz mono 16-bit PCM, as ``audio.wav``.

16 kHz mono is what speech models (Whisper, VAD) take; making it once here means
every downstream model reads a small, uniform file instead of decoding the
original again. ~0.5 CPU-s per minute of audio (../shared/MEASUREMENTS.md).
"""

from __future__ import annotations

import wave
from pathlib import Path

from mstore.tools.api import (
    BadInput,
    NotApplicable,
    OutputArtifact,
    Progress,
    ToolRequest,
    ToolResult,
    decoding,
)

RATE = 16_000


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    import av
    from av.audio.resampler import AudioResampler
    from av.stream import Discard

    if len(req.inputs) != 1:
        raise BadInput(f"audio is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    out_path = Path(req.out_dir) / "audio.wav"
    samples = 0
    with decoding(inp.kind):
        container = av.open(inp.path)
    try:
        if not container.streams.audio:  # a silent video: nothing to extract, not an error
            raise NotApplicable("no audio track")
        stream = container.streams.audio[0]
        for other in container.streams:
            if other is not stream:
                other.discard = Discard.all  # the demuxer drops their packets
        codec = stream.codec_context.name
        total = float(stream.duration * stream.time_base) if stream.duration else None
        if total is None and container.duration:
            total = container.duration / 1_000_000
        # s16 packed mono: exactly the WAV sample layout, so frames are written as-is
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        with wave.open(str(out_path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            last_report = 0.0
            with decoding(inp.kind):
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        samples += _write(wav, out)
                    if total and frame.time is not None and frame.time - last_report >= 10:
                        last_report = frame.time
                        progress(min(frame.time / total, 0.99), f"{frame.time:.0f}s")
                for out in resampler.resample(None):  # flush the resampler's tail
                    samples += _write(wav, out)
    finally:
        container.close()
    if samples == 0:
        out_path.unlink(missing_ok=True)
        raise BadInput("audio track has no decodable samples")
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(
        kind="audio16k", asset=inp.asset, file="audio.wav",
        meta={"duration": round(samples / RATE, 3), "sample_rate": RATE, "channels": 1,
              "source_codec": codec})])


def _write(wav: wave.Wave_write, frame: object) -> int:
    n: int = frame.samples  # type: ignore[attr-defined]
    # a plane's buffer may be padded past the samples it holds
    wav.writeframes(bytes(frame.planes[0])[: n * 2])  # type: ignore[attr-defined]
    return n
