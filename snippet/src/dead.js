/*
 * Dead clicks: a click on something clickable (a link, a button, a tagged element) after which,
 * within a second, the document did not change, the URL did not change and the page was not
 * left. Downloads and links that open elsewhere (outbound, target) are not dead.
 */
__MICROCV_MODULE__(() => {
  let changed = 0;
  new MutationObserver(() => {
    changed = Date.now();
  }).observe(d.documentElement, {childList: true, subtree: true, attributes: true, characterData: true});
  on('click', (ev) => {
    const el = hit(ev).closest(CLICKABLE + ',[data-mcv]');
    const at = Date.now();
    const url = loc.href;
    if (!el || credited == 'download' || credited == 'outbound' || el.target) return;
    setTimeout(guard(() => {
      if (changed < at && loc.href == url && d.visibilityState == 'visible') {
        track('dead_click', undefined, {el: describe(el)});
      }
    }), 1000);
  });
});
