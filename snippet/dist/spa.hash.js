()=>{let e=()=>i.href,o=e(),r=()=>o!=(o=e())&&D();for(let e of["pushState","replaceState"]){let t=history[e];history[e]=(...e)=>{t.apply(history,e),h(r)()}}g("popstate",r,t)}
