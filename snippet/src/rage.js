/*
 * Rage clicks: three clicks within a second of a burst's first click, each within 30 px of it (as the crow flies),
 * make one rage_click event with the descriptor of the element; more clicks in the same burst
 * add nothing. A click later or farther away starts a new burst.
 */
__MICROCV_MODULE__(() => {
  // The burst's first click: when and where; count: clicks in the burst.
  let first = 0;
  let x, y, count;
  on('click', (ev) => {
    let at = now();
    if (at - first < 1000 && Math.hypot(x - ev.clientX, y - ev.clientY) < 30) {
      count++;
    } else {
      first = at;
      x = ev.clientX;
      y = ev.clientY;
      count = 1;
    }
    if (count == 3) track('rage_click', undefined, about(hit(ev)));
  });
});
