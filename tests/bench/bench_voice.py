"""Voice benchmark: privacy and intelligibility per method (outside judge), and speed.

Privacy: runs ../shared/bench/voice_eval.py (Resemblyzer speaker verification +
Whisper WER) on ../shared/data/speech/librispeech-test-other for each method,
through the real CLI, exactly as a facilitator would:

    FW_MODEL=instance/models/whisper-base /tmp/benchv/bin/python ../shared/bench/voice_eval.py \\
        ../shared/data/speech/librispeech-test-other \\
        '.venv/bin/storyteller voice {inp} -o {out} --seed {seed} --method disguise' --invert

Then, per method, a second attacker from this folder (``voice_eq_attack.py``): it evens out the
disguised take's long-term tone to ordinary speech before the same verifier listens.

Speed: the disguise on a long take built from the same speech (in-process,
median of 3), against the anchor of the plain WORLD pitch shift (the ``pitch``
method) on the same take in the same run; and the 10 s preview.

Measured 2026-12-02, 09:30-10:47 UTC, a fresh machine (load 1-2 when alone; 3-5 with two judges side by side).

The story's voice is now a narrow blend: jf_tebukuro with a secret 25-50% share of jf_nezumi (C below). Any two of
four voices at any mix (the set of 02:50 below) let a lazy attacker's own blends find hers more often than by
chance; blends held near one voice sound alike from story to story. Which pair, by the judge's WER rule in one
process (tests/bench/voice_wer.py --blend FIRST,SECOND,0.25,0.5, 14 utterances, draws 0-2):
    A  jf_nezumi + 25-50% jf_tebukuro      WER 9.2 / 9.6 / 9.2   mean 9.3
    B  jf_gongitsune + 25-50% jf_nezumi    WER 10.1 (draw 0 only)
    C  jf_tebukuro + 25-50% jf_nezumi      WER 7.0 / 8.8 / 7.9   mean 7.9   (adopted)
    D  jf_gongitsune + 25-50% jf_tebukuro  WER 10.1 / 10.1 / 9.2 mean 9.8
The judge over six secret sets (voice_draws.py as in the table below, --sets 3 then --sets 3 --first 3;
A through a worktree on PYTHONPATH; sets 3-5 of A and C ran side by side):

    C (adopted)  EER_orig  EER_ignorant  EER_lazy  EER_invert  WER
    set 0-2        0.0     50.0 50.6 46.4  43.5 42.9 47.0  50.0 43.5 50.0  9.6 9.6 9.1
    set 3-5        0.0     50.0 50.6 50.0  46.4 46.4 46.4  46.4 53.0 43.5  10.0 10.9 12.2
    mean of 3              49.0          44.4      47.8        9.4
    mean of 6              49.6          45.4      47.7       10.2   (targets >= 48, >= 45, >= 45, <= 10)
    A, mean of 6           51.2          48.9      49.2       10.5   (sets 0-2 from the night before)
So over six draws the EERs are met and WER misses by 0.2 (9.4 over the first three). The WER moves by 3
points between draws of the same voice: a handful of utterances decide it ("the unit" heard as "the YUNAK",
"these ligatures" as "his ligature" in every voice). With her script (voice_wer.py --script, C, Whisper's greedy transcript of the take as the script): WER 6.6 / 7.9 / 7.0,
mean 7.2 (this harness gives C 7.9 without a script, where the judge gave 9.4 on the same draws).
Kokoro's own phoneme symbols (misaki's: "eɪ" as "A", "dʒ" as "ʤ", eSpeak asked for tied IPA) made it worse for
these Japanese voices: draw 0 WER 9.2 -> 12.7 (English rules too) and 13.6 (ties only); not adopted.
Urdu (bench_voice.py --urdu, C): letters heard back 0.877 / 0.879 / 0.884, mean 0.880 (target 0.85); eSpeak 0.711.

Speed at a quiet moment, models loaded (bench_voice.py --synthetic --minutes 3, 09:27, load 1.4 -> 1.7):
    synthetic on a 3.0 min take: 75.8 s = 2.38x real time (CPU 109.4 s)   target >= 2x: met
    (an instrumented run beside it: 78.3 s, Whisper on the take 32.9 s, the voice 45.2 s). The 1.29x of the
    night before was measured while helpers shared the two cores.
    previews of 10 s: own 0.37 s, pitch 0.83 s, disguise 0.51 s; synthetic without a script 5.34 s (first
    sentence 3.74 s: Whisper hears the opening first), with her script 4.18 s (first sentence 1.41 s).
The preview job now publishes the first sentence while it runs and the voice page plays it (tests/bench/
bench_journey_jobs.py, row (b) synthetic, 3-minute take, her script, median of 3 incl. the model loading):
first sentence 1.39 / 1.30 s in two runs (target 2 s), the whole 10 s 3.74 / 3.53 s.

Synthetic over three secret draws, 2026-12-02 02:50-03:39 UTC (load 3-5: a CI run and benchmarks beside it;
the four-voice blend without jf_alpha, word-by-word timing, no script: Whisper's words):

    STORYTELLER_MODELS=$PWD/.venv/storyteller-test-data/models FW_MODEL=/tmp/fw-models/whisper-base \
        /tmp/benchv/bin/python tests/bench/voice_draws.py ../shared/data/speech/librispeech-test-other \
        --method synthetic --sets 3 --invert

    synthetic  EER_orig  EER_ignorant  EER_lazy  EER_invert  WER
    set 0        0.0        39.3         31.5       43.5      8.7
    set 1        0.0        42.9         50.0       42.9      9.6
    set 2        0.0        57.1         50.0       60.7      7.8
    mean         0.0        46.4         43.8       49.0      8.7   (targets >= 48, >= 45, >= 45, <= 10)
The mean misses ignorant and lazy by 2 points, and single draws range from 31 to 61. The voice is a pure function
of the secret, so one draw pits four story voices against four attacker voices. The likely reason (a guess, not
measured): with four base voices, one of them male, a story's voice and the attacker's match or clash by chance,
and a voice may happen to share a speaker's sex. Voices that differ less between secrets should narrow the spread.

Held-out speakers (issue 14: ``disguise`` on speakers it was not tuned on), 2026-12-01 22:52-23:44 UTC, load
average 4-11 from other agents (8 most of the time), all at nice 19. Four speakers from Debian's Asterisk prompt
packages, one per language (tests/bench/voice_heldout.py: en Allison, fr June, it Carlo (a man), ru ivrvoice;
10 prompts of 3-10 s each, 3 enrol + 7 trials as in the shared set); the judge's verifier, trials and attackers,
the app's CLI, three secret sets; WER with Whisper base greedy in each speaker's own language (the model is
the app's, ``install_base(Path("/tmp/fw-models"))`` from storyteller.pipeline.speech.models, as ``models install``):

    /work/main/.venv/bin/python tests/bench/voice_heldout.py /tmp/heldout
    FW_MODEL=/tmp/fw-models/whisper-base nice -n 19 /tmp/benchv/bin/python tests/bench/voice_draws.py \
        /tmp/heldout --method disguise --sets 3 --invert --language folder   (set 2 ran beside it with --sets 1 --first 2)

    disguise   EER_orig  EER_ignorant  EER_lazy  EER_invert  WER
    set 0        0.6        42.3         35.1       39.3     22.0
    set 1        0.6        35.7         42.3       39.3     14.9
    set 2        0.6        46.4         42.9       35.7     20.6
    mean         0.6        41.5         40.1       38.1     19.2   (targets >= 35, >= 35, >= 35, <= 18: WER not met)
    pitch, set 0 (--method pitch --sets 1, 23:47-00:02 UTC, load 0.2-5):
                 0.6         0.0          7.7        0.0      2.8
Only 14 short prompts (3-8 s) make each WER, so it moves by 7 points between sets; the four
voices differ in language (and one in sex), hence EER_orig 0.6: an easier set to tell apart than LibriSpeech.

Measured 2026-12-01, third session (issue 14, voice helper; load average 7-17 from other agents' test suites:
wall times mean nothing, CPU seconds are the figures).
Profile first (cProfile, a 1-minute take, models loaded, load ~1-2 at the start): 55 s wall, 62 s CPU, of which
Kokoro 45 s (22 runs for 16 units: 6 units read twice), Whisper 9.8 s. onnxruntime on one 122-token phrase
(7.3 s of speech): one intra-op thread 4.1-4.3 s CPU; two threads 6.4-6.6 s CPU for hardly less wall (a 2-thread
run kept 1.1 cores busy); ConvInteger is 56% of the graph's node time (ORT profiler), but the weights
dequantised into float Conv took 5.1-5.3 s CPU: slower, not adopted. The duration part alone (text encoder and
duration predictor, extracted from the same graph) costs 0.08 s CPU and gives exactly the frames the full run
gives at every speed (checked at 0.83 / 1.0 / 1.27). So now: each unit's speed is chosen from the duration
part (run at speed 1, then at the chosen speed for its exact length), every unit is made once, one thread per
run, two units at a time on the two cores, in a window of two (memory flat).
    bench_voice.py --synthetic --minutes 3:  CPU 127.9 s (was 209 s) for 180 s of speech; wall 491 s at load
    11-12 (0.37x: the machine was shared by about six busy processes). On two idle cores, about 64 s of
    Kokoro+Whisper CPU per core, i.e. roughly 2.5x real time: an estimate, NOT measured at a quiet moment.
    1-minute take (cProfile): CPU 62 s -> 42 s.
Preview (/tmp script, 3-minute take, models loaded, load 10-17): with her script (as the preview job now
makes it: no Whisper) 6.6 s CPU for the 10 s; the opening 31-word sentence was one unit, ready only at the end.
Its first unit is now cut after 8 words (PREVIEW_FIRST_WORDS): 3.8 s CPU until it is ready, the second unit
made beside it included, so about 1.9 s on an idle core: the 2 s target is likely met when the machine is
quiet, NOT measured so. Without a script 7.0 s CPU (Whisper on the opening first).
Each shipped voice alone (no blend) reading a held-out English paragraph (65 words, not LibriSpeech; Whisper
base greedy; /tmp script through speak_over): jf_alpha WER 4.6, jf_gongitsune / jf_nezumi / jf_tebukuro /
jm_kumo 1.5 ("twelve" heard as "12"). No voice is mumbled on its own; the blends were not measured and the
blend was not constrained (step 3 of the brief not done: no time for >= 3 judge draws per candidate).

Measured 2026-12-01, second session (load average 13-37 from seven other agents: wall times mean nothing).
``synthetic`` now says units (a sentence, or her words between pauses of UNIT_GAP = 0.7 s or more) at her
start times in the voice's own rhythm, at the speed in 0.8-1.3 that ends each unit where she did, her shorter
pauses read as commas, her loudness per unit, no vocoder. The judge's WER, in one process with the judge's
trials, seeds, model and normalisation (tests/bench/voice_wer.py; 14 utterances, 228 words):

    PYTHONPATH=$PWD STORYTELLER_MODELS=... .venv/bin/python tests/bench/voice_wer.py \
        ../shared/data/speech/librispeech-test-other --draws 1 [--first 1] [--script] --keep /tmp/vw1

    synthetic, no script     draw 0 (the judge's seeds) WER  7.9   (was 24.6 phrase ends pinned, 39.1 every word)
                             draw 1: 10 of 14 utterances (131 words) WER 16.0, where draw 0 has 9.2 on the same 10;
                             stopped for lack of time: the mean over draws is likely above 10 (not met). The loss
                             is the blend of voices, not the timing: 1998-15444-0008 "The days for an adult is
                             10 minutes" came back as "So, these for another 20-10 minutes" (75) in draw 1's voice.
    synthetic, with a script draw 0 WER  9.2   (the script is Whisper's greedy transcript of the take)
    draw 2 and EER not run (one draw took 41 min of wall, under 3 min of CPU, at load 30-37). The EER of a
    voice that holds nothing of hers does not depend on when it speaks: the 2026-11-29 rows (ign 47-51,
    lazy 51 over five draws) stand until the judge is re-run.
    Speed at a quiet moment (load 2.5 -> 6.1; bench_voice.py --synthetic --minutes 3, models loaded first):
    synthetic on a 3-minute take 250 s wall, 209 s CPU = 0.72x real time (target >= 2x: NOT met; Whisper on
    the take, then Kokoro per unit, read twice when the first speed misses her time by more than 12%).
    Previews of 10 s: own 0.11 s, pitch 0.52 s, disguise 0.25 s, synthetic without a script 12.3 s with
    its first sentence after 5.0 s (target 2 s: NOT met; with her script no Whisper runs, not timed).
    Urdu (bench_voice.py --urdu; a 7-sentence written story read through the same units, Whisper base
    greedy, letters matched without difflib's autojunk): secrets 1 / 2 / 3 -> 0.898 / 0.890 / 0.882
    (mean 0.890, target 0.85 met); eSpeak's own Urdu voice 0.719.

Measured 2026-12-01 (issue 14, voice helper), load average 9-15 from other agents' test suites:

    method                           EER_orig EER_ign EER_lazy EER_invert  WER   draws
    synthetic, no script, every word
      pinned to Whisper's word times   0.0     46.4    29.2      46.4     39.1   1 (judge seeds; 43.8 min)
    synthetic, phrases pinned at
      their ends (committed)            -       -       -         -      24.6*  1
    pitch, disguise                   not re-run: the 2026-11-29 rows below stand (chain unchanged)
    synthetic with a script           not run (voice_scripted.py is ready; one judge run took 44 min here)
    disguise on held-out speakers     not run: only the four shared speakers are on this machine offline
  * /tmp-only quick harness, not the judge: Whisper base (greedy) of the untouched take vs of the
    output, 2 utterances x 4 speakers (the 4th and 5th of each), secret 1000. Same harness, the
    pause that starts a new phrase: 0.2 s -> WER 24.6, 0.6 s -> 19.5, 1.2 s -> 13.6; her loudness
    contour on or off made no difference (24.6 both). Whole Whisper segments (the 2026-11-29 row) -> 9.1.
    So the longer the stretch the voice says in its own rhythm, the better it is understood; her
    pauses shorter than the phrase gap are then lost. Left at 0.2 s (pauses kept); the lead decides.
  EER_lazy 29.2 for a voice that holds nothing of hers is probably the 4-speaker noise (+-5..15) and
  collisions between story and attacker blends of the same five Kokoro voices; not investigated.
  Speed: `--synthetic` not run at a quiet moment; a 15 s utterance took 56 s wall / 17 s CPU at load ~10.
  Kokoro int8 alone: 2.8 s CPU for 3.25 s of speech (so about 2x real time on 2 idle cores at best).
  Preview, same file, load ~12 (models loaded): own 0.04 s, disguise 0.75 s, pitch 3.0 s, synthetic
  first sentence 12.5 s / whole 10 s 48 s without a script (Whisper on the opening first): not met.

Measured 2026-11-29 on the shared 2-core machine (load average 4-6 from other jobs), 4 speakers x 10
utterances, official voice_eval.py, --invert (EER: higher = more private; WER vs original transcript):

    method     EER_orig EER_ignorant EER_lazy EER_invert  WER
    pitch         0.0       7.1         3.6       7.1      9.6   (re-run after world.py was cut to pitch only: same figures)
    disguise      0.0      46.4        35.7      42.3     15.2   (targets 45 / 40 / 35 / <=10: lazy and WER not met)
    synthetic     0.0      47.0        35.7      50.0      9.1   (Kokoro voice; target ignorant >= 48: this draw 1 short)
      over five secret draws (the tuning harness, app seeds): ign 47.0 42.9 60.7 53.6 50.0 (mean 50.8),
      lazy 35.7 50.0 50.6 64.3 54.2 (mean 51.0): chance, as it should be for a voice with nothing of hers
      the eSpeak voice before it: 53.0 / 53.6 / 56.5, WER 18.3 (Whisper could hardly follow its Urdu)
    previous disguise (WORLD + McAdams chain): 39.3 / 35.7 / 29.2, WER 21.7
    voice_eq_attack.py (the take's tone evened out first), EER_ignorant / EER_eq / EER_eq_invert:
      pitch 7.1 / 10.7 / 10.7    disguise 46.4 / 17.9 / 21.4    synthetic 47.0 / 45.8 / 46.4 (eSpeak: 53.0 / 46.4 / 57.1)
      Most of the disguise's score is its tone, which anyone can undo; 18 is what its vocal tract
      and pitch change leave. The synthetic voice holds.
    disguise over ten secret draws (tests/bench/voice_draws.py --sets 10: seed sets k = 0..9, story 1000+i+100k, attacker 5000+i+100k;
    k = 0 is the judge's): ign 35.7-50.0 (mean 43.0), lazy 17.9-56.5 (mean 39.0), WER 10.4-18.3
    (mean 14.1). The judge's draw is a typical one; on average all three targets are just missed.
    tried as default, small PSOLA moves + flatten 1.75: 50.0 / 10.7 / 45.8, WER 10.9 (lazy attacker wins: reverted)

Why the disguise's amounts (voice/methods.py ``disguise_settings``), measured with this bench:
    Overshooting her average spectrum past the neutral one (flatten=1.5) cuts her strong low band,
    which the verifier (linear-power mel bands) relies on: EER_ignorant 28 -> 46 at the same WER
    (capping the cut at 20 dB, on a variant: EER_ignorant 26). The verifier hardly hears pitch
    (pitch alone: EER_ignorant 1.4).
    Measured and not better: formants moved the same way as the pitch (full eval ign 38.7 lazy 42.3
    invert 38.7 WER 12.6, but over three secret draws the same as the default: ign 43.7 vs 45.4,
    lazy 42.9 vs 40.5, WER 12.9 vs 13.5), smaller moves (WER 10.9 but EER_lazy 10.7), flatten 1.75,
    a secret target shape (rising tilt, broad bumps) in place of her spectrum.
    voice_eq_attack.py: a verifier that evens out the tone first takes the disguise from EER 46 to 18.
    PSOLA rather than a vocoder (voice/psola.py): Whisper loses 3 points of WER on a PSOLA copy,
    8.7 on a WORLD-vocoder copy.

Tuning runs of the PSOLA chain (same verifier, trials and story seeds as the harness, in-process;
28 target trials, so +-5 points of EER and +-3 of WER is noise; "cand" seeds are a plain RNG, "app"
seeds are the app's hashed secrets, i.e. exactly what the harness runs):
    Praat "Change gender" with no change                                   ign  0.0 lazy  0.0 WER  3.0
    (WORLD resynthesis with no change, DIO or Praat F0: WER 8.7)
    PSOLA formant x2^+-(0.16-0.25), pitch to a target 110-220 Hz (cand)     ign 21.4 lazy 14.3 WER  8.3
      + her average spectrum -> secret slope (flatten 1)                   ign 35.1 lazy 14.9 WER  8.7
      + random secret EQ bumps / McAdams / cepstral envelope warp          ign 28-39 lazy 7-29 WER 10-30
    pitch as a ratio +-2..5 st, formant x2^+-(0.28-0.35), flatten 1 (cand) ign 35.7 lazy 46.4 WER 10.9
    the same with app seeds                                                ign 28.0 lazy 25.0 inv 28.6 WER 15.7
      PSOLA part only (flatten 0)                                           ign  3.6 lazy 17.9 WER 13.9
      spectrum swap only (flatten 1.5, no PSOLA change)                     ign 25.6 lazy 42.3 WER  8.3
      flatten 1.5 (the default)                                             ign 46.4 lazy 35.1 WER 15.7
      flatten 2                                                             ign 50.0 lazy 25.0 WER 23.0
      flatten 1.5, formant 2^+-(0.22-0.30)                                  ign 42.3 lazy 39.3 WER 16.1
      flatten 1.5, formant 2^+-(0.12-0.18), pitch x0.6 st, range 1          ign 31.5 lazy 42.9 inv 38.7 WER 10.9
      flatten 1.75, formant 2^+-(0.12-0.18), pitch x0.6 st, range 1         ign 42.9 lazy 42.3 WER 10.9
        (as coded with its own slope draw: full eval lazy 10.7; flatten 1.0 / 1.25: ign 21.4 / 32.1, lazy 17.9 / 14.3)
Second round (evening 2026-11-29), in-process through the app's streaming and hashed secrets; the first
figure is the harness's own seeds (reproduces its output exactly: the default gives 46.4 / 35.7 / 15.2
here too), (m ..) the mean over three seed sets (story 1000+i+100k, attacker 5000+i+100k, k = 0..2);
"same way" = formants move up or down with the pitch:
    default (independent signs, f 0.28-0.35, flatten 1.5)           ign 46.4 (m 45.4) lazy 35.7 (m 40.5) WER 15.2
    pitch only +-2..5 st, range 0.7-1, no spectrum                   ign  0.0 (m  1.4) lazy  0.0 (m  0.0) WER  4.8
    formants only x2^+-(0.28-0.35), no spectrum                      ign 18.5 (m 10.9) lazy 25.0 (m 34.7) WER 10.9
    flatten 1 + secret target: 4 bumps +-3..6 dB / 6 bumps +-4..8    ign 10.1 / 13.7   lazy 0.6 / 11.3    WER 3.9 / 4.8
    flatten 1.5 alone, her deviation capped at 12 dB                 ign 10.7 (m 11.9) lazy 10.7 (m 11.7) WER  6.1
    flatten 2 alone, capped at 12 dB                                 ign 28.6 (m 28.8) lazy 20.8 (m 21.2) WER 11.7
    same way, f 0.28-0.35, no spectrum                               ign 14.3 (m  7.1) lazy 21.4 (m 27.4) WER  9.6
    same way, f 0.28-0.35, flatten 1.5                               ign 38.7 (m 43.7) lazy 42.3 (m 42.9) WER 12.6
      (tried as default, full eval, load 2-5: ign 38.7 lazy 42.3 invert 38.7 WER 12.6; WER over the three
      seed sets 12.6 / 14.8 / 11.3 vs the default's 15.2 / 14.8 / 10.4: no better on average, reverted)
      range 1 (melody kept)                                          ign 35.7 (m 41.5) lazy 45.8 (m 46.0) WER 15.7
      flatten 1.75                                                   ign 36.3 (m 45.2) lazy 42.9 (m 45.2) WER 14.8
      + secret rising tilt 0..4 dB/oct from 300 Hz                   ign 39.3 (m 44.0) lazy 35.7 (m 42.9) WER 13.9
    same way, f 0.22-0.30, flatten 1.5                               ign 35.1 (m 40.5) lazy 43.5 (m 43.1) WER 12.2
      gain capped at 20 dB                                           ign 29.2 (m 26.4) lazy 32.1 (m 38.1) WER 11.3
      flatten 1.75                                                   ign 35.7 (m 45.0) lazy 46.4 (m 41.7) WER 13.9
      flatten 1 + secret rising tilt 2..6 dB/oct from 300 Hz         ign 35.7 (m 40.5) lazy 42.9 (m 43.8) WER 11.7
        + 4 secret bumps +-4..8 dB                                   ign 36.3 (m 39.3) lazy 42.9 (m 41.7) WER 12.2
Third round (2026-11-29 night), same harness, changes to the default chain, (m ..) over three seed sets,
WER listed per set (the default: 16.1 / 12.2 / 10.4):
    formant move as a cepstral-envelope warp (harmonics kept) instead of PSOLA
      alone, 0.28-0.35 oct                                           ign  3.6 (m  4.6) lazy 10.7 (m 26.0) WER 10.9 / 10.4 / 10.0
      with pitch and flatten 1.5                                     ign 43.5 (m 46.6) lazy 10.1 (m 30.8) WER 15.7 / 15.2 / 17.0
      only above 1.8 kHz (F1-F2 kept), 0.3-0.5 oct                   ign 39.3 (m 37.9) lazy 10.7 (m 28.8) WER 10.0 / 14.8 / 12.2
    her own band above 4 / 3 kHz put back                            ign 31.5 / 28.6    lazy 28.0 / 28.6   WER 17.4 / 15.7 (set 1)
    noise kept at her level in quiet frames (the flatten lifts hiss) ign 39.3 (m 42.9) lazy 32.1 (m 38.3) WER 17.4 / 15.7 / 13.0
      ... in every frame                                             ign 47.0 (m 44.0) lazy 25.0 (m 31.9) WER 21.3 / 17.0 / 18.7
    no boost below 120 Hz                                            ign 42.9 (m 43.1) lazy 35.1 (m 39.1) WER 16.1 / 12.2 / 10.4
    Praat pitch range fitted to her (0.5-2x her median)              ign 39.9 (m 45.2) lazy 32.1 (m 39.3) WER 16.1 / 16.1 / 10.9
    secret slope rising 2-5 / falling 2-5 dB/oct                     ign 46.4 / 31.5    lazy 39.3 / 18.5   WER 21.3 / 17.4 (set 1)
    secret slope of random sign 3-5 dB/oct (four voice classes)      ign 42.9 (m 38.1) lazy 25.0 (m 39.3) WER 14.8 / 10.9 / 15.2
      with formants 0.15-0.20 / 0.20-0.25 oct                        ign 35.7 / 38.7    lazy 25.0 / 25.0   WER 13.0 / 13.9 (set 1)
    secret high shelf +-6..10 dB above 3 kHz                         ign 42.9 (m 40.7) lazy 21.4 (m 38.1) WER 17.4 / 10.9 / 13.5
    EER after voice_eq_attack's equaliser (eq, mean of three sets): the default 20.2; PSOLA pitch and
    formants alone 17.9 (its plain ign is only 7.5: her own tone was helping the verifier)
      + per-frame formant contrast x0.5-0.7 (an equaliser cannot undo it)  eq 26.0  WER 20.9 / 15.2 / 27.0
      + treble up on loud frames and down on soft ones, +-4..8 dB/oct    eq 21.6  WER 16.5 / 17.4 / 21.7
      frame envelopes swapped for their 4 nearest eSpeak frames (cepstral kNN, a DSP stand-in for kNN-VC;
      eSpeak reads a fixed text in a secret variant)  alone: ign m 19.2 eq 17.9 WER 53.0 / 36.1 / 30.0
      (cepstra of two speakers do not find the same sounds; it needs speaker-free features, i.e. a model)
      the same with Whisper-base encoder frames as the features (20 ms, cosine kNN)
                                                            alone: ign m 27.6 eq 28.6 WER 92.6 / 86.5 / 86.1
      (40 s of eSpeak is too few frames, and the encoder's frames carry context, not one sound each)
      + a secret share 0.3-0.5 of every STFT bin's phase replaced by noise (harmonics blurred, envelope kept;
      alone it costs WER 5 and the verifier does not notice: ign 0)  ign m 45.0 lazy m 39.3 eq 23.8 WER 17.4 / 13.5 / 13.0
Fourth round (2026-11-29, late), same harness, mean of three seed sets, WER per set:
    her deviation measured from a natural speech tilt (-6 / -10 dB/oct above 500 Hz) instead of from flat
      flatten 1.5                                                   ign m 24.2 / 22.6  lazy m 32.3 / 33.5  WER 13.0 10.9 12.2 / 17.0 11.3 11.3
      (the verifier is fooled by her deviation turned upside down, not by thinness; WER hardly changes)
    no formant move, pitch + flatten 2 / 2.5                         ign m 51.2 / 55.0  lazy m 32.3 / 32.3  eq 9.5 / 8.1  WER 11.3 12.6 11.3 / 16.5 17.8 13.9
    no formant move, flatten 1.5 / 2 + 5 secret bumps +-8..14 dB      ign m 41.5 / 45.2  lazy m 39.1 / 41.7  eq 6.0 / 6.9  WER 11.3 10.4 13.5 / 15.2 13.5 15.2
    the default + those bumps                                        ign m 41.9          lazy m 40.3         eq 19.0       WER 17.4 17.4 13.0
    An overshoot (flatten > 1) keeps her deviation, negated, in every take: that is what raises ign and
    what the lazy attacker finds again; secret shapes big enough to hide it cost the same WER.
    Every chain with ign ~45 and lazy ~40 on average lands near WER 12-14; nothing moved that frontier.
    The verifier hears the high band (putting hers back costs 10-15 points of EER) and the balance of low
    and high; Whisper minds any formant move and, oddly, gets worse when the lifted hiss is pushed back
    down (the flatten also lifts weak consonants).
    (the verifier reads linear-power mel bands: pitch is nearly invisible to it, the formant scale and the
    deep cut of her strong low band are what it hears; Whisper reads log-mel and minds the formant scale most)
Fifth round (2026-11-30), same harness: first bring every speaker to one reference, then apply the secret
(her vocal-tract length from Praat's median F1-F3 against 540/1620/2700 Hz, her median pitch to a secret
110-230 Hz), so that what is left to find should be the secret rather than her:
    the default + vocal-tract normalisation                         ign m 42.7  lazy m 40.3  eq 17.9  WER 16.1 18.3 11.7
    normalised, secret formants 0.15-0.22 oct, pitch target, flatten 1   ign m 26.4  lazy m 30.2  eq 20.2  WER 9.1 12.2 6.1
    normalised, secret formants 0.20-0.28 oct, pitch target, flatten 1.5 ign m 43.8  lazy m 32.1  eq 25.2  WER 12.2 18.3 12.6
    (the four speakers' vocal tracts differ by under 10%, so the normalisation hardly moves anything; the
    frontier is where it was)

usage: .venv/bin/python tests/bench/bench_voice.py [--methods pitch,disguise,synthetic] [--no-eval] [--minutes 3] [--synthetic] [--urdu]
Needs the eval venv (/tmp/benchv, or $VOICE_EVAL_PYTHON). Writes only to a temp folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT.parent / "shared" / "data" / "speech" / "librispeech-test-other"
EVAL = ROOT.parent / "shared" / "bench" / "voice_eval.py"
EQ_ATTACK = Path(__file__).with_name("voice_eq_attack.py")


def run_eval(script: Path, method: str, *flags: str) -> str:
    """One run of an outside judge ``script`` over the shared speech for ``method``; returns its result line."""
    py = os.environ.get("VOICE_EVAL_PYTHON", "/tmp/benchv/bin/python")
    # the workshop audience lets every method run without the facilitator's confirmation
    cmd = f"{ROOT / '.venv/bin/storyteller'} voice {{inp}} -o {{out}} --seed {{seed}} --method {method} --audience workshop"
    env = dict(os.environ, FW_MODEL=os.environ.get("FW_MODEL", str(ROOT / "instance/models/whisper-base")))
    t = time.perf_counter()
    r = subprocess.run([py, str(script), str(SPEECH), cmd, *flags], capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    line = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else f"FAILED: {r.stderr[-300:]}"
    return f"{line}  ({took / 60:.1f} min)"


def speed(minutes: float) -> None:
    from storyteller.pipeline.media.audio import decode_audio, write_wav
    from storyteller.pipeline.voice import methods as voice

    files = sorted(SPEECH.glob("*/*.flac"))
    speech = np.concatenate([decode_audio(f, voice.SAMPLE_RATE) for f in files])
    reps = int(np.ceil(minutes * 60 * voice.SAMPLE_RATE / len(speech)))
    take = np.tile(speech, reps)[: int(minutes * 60 * voice.SAMPLE_RATE)]
    seconds = len(take) / voice.SAMPLE_RATE
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "take.wav"
        write_wav(src, take, voice.SAMPLE_RATE)
        ours, cpu, anchor, prev = [], [], [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            voice.anonymize(src, Path(tmp) / "out.wav", "disguise", 1)
            ours.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            t = time.perf_counter()
            voice.anonymize(src, Path(tmp) / "anchor.wav", "pitch", 1)
            anchor.append(time.perf_counter() - t)
            t = time.perf_counter()
            voice.preview(src, "disguise", 1, start=30.0)
            prev.append(time.perf_counter() - t)
    o, a = statistics.median(ours), statistics.median(anchor)
    print(f"speed on a {seconds / 60:.1f} min take ({os.cpu_count()} cores):")
    print(f"  disguise (decode + full chain + write): median {o:.1f} s = {seconds / o:.1f}x real time")
    # CPU seconds do not depend on what else the shared machine is doing; wall time does
    load = os.getloadavg()[0]
    print(
        f"  disguise CPU time (all threads): median {statistics.median(cpu):.1f} s = "
        f"{seconds / statistics.median(cpu):.1f}x real time on one core; load average during the run {load:.1f}"
    )
    print(f"  anchor, WORLD pitch shift (decode + shift + write): median {a:.1f} s = {seconds / a:.1f}x real time")
    print(f"  ratio disguise/anchor time: {o / a:.2f}")
    print(f"  preview of 10 s: median {statistics.median(prev):.2f} s (target < 2 s)")


def synthetic_speed(minutes: float) -> None:
    """``synthetic`` on a take built from the shared speech (her words found by Whisper), and every method's preview."""
    from storyteller.pipeline.media.audio import decode_audio, write_wav
    from storyteller.pipeline.speech.transcribe import load_model, transcribe
    from storyteller.pipeline.voice import methods as voice
    from storyteller.pipeline.voice import tts

    files = sorted(SPEECH.glob("*/*.flac"))
    speech = np.concatenate([decode_audio(f, voice.SAMPLE_RATE) for f in files])
    take = speech[: int(minutes * 60 * voice.SAMPLE_RATE)]
    seconds = len(take) / voice.SAMPLE_RATE
    load_model()
    tts._model()  # a worker holds both models loaded; loading them is not the user's wait
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "take.wav"
        write_wav(src, take, voice.SAMPLE_RATE)
        load0 = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        voice.anonymize(src, Path(tmp) / "out.wav", "synthetic", 1)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(
            f"synthetic on a {seconds / 60:.1f} min take: {wall:.1f} s = {seconds / wall:.2f}x real time "
            f"(CPU {cpu:.1f} s; load average {load0:.1f} -> {os.getloadavg()[0]:.1f})"
        )
        # her script, as the preview job gives it: Whisper's greedy transcript of the take stands in for it
        script = transcribe(src, "en", beam_size=1).text
        for method, text in (("own", None), ("pitch", None), ("disguise", None), ("synthetic", None), ("synthetic", script)):
            first = []
            t = time.perf_counter()
            voice.preview(src, method, 1, script=text, on_first=lambda _a, first=first, t=t: first.append(time.perf_counter() - t))
            took = time.perf_counter() - t
            said = f", first sentence after {first[0]:.2f} s" if first else ""
            name = f"{method}{' with her script' if text else ''}"
            print(f"  preview of 10 s, {name}: {took:.2f} s{said} (target < 2 s; load {os.getloadavg()[0]:.1f})")


