/*
 * Element visibility: for each selector in the site's `visible` table, an element at least half
 * visible for a second sends a visible event under the configured name, once per pageview.
 * Elements are looked for at each pageview and again when the document changes (a framework
 * rendering the route after pushState), at most once every half second.
 */
__MICROCV_MODULE__(function (hub, cfg, track, on, w, d) {
  var wanted = cfg._visible;
  var seen, observed, selectors, timers, scan;
  var observer = new IntersectionObserver(hub._guard(function (entries) {
    entries.forEach(function (entry) {
      var i = observed.indexOf(entry.target);
      clearTimeout(timers[i]);
      if (entry.intersectionRatio >= 0.5) {
        timers[i] = setTimeout(hub._guard(function () {
          var name = wanted[selectors[i]];
          if (!seen[name]) {
            seen[name] = 1;
            track('visible', name);
          }
        }), 1000);
      }
    });
  }), {threshold: 0.5});

  function find() {
    scan = 0;
    for (var s in wanted) {
      if (seen[wanted[s]]) continue;
      [].forEach.call(d.querySelectorAll(s), function (el) {
        if (observed.indexOf(el) < 0) {
          observed.push(el);
          selectors.push(s);
          observer.observe(el);
        }
      });
    }
  }

  hub._views.push(function () {
    observer.disconnect();
    seen = {};
    observed = [];
    selectors = [];
    timers = [];
    find();
  });
  new MutationObserver(function () {
    scan = scan || setTimeout(hub._guard(find), 500);
  }).observe(d.documentElement, {childList: true, subtree: true});
});
