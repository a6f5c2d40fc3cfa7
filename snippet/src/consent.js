/*
 * Consent mode: events are held in memory (never stored, never sent) until
 * microcv('consent', true), which sends them; microcv('consent', false) drops what is held and
 * holds again. At most 100 events are held.
 */
__MICROCV_MODULE__(() => {
  let pass = enqueue;
  let held = [];
  enqueue = (e) => held ? held.length < 100 && held.push(e) : pass(e);
  api.consent = (yes) => {
    if (yes) (held || []).map(pass);
    held = !yes && [];
  };
});
