// A show/hide toggle under every password field, so people can check what they typed (NIST SP
// 800-63B-4 §3.1.1.2 asks verifiers to offer it). The labels come translated from the body's
// data-show / data-hide attributes. Without JavaScript the fields stay as they are.
(function () {
  var show = document.body.getAttribute("data-show") || "Show";
  var hide = document.body.getAttribute("data-hide") || "Hide";
  var fields = document.querySelectorAll('input[type="password"]');
  Array.prototype.forEach.call(fields, function (input) {
    var wrap = document.createElement("div");
    wrap.className = "pw-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "pw-toggle";
    btn.textContent = show;
    btn.setAttribute("aria-controls", input.id);
    btn.setAttribute("aria-pressed", "false");
    btn.addEventListener("click", function () {
      var visible = input.type === "text";
      input.type = visible ? "password" : "text";
      btn.textContent = visible ? show : hide;
      btn.setAttribute("aria-pressed", visible ? "false" : "true");
      input.focus();
    });
    wrap.appendChild(btn);
    // Never leave a typed password visible in the page a form posts from.
    if (input.form) input.form.addEventListener("submit", function () { input.type = "password"; });
  });
})();
