/*
 * Forms, identified by id, else name, else their place among the page's forms; never a field's
 * value. form_start at the first input or change in a form (once per pageview), form_submit on
 * submit, form_abandon for a started form that was not submitted when the pageview ends (the
 * page is left, or a single-page app navigates).
 */
__MICROCV_MODULE__(() => {
  let state;
  const id = (form) => form.id || form.getAttribute('name') || 'form' + [].indexOf.call(d.forms, form);
  const touched = (ev) => {
    const form = ev.target.form;
    if (form && !state[id(form)]) {
      state[id(form)] = 1;
      track('form_start', id(form));
    }
  };
  views.push(() => {
    state = {};
  });
  on('input', touched);
  on('change', touched);
  on('submit', (ev) => {
    state[id(ev.target)] = 2;
    track('form_submit', id(ev.target));
  });
  leaves.push((ending) => {
    for (const name in state) {
      if (ending && state[name] == 1) {
        state[name] = 3;
        track('form_abandon', name);
      }
    }
  });
});
