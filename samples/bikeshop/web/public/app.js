// SPDX-License-Identifier: MIT
// The page's script: asks web's /api/bikes and shows who answered at each hop.
'use strict';

function show(answer) {
  const err = document.getElementById('error');
  const table = document.getElementById('bikes');
  const rows = table.querySelector('tbody');
  rows.textContent = '';
  if (answer.error) {
    err.textContent = `${answer.error} (failed hop: ${answer.failed_hop})`;
    err.hidden = false;
    table.hidden = true;
    document.getElementById('chain').textContent = '-';
    return;
  }
  err.hidden = true;
  document.getElementById('greeting').textContent = answer.api.greeting;
  document.getElementById('chain').textContent = answer.chain;
  for (const b of answer.api.data.bikes) {
    const tr = document.createElement('tr');
    for (const v of [b.name, b.kind, b.price_per_hour]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    rows.appendChild(tr);
  }
  table.hidden = false;
}

async function ask(event) {
  if (event) event.preventDefault();
  const routeAs = document.getElementById('route-as').value.trim();
  const headers = routeAs ? { 'azds-route-as': routeAs } : {};
  try {
    const res = await fetch('api/bikes', { headers });
    show(await res.json());
  } catch (e) {
    show({ error: `cannot reach web: ${e.message}`, failed_hop: 'browser -> web' });
  }
}

document.getElementById('ask').addEventListener('submit', ask);
ask();
