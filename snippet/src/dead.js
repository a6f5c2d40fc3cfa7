/*
 * Dead clicks: a click on something clickable (a link, a button, a tagged element) after which,
 * within a second, the document did not change, the URL did not change and the page was not
 * left. Links that open elsewhere (target) are not dead; a link's dead click carries the link
 * as a click does, and the collector drops it when the link is a download or an outbound link
 * (collector/links.py), which leave the document as it was.
 */
__MICROCV_MODULE__(() => {
  let changed = 0;
  new MutationObserver(() => {
    changed = now();
  }).observe(d.documentElement, {childList: 1, subtree: 1, attributes: 1, characterData: 1});
  on('click', (ev) => {
    let el = hit(ev).closest(CLICKABLE + ',[data-mcv]');
    let at = now();
    let url = loc.href;
    if (el && !el.target) {
      setTimeout(guard(() => {
        if (changed < at && loc.href == url && !d.hidden) track('dead_click', undefined, about(el));
      }), 1000);
    }
  });
});
