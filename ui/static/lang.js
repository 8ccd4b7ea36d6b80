// The language switch keeps the person where they are: it adds the flow's identifiers (the auth
// request, the page handle) from this page's forms, and the query of a page reached by a link, to
// the ?lang= link. Without JavaScript the link still switches the language, on the page's path.
(function () {
  var nav = document.getElementById("langs");
  if (!nav) return;
  nav.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a[hreflang]") : null;
    if (!a) return;
    var target = new URL(a.getAttribute("href"), window.location.href);
    var here = new URL(window.location.href);
    if (here.pathname === target.pathname) {
      here.searchParams.forEach(function (v, k) { if (k !== "lang") target.searchParams.set(k, v); });
    }
    ["authRequestID", "h"].forEach(function (name) {
      var input = document.querySelector('form input[type="hidden"][name="' + name + '"]');
      if (input && input.value && !target.searchParams.has(name)) target.searchParams.set(name, input.value);
    });
    ev.preventDefault();
    window.location.assign(target.toString());
  });
})();
