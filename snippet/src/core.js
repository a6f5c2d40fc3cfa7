/*
 * microcv tag, core: pageviews, the click dispatcher, privacy switches, delivery and the API.
 *
 * Design goals: small (make tag-size prints every variant's gzip -9 size), never harms the host
 * page (every entry point from the browser goes through guard(), nothing is prevented or
 * delayed), one source for every site: the generator fills the site's config into the one
 * __MICROCV_CONFIG__() placeholder and the modules of the features the site enables into
 * __MICROCV_MODULES__ (snippet/bundle.py). The build (snippet/build.mjs) mangles every property
 * that starts with "_" the same way in all files: the hub below and the config keys (cfg._site
 * is what the generator writes as the site id; snippet/dist/names.json has the short names).
 *
 * A feature module is a function (hub, cfg, track, on, w, d) called once at start. It hooks in
 * through the hub: hub._clicks (click handlers, in order; the first that returns a truthy value
 * is credited with the click), hub._views (run at each new pageview, before it is sent),
 * hub._leaves (run when the page is hidden, with 1 when the pageview ends), hub._api (extra
 * commands of microcv(...)) and hub._extra (props added to every later event).
 *
 * Wire format (owned by collector/schema.py), sent as a text/plain body so no CORS preflight:
 *   {"v":1,"s":site,"t":sendTimeMs,"e":[{"i","k","n","ts","u","r","pv","p"}, ...]}
 */
