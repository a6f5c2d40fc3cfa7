/*
 * Element visibility: for each selector in the site's `visible` table, an element at least half
 * visible for a second sends a visible event under the configured name, once per pageview.
 * Elements are looked for at each pageview and again when the document changes (a framework
 * rendering the route after pushState), at most once every half second. Observing an element
 * that is observed already changes nothing, so a scan needs no list of what it found before.
 */
__MICROCV_MODULE__(() => {
  let wanted = cfg._visible;
  // seen: names sent this pageview; timers: element -> its pending one-second timer.
  let seen, timers, scan;
  let observer = new IntersectionObserver(guard((entries) => {
    for (let {target, intersectionRatio} of entries) {
      clearTimeout(timers.get(target));
      timers.set(target, intersectionRatio >= 0.5 && setTimeout(guard(() => {
        for (let s in wanted) {
          let name = wanted[s];
          if (target.matches(s) && !seen[name]) track('visible', seen[name] = name);
        }
      }), 1000));
    }
  }), {threshold: 0.5});

  let find = () => {
    scan = 0;
    for (let s in wanted) for (let el of d.querySelectorAll(s)) observer.observe(el);
  };

  views.push(() => {
    observer.disconnect();
    seen = {};
    timers = new Map();
    find();
  });
  new MutationObserver(() => {
    scan ||= setTimeout(guard(find), 500);
  }).observe(d.documentElement, {childList: 1, subtree: 1});
});
