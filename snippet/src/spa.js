/*
 * Pageviews of single-page apps: one per real URL change through the history API.
 * pushState and replaceState are wrapped; popstate covers Back and Forward, and every fragment
 * navigation too (a link to #tab, location.hash = ...: browsers fire popstate before
 * hashchange), so hashchange needs no listener. The fragment is not part of the URL unless the
 * site sets `hash`. Comparing with the last URL seen keeps a hash-only change to no pageview
 * without `hash`.
 */
__MICROCV_MODULE__(() => {
  // HASH: the site set `hash` (snippet/build.mjs builds spa.hash.js for it).
  let current = () => HASH ? loc.href : loc.href.replace(/#.*/, '');
  let last = current();
  // A new URL without a new document: the old pageview ends, a new one starts.
  let check = guard(() => last != (last = current()) && (run(leaves, 1), referrer = page, view()));
  for (let method of ['pushState', 'replaceState']) {
    let original = history[method];
    // Both return undefined; what the original throws reaches the page as without the tag.
    history[method] = (...args) => {
      original.apply(history, args);
      check();
    };
  }
  on('popstate', check);
});
