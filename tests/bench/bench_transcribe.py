"""Benchmark: Whisper base speed and accuracy on a ~3-minute LibriSpeech narration (2 CPU threads).

    .venv/bin/python tests/bench/bench_transcribe.py [--runs 3] [--owhisper /tmp/owhisper/bin/python]

Measured in one run, on the same audio and the same Whisper base weights:
  * real-time factor (RTF) of faster-whisper int8 (ours), median of --runs;
  * the PyTorch ``openai-whisper`` package (separate venv; the weights are
    rebuilt from our CTranslate2 model, see owhisper_run.py) and faster-whisper
    float32 as a second anchor; ratio = anchor time / ours;
  * WER without a script. ../shared/data/speech ships no LibriSpeech
    transcripts, so the reference is (a) the true LibriSpeech text of the one
    utterance we have it for, and (b) openai-whisper's transcript of each file
    (agreement with the reference implementation), clearly labelled;
  * with a script (that reference text as the script): whether the subtitles
    reproduce it exactly, and the word-start error of a noisy run (white noise,
    10 dB SNR) against the alignment of the clean run. Medians over files.
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storyteller import config  # noqa: E402
from storyteller.pipeline.media.audio import decode_audio, write_wav  # noqa: E402
from storyteller.pipeline.speech import models as whisper_models  # noqa: E402
from storyteller.pipeline.speech import transcribe as tx  # noqa: E402
from storyteller.pipeline.speech.align import align  # noqa: E402
from storyteller.pipeline.speech.subtitles import segment  # noqa: E402

SPEECH = ROOT.parent / "shared" / "data" / "speech" / "librispeech-test-other"
SR = 16000
# True LibriSpeech test-other transcript of 1688-142285-0000 (CC BY 4.0).
TRUE_TEXT = {
    "1688-142285-0000": "THERE'S IRON THEY SAY IN ALL OUR BLOOD AND A GRAIN OR TWO PERHAPS IS GOOD "
    "BUT HIS HE MAKES ME HARSHLY FEEL HAS GOT A LITTLE TOO MUCH OF STEEL ANON"
}


def norm_words(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    return re.sub(r"[^a-z0-9' ]", " ", text).replace(" '", " ").split()


def wer(ref: list[str], hyp: list[str]) -> float:
    if not ref:
        return 0.0 if not hyp else 1.0
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1]) / len(ref)


def build_narration(target_s: float, workdir: Path):
    files = sorted(SPEECH.glob("*/*.flac"))
    if not files:
        sys.exit(f"no LibriSpeech files under {SPEECH}")
    parts, bounds, t = [], [], 0.0
    gap = np.zeros(int(0.4 * SR), dtype=np.float32)
    for f in files:
        a = decode_audio(f, SR)
        parts += [a, gap]
        bounds.append((f.stem, t, t + len(a) / SR))
        t += (len(a) + len(gap)) / SR
        if t >= target_s:
            break
    audio = np.concatenate(parts)
    return audio, bounds


def words_by_file(words, bounds):
    """Assign timed words (start, text) to the file whose span holds the word's start."""
    out = {name: [] for name, _, _ in bounds}
    for start, text in words:
        for name, a, b in bounds:
            if a - 0.2 <= start < b + 0.2:
                out[name].append(text)
                break
    return out