((w, d, nav, loc) => {
  const cfg = __MICROCV_CONFIG__();
  // Frameworks re-run inline scripts: a second copy would double every listener and event.
  if (w.__microcv) return;
  w.__microcv = 1;
  // A visitor who asked not to be tracked, or a browser driven by automation (unless the site
  // allows it), gets a tag that sends nothing; the page's calls go nowhere harmlessly.
  if (nav.globalPrivacyControl || (cfg._dnt && nav.doNotTrack == 1) ||
    (nav.webdriver && !cfg._allow_webdriver)) {
    w.microcv = () => 0;
    return;
  }
  // Each call from the browser goes through here: a bug in the tag must not reach the host page.
  const guard = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (_) {
      // swallowed on purpose
    }
  };
  // Chromium treats touch and wheel listeners on the document as passive without being asked.
  const on = (target, type, fn, capture) => target.addEventListener(type, guard(fn), capture);
  const run = (hooks, arg) => hooks.map((fn) => guard(fn)(arg));
  // 128 random bits; getRandomValues exists in every context, randomUUID only in secure ones.
  const uid = () => crypto.getRandomValues(new Uint32Array(4)).join('');
  // The collector counts characters as code points: never cut a surrogate pair in two.
  const clip = (s, max) => [...('' + s)].slice(0, max).join('');
  // An external tag posts to the collector it was loaded from; an inline one is told where.
  const endpoint = cfg._endpoint || new URL('../collect', d.currentScript.src).href;
  const batch = cfg._batch_size || 10;
  // Bytes: the collector's body limit and the browser's in-flight keepalive budget.
  const LIMIT = 65536;
  const STORE = 'microcv:' + cfg._site;
  const queue = [];
  // hub._held: events held back (the consent module's), in memory only.
  const hub = {_clicks: [], _views: [], _leaves: [], _api: {}, _guard: guard};
  // Once the page is hidden it may never run again: every event goes out at once.
  let hidden, timer, pageview, page;
  let inflight = 0;
  let referrer = d.referrer;

  // Keeps what the schema accepts (strings, finite numbers, booleans), at most 20 of them.
  const cleanProps = (raw) => {
    const kept = Object.entries(raw)
      .filter(([, v]) => typeof v == 'string' || (typeof v != 'object' && isFinite(v)))
      .slice(0, 20);
    if (kept.length) {
      return Object.fromEntries(kept.map(([k, v]) => [clip(k, 64), typeof v == 'string' ? clip(v, 500) : v]));
    }
  };

  const track = (kind, name, props) => {
    const e = {i: uid(), k: kind, ts: Date.now(), u: page, pv: pageview};
    if (name) e.n = clip(name, 100);
    if (referrer) e.r = referrer;
    if ((props = cleanProps({...hub._extra, ...props}))) e.p = props;
    enqueue(e);
  };

  const enqueue = (e) => {
    const held = hub._held;
    if (held) {
      if (held.length < 100) held.push(e);
    } else {
      queue.push(e);
      if (hidden || queue.length >= batch) flush();
      else timer = timer || setTimeout(guard(flush), cfg._flush_ms || 1000);
    }
  };

  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    while (queue.length) send(queue.splice(0, batch));
  };

  const send = (events) => {
    const body = JSON.stringify({v: 1, s: cfg._site, t: Date.now(), e: events});
    const size = new Blob([body]).size;
    const half = events.length >> 1;
    const keepalive = inflight + size < LIMIT;
    try {
      // sendBeacon returns false when the browser will not queue the body (size, quota).
      if (size < LIMIT && nav.sendBeacon(endpoint, body)) return;
    } catch (_) {
      // fall through
    }
    // A refused batch is split. A refused single event on a page going away is stored for the
    // next page (a keepalive fetch would meet the same full budget, a plain one be cancelled);
    // on a visible page it goes by fetch, with keepalive while it fits the budget.
    if (half) {
      send(events.slice(0, half));
      send(events.slice(half));
    } else if (hidden) {
      store(events);
    } else {
      if (keepalive) inflight += size;
      fetch(endpoint, {method: 'POST', body: body, keepalive: keepalive})
        // A 4xx would be refused again; only an unavailable collector is worth a retry.
        .then((r) => r.status < 500 && r.status != 429, () => 0)
        .then((ok) => {
          if (keepalive) inflight -= size;
          if (!ok) store(events);
        });
    }
  };

  // Failed sends wait in first-party storage, at most 50 events younger than a day (the
  // collector refuses older ones), and go out once from the next page with their ids unchanged.
  const stored = () => JSON.parse(localStorage[STORE] || '[]');
  const store = (events) => {
    try {
      localStorage[STORE] = JSON.stringify(
        stored().concat(events).filter((e) => e.ts > Date.now() - 8e7).slice(-50));
    } catch (_) {
      // storage may be full or disabled: the events are lost rather than the page disturbed
    }
  };

  const view = () => {
    pageview = uid();
    page = clip(loc.href, 2048);
    run(hub._views);
    track('pageview');
  };

  // A new URL without a new document (history API): the old pageview ends, a new one starts.
  hub._navigate = () => {
    run(hub._leaves, 1);
    referrer = page;
    view();
  };

  // One click (or middle click) is credited to at most one handler, the first that claims it:
  // the modules are assembled so that tagged elements come first, then downloads, then
  // outbound links, then untagged links and buttons. hub._credited says which it was.
  const dispatch = (ev) => {
    let t = ev.target;
    // Text nodes have no closest(); start from their parent element.
    if (t.nodeType != 1) t = t.parentElement;
    hub._credited = 0;
    if (ev.type == 'click' || ev.button == 1) {
      hub._clicks.some((fn) => (hub._credited = fn(t, ev)));
    }
  };

  const command = (name, a, b) => {
    if (name == 'event') {
      if (a) track('custom', a, b);
    } else if (hub._api[name]) {
      hub._api[name](a, b);
    }
  };

  // The page is hidden (tab switched, app backgrounded) or, with ending = 1, left.
  const hide = (ending) => {
    hidden = 1;
    run(hub._leaves, ending);
    flush();
  };

  const start = () => {
    on(d, 'click', dispatch, 1);
    on(d, 'auxclick', dispatch, 1);
    [__MICROCV_MODULES__].map((module) => guard(module)(hub, cfg, track, on, w, d));
    // visibilitychange + pagehide, never unload: unload is unreliable on mobile and blocks the
    // back/forward cache. A page restored from that cache is a new pageview.
    on(d, 'visibilitychange', () => {
      hidden = d.visibilityState == 'hidden';
      if (hidden) hide();
    });
    on(w, 'pagehide', () => hide(1));
    on(w, 'pageshow', (ev) => {
      hidden = 0;
      if (ev.persisted) view();
    });
    try {
      const kept = stored();
      delete localStorage[STORE];
      kept.map(enqueue);
    } catch (_) {
      // nothing to resend
    }
    hub._enqueue = enqueue;
    view();
    // Calls the page queued with the stub before the tag ran.
    const queued = (w.microcv || 0).q || [];
    w.microcv = guard(command);
    queued.map((args) => w.microcv(...args));
  };

  // A prerendered page sends nothing until the visitor actually opens it.
  if (d.prerendering) on(d, 'prerenderingchange', start);
  else guard(start)();
})(window, document, navigator, location);
