/*
 * Element visibility: for each selector in the site's `visible` table, an element at least half
 * visible for a second sends a visible event under the configured name, once per pageview.
 * Elements are looked for at each pageview and again when the document changes (a framework
 * rendering the route after pushState), at most once every half second.
 */
__MICROCV_MODULE__(() => {
  let wanted = cfg._visible;
  // observed: this pageview's elements -> {n: name, t: timer}.
  let seen, observed, scan;
  let observer = new IntersectionObserver(guard((entries) => {
    for (let entry of entries) {
      let o = observed.get(entry.target);
      clearTimeout(o.t);
      if (entry.intersectionRatio >= 0.5) {
        o.t = setTimeout(guard(() => seen[o.n] || track('visible', seen[o.n] = o.n)), 1000);
      }
    }
  }), {threshold: 0.5});

  let find = () => {
    scan = 0;
    for (let s in wanted) {
      for (let el of d.querySelectorAll(s)) {
        if (!observed.has(el)) {
          observed.set(el, {n: wanted[s]});
          observer.observe(el);
        }
      }
    }
  };

  views.push(() => {
    observer.disconnect();
    seen = {};
    observed = new Map();
    find();
  });
  new MutationObserver(() => {
    scan = scan || setTimeout(guard(find), 500);
  }).observe(d.documentElement, {childList: 1, subtree: 1});
});
