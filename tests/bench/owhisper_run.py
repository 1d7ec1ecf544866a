"""Run the PyTorch ``openai-whisper`` package on audio, with the SAME Whisper base weights we ship.

Runs inside a separate venv (torch + openai-whisper), never in the app's venv:

    /tmp/owhisper/bin/python tests/bench/owhisper_run.py MODEL_DIR OUT.json AUDIO.npy [AUDIO.npy ...]

openai-whisper would download ``base.pt`` from the internet, which a workshop
laptop (and this machine) cannot do. Our CTranslate2 ``model.bin`` holds base's
weights in float16, exactly as OpenAI's checkpoint does, so we rebuild the
PyTorch state dict from it (names: ctranslate2's Whisper converter, reversed;
q/k/v are fused there and split here; the key projection has no bias in
PyTorch, and CTranslate2 stores zeros for it). Prints/writes timings and texts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ct2_reader import read_ct2  # noqa: E402


def state_dict_from_ct2(model_dir: Path):
    import torch

    _spec, v, _aliases = read_ct2(model_dir / "model.bin")
    t = lambda name: torch.from_numpy(np.array(v[name], dtype=np.float32))  # noqa: E731
    sd = {}
    sd["encoder.conv1.weight"], sd["encoder.conv1.bias"] = t("encoder/conv1/weight"), t("encoder/conv1/bias")
    sd["encoder.conv2.weight"], sd["encoder.conv2.bias"] = t("encoder/conv2/weight"), t("encoder/conv2/bias")
    sd["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    sd["encoder.ln_post.weight"], sd["encoder.ln_post.bias"] = t("encoder/layer_norm/gamma"), t("encoder/layer_norm/beta")
    sd["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    sd["decoder.ln.weight"], sd["decoder.ln.bias"] = t("decoder/layer_norm/gamma"), t("decoder/layer_norm/beta")

    def attn(dst: str, src: str, fused: str):
        w, b = t(f"{src}/linear_0/weight"), t(f"{src}/linear_0/bias")
        if fused == "qkv":
            q, k, val = w.chunk(3)
            qb, _kb, vb = b.chunk(3)
            out = f"{src}/linear_1"
        else:  # cross attention: query alone, key+value fused from the encoder output
            q, qb = w, b
            kv, kvb = t(f"{src}/linear_1/weight"), t(f"{src}/linear_1/bias")
            k, val = kv.chunk(2)
            _kb, vb = kvb.chunk(2)
            out = f"{src}/linear_2"
        sd[f"{dst}.query.weight"], sd[f"{dst}.query.bias"] = q, qb
        sd[f"{dst}.key.weight"] = k
        sd[f"{dst}.value.weight"], sd[f"{dst}.value.bias"] = val, vb
        sd[f"{dst}.out.weight"], sd[f"{dst}.out.bias"] = t(f"{out}/weight"), t(f"{out}/bias")

    def norm(dst: str, src: str):
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t(f"{src}/gamma"), t(f"{src}/beta")

    def mlp(dst: str, src: str):
        sd[f"{dst}.mlp.0.weight"], sd[f"{dst}.mlp.0.bias"] = t(f"{src}/linear_0/weight"), t(f"{src}/linear_0/bias")
        sd[f"{dst}.mlp.2.weight"], sd[f"{dst}.mlp.2.bias"] = t(f"{src}/linear_1/weight"), t(f"{src}/linear_1/bias")
        norm(f"{dst}.mlp_ln", f"{src}/layer_norm")

    n_enc = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_0/weight"))
    n_dec = sum(1 for k in v if k.startswith("decoder/layer_") and k.endswith("self_attention/linear_0/weight"))
    for i in range(n_enc):
        attn(f"encoder.blocks.{i}.attn", f"encoder/layer_{i}/self_attention", "qkv")
        norm(f"encoder.blocks.{i}.attn_ln", f"encoder/layer_{i}/self_attention/layer_norm")
        mlp(f"encoder.blocks.{i}", f"encoder/layer_{i}/ffn")
    for i in range(n_dec):
        attn(f"decoder.blocks.{i}.attn", f"decoder/layer_{i}/self_attention", "qkv")
        norm(f"decoder.blocks.{i}.attn_ln", f"decoder/layer_{i}/self_attention/layer_norm")
        attn(f"decoder.blocks.{i}.cross_attn", f"decoder/layer_{i}/attention", "cross")
        norm(f"decoder.blocks.{i}.cross_attn_ln", f"decoder/layer_{i}/attention/layer_norm")
        mlp(f"decoder.blocks.{i}", f"decoder/layer_{i}/ffn")
    return sd, n_enc, n_dec


def load(model_dir: Path):
    import torch
    from whisper.model import ModelDimensions, Whisper

    sd, n_enc, n_dec = state_dict_from_ct2(model_dir)
    n_vocab, n_state = sd["decoder.token_embedding.weight"].shape
    dims = ModelDimensions(
        n_mels=sd["encoder.conv1.weight"].shape[1],
        n_audio_ctx=sd["encoder.positional_embedding"].shape[0],
        n_audio_state=n_state,
        n_audio_head=n_state // 64,
        n_audio_layer=n_enc,
        n_vocab=n_vocab,
        n_text_ctx=sd["decoder.positional_embedding"].shape[0],
        n_text_state=n_state,
        n_text_head=n_state // 64,
        n_text_layer=n_dec,
    )
    model = Whisper(dims)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # Only the key projections' (absent) biases and the alignment-heads buffer may be missing.
    assert not unexpected and all(m == "alignment_heads" or m.endswith("key.bias") for m in missing), (missing, unexpected)
    config = json.loads((model_dir / "config.json").read_text())
    heads = torch.zeros(n_dec, dims.n_text_head, dtype=torch.bool)
    for layer, head in config.get("alignment_heads", []):
        heads[layer, head] = True
    model.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)
    return model.eval()


def main() -> None:
    import torch

    model_dir, out, audios = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    threads = int(__import__("os").environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = load(model_dir)
    load_s = time.perf_counter() - t0
    results = []
    for path in audios:
        audio = np.load(path).astype(np.float32)
        t0, c0 = time.perf_counter(), time.process_time()
        res = model.transcribe(
            audio,
            language="en",
            task="transcribe",
            beam_size=5,
            best_of=5,
            fp16=False,
            temperature=(0.0, 0.3, 0.6),
            condition_on_previous_text=False,
            word_timestamps=True,
        )
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        words = [
            {"start": float(w["start"]), "end": float(w["end"]), "word": w["word"]} for seg in res["segments"] for w in seg.get("words", [])
        ]
        results.append(
            {"audio": path, "seconds": secs, "cpu_seconds": cpu, "duration": len(audio) / 16000, "text": res["text"], "words": words}
        )
        print(f"openai-whisper {Path(path).name}: {secs:.1f} s", file=sys.stderr)
    out.write_text(json.dumps({"load_seconds": load_s, "threads": threads, "results": results}))


if __name__ == "__main__":
    main()
