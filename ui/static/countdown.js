// Enables the "Send a new code" button when the resend cooldown is over, counting down meanwhile.
(function () {
  var btn = document.getElementById("resend");
  var span = document.getElementById("countdown");
  if (!btn) return;
  var left = parseInt(btn.getAttribute("data-wait") || "0", 10);
  if (!(left > 0)) return;
  var t = setInterval(function () {
    left -= 1;
    if (span) span.textContent = String(Math.max(left, 0));
    if (left <= 0) {
      clearInterval(t);
      btn.disabled = false;
      var hint = document.getElementById("resend-hint");
      if (hint) hint.textContent = "You can ask for a new code now.";
    }
  }, 1000);
})();
