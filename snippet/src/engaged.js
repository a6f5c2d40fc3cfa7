/*
 * Engaged time: time with the page visible and the visitor active (a scroll, click, key or
 * pointer move at most 15 s before), reported in ms when the page is hidden or the pageview
 * ends. A pageview may report several times (the tab hidden, then shown again); its engaged
 * time is the sum. Activity is credited with the time since the one before it (at most 15 s),
 * since the start of the pageview for the first; after the page was hidden, the first activity
 * starts a new stretch and is credited nothing.
 */
__MICROCV_MODULE__(() => {
  // The reports when the page is hidden set both back to 0.
  let total = 0;
  let last = 0;
  let active = () => {
    total += last && Math.min(now() - last, 15000);
    last = now();
  };
  for (let type of ['scroll', 'keydown', 'pointerdown', 'pointermove']) on(type, active);
  views.push(() => {
    last = now();
  });
  leaves.push(() => {
    active();
    if (total) track('engaged', undefined, {ms: total});
    total = last = 0;
  });
});
