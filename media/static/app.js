// Storyteller page behaviour. No inline scripts: the CSP allows only files like this one.
(function () {
  "use strict";

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  // Every call to the server from a page: the CSRF token, and a header that tells the
  // server this is a script (a locked session then answers 401, not a sign-in page).
  function send(url, options) {
    options = options || {};
    options.headers = Object.assign({ "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" }, options.headers || {});
    options.cache = "no-store";
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  // Pages with unsaved work listen for this, save at once, and may put the promise of
  // their save in event.detail.pending; this resolves when they are all done.
  function saveEverything() {
    var pending = [];
    document.dispatchEvent(new CustomEvent("storyteller:save", { detail: { pending: pending } }));
    return Promise.all(pending.map(function (p) { return p.catch(function () {}); }));
  }

  // Leaving (Exit, Lock, the idle lock) ends her session on the server, so her last words
  // must arrive first: the screen goes blank at once, and the page waits for the save
  // (never more than a second and a half) before it goes.
  function leaveTo(url) {
    document.body.style.visibility = "hidden";
    var go = function () { window.location.replace(url); };
    Promise.race([saveEverything(), new Promise(function (resolve) { setTimeout(resolve, 1500); })]).then(go, go);
  }

  // Quick exit: the button at once; the Esc key twice (the first Esc saves and says so),
  // so a stray Esc in a text field never throws her work away.
  function quickExit(event) {
    if (event) { event.preventDefault(); }
    leaveTo(document.getElementById("quick-exit").href);
  }
  var escPressedAt = 0;
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape" || e.defaultPrevented) { return; }
    var hint = document.getElementById("esc-hint");
    if (Date.now() - escPressedAt < 3000) { quickExit(e); return; }
    escPressedAt = Date.now();
    saveEverything();
    if (hint) {
      hint.hidden = false;
      setTimeout(function () { hint.hidden = true; }, 3000);
    }
  });
  document.addEventListener("click", function (e) {
    if (!e.target.closest) { return; }
    if (e.target.closest("#quick-exit")) { quickExit(e); }
    if (e.target.closest("#lock") && document.body.dataset.lockUrl) {
      e.preventDefault();
      leaveTo(document.body.dataset.lockUrl);
    }
  });

  // A page shown again from the back-forward cache is asked for afresh, so after a lock or
  // an exit the server shows sign-in instead of her story.
  window.addEventListener("pageshow", function (e) { if (e.persisted) { window.location.reload(); } });

  // Idle lock: the server locks after the same time; this takes her story off the screen.
  function watchIdle() {
    var seconds = Number(document.body.dataset.idleSeconds || 0);
    var lockUrl = document.body.dataset.lockUrl;
    if (!seconds || !lockUrl) { return; }
    var last = Date.now();
    var told = Date.now();  // when the server last heard from this page
    function seen() {
      last = Date.now();
      // The server counts idle time from her last request; reading and moving the mouse make
      // none, so tell it now and then (at most once a minute) that she is still here.
      if (last - told > Math.min(60, seconds / 3) * 1000 && document.body.dataset.seenUrl) {
        told = last;
        send(document.body.dataset.seenUrl, { method: "POST" }).then(function (r) {
          if (r.status === 401) { leaveTo(lockUrl); }
        }, function () {});
      }
    }
    ["keydown", "pointerdown", "pointermove", "input", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, seen, { passive: true });
    });
    document.addEventListener("storyteller:busy", seen);  // e.g. a recording in progress
    setInterval(function () {
      if (Date.now() - last >= seconds * 1000) { leaveTo(lockUrl); }
    }, 1000);
  }

  // The story editor: live word count and minutes, autosave every few seconds and when
  // she leaves; two tabs never overwrite each other silently.
  function storyEditor(form) {
    var script = form.querySelector("#script");
    var title = form.querySelector("#title");
    var status = document.getElementById("save-status");
    var count = document.getElementById("word-count");
    var otherTab = document.getElementById("other-tab");
    var otherText = document.getElementById("other-tab-text");
    var revision = Number(form.dataset.revision);
    var perMinute = Number(form.dataset.wordsPerMinute);
    var dirty = false, saving = false;
    var lang = document.documentElement.lang;

    function words(text) {
      // A word has at least one letter or digit in any script; emoji alone are not words.
      var found = text.match(/[\p{L}\p{N}][\p{L}\p{N}\p{M}'’\-]*/gu);
      return found ? found.length : 0;
    }
    function showCount() {
      var n = words(script.value);
      var minutes = Math.max(0.5, Math.round(n / perMinute * 2) / 2);
      var text = form.dataset.wordsCount.replace("{words}", n.toLocaleString(lang)).replace("{minutes}", minutes.toLocaleString(lang));
      if (n === 0) { text = form.dataset.wordsNoWords; }
      else if (n > 600) { text += " — " + form.dataset.wordsLong; }
      count.textContent = text;
    }
    function body() {
      var data = new FormData();
      data.append("csrf_token", csrfToken());
      data.append("script", script.value);
      data.append("title", title.value);
      data.append("revision", String(revision));
      return data;
    }
    var inFlight = Promise.resolve();
    function save() {
      if (saving) { return inFlight.then(save); }
      if (!dirty) { return Promise.resolve(); }
      saving = true; dirty = false;
      status.textContent = form.dataset.wordsSaving;
      inFlight = send(form.action, { method: "POST", body: body() }).then(function (r) {
        if (r.status === 401) { window.location.replace(document.body.dataset.lockUrl || "/story/signin"); return null; }
        return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; });
      }).then(function (result) {
        saving = false;
        if (!result) { return; }
        if (!result.ok) { dirty = true; status.textContent = result.answer.message; return; }
        revision = result.answer.revision;
        status.textContent = form.dataset.wordsSaved;
        if (result.answer.other_tab_text) {
          otherText.value = result.answer.other_tab_text;
          otherTab.hidden = false;
        }
      }).catch(function () {
        saving = false; dirty = true;
        status.textContent = form.dataset.wordsOffline;
      });
      return inFlight;
    }
    function beacon() {
      if (!dirty) { return; }
      // The beacon's answer is never read: count its revision here, or the next save
      // would take this tab's own beacon for another tab's work.
      if (navigator.sendBeacon(form.action, body())) { dirty = false; revision += 1; }
    }
    function changed() { dirty = true; showCount(); }
    script.addEventListener("input", changed);
    title.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function (e) { e.preventDefault(); dirty = true; save(); });
    document.addEventListener("storyteller:save", function (e) { e.detail.pending.push(save()); });
    window.addEventListener("pagehide", beacon);
    document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") { beacon(); } });
    setInterval(save, 3000);
    showCount();
  }

  function watchJob(box) {
    var stage = document.getElementById("job-stage");
    var bar = document.getElementById("job-progress");
    var error = document.getElementById("job-error");
    var cancel = document.getElementById("job-cancel");
    var timer = null;
    // Words come from the page, already in the participant's language.
    function words(state) { return box.dataset["words" + state.charAt(0).toUpperCase() + state.slice(1)] || state; }

    function show(job) {
      var percent = Math.round(job.progress * 100);
      stage.textContent = words(job.state) + (job.state === "running" ? " " + percent.toLocaleString(document.documentElement.lang) + "%" : "");
      stage.dataset.state = job.state;
      bar.value = job.progress;
      if (job.error) { error.textContent = job.error; error.hidden = false; }
      if (job.finished) {
        clearInterval(timer);
        cancel.hidden = true;
        var again = document.getElementById("job-again");
        if (job.state !== "done") {
          bar.hidden = true;  // a stopped job's bar must not sit at 66% as if it were still going
          if (again) { again.hidden = false; }
        }
        if (job.video_url) {
          var video = document.getElementById("job-video");
          video.src = job.video_url;
          document.getElementById("job-result").hidden = false;
        }
      }
    }
    function poll() {
      fetch(box.dataset.statusUrl, { cache: "no-store" })
        .then(function (r) { return r.json(); }).then(show)
        .catch(function () { stage.textContent = words("offline"); });
    }
    cancel.addEventListener("click", function () {
      cancel.disabled = true;
      send(box.dataset.cancelUrl, { method: "POST" })
        .then(function (r) { return r.json(); }).then(show);
    });
    poll();
    timer = setInterval(poll, 1000);
  }

  // Styled file pickers (.file-pick): say which file she chose, in the page's own words.
  document.addEventListener("change", function (e) {
    var pick = e.target.closest && e.target.closest(".file-pick");
    if (!pick || !e.target.files) { return; }
    var name = pick.querySelector(".file-name");
    if (name && e.target.files.length) { name.textContent = e.target.files[0].name; }
  });

  window.storyteller = { send: send, csrfToken: csrfToken, saveEverything: saveEverything };

  document.addEventListener("DOMContentLoaded", function () {
    watchIdle();
    var box = document.getElementById("job");
    if (box) { watchJob(box); }
    var editor = document.getElementById("story-editor");
    if (editor) { storyEditor(editor); }
  });
})();
