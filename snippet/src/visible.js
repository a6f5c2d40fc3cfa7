/*
 * Element visibility: for each selector in the site's `visible` table, an element at least half
 * visible for a second sends a visible event under the configured name, once per pageview.
 * Elements are looked for at each pageview and again when the document changes (a framework
 * rendering the route after pushState), at most once every half second.
 */
__MICROCV_MODULE__(() => {
  const wanted = cfg._visible;
  let seen, observed, selectors, timers, scan;
  const observer = new IntersectionObserver(guard((entries) => {
    for (const entry of entries) {
      const i = observed.indexOf(entry.target);
      clearTimeout(timers[i]);
      if (entry.intersectionRatio >= 0.5) {
        timers[i] = setTimeout(guard(() => {
          const name = wanted[selectors[i]];
          if (!seen[name]) {
            seen[name] = 1;
            track('visible', name);
          }
        }), 1000);
      }
    }
  }), {threshold: 0.5});

  const find = () => {
    scan = 0;
    for (const s in wanted) {
      if (seen[wanted[s]]) continue;
      for (const el of d.querySelectorAll(s)) {
        if (observed.indexOf(el) < 0) {
          observed.push(el);
          selectors.push(s);
          observer.observe(el);
        }
      }
    }
  };

  views.push(() => {
    observer.disconnect();
    seen = {};
    observed = [];
    selectors = [];
    timers = [];
    find();
  });
  new MutationObserver(() => {
    scan = scan || setTimeout(guard(find), 500);
  }).observe(d.documentElement, {childList: true, subtree: true});
});
