()=>{let e=A,t=[];A=r=>t?t.length<100&&t.push(r):e(r),k.consent=r=>{r&&(t||[]).map(e),t=!r&&[]}}
