// Storyteller page behaviour. No inline scripts: the CSP allows only this file.
(function () {
  "use strict";

  // Quick exit: Esc or the button replaces this page, so Back does not return to it.
  function quickExit(event) {
    if (event) { event.preventDefault(); }
    document.body.style.visibility = "hidden";
    window.location.replace(document.getElementById("quick-exit").href);
  }
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { quickExit(e); } });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("#quick-exit")) { quickExit(e); }
  });

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
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
      fetch(box.dataset.cancelUrl, { method: "POST", headers: { "X-CSRFToken": csrfToken() } })
        .then(function (r) { return r.json(); }).then(show);
    });
    poll();
    timer = setInterval(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("job");
    if (box) { watchJob(box); }
  });
})();
