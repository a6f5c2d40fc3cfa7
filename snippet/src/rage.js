/*
 * Rage clicks: three or more clicks within a second, each within 30 px of the others, make one
 * rage_click event per burst, with the descriptor of the element and the number of clicks so far.
 */
__MICROCV_MODULE__(function (hub, cfg, track, on, w, d) {
  var burst = [];
  on(d, 'click', function (ev) {
    var now = Date.now();
    burst = burst.filter(function (c) {
      return now - c[0] < 1000 && Math.abs(c[1] - ev.clientX) < 30 && Math.abs(c[2] - ev.clientY) < 30;
    });
    burst.push([now, ev.clientX, ev.clientY]);
    var t = ev.target;
    if (burst.length == 3) track('rage_click', '', {el: hub._describe(t.nodeType == 1 ? t : t.parentElement)});
  }, 1);
});
