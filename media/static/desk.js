// The facilitator's desk: the dashboard updates itself, PIN cards print, the screening plays
// one story after another, and the laptop check asks the browser about microphone and camera.
// No inline scripts: the CSP allows only files like this one.
(function () {
  "use strict";

  function send(url, options) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    options = options || {};
    options.headers = { "X-CSRFToken": meta ? meta.content : "", "X-Requested-With": "fetch" };
    options.cache = "no-store";
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text) { e.textContent = text; }
    return e;
  }

  // -- the dashboard: every few seconds, each participant's step, status and jobs.
  function dashboard(table) {
    var warnings = document.getElementById("desk-warnings");
    function jobBox(job) {
      var box = element("div", "desk-job");
      box.dataset.state = job.state;
      box.appendChild(element("span", "", job.kind + ": " + (job.stage_words || job.state_words)));
      if (job.state === "queued" || job.state === "running" || job.state === "interrupted") {
        var bar = element("progress");
        bar.max = 1;
        bar.value = job.progress;
        bar.setAttribute("aria-label", job.kind);
        box.appendChild(bar);
      }
      if (job.error) { box.appendChild(element("span", "error", job.error)); }
      return box;
    }
    function show(data) {
      data.participants.forEach(function (p) {
        var row = table.querySelector('tr[data-participant="' + p.id + '"]');
        if (!row) { return; }  // added in another tab: the next page load shows her
        row.querySelector(".cell-step").textContent = p.step_words;
        var status = row.querySelector(".cell-status");
        status.textContent = p.status_words;
        status.dataset.status = p.status;
        var jobs = row.querySelector(".cell-jobs");
        jobs.replaceChildren.apply(jobs, p.jobs.map(jobBox));
        var voice = row.querySelector(".voice-link");  // her weaker voice request, asked or agreed
        if (voice) { voice.hidden = !p.voice; voice.dataset.voice = p.voice; }
      });
      warnings.replaceChildren.apply(warnings, data.warnings.map(function (w) {
        var p = element("p", "warning", w);
        p.setAttribute("role", "alert");
        return p;
      }));
    }
    function poll() {
      send(table.dataset.statusUrl).then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }  // locked: the sign-in page shows
        return r.ok ? r.json() : null;
      }).then(function (data) { if (data) { show(data); } }, function () {
        warnings.replaceChildren(element("p", "warning", table.dataset.wordsOffline));
      });
    }
    setInterval(poll, 3000);
  }

  // -- the screening: full screen, each video after the last; the server checks consent for each.
  function screening(screen) {
    var video = document.getElementById("screen-video");
    var status = document.getElementById("screen-status");
    var sources = Array.prototype.map.call(document.querySelectorAll("#screen-list li"), function (li) { return li.dataset.src; });
    var at = -1;
    function play(index) {
      at = index;
      if (at >= sources.length) {
        status.textContent = screen.dataset.wordsEnd;
        if (document.fullscreenElement) { document.exitFullscreen().catch(function () {}); }
        video.removeAttribute("src");
        screen.dataset.state = "ended";
        return;
      }
      status.textContent = screen.dataset.wordsCount.replace("{n}", String(at + 1)).replace("{total}", String(sources.length));
      screen.dataset.state = "playing";
      screen.dataset.index = String(at);
      video.src = sources[at];
      video.play().catch(function () {});
    }
    video.addEventListener("ended", function () { play(at + 1); });
    // A video whose consent was withdrawn a moment ago is refused by the server: go on to the next.
    video.addEventListener("error", function () { if (at >= 0 && at < sources.length) { play(at + 1); } });
    document.getElementById("screen-start").addEventListener("click", function () {
      var go = function () { play(0); };
      if (screen.requestFullscreen) { screen.requestFullscreen().then(go, go); } else { go(); }
    });
  }

  // -- the laptop check: microphone and camera as the browser sees them.
  function devices() {
    var words = document.getElementById("device-words").dataset;
    var boxes = { audioinput: document.getElementById("check-microphone"), videoinput: document.getElementById("check-camera") };
    var permissionNames = { audioinput: "microphone", videoinput: "camera" };
    function say(kind, key, good) {
      boxes[kind].textContent = words[key];
      boxes[kind].className = good ? "good" : "bad";
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
      say("audioinput", "unknown", false);
      say("videoinput", "unknown", false);
      return;
    }
    navigator.mediaDevices.enumerateDevices().then(function (list) {
      Object.keys(boxes).forEach(function (kind) {
        if (!list.some(function (d) { return d.kind === kind; })) { say(kind, "none", false); return; }
        if (!navigator.permissions) { say(kind, "foundAsk", true); return; }
        navigator.permissions.query({ name: permissionNames[kind] }).then(function (p) {
          if (p.state === "granted") { say(kind, "found", true); }
          else if (p.state === "denied") { say(kind, "denied", false); }
          else { say(kind, "foundAsk", true); }
        }, function () { say(kind, "foundAsk", true); });
      });
    }, function () {
      say("audioinput", "unknown", false);
      say("videoinput", "unknown", false);
    });
  }

  function timing(button) {
    var bar = document.getElementById("timing-progress");
    var result = document.getElementById("timing-result");
    button.addEventListener("click", function () {
      button.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      result.textContent = button.dataset.wordsWorking;
      send(button.dataset.startUrl, { method: "POST" }).then(function (r) { return r.json(); }).then(function (started) {
        var url = button.dataset.statusUrl.replace("/0.json", "/" + started.job + ".json");
        var timer = setInterval(function () {
          send(url).then(function (r) { return r.json(); }).then(function (job) {
            bar.value = job.progress;
            if (job.state === "done" || job.state === "failed" || job.state === "cancelled") {
              clearInterval(timer);
              bar.hidden = true;
              button.disabled = false;
              result.textContent = job.message || button.dataset.wordsFailed;
              result.dataset.state = job.state;
            }
          }, function () {});
        }, 1000);
      }, function () {
        button.disabled = false;
        result.textContent = button.dataset.wordsFailed;
      });
    });
  }

  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) { window.print(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("dashboard");
    if (table) { dashboard(table); }
    var screen = document.getElementById("screen");
    if (screen && document.getElementById("screen-video")) { screening(screen); }
    if (document.getElementById("device-words")) { devices(); }
    var button = document.getElementById("time-render");
    if (button) { timing(button); }
  });
})();
