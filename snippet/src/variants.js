/*
 * A/B variants and identify. microcv('variant', experiment, variant) sends a variant event
 * (the exposure) and tags every later event with the prop "exp:<experiment>" = variant.
 * microcv('identify', id) tags later events with the prop "uid"; only an opaque id is taken
 * (1-64 letters, digits, '_', '-', '.', ':'), so an e-mail address or a name is refused.
 */
__MICROCV_MODULE__(() => {
  api.variant = (experiment, variant) => {
    if (experiment && variant != null) {
      extra['exp:' + experiment] = '' + variant;
      track('variant', experiment, {variant: '' + variant});
    }
  };
  api.identify = (id) => {
    if (/^[\w.:-]{1,64}$/.test(id)) extra.uid = id;
  };
});
