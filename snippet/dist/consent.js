()=>{let e=T,t=[];T=o=>t?t.length<100&&t.push(o):e(o),k.consent=o=>{o&&(t||[]).map(e),t=!o&&[]}}
