// Recording in the page: MediaRecorder with a live level meter, the script as a
// teleprompter, one take or paragraph by paragraph. Every ~2.5 s a chunk goes to the
// server, which appends it to the take; a crashed tab loses at most the last chunk.
(function () {
  "use strict";
  var CHUNK_MS = 2500;

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("recorder");
    if (!box) { return; }
    var words = box.dataset;
    var status = document.getElementById("record-status");
    var errorBox = document.getElementById("record-error");
    var bar = document.getElementById("level-bar");
    var meter = document.getElementById("level");
    var stopButton = document.getElementById("stop");
    var nextButton = document.getElementById("next-paragraph");
    var wholeButton = document.getElementById("record-whole");
    var paragraphs = Array.prototype.slice.call(document.querySelectorAll(".paragraph"));
    var session = null;  // the take being recorded

    function say(text) { status.textContent = text; }
    function fail(text) { errorBox.textContent = text; errorBox.hidden = false; }
    function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }
    function mode() {
      var checked = document.querySelector('input[name="mode"]:checked');
      return checked ? checked.value : "whole";
    }
    function showMode() {
      var parts = mode() === "parts";
      document.getElementById("whole-controls").hidden = parts;
      document.getElementById("take-whole").hidden = parts || !document.querySelector("#take-whole audio").getAttribute("src");
      paragraphs.forEach(function (p) { p.querySelector(".part-controls").hidden = !parts; });
    }
    Array.prototype.forEach.call(document.querySelectorAll('input[name="mode"]'), function (r) { r.addEventListener("change", showMode); });
    showMode();

    function highlight(index) {
      paragraphs.forEach(function (p, i) { p.classList.toggle("current", i === index); });
      if (paragraphs[index]) { paragraphs[index].scrollIntoView({ block: "center", behavior: "smooth" }); }
    }

    function pickType() {
      var types = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
      for (var i = 0; i < types.length; i++) {
        if (window.MediaRecorder && MediaRecorder.isTypeSupported(types[i])) { return types[i]; }
      }
      return "";
    }

    // Chunks go up one at a time, in order; a failed send is retried, never dropped.
    function Uploader(part, type) {
      this.part = part; this.type = type; this.take = null; this.offset = 0;
      this.queue = []; this.busy = false; this.failed = null; this.waiters = [];
      this.paused = false;  // Storyteller could not be reached: the status says saving is paused
    }
    Uploader.prototype.add = function (blob) { if (blob.size) { this.queue.push(blob); this.pump(); } };
    Uploader.prototype.pump = function () {
      var self = this;
      if (self.busy || self.failed) { return; }
      if (!self.queue.length) { self.waiters.splice(0).forEach(function (w) { w(); }); return; }
      self.busy = true;
      var blob = self.queue[0];
      var data = new FormData();
      data.append("chunk", blob, "chunk");
      data.append("offset", String(self.offset));
      data.append("part", String(self.part));
      data.append("type", self.type);
      if (self.take !== null) { data.append("take", String(self.take)); }
      window.storyteller.send(box.dataset.chunkUrl, { method: "POST", body: data }).then(function (r) {
        if (r.status === 401) { window.location.replace(document.body.dataset.lockUrl); return null; }
        return r.json().then(function (answer) { return { status: r.status, answer: answer }; });
      }).then(function (result) {
        self.busy = false;
        if (!result) { return; }
        if (self.paused) {  // back: say so, the recording goes on
          self.paused = false;
          say(session && session.uploader === self ? words.wordsRecording : words.wordsSaving);
        }
        if (result.status === 200) {
          self.take = result.answer.take; self.offset = result.answer.size; self.queue.shift();
        } else if (result.status === 409 && result.answer.size !== undefined) {
          self.offset = result.answer.size;  // the server has less than we thought: resend
        } else {
          self.failed = result.answer.message || "";
          fail(self.failed);
          if (session && session.uploader === self) { stop(); }
          self.waiters.splice(0).forEach(function (w) { w(); });
          return;
        }
        self.pump();
      }).catch(function () {
        // Storyteller is away (restarting, say): the chunks wait here, in order, and go when it is back.
        self.busy = false;
        self.paused = true;
        say(words.wordsOffline);
        setTimeout(function () { self.pump(); }, 2000);
      });
    };
    Uploader.prototype.drained = function () {
      var self = this;
      return new Promise(function (resolve) { self.waiters.push(resolve); self.pump(); });
    };

    function meterLoop(stream) {
      var AudioCtx = window.AudioContext || window.webkitAudioContext;
      if (!AudioCtx) { return function () {}; }
      var context = new AudioCtx();
      var analyser = context.createAnalyser();
      analyser.fftSize = 1024;
      context.createMediaStreamSource(stream).connect(analyser);
      if (context.state === "suspended") { context.resume(); }  // made after the click's promise: may start paused
      var samples = new Float32Array(analyser.fftSize);
      var running = true;
      function draw() {
        if (!running) { return; }
        analyser.getFloatTimeDomainData(samples);
        var sum = 0;
        for (var i = 0; i < samples.length; i++) { sum += samples[i] * samples[i]; }
        var db = 20 * Math.log10(Math.sqrt(sum / samples.length) + 1e-9);
        var percent = Math.max(0, Math.min(100, Math.round((db + 60) / 60 * 100)));
        bar.style.width = percent + "%";
        meter.setAttribute("aria-valuenow", String(percent));
        requestAnimationFrame(draw);
      }
      draw();
      return function () { running = false; bar.style.width = "0"; meter.setAttribute("aria-valuenow", "0"); context.close(); };
    }

    function setBusy(recording, part) {
      wholeButton.disabled = recording;
      stopButton.hidden = !recording;
      nextButton.hidden = !(recording && part === "whole" && paragraphs.length > 1);
      Array.prototype.forEach.call(document.querySelectorAll(".record-part"), function (b) {
        b.disabled = recording;
      });
      Array.prototype.forEach.call(document.querySelectorAll('input[name="mode"]'), function (r) { r.disabled = recording; });
      if (recording && part !== "whole") {
        // Stop sits next to the paragraph being recorded.
        paragraphs[part].querySelector(".part-controls").appendChild(stopButton);
      } else {
        document.getElementById("whole-controls").appendChild(stopButton);
      }
    }

    function start(part) {
      clearError();
      if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        fail(words.wordsNoRecorder); return;
      }
      var hasWhole = !!document.querySelector("#take-whole audio").getAttribute("src");
      var hasParts = paragraphs.some(function (p) { return !!p.querySelector("audio").getAttribute("src"); });
      if (part === "whole" && hasParts && !window.confirm(words.wordsReplaceParts)) { return; }
      if (part !== "whole" && hasWhole && !window.confirm(words.wordsReplaceWhole)) { return; }
      navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: true } })
        .then(function (stream) {
          var type = pickType();
          var recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
          var uploader = new Uploader(part, recorder.mimeType || type || "audio/webm");
          var stopMeter = meterLoop(stream);
          session = { part: part, recorder: recorder, uploader: uploader, stream: stream, index: 0, started: Date.now() };
          recorder.addEventListener("dataavailable", function (e) { uploader.add(e.data); });
          recorder.addEventListener("stop", function () {
            stopMeter();
            stream.getTracks().forEach(function (t) { t.stop(); });
            finish(uploader, part);
          });
          recorder.start(CHUNK_MS);
          session.keepAwake = setInterval(function () {
            document.dispatchEvent(new CustomEvent("storyteller:busy"));  // recording is not idling
            if (Date.now() - session.started > Number(words.maxSeconds) * 1000) { fail(words.wordsTooLong); stop(); }
          }, 1000);
          setBusy(true, part);
          highlight(part === "whole" ? 0 : part);
          say(words.wordsRecording);
        })
        .catch(function () { fail(words.wordsNoMic); });
    }

    function stop() {
      if (!session) { return; }
      clearInterval(session.keepAwake);
      if (session.recorder.state !== "inactive") { session.recorder.stop(); }
      session = null;
    }

    function finish(uploader, part) {
      say(words.wordsSaving);
      uploader.drained().then(function () {
        setBusy(false, part);
        highlight(-1);
        if (uploader.failed) { say(""); return; }
        if (uploader.take === null) { say(""); fail(words.wordsNoMic); return; }
        var data = new FormData();
        data.append("take", String(uploader.take));
        return window.storyteller.send(box.dataset.finishUrl, { method: "POST", body: data })
          .then(function (r) { return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; }); })
          .then(function (result) {
            if (!result.ok) { say(""); fail(result.answer.message); return; }
            showTake(result.answer);
            say(words.wordsSaved);
          });
      }).catch(function () { say(words.wordsOffline); });
    }

    function showTake(take) {
      var audio;
      if (take.part === "whole") {
        paragraphs.forEach(function (p) { clearPart(p); });
        document.getElementById("take-whole").hidden = false;
        audio = document.querySelector("#take-whole audio");
      } else {
        var whole = document.querySelector("#take-whole audio");
        whole.removeAttribute("src"); document.getElementById("take-whole").hidden = true;
        var p = paragraphs[take.part];
        var state = p.querySelector(".take-state");
        state.textContent = box.dataset.wordsRecorded || state.textContent;
        state.classList.add("done");
        audio = p.querySelector("audio");
        audio.hidden = false;
      }
      audio.src = take.url;
      audio.focus();
      var next = document.getElementById("to-pictures");  // with a take, going on is the main action
      if (next) { next.classList.remove("secondary"); next.classList.add("primary"); }
    }
    function clearPart(p) {
      var audio = p.querySelector("audio");
      audio.removeAttribute("src"); audio.hidden = true;
      var state = p.querySelector(".take-state");
      state.textContent = ""; state.classList.remove("done");
    }

    wholeButton.addEventListener("click", function () { start("whole"); });
    stopButton.addEventListener("click", stop);
    nextButton.addEventListener("click", function () {
      if (!session) { return; }
      session.index = Math.min(paragraphs.length - 1, session.index + 1);
      highlight(session.index);
    });
    Array.prototype.forEach.call(document.querySelectorAll(".record-part"), function (b) {
      b.addEventListener("click", function () { start(Number(b.dataset.part)); });
    });
    // Leaving mid-recording (Exit, Lock): stop, and let the page wait for the last chunks.
    // A closed tab stops too; the server keeps whatever arrived as her take.
    document.addEventListener("storyteller:save", function (e) {
      if (!session) { return; }
      var uploader = session.uploader;
      var flushed = new Promise(function (resolve) {
        session.recorder.addEventListener("stop", function () { setTimeout(resolve, 0); });
      });
      stop();
      e.detail.pending.push(flushed.then(function () { return uploader.drained(); }));
    });
    window.addEventListener("pagehide", stop);
  });
})();
