// Phone pages: a file from the phone's recorder or camera goes to the laptop in pieces.
// Each piece is sent at the offset the laptop has; a piece that did not arrive is sent
// again. The upload's id is remembered (by the file's name, size and date) so that a page
// reloaded mid-upload, or a phone that lost the Wi-Fi, goes on where the laptop got to.
(function () {
  "use strict";
  var RETRY_MS = 2000;

  function fileKey(kind, file) {
    return "storyteller-upload:" + kind + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }
  function remembered(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function remember(key, token) {
    try { if (token) { window.localStorage.setItem(key, token); } else { window.localStorage.removeItem(key); } } catch (e) { /* private mode: no resume after reload */ }
  }

  function setUp(box) {
    var words = box.dataset;
    var input = box.querySelector("input[type=file]");
    var bar = box.querySelector("progress");
    var status = box.querySelector(".status");
    var errorBox = box.querySelector(".error");
    var chunk = Number(words.chunkBytes);

    function url(name, token) { return words[name].replace("TOKEN", encodeURIComponent(token)); }
    function say(text) { status.textContent = text; }
    function fail(text) { errorBox.textContent = text; errorBox.hidden = false; say(""); bar.hidden = true; input.disabled = false; }
    function show(sent, total) { bar.hidden = false; bar.value = Math.floor(100 * sent / total); }
    function answer(r) {
      if (r.status === 401) { return Promise.reject({ locked: true }); }
      return r.json().then(function (data) { return { status: r.status, data: data }; }, function () { return { status: r.status, data: {} }; });
    }
    function post(address, fields) {
      var data = new FormData();
      Object.keys(fields).forEach(function (k) { data.append(k, fields[k]); });
      return window.storyteller.send(address, { method: "POST", body: data }).then(answer);
    }
    // Network trouble: wait and try the same step again; a locked session stops here.
    function patiently(step) {
      return step().catch(function (problem) {
        if (problem && problem.locked) { throw problem; }
        say(words.wordsOffline);
        return new Promise(function (resolve) { setTimeout(resolve, RETRY_MS); }).then(function () { return patiently(step); });
      });
    }

    function begin(file, key) {
      var token = remembered(key);
      if (token) {
        return patiently(function () { return window.storyteller.send(url("statusUrl", token)).then(answer); }).then(function (r) {
          if (r.status === 200) { say(words.wordsResuming); return { token: token, size: r.data.size }; }
          remember(key, null);
          return begin(file, key);
        });
      }
      return patiently(function () {
        return post(words.startUrl, { kind: words.kind, size: String(file.size), name: file.name, type: file.type || "" });
      }).then(function (r) {
        if (r.status !== 200) { throw { message: r.data.message || "" }; }
        remember(key, r.data.upload);
        return { token: r.data.upload, size: 0 };
      });
    }

    function sendFrom(file, token, offset) {
      show(offset, file.size);
      if (offset >= file.size) { return Promise.resolve(); }
      var piece = file.slice(offset, Math.min(file.size, offset + chunk));
      return patiently(function () {
        var data = new FormData();
        data.append("offset", String(offset));
        data.append("piece", piece, "piece");
        return window.storyteller.send(url("pieceUrl", token), { method: "POST", body: data }).then(answer);
      }).then(function (r) {
        if (r.status === 200 || r.status === 409) {
          say(words.wordsSending);
          document.dispatchEvent(new CustomEvent("storyteller:busy"));  // sending is not idling: no idle lock mid-upload
          return sendFrom(file, token, r.data.size);
        }
        throw { message: r.data.message || "", forget: true };
      });
    }

    // The laptop checks that all of it arrived; if a piece is missing it says from where to resend.
    function finish(file, token) {
      say(words.wordsChecking);
      return patiently(function () { return post(url("finishUrl", token), {}); }).then(function (r) {
        if (r.status === 409 && r.data.size !== undefined) {
          return sendFrom(file, token, r.data.size).then(function () { return finish(file, token); });
        }
        return r;
      });
    }

    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      errorBox.hidden = true;
      if (!file) { return; }
      if (file.size > Number(words.maxBytes)) { fail(words.wordsTooLarge); input.value = ""; return; }
      var key = fileKey(words.kind, file);
      input.disabled = true;
      say(words.wordsSending);
      var token = null;
      begin(file, key).then(function (started) {
        token = started.token;
        return sendFrom(file, token, started.size);
      }).then(function () {
        return finish(file, token);
      }).then(function (r) {
        remember(key, null);
        if (r.status !== 200) { throw { message: r.data.message || "" }; }
        // Reload to show what was added; the message comes with it.
        window.sessionStorage.setItem("storyteller-said", r.data.message || "");
        window.location.reload();
      }).catch(function (problem) {
        if (problem && problem.locked) { fail(words.wordsLocked); return; }
        if (problem && problem.forget) { remember(key, null); }
        fail((problem && problem.message) || words.wordsOffline);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var said = window.sessionStorage.getItem("storyteller-said");
    if (said) {
      window.sessionStorage.removeItem("storyteller-said");
      var note = document.createElement("p");
      note.className = "flash"; note.setAttribute("role", "status"); note.id = "upload-done"; note.textContent = said;
      document.querySelector("main").insertBefore(note, document.querySelector("main").firstChild);
    }
    Array.prototype.forEach.call(document.querySelectorAll(".phone-upload"), setUp);
  });
})();
