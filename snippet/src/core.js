/*
 * microcv tag, core: pageviews, privacy switches, delivery and the API.
 *
 * Design goals: small (make tag-size prints every variant's gzip -9 size, a test holds the
 * budget), never harms the host page (every entry point from the browser goes through guard(),
 * nothing is prevented or delayed), one source for every site: the generator fills the site's
 * config into the one __MICROCV_CONFIG__() placeholder and the modules of the features the site
 * enables into __MICROCV_MODULES__ (snippet/bundle.py). Code for an option that most sites leave
 * at its default is written under a build flag (WEBDRIVER here; RULES, ROOT, NOMAX, HASH in the
 * modules): snippet/build.mjs makes a file with and one without it, and the generator ships
 * the one the site's options need. What the server can decide as well is decided there: the
 * collector turns a link click into a download or an outbound event (collector/links.py), so the
 * tag carries no extension list and no host rule.
 *
 * One scope: this file is written as top-level code (snippet/build.mjs wraps the minified result
 * in a function), so that a feature module, an arrow function put into `modules` below, uses
 * the core's names directly: the build mangles them with one name cache for all files. A
 * module is run once at start (each on its own, through guard) and hooks in with views (run at
 * each new pageview, before it is sent), leaves (run when the page is hidden, with 1 when the
 * pageview ends) and api (commands of microcv(...)), or puts itself in front of track or
 * enqueue (both lets for that).
 * Properties starting with "_" are the config keys the generator writes (snippet/dist/names.json
 * has their short names).
 *
 * Wire format (owned by collector/schema.py), sent as a text/plain body so no CORS preflight:
 *   {"s":site,"cid":visitorId?,"t":sendTimeMs,"e":[{"i","k","n"?,"ts","u","r","pv","p"}, ...]}
 * without "v": the collector takes a beacon without it as version 1, which this tag speaks.
 */
// The feature modules the site enables (run by start, below).
let modules = [__MICROCV_MODULES__];
let cfg = __MICROCV_CONFIG__();
let w = window;
let d = document;
let nav = navigator;
let loc = location;
// Date.now needs no this.
let now = Date.now;
// Frameworks re-run inline scripts: a second copy would double every listener and event. The
// mark on window is the site's storage key (a tag of another site on the same page still runs).
let STORE = 'microcv:' + cfg._site;
if (w[STORE]) return;
w[STORE] = 1;
// A visitor who asked not to be tracked, or a browser driven by automation (unless the site
// allows it), gets a tag that sends nothing; the page's calls go nowhere harmlessly.
// cfg._dnt is the generator's test of Do-Not-Track, there only when the site honours it.
// WEBDRIVER: the site set allow_webdriver (core.webdriver.js).
if (nav.globalPrivacyControl || cfg._dnt || !WEBDRIVER && nav.webdriver) {
  return w.microcv = () => 0;
}
// Each call from the browser goes through here: a bug in the tag must not reach the host page.
let guard = (fn) => (...args) => {
  try {
    return fn(...args);
  } catch {
    // swallowed on purpose
  }
};
// Capture phase on the window sees every click, scroll and input, even those a page stops,
// the document's events (visibilitychange, prerenderingchange) and the window's own.
let on = (type, fn) => w.addEventListener(type, guard(fn), 1);
let run = (hooks, arg) => hooks.map((fn) => guard(fn)(arg));
// 128 random bits; getRandomValues exists in every context, randomUUID only in secure ones.
let uid = () => crypto.getRandomValues(new Uint32Array(4)).join('');
// The element clicked: text nodes have no closest(), their parent element stands in.
let hit = ({target}) => target.closest ? target : target.parentElement;
// Links and buttons: what an untagged click is counted on (the clicks module looks for a tagged
// element first; the dead clicks module adds tagged elements).
let CLICKABLE = 'a,button,[role=button],[type=submit],[type=button]';
// The collector counts characters as code points: never cut a surrogate pair in two.
let clip = (s, max) => [...('' + s)].slice(0, max).join('');
// An element as props: "tag#id.class" (the first class), never its text or value; inside a
// link, what the collector reads of it (collector/links.py): a URL with a host (http, https)
// without query and fragment (the download and outbound rules need no more), else only the
// scheme ("blob:", "data:", "mailto:": none has a host), so a blob: or data: URL is never sent
// raw; and its download attribute (null, left out by track, when there is none). getAttribute,
// not .href: on an SVG <a> .href is an object, not a string.
let about = (el) => {
  let props = {el: el.localName + (el.id && '#' + el.id) + [, ...el.classList].slice(0, 2).join('.')};
  let a = el.closest('a[href]');
  if (a) {
    let url = new URL(a.getAttribute('href'), d.baseURI);
    props.href = url.host ? url.origin + url.pathname : url.protocol;
    props.dl = a.getAttribute('download');
  }
  return props;
};
// An inline tag is told where to post; the one the collector serves has, in its config, an
// expression for the collector it was loaded from (SERVED_ENDPOINT in snippet/generator.py).
let endpoint = cfg._endpoint;
let batch = cfg._batch_size || 10;
let queue = [];
let views = [];
let leaves = [];
// A module's commands join these; 'event' sends a custom event.
let api = {event: (name, props) => name && track('custom', name, props)};
// Once the page is hidden it may never run again: every event goes out at once.
// visitor: what the batch's "cid" is made of, set by the visitor module only (persist_visitor).
let hidden, timer, pageview, page, visitor;
let inflight = 0;
// Cut like the page URL: a same-origin referrer is the whole previous URL, and the collector
// refuses an event whose referrer is over 2048 characters.
let referrer = clip(d.referrer, 2048);

