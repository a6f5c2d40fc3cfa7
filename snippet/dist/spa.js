()=>{let o=()=>r.href.replace(e.p?"":/#.*/,""),a=o(),l=()=>a!=(a=o())&&V();for(let t of["pushState","replaceState"]){let e=history[t];history[t]=(...t)=>{e.apply(history,t),d(l)()}}g("popstate",l,t)}
