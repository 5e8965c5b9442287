#!/usr/bin/env python3
"""Regenerates pnswitch's shipped default prompts: espeak-ng speech, resampled to 8 kHz, G.711 A-law, mono WAV.

Run from this directory: `python3 generate.py` (needs espeak-ng and Python <= 3.12 for audioop).
The WAV files are committed; the build never runs this script.
"""
import audioop, struct, subprocess, wave, io

PROMPTS = {
    "enter_extension": "Please enter the extension number, followed by the hash key.",
    "invalid_extension": "The extension number is invalid. Please try again.",
    "no_binding": "Please call using your bound number.",
    "no_permission": "Your number has no permission to make this call. Please use the associated number.",
    "service_error": "Service error. The call will end. Please try again later.",
    "please_wait": "Connecting your call. Please wait.",
    "record_notice": "This call will be recorded.",
    "last_minute": "Your call will end in one minute.",
    "no_callback": "There is no recent caller to call back. Goodbye.",
}

def alaw_wav(pcm8k: bytes) -> bytes:
    data = audioop.lin2alaw(pcm8k, 2)
    fmt = struct.pack("<HHIIHHH", 6, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", len(body)) + body

for name, text in PROMPTS.items():
    raw = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text], check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(raw)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        pcm = w.readframes(w.getnframes())
    # Low-pass happens implicitly in ratecv's interpolation; espeak's output has little energy above 4 kHz.
    pcm8k, _ = audioop.ratecv(pcm, 2, 1, rate, 8000, None)
    pcm8k = audioop.mul(pcm8k, 2, 0.8)
    with open(f"{name}.wav", "wb") as f:
        f.write(alaw_wav(pcm8k))
    print(name, len(pcm8k) // 2 / 8000, "s")