def urdu(secrets: int = 3) -> None:
    """A written Urdu story read by the synthetic voice (as ``synthetic`` says her words), heard back by
    Whisper base (greedy): how much of the script's letters come back (issue 14's target: >= 0.85)."""
    from difflib import SequenceMatcher

    from storyteller.pipeline.media.audio import write_wav
    from storyteller.pipeline.speech.transcribe import transcribe

    sys.path.insert(0, str(ROOT))
    from tests.speech_tts import URDU_STORY, read_by_synthetic, speak

    letters = lambda t: "".join(ch for ch in t if ch.isalpha())  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        ratios = []
        for secret in range(1, secrets + 1):
            path = write_wav(Path(tmp) / f"ur{secret}.wav", *read_by_synthetic(URDU_STORY, "ur", secret))
            heard = transcribe(path, "ur", model="whisper-base", beam_size=1).text
            ratios.append(SequenceMatcher(None, letters(URDU_STORY), letters(heard), autojunk=False).ratio())
        anchor = write_wav(Path(tmp) / "espeak.wav", *speak(URDU_STORY, voice="ur"))
        espeak = SequenceMatcher(
            None, letters(URDU_STORY), letters(transcribe(anchor, "ur", model="whisper-base", beam_size=1).text), autojunk=False
        )
    each = " / ".join(f"{r:.3f}" for r in ratios)
    print(
        f"Urdu letters heard back by Whisper base: synthetic {each} (mean {np.mean(ratios):.3f}); eSpeak's own voice {espeak.ratio():.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", default="pitch,disguise,synthetic")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--synthetic", action="store_true", help="time synthetic and every method's preview instead")
    ap.add_argument("--urdu", action="store_true", help="how well Whisper hears the synthetic voice's Urdu, instead")
    a = ap.parse_args()
    if a.urdu:
        os.environ.setdefault("STORYTELLER_WHISPER_GREEDY", "1")
        urdu()
        return
    if not SPEECH.is_dir():
        sys.exit(f"speech data not found at {SPEECH}")
    if a.synthetic:
        synthetic_speed(a.minutes)
        return
    speed(a.minutes)
    if not a.no_eval:
        for m in a.methods.split(","):
            print(f"{m:10s} {run_eval(EVAL, m, '--invert')}", flush=True)
            print(f"{'':10s} {run_eval(EQ_ATTACK, m)}", flush=True)


if __name__ == "__main__":
    main()
