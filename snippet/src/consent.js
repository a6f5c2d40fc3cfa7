/*
 * Consent mode: events are held in memory (never stored, never sent) until
 * microcv('consent', true), which sends them; microcv('consent', false) drops what is held and
 * holds again. At most 100 events are held.
 */
__MICROCV_MODULE__((hub) => {
  hub._held = [];
  hub._api.consent = (yes) => {
    const was = hub._held || [];
    hub._held = !yes && [];
    if (yes) was.map(hub._enqueue);
  };
});
