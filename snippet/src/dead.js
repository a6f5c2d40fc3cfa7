/*
 * Dead clicks: a click on something clickable (a link, a button, a tagged element) after which,
 * within a second, the document did not change, the URL did not change and the page was not
 * left. Downloads and links that open elsewhere (outbound, target) are not dead.
 */
__MICROCV_MODULE__(function (hub, cfg, track, on, w, d) {
  var changed = 0;
  new MutationObserver(function () {
    changed = Date.now();
  }).observe(d.documentElement, {childList: true, subtree: true, attributes: true, characterData: true});
  on(d, 'click', function (ev) {
    var t = ev.target;
    var el = (t.nodeType == 1 ? t : t.parentElement)
      .closest('a[href],button,[role=button],[data-mcv],input[type=submit],input[type=button]');
    var at = Date.now();
    var url = location.href;
    var credited = hub._credited;
    if (!el || credited == 'download' || credited == 'outbound' || el.target) return;
    setTimeout(hub._guard(function () {
      if (changed < at && location.href == url && d.visibilityState == 'visible') {
        track('dead_click', '', {el: hub._describe(el)});
      }
    }), 1000);
  }, 1);
});
