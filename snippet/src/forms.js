/*
 * Forms, identified by id, else name, else their place among the page's forms; never a field's
 * value. form_start at the first input in a form (once per pageview; browsers fire input for
 * every kind of field, checkboxes, radios, selects and files included, before their change),
 * form_submit on submit, form_abandon for a started form that was not submitted when the
 * pageview ends (the page is left, or a single-page app navigates).
 */
__MICROCV_MODULE__(() => {
  // form id -> 1 started, 2 submitted (this pageview; reset when it ends). The state is set in
  // track's props argument, evaluated before track runs; a number adds no props.
  let state = {};
  // getAttribute: form.name is a field named "name", if the form has one.
  let id = (form) => form.id || form.getAttribute('name') || 'form' + [...d.forms].indexOf(form);
  let touched = (ev) => {
    let name = ev.target.form && id(ev.target.form);
    if (name && !state[name]) track('form_start', name, state[name] = 1);
  };
  on('input', touched);
  on('submit', (ev) => track('form_submit', ev = id(ev.target), state[ev] = 2));
  leaves.push((ending) => {
    if (ending) {
      for (let name in state) {
        if (state[name] < 2) track('form_abandon', name);
      }
      state = {};
    }
  });
});
