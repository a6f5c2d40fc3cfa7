()=>{let e=()=>i.href.replace(/#.*/,""),r=e(),o=()=>r!=(r=e())&&D();for(let e of["pushState","replaceState"]){let t=history[e];history[e]=(...e)=>{t.apply(history,e),u(o)()}}m("popstate",o,t)}
