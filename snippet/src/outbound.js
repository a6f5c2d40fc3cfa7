/*
 * Outbound links: a link to another host, by left, middle or modifier click, each once.
 * Nothing is prevented or delayed: the browser navigates (or opens the tab) as without the tag,
 * and the event goes out with the page-hide flush.
 */
__MICROCV_MODULE__(() => {
  clicks.push((t, ev, a, url) => {
    if (url && /^http/.test(url.protocol) && url.host != loc.host) {
      return track('outbound', url.hostname, {url: url.origin + url.pathname});
    }
  });
});
