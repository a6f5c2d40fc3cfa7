/*
 * Rage clicks: three clicks within a second of a burst's first click, each within 30 px of it,
 * make one rage_click event with the descriptor of the element; more clicks in the same burst
 * add nothing. A click later or farther away starts a new burst.
 */
__MICROCV_MODULE__(() => {
  let first, count;
  on('click', (ev) => {
    const now = Date.now();
    if (first && now - first[0] < 1000 && Math.abs(first[1] - ev.clientX) < 30 && Math.abs(first[2] - ev.clientY) < 30) {
      count++;
    } else {
      first = [now, ev.clientX, ev.clientY];
      count = 1;
    }
    if (count == 3) track('rage_click', undefined, {el: describe(hit(ev))});
  });
});
