// Copy and download of the recovery codes page. The codes never leave the browser.
(function () {
  var text = document.getElementById("recovery-text");
  var status = document.getElementById("copy-status");
  var copy = document.getElementById("copy-codes");
  var dl = document.getElementById("download-codes");
  if (!text) return;
  // The page's language: the messages come translated in the copy button's data attributes.
  function msg(key, fallback) { return (copy && copy.dataset[key]) || fallback; }
  // "Continue" waits until the person says the codes are saved.
  var saved = document.getElementById("saved");
  var next = document.getElementById("continue");
  if (saved && next) {
    var sync = function () {
      next.setAttribute("aria-disabled", saved.checked ? "false" : "true");
      next.classList.toggle("disabled", !saved.checked);
    };
    next.addEventListener("click", function (ev) {
      if (!saved.checked) {
        ev.preventDefault();
        say(msg("tick", "Tick the box once your recovery codes are saved."));
        saved.focus();
      }
    });
    saved.addEventListener("change", sync);
    sync();
  }
  function say(msg) { if (status) status.textContent = msg; }
  if (copy) copy.addEventListener("click", function () {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text.value).then(function () { say(msg("copied", "Copied.")); }, function () { say(msg("copyFailed", "Copy failed: select the codes and copy them.")); });
    } else {
      say(msg("copyUnavailable", "Copy is not available: select the codes and copy them."));
    }
  });
  if (dl) dl.addEventListener("click", function () {
    var url = URL.createObjectURL(new Blob([text.value], { type: "text/plain" }));
    var a = document.createElement("a");
    a.href = url;
    a.download = "recovery-codes.txt";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    say(msg("downloaded", "Downloaded."));
  });
})();