// Props keep what the schema accepts (strings, finite numbers, booleans), at most 20 of them.
// props and room are locals: no caller passes more than three arguments. A let: the variants
// module puts the experiments' props in front of it.
let track = (kind, name, raw, props = {}, room = 20) => {
  for (let key in raw) {
    let value = raw[key];
    let type = typeof value;
    // "boolean" and "number" sort before "o"; isFinite refuses NaN and the infinities.
    if (room && (type < 'o' ? isFinite(value) : type == 'string' && (value = clip(value, 500)) + 1)) {
      props[clip(key, 64)] = value;
      room--;
    }
  }
  // JSON leaves out what is undefined: no name. Props are always sent ({} is none).
  enqueue({
    i: uid(), k: kind, n: name && clip(name, 100), ts: now(), u: page, r: referrer,
    pv: pageview, p: props,
  });
};

// A let: the consent module puts a gate in front of it.
let enqueue = (e) => {
  queue.push(e);
  if (hidden || queue.length >= batch) flush();
  else timer ||= setTimeout(guard(flush), cfg._flush_ms || 1000);
};

let flush = () => {
  timer = clearTimeout(timer);
  while (queue.length) send(queue.splice(0, batch));
};

let send = (events) => {
  let body = JSON.stringify({s: cfg._site, cid: visitor, t: now(), e: events});
  // At most 3 bytes per UTF-16 unit: an upper bound of the body's bytes, without encoding it.
  let size = body.length * 3;
  let half = events.length >> 1;
  // sendBeacon returns false when the browser will not queue the body (over 64 KiB, or the
  // keepalive budget is taken). A refused batch is split. A refused single event on a page
  // going away is stored for the next page (a keepalive fetch would meet the same full budget,
  // a plain one be cancelled); on a visible page it goes by fetch, with keepalive while the
  // tag's own bytes in flight fit the browser's 64 KiB budget.
  guard(() => nav.sendBeacon(endpoint, body))() || (half
    ? send(events.splice(0, half)) | send(events) // the first half, then the rest
    : hidden
      ? store(events)
      : fetch(endpoint, {method: 'POST', body, keepalive: (inflight += size) < 65536})
        // A 4xx would be refused again; only an unavailable collector is worth a retry.
        .then((r) => r.status < 500 && r.status != 429 || store(events), () => store(events))
        .finally(() => inflight -= size));
};

// Failed sends wait in first-party storage, at most 50 events younger than a day (the
// collector refuses older ones), and go out once from the next page with their ids unchanged.
let stored = () => JSON.parse(localStorage[STORE] || '[]');
let store = guard((events) => {
  localStorage[STORE] = JSON.stringify(
    stored().concat(events).filter((e) => e.ts > now() - 8e7).slice(-50));
});

let view = () => {
  pageview = uid();
  page = clip(loc.href, 2048);
  run(views);
  track('pageview');
};

// The page is hidden (tab switched, app backgrounded) or, with ending = 1, left.
let hide = (ending) => {
  hidden = 1;
  run(leaves, ending);
  flush();
};

let start = () => {
  run(modules);
  // visibilitychange + pagehide, never unload: unload is unreliable on mobile and blocks the
  // back/forward cache. A page restored from that cache is a new pageview.
  on('visibilitychange', () => (hidden = d.hidden) && hide());
  on('pagehide', () => hide(1));
  on('pageshow', (ev) => {
    hidden = 0;
    ev.persisted && view();
  });
  view();
  // Calls the page queued with the stub before the tag ran.
  let queued = w.microcv?.q || [];
  w.microcv = guard((name, a, b) => api[name](a, b));
  queued.map((args) => w.microcv(...args));
  // Last, so that storage that throws stops nothing else: read, then removed, then sent (map's
  // second argument is evaluated before it runs).
  stored().map(enqueue, delete localStorage[STORE]);
};

// A prerendered page sends nothing until the visitor actually opens it.
if (d.prerendering) on('prerenderingchange', start);
else guard(start)();
