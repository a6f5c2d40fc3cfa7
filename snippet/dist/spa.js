()=>{let r=()=>i.href.replace(e.v?"":/#.*/,""),o=r(),l=()=>o!=(o=r())&&D();for(let e of["pushState","replaceState"]){let t=history[e];history[e]=(...e)=>{t.apply(history,e),h(l)()}}m("popstate",l,t)}
