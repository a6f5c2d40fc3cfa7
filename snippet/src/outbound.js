/*
 * Outbound links: a link to another host, by left, middle or modifier click, each once.
 * Nothing is prevented or delayed: the browser navigates (or opens the tab) as without the tag,
 * and the event goes out with the page-hide flush.
 */
__MICROCV_MODULE__((hub, cfg, track, on, w, d) => {
  hub._clicks.push((t) => {
    const a = t.closest('a[href]');
    const url = a && new URL(a.getAttribute('href'), d.baseURI);
    if (url && /^http/.test(url.protocol) && url.host != location.host) {
      track('outbound', url.hostname, {url: url.origin + url.pathname});
      return 'outbound';
    }
  });
});
