/*
 * Scroll depth: milestones (25/50/75/90/100 by default) once per pageview, on the element that
 * really scrolls: the document, or an element at least half the window tall (the site's
 * scroll_root selector, when set, is the only one measured). Milestones are checked on scroll
 * only, so a page that cannot scroll, or was not scrolled, sends none: it is never counted as
 * 100 %. Fired milestones stay fired when the page grows (infinite scroll); a new pageview
 * starts over. When the page is hidden, the deepest point reached is reported (scroll "max",
 * {depth}) if it grew since the last report; scroll_max = false turns that off.
 */
__MICROCV_MODULE__(() => {
  let marks = cfg._scroll_milestones || [25, 50, 75, 90, 100];
  // next: the index of the next milestone in marks.
  let next, deepest, reported;

  views.push(() => {
    next = deepest = reported = 0;
  });

  // Scroll events do not bubble; the capture phase sees every element's. Browsers fire them
  // at most once a frame, so there is nothing to throttle.
  on('scroll', (ev) => {
    // The document's scrolls are its scrollingElement's.
    let el = ev.target.scrollingElement || ev.target;
    let height = el.scrollHeight;
    let view = el.clientHeight;
    // ROOT: the site set scroll_root (snippet/build.mjs builds scroll.root.js for it).
    if (height > view && (ROOT ? el.matches(cfg._scroll_root) : view * 2 > innerHeight)) {
      // 2 px of slack: with zoom or fractional scrolling the bottom is often a pixel short.
      let depth = Math.min(100, (el.scrollTop + view + 2) * 100 / height);
      deepest = Math.max(deepest, depth);
      // The milestone's number is the name (track makes it a string).
      while (depth >= marks[next]) track('scroll', marks[next++]);
    }
  });

  // NOMAX: the site set scroll_max = false (scroll.nomax.js).
  if (!NOMAX) {
    leaves.push(() => {
      if (deepest > reported) track('scroll', 'max', {depth: Math.round(reported = deepest)});
    });
  }
});
