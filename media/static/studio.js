// Steps 5-10 of the journey: pictures and their masks, voice preview, subtitle editor,
// music, the video's progress and the player. No framework, no inline script (strict CSP):
// every sentence shown comes from the page's data-words-* attributes, already translated.
(function () {
  "use strict";

  // app.js's one way to call the server (CSRF token, script header); here every answer is JSON.
  function send(url, options) {
    return window.storyteller.send(url, options).then(function (response) {
      if (response.status === 401) { window.location.reload(); }  // locked: the server shows sign-in
      return response.json().catch(function () { return {}; }).then(function (data) {
        data.httpStatus = response.status;
        return data;
      });
    });
  }

  function postJSON(url, body) {
    return send(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  function withId(template, id) {
    // url_for(..., job_id=0) gives ".../work/0" or ".../work/0/stop"
    return template.replace(/\/0(?=\/|$)/, "/" + id);
  }

  function busy() { document.dispatchEvent(new CustomEvent("storyteller:busy")); }

  // Show what a job made by fetching this page again and swapping one part of it in place:
  // no navigation, so nothing she is doing elsewhere on the page is interrupted.
  function refreshPart(selector) {
    return fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(selector);
        var old = document.querySelector(selector);
        if (!fresh || !old) { window.location.reload(); return; }
        old.replaceWith(fresh);
        init(fresh);
      });
  }

  function minutesText(seconds) {
    seconds = Math.max(1, Math.round(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  // ------------------------------------------------------------ a job's progress box
  // Polls the job about once a second; the bar, the stage, the time left, Stop, and
  // "Try again" after a stop or a failure. The job lives in the database, so a reload
  // (or a server restart) finds it again through the page's data-job.
  function watchJob(box, jobId, handlers) {
    handlers = handlers || {};
    var bar = box.querySelector(".job-bar");
    var stage = box.querySelector(".job-stage");
    var eta = box.querySelector(".job-eta");
    var error = box.querySelector(".job-error");
    var stop = box.querySelector(".job-stop");
    var again = box.querySelector(".job-again");
    var started = null;
    var stopped = false;
    var last = {};
    box.hidden = false;
    box.dataset.job = jobId;
    error.hidden = true;
    again.hidden = true;
    stop.hidden = false;
    stop.disabled = false;
    bar.value = 0;
    eta.textContent = "";

    stop.onclick = function () {
      stop.disabled = true;
      send(withId(box.dataset.stopUrl, jobId), { method: "POST" });
    };
    again.onclick = function () {
      again.hidden = true;
      if (handlers.again) { handlers.again(last); }
    };

    function finish(data) {
      last = data;
      stop.hidden = true;
      eta.textContent = "";
      if (data.state === "done") {
        bar.value = 100;
        stage.textContent = data.stage_words;
        if (handlers.done) { handlers.done(data); }
        return;
      }
      if (data.state === "cancelled") {
        stage.textContent = box.dataset.wordsStopped;
      } else {
        stage.textContent = "";
        error.textContent = box.dataset.wordsFailed + " " + (data.error || "");
        error.hidden = false;
      }
      if (handlers.again) { again.hidden = false; }
    }

    function poll() {
      if (stopped) { return; }
      send(withId(box.dataset.statusUrl, jobId)).then(function (data) {
        if (data.httpStatus !== 200) { throw new Error("status " + data.httpStatus); }
        if (data.finished) { finish(data); return; }
        if (handlers.partial) { handlers.partial(data); }
        busy();
        var pct = Math.round(100 * data.progress);
        bar.value = pct;
        stage.textContent = data.stage_words + " " + pct + "%";
        if (data.progress > 0.02) {
          if (started === null) { started = { t: Date.now(), p: data.progress }; }
          var done = data.progress - started.p;
          if (done > 0.01) {
            var left = (Date.now() - started.t) / 1000 / done * (1 - data.progress);
            eta.textContent = box.dataset.wordsLeft.replace("{time}", minutesText(left));
          }
        }
        setTimeout(poll, 500);
      }).catch(function () {
        stage.textContent = box.dataset.wordsLost;
        setTimeout(poll, 3000);
      });
    }
    poll();
    return { cancel: function () { stopped = true; } };
  }

  // A job with no box of its own (a picture being checked): poll until it ends.
  function whenJobEnds(statusTemplate, jobId, then) {
    send(withId(statusTemplate, jobId)).then(function (data) {
      if (data.finished) { then(data); } else { setTimeout(function () { whenJobEnds(statusTemplate, jobId, then); }, 700); }
    }).catch(function () { setTimeout(function () { whenJobEnds(statusTemplate, jobId, then); }, 2000); });
  }

  // ------------------------------------------------------------ 5. pictures
  function pictureEditor(editor) {
    var img = editor.querySelector("img");
    var width = Number(editor.dataset.width) || 1;
    var height = Number(editor.dataset.height) || 1;
    var boxes = JSON.parse(editor.dataset.boxes || "[]");
    var add = boxes.filter(function (b) { return b[4] === "manual"; }).map(function (b) { return b.slice(0, 4); });
    var detected = boxes.filter(function (b) { return b[4] !== "manual"; }).map(function (b) { return b.slice(0, 4); });
    var remove = JSON.parse(editor.dataset.removed || "[]");

    var latestJob = null;
    var count = editor.closest(".frame").querySelector(".frame-faces");

    function checking() {
      editor.classList.add("busy");
      if (count) { count.textContent = editor.dataset.wordsChecking; }
    }

    // The masked picture comes back from the job; only the newest job's answer counts,
    // and the page is not reloaded, so a box she is drawing is never lost.
    function waitFor(jobId) {
      latestJob = String(jobId);
      checking();
      whenJobEnds(editor.dataset.statusUrl, jobId, function (data) {
        if (String(jobId) !== latestJob || (data.result && data.result.stale)) { return; }
        editor.classList.remove("busy");
        if (data.state !== "done") {
          if (count) { count.textContent = editor.dataset.wordsFailed + " " + (data.error || ""); }
          return;
        }
        if (!img) { refreshPart('.frame[data-asset="' + editor.dataset.asset + '"]'); return; }
        var boxes = data.result.boxes || [];
        detected = boxes.filter(function (b) { return b[4] !== "manual"; }).map(function (b) { return b.slice(0, 4); });
        add = boxes.filter(function (b) { return b[4] === "manual"; }).map(function (b) { return b.slice(0, 4); });
        img.src = editor.dataset.imageUrl + "&v=" + data.result.masked;
        if (count) { count.textContent = count.dataset.wordsFaces.replace("{count}", boxes.length); }
        draw();
      });
    }

    if (editor.dataset.job) { waitFor(editor.dataset.job); }
    if (!img) { return; }

    function save() {
      checking();
      postJSON(editor.dataset.boxesUrl, { add: add, remove: remove }).then(function (data) {
        if (data.job) { waitFor(data.job); }
      });
    }

    function place(el, b) {
      var sx = img.clientWidth / width, sy = img.clientHeight / height;
      el.style.left = (img.offsetLeft + b[0] * sx) + "px";
      el.style.top = (img.offsetTop + b[1] * sy) + "px";
      el.style.width = Math.max(6, (b[2] - b[0]) * sx) + "px";
      el.style.height = Math.max(6, (b[3] - b[1]) * sy) + "px";
    }

    function button(b, cls, label, onClick) {
      var el = document.createElement("button");
      el.type = "button";
      el.className = "box " + cls;
      el.setAttribute("aria-label", label);
      el.title = label;
      el.addEventListener("pointerdown", function (e) { e.stopPropagation(); });
      el.addEventListener("click", function (e) { e.preventDefault(); onClick(); });
      place(el, b);
      editor.appendChild(el);
      return el;
    }

    function same(a, b) { return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3]; }

    function draw() {
      Array.prototype.forEach.call(editor.querySelectorAll(".box:not(.placing)"), function (el) { el.remove(); });
      detected.forEach(function (b) {
        button(b, "masked", editor.dataset.wordsShow, function () {
          remove.push(b.slice(0, 4));
          detected = detected.filter(function (x) { return !same(x, b); });
          save();
          draw();
        });
      });
      add.forEach(function (b) {
        button(b, "masked", editor.dataset.wordsRemoveBox, function () { add = add.filter(function (x) { return !same(x, b); }); save(); draw(); });
      });
      remove.forEach(function (b) {
        button(b, "removed", editor.dataset.wordsCover, function () { remove = remove.filter(function (x) { return !same(x, b); }); save(); draw(); });
      });
    }

    // Covering a part with the keyboard: a box appears in the middle; the arrow keys move it,
    // Shift with the arrows makes it wider, narrower, taller or shorter; Enter keeps it.
    var keysButton = editor.parentNode.querySelector(".cover-by-keys");
    if (keysButton) {
      keysButton.addEventListener("click", function () {
        var placing = [width * 3 / 8, height * 3 / 8, width * 5 / 8, height * 5 / 8].map(Math.round);
        var el = document.createElement("div");
        el.className = "box placing";
        el.tabIndex = 0;
        el.setAttribute("role", "img");
        el.setAttribute("aria-label", keysButton.dataset.wordsPlacing);
        editor.appendChild(el);
        place(el, placing);
        el.focus();
        el.addEventListener("keydown", function (e) {
          var step = Math.max(4, Math.round(Math.min(width, height) / 50));
          var dx = { ArrowLeft: -step, ArrowRight: step }[e.key] || 0;
          var dy = { ArrowUp: -step, ArrowDown: step }[e.key] || 0;
          if (dx || dy) {
            e.preventDefault();
            if (e.shiftKey) {
              placing[2] = Math.min(width, Math.max(placing[0] + step, placing[2] + dx));
              placing[3] = Math.min(height, Math.max(placing[1] + step, placing[3] + dy));
            } else {
              dx = Math.min(width - placing[2], Math.max(-placing[0], dx));
              dy = Math.min(height - placing[3], Math.max(-placing[1], dy));
              placing = [placing[0] + dx, placing[1] + dy, placing[2] + dx, placing[3] + dy];
            }
            place(el, placing);
          } else if (e.key === "Enter") {
            e.preventDefault();
            el.remove();
            add.push(placing);
            draw();
            save();
            keysButton.focus();
          } else if (e.key === "Delete" || e.key === "Backspace") {
            el.remove();
            keysButton.focus();
          }
        });
      });
    }

    // Drawing a new box with the mouse, a finger or a pen.
    var start = null, ghost = null;
    function toPicture(e) {
      var r = img.getBoundingClientRect();
      return [Math.min(width, Math.max(0, (e.clientX - r.left) * width / r.width)),
              Math.min(height, Math.max(0, (e.clientY - r.top) * height / r.height))];
    }
    editor.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      start = toPicture(e);
      ghost = document.createElement("div");
      ghost.className = "box drawing";
      editor.appendChild(ghost);
      editor.setPointerCapture(e.pointerId);
    });
    editor.addEventListener("pointermove", function (e) {
      if (!start) { return; }
      var p = toPicture(e);
      place(ghost, [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.max(start[0], p[0]), Math.max(start[1], p[1])]);
    });
    editor.addEventListener("pointerup", function (e) {
      if (!start) { return; }
      var p = toPicture(e);
      var b = [Math.min(start[0], p[0]), Math.min(start[1], p[1]), Math.max(start[0], p[0]), Math.max(start[1], p[1])].map(Math.round);
      start = null;
      if (ghost) { ghost.remove(); ghost = null; }
      var minimum = Math.max(8, Math.min(width, height) / 60);
      if (b[2] - b[0] >= minimum && b[3] - b[1] >= minimum) {
        add.push(b);
        draw();
        save();
      }
    });

    if (img.complete) { draw(); } else { img.addEventListener("load", draw); }
    window.addEventListener("resize", draw);
  }

  function storyboard(list) {
    var status = document.getElementById("board-status");
    var dragged = null;
    list.addEventListener("dragstart", function (e) {
      dragged = e.target.closest(".frame");
      if (!dragged) { return; }
      dragged.classList.add("dragging");
      e.dataTransfer.setDragImage(dragged, 20, 20);
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", dragged.dataset.asset);
    });
    list.addEventListener("dragover", function (e) {
      var over = e.target.closest(".frame");
      if (!dragged || !over || over === dragged) { return; }
      e.preventDefault();
      Array.prototype.forEach.call(list.querySelectorAll(".drop-target"), function (el) { el.classList.remove("drop-target"); });
      over.classList.add("drop-target");
    });
    list.addEventListener("drop", function (e) {
      var over = e.target.closest(".frame");
      if (!dragged || !over || over === dragged) { return; }
      e.preventDefault();
      var frames = Array.prototype.slice.call(list.children);
      if (frames.indexOf(dragged) < frames.indexOf(over)) { over.after(dragged); } else { over.before(dragged); }
      var order = Array.prototype.map.call(list.children, function (li) { return Number(li.dataset.asset); });
      postJSON(list.dataset.orderUrl, { order: order }).then(function (data) {
        if (data.saved) {
          status.textContent = list.dataset.wordsSaved;
          refreshPart("#storyboard");  // numbers and the up/down buttons follow the new order
        } else { status.textContent = data.message || ""; }
      });
    });
    list.addEventListener("dragend", function () {
      if (dragged) { dragged.classList.remove("dragging"); }
      Array.prototype.forEach.call(list.querySelectorAll(".drop-target"), function (el) { el.classList.remove("drop-target"); });
      dragged = null;
    });
    // Choosing still or moving saves at once.
    list.addEventListener("change", function (e) {
      if (e.target.classList.contains("motion-select")) { e.target.form.submit(); }
    });
  }

  function webcam(section) {
    var startButton = document.getElementById("webcam-start");
    var view = document.getElementById("webcam-view");
    var snap = document.getElementById("webcam-snap");
    var error = document.getElementById("webcam-error");
    var form = document.getElementById("picture-form");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { section.hidden = true; return; }
    var stream = null;
    startButton.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: true, audio: false }).then(function (s) {
        stream = s;
        view.srcObject = s;
        view.hidden = false;
        snap.hidden = false;
        view.play();
      }).catch(function () {
        error.textContent = section.dataset.wordsNoCamera;
        error.hidden = false;
      });
    });
    snap.addEventListener("click", function () {
      var canvas = document.createElement("canvas");
      canvas.width = view.videoWidth;
      canvas.height = view.videoHeight;
      canvas.getContext("2d").drawImage(view, 0, 0);
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      canvas.toBlob(function (blob) {
        var data = new FormData();
        data.append("picture", blob, "camera.jpg");
        data.append("kind", "photo");
        data.append("source", "webcam");
        send(form.action, { method: "POST", body: data }).then(function (reply) {
          if (reply.httpStatus === 200) { window.location.reload(); } else {
            error.textContent = reply.message || "";
            error.hidden = false;
          }
        });
      }, "image/jpeg", 0.92);
    });
  }

  // ------------------------------------------------------------ 6. voice
  function voicePreview(section) {
    var hear = document.getElementById("hear-voice");
    var box = document.getElementById("preview-job");
    var pair = document.getElementById("preview-pair");
    if (!hear || !box) { return; }
    var before = document.getElementById("voice-before");
    var after = document.getElementById("voice-after");
    var soFar = document.getElementById("voice-so-far");
    // The synthetic voice's first sentence can be heard while the rest is made; the whole
    // ten seconds replace it when they are ready, but never while she is listening to it.
    function firstSentence(data) {
      if (!data.first_url || !pair.hidden) { return; }
      before.src = data.before_url;
      after.src = data.first_url;
      soFar.hidden = false;
      pair.hidden = false;
    }
    function show(data) {
      if (before.getAttribute("src") !== data.before_url) { before.src = data.before_url; }
      function whole() { after.src = data.after_url; soFar.hidden = true; }
      if (after.paused) { whole(); } else { after.addEventListener("ended", whole, { once: true }); }
      pair.hidden = false;
      box.hidden = true;
    }
    var handlers = { partial: firstSentence, done: show, again: start };
    function start() {
      var chosen = document.querySelector('input[name="method"]:checked');
      var data = new FormData();
      data.append("method", chosen ? chosen.value : "disguise");
      hear.disabled = true;
      pair.hidden = true;  // the last preview is not what she asked to hear now
      send(section.dataset.previewUrl, { method: "POST", body: data }).then(function (reply) {
        hear.disabled = false;
        if (reply.job) { watchJob(box, reply.job, handlers); } else { pair.hidden = !before.getAttribute("src"); }
      });
    }
    hear.addEventListener("click", start);
    if (box.dataset.job) { watchJob(box, box.dataset.job, handlers); }
  }

  // ------------------------------------------------------------ 7. subtitles
  function cueEditor(section) {
    var audio = document.getElementById("cue-audio");
    var status = document.getElementById("cue-status");
    var timer = null, stopAt = null;

    function collect(track) {
      var list = section.querySelector('.cues[data-track="' + track + '"]');
      if (!list) { return null; }
      return Array.prototype.map.call(list.querySelectorAll(".cue"), function (li) {
        return { start: Number(li.dataset.start), end: Number(li.dataset.end), text: li.querySelector(".cue-text").value,
                 doubtful: JSON.parse(li.dataset.doubtful || "[]") };
      });
    }
    function save() {
      clearTimeout(timer);
      status.textContent = section.dataset.wordsSaving;
      var body = { cues: collect("story") };
      var english = collect("english");
      if (english) { body.english = english; }
      var burn = section.querySelector('input[name="burn"]:checked');
      if (burn) { body.burn = burn.value; }
      postJSON(section.dataset.saveUrl, body).then(function (data) {
        status.textContent = data.message || "";
      }).catch(function () { timer = setTimeout(save, 3000); });
    }
    function later() { clearTimeout(timer); timer = setTimeout(save, 1500); }

    section.addEventListener("input", function (e) { if (e.target.classList.contains("cue-text")) { later(); } });
    section.addEventListener("change", function (e) { if (e.target.name === "burn") { save(); } });
    document.getElementById("save-cues").addEventListener("click", save);
    document.addEventListener("storyteller:save", function () { if (timer) { save(); } });

    section.addEventListener("click", function (e) {
      var li = e.target.closest(".cue");
      if (!li) { return; }
      var nudge = e.target.closest(".nudge");
      if (nudge) {
        var start = Number(li.dataset.start), end = Number(li.dataset.end), by = Number(nudge.dataset.by);
        if (nudge.dataset.edge === "start") { start = Math.max(0, Math.min(end - 0.2, start + by)); } else { end = Math.max(start + 0.2, end + by); }
        li.dataset.start = start.toFixed(2);
        li.dataset.end = end.toFixed(2);
        li.querySelector(".cue-start").textContent = start.toFixed(1);
        li.querySelector(".cue-end").textContent = end.toFixed(1);
        later();
        return;
      }
      if (e.target.closest(".cue-play") && audio) {
        Array.prototype.forEach.call(section.querySelectorAll(".cue.playing"), function (el) { el.classList.remove("playing"); });
        li.classList.add("playing");
        audio.currentTime = Number(li.dataset.start);
        stopAt = Number(li.dataset.end);
        audio.play();
      }
    });
    if (audio) {
      audio.addEventListener("timeupdate", function () {
        if (stopAt !== null && audio.currentTime >= stopAt) { audio.pause(); stopAt = null; }
      });
    }
  }

  // ------------------------------------------------------------ 8. music and titles
  function musicForm(form) {
    var volume = document.getElementById("volume");
    var out = document.getElementById("volume-value");
    volume.addEventListener("input", function () { out.textContent = volume.value + "%"; });
    var end = document.getElementById("end-card");
    var preview = document.getElementById("end-card-preview");
    end.addEventListener("input", function () { preview.textContent = end.value; });
  }

  // ------------------------------------------------------------ 9. render
  function renderForm(form) {
    var box = document.getElementById("render-job");
    var last = null;
    function start(quality) {
      last = quality;
      var data = new FormData(form);
      data.set("quality", quality);
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
      send(form.action, { method: "POST", body: data }).then(function (reply) {
        Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = false; });
        if (reply.job) { follow(reply.job); }
      });
    }
    function follow(jobId) {
      watchJob(box, jobId, {
        done: function () { refreshPart("#render-result"); },
        again: function (data) { start(last || data.quality || "preview"); },
      });
    }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      start(e.submitter && e.submitter.value ? e.submitter.value : "preview");
    });
    if (box.dataset.job) { follow(box.dataset.job); }
  }

  // ------------------------------------------------------------ the player
  function player(el) {
    var video = el.querySelector("video");
    var toggle = el.querySelector(".player-toggle");
    var word = el.querySelector(".player-word");
    var seek = el.querySelector(".player-seek");
    var time = el.querySelector(".player-time");
    function clock(s) { s = Math.floor(s || 0); return Math.floor(s / 60) + ":" + (s % 60 < 10 ? "0" : "") + (s % 60); }
    toggle.addEventListener("click", function () { if (video.paused) { video.play(); } else { video.pause(); } });
    video.addEventListener("click", function () { toggle.click(); });
    video.addEventListener("play", function () { word.textContent = el.dataset.wordsPause; toggle.firstElementChild.innerHTML = "&#10074;&#10074;"; busy(); });
    video.addEventListener("pause", function () { word.textContent = el.dataset.wordsPlay; toggle.firstElementChild.innerHTML = "&#9654;"; });
    video.addEventListener("timeupdate", function () {
      if (video.duration) { seek.value = Math.round(1000 * video.currentTime / video.duration); }
      time.textContent = clock(video.currentTime) + " / " + clock(video.duration);
      if (!video.paused) { busy(); }
    });
    video.addEventListener("loadedmetadata", function () { time.textContent = "0:00 / " + clock(video.duration); });
    seek.addEventListener("input", function () { if (video.duration) { video.currentTime = video.duration * seek.value / 1000; } });
  }

  // Wire up everything inside ``root``: the whole page at first, a refreshed part later.
  function init(root) {
    function each(selector, fn) {
      if (root.matches && root.matches(selector)) { fn(root); }
      Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
    }
    each(".picture-editor", pictureEditor);
    each("#storyboard", storyboard);
    each("#cue-editor", cueEditor);
    each(".player", player);
  }

  function start() {
    init(document);
    var cam = document.getElementById("webcam");
    if (cam) { webcam(cam); }
    var voice = document.getElementById("voice-preview");
    if (voice) { voicePreview(voice); }
    var subtitlesJob = document.getElementById("subtitles-job");
    if (subtitlesJob && subtitlesJob.dataset.job) {
      watchJob(subtitlesJob, subtitlesJob.dataset.job, { done: function () { refreshPart("#subtitles-area"); } });
    }
    var music = document.getElementById("music-form");
    if (music) { musicForm(music); }
    var render = document.getElementById("render-form");
    if (render) { renderForm(render); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
