(function () {
  var input = document.getElementById("filter");
  var count = document.getElementById("filter-count");
  function apply() {
    var q = input.value.trim().toLowerCase();
    var shown = 0, total = 0;
    document.querySelectorAll("details.statement").forEach(function (d) {
      total += 1;
      var hit = !q || d.dataset.search.indexOf(q) >= 0;
      d.querySelectorAll("blockquote.quote").forEach(function (b) {
        var qhit = b.dataset.search.indexOf(q) >= 0;
        if (q && qhit) { hit = true; }
      });
      d.hidden = !hit;
      if (q && hit) { d.open = true; }
      if (hit) { shown += 1; }
    });
    document.querySelectorAll("section.category").forEach(function (s) {
      s.hidden = q && !s.querySelector("details.statement:not([hidden])");
    });
    count.textContent = q ? shown + " of " + total + " statements match" : "";
  }
  input.addEventListener("input", apply);
  var m = /filter=([^&]*)/.exec(location.hash);
  if (m) { input.value = decodeURIComponent(m[1]); }
  apply();
})();
