/*
 * Engaged time: time with the page visible and the visitor active (a scroll, click, key or
 * pointer move at most 15 s before), reported in ms when the page is hidden or the pageview
 * ends. A pageview may report several times (the tab hidden, then shown again); its engaged
 * time is the sum.
 */
__MICROCV_MODULE__(function (hub, cfg, track, on, w, d) {
  var total, last;

  function active() {
    var now = Date.now();
    total += Math.min(now - last, 15000);
    last = now;
  }

  ['scroll', 'click', 'keydown', 'mousemove', 'touchstart'].forEach(function (type) {
    on(d, type, active, 1);
  });
  on(d, 'visibilitychange', function () {
    last = Date.now();
  });
  hub._views.push(function () {
    total = 0;
    last = Date.now();
  });
  hub._leaves.push(function () {
    active();
    if (total) track('engaged', '', {ms: total});
    total = 0;
  });
});
