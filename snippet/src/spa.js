/*
 * Pageviews of single-page apps: one per real URL change through the history API.
 * pushState and replaceState are wrapped; popstate covers Back and Forward. The fragment is not
 * part of the URL unless the site sets `hash` (then hashchange counts too). Comparing with the
 * last URL seen is what keeps one Back press (popstate + hashchange) to one pageview.
 */
__MICROCV_MODULE__(() => {
  const current = () => loc.href.replace(cfg._hash ? '' : /#.*/, '');
  let last = current();
  const check = guard(() => last != (last = current()) && navigate());
  for (const method of ['pushState', 'replaceState']) {
    const original = history[method];
    history[method] = function () {
      try {
        return original.apply(this, arguments);
      } finally {
        check();
      }
    };
  }
  on('popstate', check, w);
  if (cfg._hash) on('hashchange', check, w);
});
