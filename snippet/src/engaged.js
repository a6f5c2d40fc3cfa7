/*
 * Engaged time: time with the page visible and the visitor active (a scroll, click, key or
 * pointer move at most 15 s before), reported in ms when the page is hidden or the pageview
 * ends. A pageview may report several times (the tab hidden, then shown again); its engaged
 * time is the sum.
 */
__MICROCV_MODULE__(() => {
  // The reports at the end of a pageview set total back to 0 before the next one starts.
  let total = 0;
  let last;
  let now = () => {
    last = Date.now();
  };
  let active = () => {
    total += Math.min(Date.now() - last, 15000);
    now();
  };
  for (let type of ['scroll', 'click', 'keydown', 'mousemove', 'touchstart']) on(type, active);
  on('visibilitychange', now);
  views.push(now);
  leaves.push(() => {
    active();
    if (total) track('engaged', undefined, {ms: total});
    total = 0;
  });
});
