/*
 * Clicks on tagged elements, and untagged clicks on links and buttons.
 * An element is tagged by data-mcv="name" (data-mcv-* attributes become props) or by a CSS
 * selector in the site's click_rules. A click is credited to the NEAREST tagged ancestor of
 * what was hit (the element itself included): a tagged child inside a tagged parent gets the
 * click, the parent gets nothing; an element with both data-mcv and a rule takes data-mcv.
 * Tagged elements come before the download and outbound rules; an untagged link or button comes
 * after them and sends only a short descriptor (tag#id.class, never a value).
 * Position is recorded for heatmaps in thousandths of the page width and document height.
 */
__MICROCV_MODULE__(() => {
  const rules = cfg._click_rules || {};
  // An invalid selector is left out rather than breaking every click.
  const selectors = ['[data-mcv]', ...Object.keys(rules).filter(guard((s) => d.querySelector(s) || 1))];

  const credit = (ev, name, props) => {
    const root = d.documentElement;
    if (ev.pageX || ev.pageY) {
      props.x = Math.round(ev.pageX * 1000 / root.scrollWidth);
      props.y = Math.round(ev.pageY * 1000 / root.scrollHeight);
    }
    // data-mcv="" claims the click without sending it.
    return name == '' ? 'click' : track('click', name, props);
  };

  clicks.unshift((t, ev) => {
    const el = t.closest(selectors);
    const props = {};
    if (el) {
      // data-mcv-sku="X" -> {sku: "X"}
      for (const a of el.attributes) {
        if (!a.name.indexOf('data-mcv-')) props[a.name.slice(9)] = a.value;
      }
      return credit(ev, el.getAttribute('data-mcv') ?? rules[selectors.find((s) => el.matches(s))], props);
    }
  });
  clicks.push((t, ev) => {
    const el = t.closest(CLICKABLE);
    if (el) return credit(ev, undefined, {el: describe(el)});
  });
});
