/*
 * A/B variants and identify. microcv('variant', experiment, variant) sends a variant event
 * (the exposure) and tags every later event with the prop "exp:<experiment>" = variant.
 * microcv('identify', id) tags later events with the prop "uid"; only an opaque id is taken
 * (1-64 letters, digits, '_', '-', '.', ':'), so an e-mail address or a name is refused.
 */
__MICROCV_MODULE__(() => {
  // Props every later event carries; an event's own props win.
  let extra = {};
  let pass = track;
  track = (kind, name, props) => pass(kind, name, {...extra, ...props});
  api.variant = (experiment, variant) => {
    // The exposure carries the new prop too: it is set before track reads it.
    if (experiment && variant != null) {
      track('variant', experiment, {variant: extra['exp:' + experiment] = '' + variant});
    }
  };
  api.identify = (id) => {
    if (/^[\w.:-]{1,64}$/.test(id)) extra.uid = id;
  };
});
