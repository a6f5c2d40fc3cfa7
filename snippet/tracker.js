/*
 * microcv tag: records micro-conversions in the browser and beacons them to the collector.
 *
 * Design goals: small (its gzip -9 size is reported on every change), never breaks the host
 * page (every entry point from the browser is wrapped in try/catch and nothing is prevented),
 * one source for every site (the generator fills in the one config placeholder below; the
 * source is not rebuilt per site).
 *
 * Wire format (owned by collector/schema.py), sent as a text/plain body so no CORS preflight:
 *   {"v":1,"s":site,"t":sendTimeMs,"e":[{"i","k","n","ts","u","r","pv","p"}, ...]}
 *
 * Pages may call the API before this script has run with the queue stub:
 *   <script>window.microcv=window.microcv||function(){(microcv.q=microcv.q||[]).push(arguments)}</script>
 * and then microcv('event', 'signup', {plan: 'pro'}).
 *
 * Comments sit on lines of their own: the generator drops such lines and indentation, nothing else.
 * No multi-line template literals, for the same reason.
 */
(function (w, d, nav) {
  'use strict';
  // Replaced by the generator with a JSON object: {site, endpoint, ...options}.
  var cfg = "__MICROCV_CONFIG__";
  // A second copy of the tag on one page would double every listener and every event.
  if (w.__microcv || typeof cfg !== 'object') return;
  w.__microcv = 1;

  // Limits mirror collector/schema.py so the tag never sends an event the collector rejects.
  var MAX_URL = 2048;
  var MAX_NAME = 100;
  var MAX_PROPS = 20;
  var MAX_KEY = 64;
  var MAX_VALUE = 500;
  var FLUSH_MS = cfg.flush_ms || 1000;
  var BATCH = cfg.batch_size || 10;
  var EXTS = ('pdf zip tar.gz tgz gz bz2 xz 7z rar dmg exe msi pkg deb rpm apk iso ' +
    'doc docx xls xlsx ppt pptx odt ods odp rtf csv txt epub ' +
    'mp3 wav ogg flac mp4 mov avi mkv webm').split(' ').concat(cfg.download_extensions || []);
  var EXT_RE;
  var pageview;
  var queue = [];
  var timer = 0;
  // Once the page is hidden it may never run again: every event goes out at once.
  var hidden = false;

  function noop() {}

  function uid() {
    var c = w.crypto;
    // randomUUID exists only in secure contexts; getRandomValues exists everywhere.
    if (c.randomUUID) return c.randomUUID();
    var bytes = c.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) {
      return (b | 256).toString(16).slice(1);
    }).join('');
  }

  // Each call from the browser goes through here: a bug in the tag must not reach the host page.
  function guard(fn) {
    return function (a, b, c) {
      try {
        return fn(a, b, c);
      } catch (_) {
        return undefined;
      }
    };
  }

  function clip(s, max) {
    return String(s).slice(0, max);
  }

  // Keeps what the schema accepts (strings, finite numbers, booleans) and drops the rest.
  function cleanProps(raw) {
    var out = {};
    var n = 0;
    for (var k in raw) {
      var v = raw[k];
      if (n >= MAX_PROPS || !Object.prototype.hasOwnProperty.call(raw, k)) continue;
      if (typeof v === 'string') v = clip(v, MAX_VALUE);
      else if (!(typeof v === 'boolean' || (typeof v === 'number' && isFinite(v)))) continue;
      out[clip(k, MAX_KEY)] = v;
      n++;
    }
    return n ? out : undefined;
  }

  function track(kind, name, props) {
    var e = {i: uid(), k: kind, ts: Date.now(), u: clip(location.href, MAX_URL), pv: pageview};
    if (name) e.n = clip(name, MAX_NAME);
    if (d.referrer) e.r = clip(d.referrer, MAX_URL);
    if (props) e.p = props;
    queue.push(e);
    if (hidden || queue.length >= BATCH) flush();
    else if (!timer) timer = setTimeout(guard(flush), FLUSH_MS);
  }

  function flush() {
    clearTimeout(timer);
    timer = 0;
    while (queue.length) send(queue.splice(0, BATCH));
  }

  function send(events) {
    var body = JSON.stringify({v: 1, s: cfg.site, t: Date.now(), e: events});
    // sendBeacon returns false when the browser will not queue the body (quota, size).
    try {
      if (nav.sendBeacon && nav.sendBeacon(cfg.endpoint, body)) return;
    } catch (_) {
      // fall through to fetch
    }
    try {
      fetch(cfg.endpoint, {
        method: 'POST',
        body: body,
        keepalive: true,
        headers: {'Content-Type': 'text/plain'}
      }).catch(noop);
    } catch (_) {
      // nothing left to try; the events are lost rather than the page disturbed
    }
  }

  function on(target, type, fn, capture) {
    target.addEventListener(type, guard(fn), {capture: !!capture, passive: true});
  }

  // --- clicks ------------------------------------------------------------------------------
  // One click is credited to at most one handler: the first that claims it. Order is the rule:
  // an element tagged with data-mcv wins over the download link it may sit in or be, so a
  // tagged download link sends only its tagged click, and an untagged one sends a download.
  var clickHandlers = [];

  function onClick(ev) {
    var t = ev.target;
    // Text nodes (and other non-elements) have no closest(); start from their parent element.
    if (t && t.nodeType !== 1) t = t.parentElement;
    if (!t || !t.closest) return;
    for (var i = 0; i < clickHandlers.length; i++) {
      if (clickHandlers[i](t, ev)) return;
    }
  }

  // Props from data-mcv-* attributes, named as written: data-mcv-sku="X" -> {sku: "X"}.
  function attrProps(el) {
    var raw = {};
    for (var i = 0; i < el.attributes.length; i++) {
      var a = el.attributes[i];
      if (a.name.indexOf('data-mcv-') === 0) raw[a.name.slice(9)] = a.value;
    }
    return cleanProps(raw);
  }

  function taggedClick(t) {
    var el = t.closest('[data-mcv]');
    if (!el) return false;
    var name = el.getAttribute('data-mcv');
    if (name) track('click', name, attrProps(el));
    return true;
  }

  function downloadClick(t) {
    var a = t.closest('a[href]');
    if (!a) return false;
    // getAttribute, not .href: on an SVG <a> .href is an object, not a string.
    var url = new URL(a.getAttribute('href'), d.baseURI);
    var path = url.pathname;
    var m = EXT_RE.exec(path);
    if (!m && !a.hasAttribute('download')) return false;
    var file = path.slice(path.lastIndexOf('/') + 1);
    try {
      file = decodeURIComponent(file);
    } catch (_) {
      // a malformed escape: keep the name as written
    }
    file = file || a.getAttribute('download') || url.hostname;
    var ext = m ? m[1] : (/\.([a-z0-9]+)$/i.exec(file) || [])[1];
    track('download', file, ext ? {ext: ext.toLowerCase()} : undefined);
    return true;
  }

  // --- scroll depth --------------------------------------------------------------------------
  // Milestones are checked on scroll only: a page that loads already showing half of itself has
  // not been scrolled, and a page that cannot scroll sends nothing.
  var milestones = [25, 50, 75, 100];
  var scrollPending = false;

  function onScroll() {
    if (scrollPending) return;
    scrollPending = true;
    requestAnimationFrame(guard(function () {
      scrollPending = false;
      checkScroll();
    }));
  }

  function checkScroll() {
    var height = d.documentElement.scrollHeight;
    var view = w.innerHeight;
    if (height <= view) return;
    // 2 px of slack: with zoom or fractional scrolling the bottom is often a pixel short.
    var depth = Math.min(100, ((w.scrollY + view + 2) / height) * 100);
    while (milestones.length && depth >= milestones[0]) track('scroll', String(milestones.shift()));
  }

  // --- page lifecycle --------------------------------------------------------------------------
  // visibilitychange + pagehide, never unload: unload is unreliable on mobile and blocks the
  // back/forward cache. A page restored from that cache becomes visible again and batches again.
  function onVisibility() {
    hidden = d.visibilityState === 'hidden';
    if (hidden) flush();
  }

  function onPageHide() {
    hidden = true;
    flush();
  }

  function onPageShow() {
    hidden = d.visibilityState === 'hidden';
  }

  // --- public API -------------------------------------------------------------------------------
  function api(command, name, props) {
    if (command === 'event' && name) track('custom', name, props ? cleanProps(props) : undefined);
  }

  // --- start ------------------------------------------------------------------------------------
  function start() {
    // Leftmost match wins, so "a.tar.gz" yields ext "tar.gz" rather than "gz".
    EXT_RE = new RegExp('\\.(' + EXTS.join('|').replace(/\./g, '\\.') + ')$', 'i');
    pageview = uid();
    // Features are on unless the site config turns them off ({"scroll": false}).
    if (cfg.clicks !== false) clickHandlers.push(taggedClick);
    if (cfg.downloads !== false) clickHandlers.push(downloadClick);
    if (clickHandlers.length) on(d, 'click', onClick, true);
    if (cfg.scroll !== false) on(w, 'scroll', onScroll);
    on(d, 'visibilitychange', onVisibility);
    on(w, 'pagehide', onPageHide);
    on(w, 'pageshow', onPageShow);
    track('pageview');
    var stubbed = w.microcv && w.microcv.q;
    w.microcv = guard(api);
    if (stubbed) {
      for (var i = 0; i < stubbed.length; i++) w.microcv.apply(null, stubbed[i]);
    }
  }

  guard(start)();
})(window, document, navigator);