def timed(fn):
    """(result, wall seconds, CPU seconds of this process over all its threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    return res, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--owhisper", default="/tmp/owhisper/bin/python", help="python of the venv with torch + openai-whisper")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    model_dir = whisper_models.resolve(config.models_dir(), "whisper-base").path
    work = Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    audio, bounds = build_narration(args.seconds, work)
    duration = len(audio) / SR
    wav = write_wav(work / "narration.wav", audio, SR)
    np.save(work / "narration.npy", audio)
    print(f"narration: {duration:.1f} s from {len(bounds)} LibriSpeech test-other files; {args.threads} threads")

    # -- ours: faster-whisper base int8 (model load excluded; it happens once per worker)
    tx.load_model("whisper-base", "int8", args.threads)
    ours, times, cpus = None, [], []
    for _ in range(args.runs):
        ours, s, c = timed(lambda: tx.transcribe(wav, "en", model="whisper-base", cpu_threads=args.threads))
        times.append(s)
        cpus.append(c)
        print(f"  faster-whisper int8 run: wall {s:.1f} s (RTF {s / duration:.3f}), CPU {c:.1f} s")
    t_int8, c_int8 = statistics.median(times), statistics.median(cpus)

    # -- anchor 1: PyTorch openai-whisper, same weights, same audio, same thread count
    t_ow, c_ow, ow_words = None, None, None
    if Path(args.owhisper).exists():
        env = dict(os.environ, BENCH_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        out = work / "ow.json"
        proc = subprocess.run(
            [args.owhisper, str(Path(__file__).with_name("owhisper_run.py")), str(model_dir), str(out), str(work / "narration.npy")],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            res = json.loads(out.read_text())["results"][0]
            t_ow, c_ow = res["seconds"], res["cpu_seconds"]
            ow_words = [(w["start"], w["word"]) for w in res.get("words", [])]
            print(
                f"  openai-whisper (PyTorch {args.threads} threads, fp32 CPU): wall {t_ow:.1f} s "
                f"(RTF {t_ow / duration:.3f}), CPU {c_ow:.1f} s"
            )
        else:
            print("  openai-whisper failed:", proc.stderr.strip().splitlines()[-1:] or proc.returncode)
    else:
        print(f"  openai-whisper venv not found at {args.owhisper}; skipped")

    # -- anchor 2: faster-whisper float32 (same library, no quantisation)
    tx.load_model("whisper-base", "float32", args.threads)
    fp32, t_fp32, c_fp32 = timed(lambda: tx.transcribe(wav, "en", model="whisper-base", compute_type="float32", cpu_threads=args.threads))
    print(f"  faster-whisper float32 run: wall {t_fp32:.1f} s (RTF {t_fp32 / duration:.3f}), CPU {c_fp32:.1f} s")

    # -- WER without a script
    hyp = words_by_file([(w.start, w.text) for w in ours.words], bounds)
    hyp32 = words_by_file([(w.start, w.text) for w in fp32.words], bounds)
    ref_ow = words_by_file(ow_words, bounds) if ow_words else None
    print("\nWER without a script (normalised: lower case, punctuation removed):")
    for name, text in TRUE_TEXT.items():
        if name in hyp:
            line = f"  vs TRUE LibriSpeech text, {name}: int8 {wer(norm_words(text), norm_words(' '.join(hyp[name]))):.3f}"
            if ref_ow:
                line += f", openai-whisper {wer(norm_words(text), norm_words(' '.join(ref_ow[name]))):.3f}"
            print(line)
    if ref_ow:
        per = [wer(norm_words(" ".join(ref_ow[n])), norm_words(" ".join(hyp[n]))) for n, _, _ in bounds if ref_ow[n]]
        print(
            f"  int8 vs openai-whisper transcript (agreement, not true WER): median {statistics.median(per):.3f} "
            f"mean {statistics.mean(per):.3f} over {len(per)} files"
        )
    per32 = [wer(norm_words(" ".join(hyp32[n])), norm_words(" ".join(hyp[n]))) for n, _, _ in bounds if hyp32[n]]
    print(f"  int8 vs float32 transcript (quantisation drift): median {statistics.median(per32):.3f} over {len(per32)} files")

    # -- with a script: exact text and word-start error of a noisy run vs the clean run
    scripts = {n: " ".join(norm_words(" ".join((ref_ow or hyp32)[n]))) for n, _, _ in bounds}
    scripts.update({n: t.lower() for n, t in TRUE_TEXT.items() if n in scripts})
    script = " ".join(scripts[n] for n, _, _ in bounds if scripts[n])
    clean = align(script, ours.words, duration)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(audio)).astype(np.float32)
    noise *= np.sqrt(np.mean(audio**2) / np.mean(noise**2) / 10 ** (10 / 10))
    noisy_wav = write_wav(work / "noisy.wav", np.clip(audio + noise, -1, 1), SR)
    noisy_t = tx.transcribe(noisy_wav, "en", model="whisper-base", cpu_threads=args.threads)
    noisy = align(script, noisy_t.words, duration)
    exact = []
    for al in (clean, noisy):
        cues = segment(al.words, end_limit=duration)
        exact.append(" ".join(c.text.replace("\n", " ") for c in cues) == script and all(c.end <= duration for c in cues))
    errors_by_file, k = [], 0
    for n, _, _ in bounds:
        m = len(scripts[n].split())
        e = [abs(a.start - b.start) for a, b in zip(clean.words[k : k + m], noisy.words[k : k + m])]
        if e:
            errors_by_file.append(statistics.median(e))
        k += m
    allerr = [abs(a.start - b.start) for a, b in zip(clean.words, noisy.words)]
    print("\nWith a script (script = reference text above; noisy = +white noise at 10 dB SNR):")
    print(f"  subtitles reproduce the script exactly: clean {exact[0]}, noisy {exact[1]}")
    print(f"  match ratio: clean {clean.match_ratio:.3f}, noisy {noisy.match_ratio:.3f}")
    print(
        f"  word-start error noisy vs clean: median {statistics.median(allerr) * 1000:.0f} ms, "
        f"p90 {np.percentile(allerr, 90) * 1000:.0f} ms, median of per-file medians "
        f"{statistics.median(errors_by_file) * 1000:.0f} ms ({len(allerr)} words)"
    )

    print("\nSummary (medians; the machine is shared, so CPU-based figures are the fair ones):")
    print(
        f"  RTF faster-whisper base int8, {args.threads} threads: wall {t_int8 / duration:.3f}; "
        f"CPU-based {c_int8 / args.threads / duration:.3f} = CPU s / ({args.threads} x audio s) (target < 0.2)"
    )
    if t_ow:
        print(
            f"  speed-up vs PyTorch openai-whisper base (same weights): wall {t_ow / t_int8:.2f}x, CPU {c_ow / c_int8:.2f}x (target >= 3x)"
        )
    print(f"  speed-up vs faster-whisper float32 (anchor 2): wall {t_fp32 / t_int8:.2f}x, CPU {c_fp32 / c_int8:.2f}x")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
