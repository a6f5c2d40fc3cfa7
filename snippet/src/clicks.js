/*
 * Clicks (left, middle, or activated by the keyboard): on tagged elements, and untagged ones on
 * links and buttons. Also shipped for the downloads and outbound switches: the collector makes
 * a download or an outbound event of an untagged link click (collector/links.py).
 * An element is tagged by data-mcv="name" (data-mcv-* attributes become props) or by a CSS
 * selector in the site's click_rules. A click is credited to the NEAREST tagged ancestor of
 * what was hit (the element itself included): a tagged child inside a tagged parent gets the
 * click, the parent gets nothing; an element with both data-mcv and a rule takes data-mcv.
 * An untagged link or button sends a short descriptor (tag#id.class, never a value), and a
 * link what the collector needs of it (about() in the core).
 * Position is recorded for heatmaps in thousandths of the page width and document height.
 */
__MICROCV_MODULE__(() => {
  // RULES: the site has click_rules (the code for them ships only then, snippet/build.mjs).
  let rules = RULES && cfg._click_rules;
  // An invalid selector is left out rather than breaking every click.
  let selectors = RULES
    ? ['[data-mcv]', ...Object.keys(rules).filter(guard((s) => d.querySelector(s) || 1))]
    : '[data-mcv]';

  let click = (ev) => {
    // auxclick: the middle button only (not the context menu's).
    if (ev.button > 1) return;
    let t = hit(ev);
    let root = d.documentElement;
    let el = t.closest(selectors);
    let props = {};
    let name;
    if (el) {
      // data-mcv-sku="X" -> {sku: "X"}
      for (let a of el.attributes) {
        if (!a.name.indexOf('data-mcv-')) props[a.name.slice(9)] = a.value;
      }
      name = el.getAttribute('data-mcv');
      if (RULES) name ??= rules[selectors.find((s) => el.matches(s))];
    } else if (el = t.closest(CLICKABLE)) {
      props = about(el);
    } else return;
    // detail: the click count, 0 for a click activated by the keyboard (which has no position).
    if (ev.detail) {
      props.x = Math.round(ev.pageX * 1000 / root.scrollWidth);
      props.y = Math.round(ev.pageY * 1000 / root.scrollHeight);
    }
    // data-mcv="" claims the click without sending it.
    if (name != '') track('click', name, props);
  };
  on('click', click);
  on('auxclick', click);
});
