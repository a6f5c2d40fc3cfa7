/*
 * Pageviews of single-page apps: one per real URL change through the history API.
 * pushState and replaceState are wrapped; popstate covers Back and Forward. The fragment is not
 * part of the URL unless the site sets `hash` (then hashchange counts too). Comparing with the
 * last URL seen is what keeps one Back press (popstate + hashchange) to one pageview.
 */
__MICROCV_MODULE__((hub, cfg, track, on, w) => {
  const current = () => cfg._hash ? location.href : location.href.split('#')[0];
  let last = current();
  const check = hub._guard(() => {
    if (last != (last = current())) hub._navigate();
  });

  for (const method of ['pushState', 'replaceState']) {
    const original = history[method];
    history[method] = function () {
      const result = original.apply(this, arguments);
      check();
      return result;
    };
  }
  on(w, 'popstate', check);
  if (cfg._hash) on(w, 'hashchange', check);
});
