/*
 * Engaged time: time with the page visible and the visitor active (a scroll, click, key or
 * pointer move at most 15 s before), reported in ms when the page is hidden or the pageview
 * ends. A pageview may report several times (the tab hidden, then shown again); its engaged
 * time is the sum.
 */
__MICROCV_MODULE__(() => {
  let total, last;
  const active = () => {
    const now = Date.now();
    total += Math.min(now - last, 15000);
    last = now;
  };
  for (const type of ['scroll', 'click', 'keydown', 'mousemove', 'touchstart']) on(type, active);
  on('visibilitychange', () => {
    last = Date.now();
  });
  views.push(() => {
    total = 0;
    last = Date.now();
  });
  leaves.push(() => {
    active();
    if (total) track('engaged', undefined, {ms: total});
    total = 0;
  });
});
