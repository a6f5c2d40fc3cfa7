/*
 * Forms, identified by id, else name, else their place among the page's forms; never a field's
 * value. form_start at the first input or change in a form (once per pageview), form_submit on
 * submit, form_abandon for a started form that was not submitted when the pageview ends (the
 * page is left, or a single-page app navigates).
 */
__MICROCV_MODULE__(function (hub, cfg, track, on, w, d) {
  var state;

  function id(form) {
    return form.id || form.getAttribute('name') || 'form' + [].indexOf.call(d.forms, form);
  }

  function touched(ev) {
    var form = ev.target.form;
    if (form && !state[id(form)]) {
      state[id(form)] = 1;
      track('form_start', id(form));
    }
  }

  hub._views.push(function () {
    state = {};
  });
  on(d, 'input', touched, 1);
  on(d, 'change', touched, 1);
  on(d, 'submit', function (ev) {
    state[id(ev.target)] = 2;
    track('form_submit', id(ev.target));
  }, 1);
  hub._leaves.push(function (ending) {
    for (var name in state) {
      if (ending && state[name] == 1) {
        state[name] = 3;
        track('form_abandon', name);
      }
    }
  });
});
